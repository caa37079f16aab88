"""The shared process inbox: entry addresses, fan-out, bounds, expiry and statistics."""

from __future__ import annotations

import pytest

from channels_core.exceptions import MalformedMessage
from channels_core.inbox import (
    ProcessInbox,
    address_channels,
    address_size,
    entry_address,
    pack_entry,
    unpack_entry,
)
from channels_core.statistics import Statistics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(capacity: int = 3, factor: int = 100) -> tuple[ProcessInbox, Clock]:
    clock = Clock()
    return ProcessInbox(lambda name: capacity, clock=clock, inbox_factor=factor), clock


def test_an_address_names_one_channel_or_several_of_one_inbox() -> None:
    assert entry_address(["a.b!x"]) == "a.b!x"
    names = ["a.b!x", "a.b!yy", "a.b!z-1"]
    assert entry_address(names) == "a.b!x,yy,z-1"
    assert address_channels("a.b!x,yy,z-1") == names
    assert address_channels("a.b!x") == ["a.b!x"]
    assert address_size("a.b!x,yy,z-1") == 3


def test_packed_entries_round_trip_and_garbage_is_typed() -> None:
    assert unpack_entry(pack_entry("a!x,y", b"\x00:payload")) == ("a!x,y", b"\x00:payload")
    for garbage in (b"", b"no-colon", b":payload", b"plain:payload", b"\xff!:x"):
        with pytest.raises(MalformedMessage):
            unpack_entry(garbage)


def test_one_entry_fans_out_to_every_name_round_robin() -> None:
    inbox, _ = make()
    inbox.put("p!a,b,c", b"one", 2000.0)
    inbox.put("p!a", b"two", 2000.0)
    taken = [inbox.take("p!") for _ in range(5)]
    assert taken == [("p!a", b"one"), ("p!b", b"one"), ("p!c", b"one"), ("p!a", b"two"), None]
    assert not inbox.has("p!")


def test_a_fan_out_partly_taken_keeps_its_order_when_more_entries_come() -> None:
    inbox, _ = make()
    inbox.put("p!a,b,c", b"one", 2000.0)
    assert inbox.take("p!") == ("p!a", b"one")
    assert (inbox.holds("p!a"), inbox.holds("p!b"), inbox.pending("p!")) == (False, True, 2)
    inbox.put_many([("p!c", b"two", 2000.0), ("p!a,d", b"three", 2000.0)])
    taken = [inbox.take("p!") for _ in range(6)]
    assert taken == [
        ("p!b", b"one"),
        ("p!c", b"one"),
        ("p!a", b"three"),
        ("p!d", b"three"),
        ("p!c", b"two"),
        None,
    ]
    assert inbox.pending() == 0


def test_an_expired_fan_out_is_never_taken_and_its_names_reported() -> None:
    for sweep in (False, True):
        inbox, clock = make()
        inbox.put("p!a,b,c", b"old", 1001.0)
        assert inbox.take("p!") == ("p!a", b"old")
        clock.now = 1002.0
        if sweep:
            assert inbox.sweep() == 2
        assert inbox.take("p!") is None
        assert sorted(inbox.take_expired_channels()) == ["p!b", "p!c"]
        assert (inbox.expired, inbox.pending(), inbox.has("p!")) == (2, 0, False)


def test_each_name_is_bounded_and_drops_are_counted_per_inbox() -> None:
    inbox, _ = make(capacity=2)
    dropped = inbox.put_many(
        [("p!a,b", b"1", 2000.0), ("p!a", b"2", 2000.0), ("p!a", b"3", 2000.0)]
    )
    assert dropped == 1
    assert inbox.dropped == 1 and inbox.dropped_for("p!") == 1 and inbox.dropped_for("q!") == 0
    assert inbox.pending("p!") == 3 and inbox.pending() == 3


def test_an_inbox_is_bounded_as_a_whole() -> None:
    inbox, _ = make(capacity=2, factor=3)  # at most 6 messages buffered before room says 0
    assert inbox.room("p!") == 6
    inbox.put("p!a,b,c,d", b"x", 2000.0)
    assert inbox.room("p!") == 2
    inbox.put("p!e,f,g", b"x", 2000.0)  # one batch may go past the bound
    assert inbox.room("p!") == 0 and inbox.room("other!") == 6
    inbox.take("p!")
    inbox.take("p!")
    assert inbox.room("p!") == 1


def test_expired_messages_are_never_taken_and_their_channels_reported() -> None:
    inbox, clock = make()
    inbox.put("p!a,b", b"old", 1001.0)
    inbox.put("p!c", b"new", 1100.0)
    inbox.put("q!d", b"old", 1001.0)
    clock.now = 1050.0
    assert inbox.take("p!") == ("p!c", b"new")
    assert sorted(inbox.take_expired_channels()) == ["p!a", "p!b"]  # met while taking
    assert inbox.expired_channels() == ["q!d"]  # found by the sweep
    inbox.put("q!d", b"old", 1001.0)
    assert inbox.expired_channels() == []  # the next sweep is not due yet
    assert inbox.pending() == 1 and inbox.expired == 3


def test_statistics_add_buffered_and_dropped_figures() -> None:
    inbox, _ = make(capacity=1)
    inbox.put_many([("p!a", b"1", 2000.0), ("p!a", b"2", 2000.0), ("q!z", b"3", 2000.0)])
    server: Statistics = {
        "messages_count": 5,
        "messages_pending": 1,
        "messages_max_age": 0.0,
        "channel_full_count": 2,
    }
    assert inbox.add_to_global(dict(server))["messages_pending"] == 3  # type: ignore[arg-type]
    assert inbox.add_to_global(dict(server))["channel_full_count"] == 3  # type: ignore[arg-type]
    channel = inbox.add_to_channel("p!a", dict(server))  # type: ignore[arg-type]
    assert (channel["messages_pending"], channel["channel_full_count"]) == (2, 3)
    assert inbox.add_to_channel("plain", dict(server)) == server  # type: ignore[arg-type]


def test_clear_forgets_everything_buffered() -> None:
    inbox, _ = make()
    inbox.put("p!a,b", b"x", 2000.0)
    assert inbox.holds("p!a") and not inbox.holds("p!zz")
    inbox.clear()
    assert inbox.take("p!") is None and inbox.pending() == 0 and inbox.room("p!") == 300

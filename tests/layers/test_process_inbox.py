"""Every backend delivers ``!`` channels through the shared process inbox, identically:
group fan-out (one entry per inbox), the bound on an inbox's buffers as a whole, and the
statistics of what was buffered and dropped (SPEC §5 "Capacity" and "Group fan-out")."""

from __future__ import annotations

import pytest

from tests.layers.conftest import Factory


def _inbox(channel: str) -> str:
    return channel[: channel.index("!") + 1]


def test_a_group_send_takes_one_slot_of_an_inbox(every_backend: Factory) -> None:
    layer = every_backend(capacity=2)
    members = [layer.new_channel("ws!") for _ in range(5)]
    for member in members:
        layer.group_add("room", member)
    layer.group_add("room", "plain")
    layer.send_group("room", {"n": 1})
    layer.send_group("room", {"n": 2})
    layer.send_group("room", {"n": 3})  # the inbox (capacity 2) holds two entries: skipped
    inbox = _inbox(members[0])
    assert layer.channel_statistics(members[0])["messages_pending"] == 2  # entries on the server
    got: dict[str, list[int]] = {}
    while True:
        channel, message = layer.receive([inbox])
        if channel is None:
            break
        got.setdefault(channel, []).append(message["n"])
    assert got == {member: [1, 2] for member in members}
    assert layer.receive(["plain"])[1] == {"n": 1}
    assert layer.receive(["plain"])[1] == {"n": 2}
    statistics = layer.global_statistics()
    assert statistics["messages_count"] == 12  # counted per member: 5 + 1, twice
    assert statistics["channel_full_count"] == 6  # the third send: 5 members + "plain"


def test_buffered_messages_count_as_pending_everywhere(every_backend: Factory) -> None:
    layer = every_backend(capacity=3)
    first, second = layer.new_channel("ws!"), layer.new_channel("ws!")
    layer.send(first, {"n": 1})
    layer.send(second, {"n": 2})
    layer.send(first, {"n": 3})
    assert layer.receive([_inbox(first)]) == (first, {"n": 1})  # the rest is buffered now
    assert layer.channel_statistics(second)["messages_pending"] == 2
    assert layer.global_statistics()["messages_pending"] == 2
    assert layer.channel_statistics("elsewhere")["messages_pending"] == 0


def test_past_the_inbox_bound_the_process_stops_draining(every_backend: Factory) -> None:
    # capacity 1: an inbox's buffers hold up to 100 messages before draining stops
    layer = every_backend(capacity=1)
    members = [layer.new_channel("ws!") for _ in range(101)]
    for member in members:
        layer.group_add("crowd", member)
    inbox = _inbox(members[0])
    layer.send_group("crowd", {"n": 1})
    assert layer.receive([inbox])[1] == {"n": 1}  # drains the entry: 101 buffered, 1 taken
    layer.send_group("crowd", {"n": 2})  # stored on the server: the inbox is empty there
    assert layer.receive([inbox])[1] == {"n": 1}  # 100 buffered: served without draining
    with pytest.raises(layer.ChannelFull):
        layer.send(members[0], {"n": 3})  # the inbox on the server is still full
    received = 2
    while layer.receive([inbox])[0] is not None:
        received += 1
    # Draining resumed: every group message was received or (a full name's buffer holds
    # one message at capacity 1) dropped and counted, besides the refused send.
    full = layer.channel_statistics(members[0])["channel_full_count"]
    assert received + full - 1 == 202, f"{received} received, {full - 1} dropped of 202"

"""SPEC §2 Names."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from .. import strategies
from ..context import Context
from ..readings import group_members, reading_of
from ..registry import clause
from ..settings import suite_settings
from ._helpers import expect_error


@clause("names.valid-accepted", "Every valid channel name can be sent to and received", "§2")
def valid_names_accepted(ctx: Context) -> None:
    """Channel and group names are ASCII strings of `A-Z a-z 0-9 - _ .`, 1 to 100 characters.
    A channel name may contain ONE `!` (process-specific) or ONE `?` (single-reader)."""
    layer = ctx.layer()
    reading = reading_of(layer)

    @suite_settings()
    @given(channel=reading.channel_names())
    def check(channel: str) -> None:
        layer.send(channel, {"name": channel})
        got_channel, message = layer.receive([reading.receive_key(channel)])
        assert got_channel == channel, f"sent to {channel!r}, received from {got_channel!r}"
        assert message == {"name": channel}

    check()


@clause("names.max-length", "Names of 100 characters are accepted, 101 rejected", "§2")
def max_length(ctx: Context) -> None:
    """Channel and group names are ... 1 to 100 characters (we accept 100 and reject 101).
    [Channels 4: names shorter than 100 characters, so 99 and 100.]"""
    layer = ctx.layer()
    reading = reading_of(layer)
    longest = reading.max_name
    name_max, name_over = "c" * longest, "c" * (longest + 1)
    layer.send(name_max, {"n": longest})
    assert layer.receive([name_max]) == (name_max, {"n": longest}), f"{longest}-char channel"
    bang_max = "p" * 50 + "!" + "q" * (longest - 51)
    if reading.single_reader:  # Channels 4: only new_channel's own names are received
        layer.send(bang_max, {"n": longest})
        assert layer.receive([reading.receive_key(bang_max)]) == (bang_max, {"n": longest})
    over = f"{longest + 1}-character"
    expect_error(TypeError, lambda: layer.send(name_over, {}), f"send to a {over} name")
    expect_error(TypeError, lambda: layer.receive([name_over]), f"receive a {over} name")
    expect_error(TypeError, lambda: layer.send(bang_max + "q", {}), f"send to a {over} ! name")
    if "groups" in layer.extensions:
        group_max, group_over = "g" * longest, "g" * (longest + 1)
        layer.group_add(group_max, name_max)
        members = group_members(layer, group_max)
        assert members is None or name_max in members, f"{name_max!r} not in {members}"
        layer.send_group(group_max, {"group": longest})
        assert layer.receive([name_max]) == (name_max, {"group": longest}), "longest group"
        expect_error(TypeError, lambda: layer.group_add(group_over, name_max), f"{over} group")
        expect_error(TypeError, lambda: layer.group_add(group_max, name_over), f"{over} member")
        expect_error(TypeError, lambda: layer.send_group(group_over, {}), f"send to {over} group")


@clause("names.invalid-channel-rejected", "Invalid channel names raise TypeError", "§2")
def invalid_channels(ctx: Context) -> None:
    """A bad name raises `TypeError` (matching the historical contract) with a message that
    quotes the name and says which rule it broke. Never a broker error, never a silent drop."""
    layer = ctx.layer()

    @suite_settings()
    @given(bad=reading_of(layer).invalid_channel_names())
    def check(bad: strategies.BadName) -> None:
        error = expect_error(TypeError, lambda: layer.send(bad.value, {"x": 1}), f"send {bad}")
        if isinstance(bad.value, str) and bad.value and reading_of(layer).strict_errors:
            quoted = bad.value[:20] in str(error) or repr(bad.value)[1:21] in str(error)
            assert quoted, f"error {error} does not quote the name"
        if "groups" in layer.extensions:
            expect_error(TypeError, lambda: layer.group_add("g", bad.value), f"group_add {bad}")

    check()
    assert layer.receive(["g"]) == (None, None)


@clause(
    "names.invalid-group-rejected", "Invalid group names raise TypeError", "§2", extension="groups"
)
def invalid_groups(ctx: Context) -> None:
    """Group names may contain neither [`!` nor `?`]. A bad name raises `TypeError`."""
    layer = ctx.layer()

    @suite_settings()
    @given(bad=strategies.invalid_group_names())
    def check(bad: strategies.BadName) -> None:
        expect_error(TypeError, lambda: layer.group_add(bad.value, "ok"), f"group_add {bad}")
        expect_error(TypeError, lambda: layer.send_group(bad.value, {}), f"send_group {bad}")
        if hasattr(layer, "group_channels"):
            expect_error(
                TypeError, lambda: layer.group_channels(bad.value), f"group_channels {bad}"
            )
        expect_error(TypeError, lambda: layer.group_discard(bad.value, "ok"), f"discard {bad}")

    check()


@clause("names.receive-forms", "receive takes plain names, full ? names and ! prefixes", "§2")
def receive_forms(ctx: Context) -> None:
    """`?` names may not end with `?` when sent to. In `receive()`, a process-specific channel
    is asked for by its prefix up to and including the `!` (`"ws.send!"`), never by a full `!`
    name."""
    layer = ctx.layer()
    expect_error(TypeError, lambda: layer.send("reply?", {}), "send to a name ending in '?'")
    expect_error(TypeError, lambda: layer.send("ws.send!", {}), "send to a name ending in '!'")
    expect_error(TypeError, lambda: layer.receive(["ws.send!abc"]), "receive a full ! name")
    expect_error(TypeError, lambda: layer.receive("plain"), "receive a str instead of a list")
    assert layer.receive(["ws.send!"]) == (None, None)
    assert layer.receive(["reply?abc", "plain"]) == (None, None)


@clause("names.valid-groups-accepted", "Every valid group name works", "§2", extension="groups")
def valid_groups(ctx: Context) -> None:
    """Channel and group names are ASCII strings of `A-Z a-z 0-9 - _ .`, 1 to 100
    characters."""
    layer = ctx.layer()
    reading = reading_of(layer)

    @suite_settings()
    @given(group=reading.group_names(), channel=reading.group_names())
    def check(group: str, channel: str) -> None:
        layer.group_add(group, channel)
        assert channel in (group_members(layer, group) or {channel})
        layer.send_group(group, {"g": group})
        got: Any = layer.receive([channel])
        assert got == (channel, {"g": group}), f"group {group!r} delivered {got!r}"
        layer.group_discard(group, channel)
        assert channel not in (group_members(layer, group) or set())
        layer.send_group(group, {"after": "discard"})
        got = layer.receive([channel])
        assert got == (None, None), f"a discarded member of {group!r} received {got!r}"

    check()

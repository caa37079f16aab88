"""SPEC §4 the ``groups`` extension, and the group rules of §5 (expiry, eviction)."""

from __future__ import annotations

import time

from ..context import Context
from ..readings import group_members, reading_of
from ..registry import clause
from ._helpers import drain, expect_error


@clause("groups.add-idempotent", "group_add twice keeps one membership", "§4", extension="groups")
def add_idempotent(ctx: Context) -> None:
    """`group_add(group, channel)` (idempotent, refreshes the membership timestamp)."""
    layer = ctx.layer()
    layer.group_add("room", "member")
    layer.group_add("room", "member")
    assert group_members(layer, "room") in ({"member"}, None)
    layer.send_group("room", {"once": True})
    assert drain(layer, ["member"]) == [("member", {"once": True})], "double add, double send"


@clause("groups.channels", "group_channels lists the members", "§4", extension="groups")
def channels(ctx: Context) -> None:
    """`group_channels(group)` [returns the group's members]."""
    layer = ctx.layer()
    assert list(layer.group_channels("empty.room")) == []
    members = ["a", "b.c", "reply?xyz", "proc!abc"]
    for member in members:
        layer.group_add("room", member)
    layer.group_add("other", "z")
    assert sorted(layer.group_channels("room")) == sorted(members)
    assert list(layer.group_channels("other")) == ["z"]


@clause("groups.discard", "group_discard removes; absent is a no-op", "§4", extension="groups")
def discard(ctx: Context) -> None:
    """`group_discard(group, channel)` (no-op if absent)."""
    layer = ctx.layer()
    layer.group_add("room", "stay")
    layer.group_add("room", "leave")
    layer.group_discard("room", "leave")
    layer.group_discard("room", "never.joined")
    layer.group_discard("no.such.group", "leave")
    assert group_members(layer, "room") in ({"stay"}, None)
    layer.send_group("room", {"after": "discard"})
    assert layer.receive(["leave"]) == (None, None), "a discarded member still gets messages"
    assert layer.receive(["stay"]) == ("stay", {"after": "discard"})


@clause("groups.send", "send_group delivers once to every member", "§4", extension="groups")
def send(ctx: Context) -> None:
    """`send_group(group, message)` [sends to every member of the group]."""
    layer = ctx.layer()
    reading = reading_of(layer)
    members = ["m1", "m2", layer.new_channel("grp!")]
    if reading.single_reader:
        members.append(layer.new_channel("grp?"))
    for member in members:
        layer.group_add("room", member)
    layer.send_group("room", {"hello": "all"})
    layer.send_group("room", {"hello": "again"})
    for member in members:
        got = drain(layer, [reading.receive_key(member)])
        assert got == [(member, {"hello": "all"}), (member, {"hello": "again"})], (
            f"member {member!r} received {got!r}"
        )
    layer.send_group("nobody.here", {"x": 1})  # an empty group is not an error


@clause(
    "groups.send-skips-full",
    "send_group skips full members (counted), never ChannelFull",
    "§4",
    extension="groups",
)
def send_skips_full(ctx: Context) -> None:
    """`send_group(group, message)` (never raises `ChannelFull`: full members are skipped
    silently and counted; may raise `MessageTooLarge`)."""
    layer = ctx.layer(capacity=2)
    for member in ("full", "free"):
        layer.group_add("room", member)
    layer.send("full", {"i": 0})
    layer.send("full", {"i": 1})
    for attempt in range(3):
        try:
            layer.send_group("room", {"group": True})
        except layer.ChannelFull as error:
            raise AssertionError(
                f"send_group #{attempt + 1} to a group with a full member raised ChannelFull: "
                f"{error}"
            ) from error
    assert [m for _, m in drain(layer, ["full"])] == [{"i": 0}, {"i": 1}]
    assert [m for _, m in drain(layer, ["free"])] == [{"group": True}] * 2
    if "statistics" in layer.extensions:
        counted = layer.channel_statistics("full")["channel_full_count"]
        assert counted >= 3, f"3 skipped group sends, channel_full_count is {counted}"


@clause(
    "groups.fan-out-per-inbox",
    "send_group reaches 1,000 ! members of one inbox at default capacity",
    "§5",
    extension="groups",
)
def fan_out_per_inbox(ctx: Context) -> None:
    """**Group fan-out.** A group send stores one entry per inbox, however many members live
    behind it (an interface server holding 1,000 WebSockets of one group gets one entry, not
    1,000), and the receiving process fans it out into its per-channel buffers. So a broadcast
    to a large group at default settings reaches every member that is being read, where the
    layers of the Channels 1.x era silently dropped all but the first `capacity` of them."""
    layer = ctx.layer(capacity=100, channel_capacity={})
    members = [layer.new_channel("fan.out!") for _ in range(1000)]
    for member in members:
        layer.group_add("crowd", member)
    layer.send_group("crowd", {"to": "everyone"})
    inbox = members[0][: members[0].index("!") + 1]
    got = drain(layer, [inbox])
    wrong = [(channel, message) for channel, message in got if message != {"to": "everyone"}]
    assert not wrong, f"members received other messages: {wrong[:3]!r}"
    received = [channel for channel, _ in got]
    assert len(received) == len(set(received)), "a member received the group message twice"
    missing = set(members) - set(received)
    assert not missing, (
        f"one send_group to 1,000 members of one inbox at capacity 100 reached "
        f"{len(members) - len(missing)} of them ({len(missing)} lost): the group send stored "
        "one entry per member instead of one per inbox"
    )


@clause(
    "groups.expiry",
    "Membership lapses group_expiry seconds after the last group_add",
    "§5",
    extension="groups",
    slow=True,
)
def group_expiry(ctx: Context) -> None:
    """**Group expiry.** Membership lapses `group_expiry` seconds after the last `group_add`
    for it."""
    layer = ctx.layer(group_expiry=2)
    margin = ctx.time_margin(layer)
    layer.group_add("room", "old")
    layer.group_add("room", "refreshed")
    time.sleep(1.0)
    layer.group_add("room", "refreshed")  # refreshes its timestamp
    time.sleep(1.0 + margin)
    members = group_members(layer, "room")
    assert members in ({"refreshed"}, None), (
        f"after {2 + margin:.1f} s with group_expiry=2: members {members!r}"
    )
    layer.send_group("room", {"late": True})
    assert layer.receive(["old"]) == (None, None), "a lapsed member still gets group messages"
    assert layer.receive(["refreshed"]) == ("refreshed", {"late": True})


@clause(
    "groups.eviction-on-expiry",
    "A channel whose message expires unread leaves its groups",
    "§5",
    extension="groups",
    slow=True,
)
def eviction_on_expiry(ctx: Context) -> None:
    """When a message expires unread on a channel, that channel is removed from all its
    groups."""
    layer = ctx.layer(expiry=1)
    margin = ctx.time_margin(layer)
    for group in ("room.a", "room.b"):
        layer.group_add(group, "dead")
        layer.group_add(group, "alive")
    layer.send("dead", {"unread": True})
    time.sleep(1 + margin)
    assert layer.receive(["dead"]) == (None, None), "an expired message was delivered"
    for group in ("room.a", "room.b"):
        members = group_members(layer, group)
        assert members in ({"alive"}, None), (
            f"{group}: members {members!r} after 'dead' expired unread"
        )
        layer.send_group(group, {"to": group})
        assert layer.receive(["dead"]) == (None, None), f"{group} still delivers to 'dead'"
        assert layer.receive(["alive"]) == ("alive", {"to": group}), f"{group} lost 'alive'"


@clause(
    "groups.too-large",
    "send_group raises MessageTooLarge above the limit",
    "§4",
    extension="groups",
)
def too_large(ctx: Context) -> None:
    """`send_group` ... may raise `MessageTooLarge`."""
    layer = ctx.layer(message_size_limit=100)
    layer.group_add("room", "m")
    expect_error(layer.MessageTooLarge, lambda: layer.send_group("room", {"x": "y" * 200}), "")
    assert layer.receive(["m"]) == (None, None)


@clause(
    "groups.expiry-attribute", "group_expiry attribute, default 86400 s", "§4", extension="groups"
)
def expiry_attribute(ctx: Context) -> None:
    """`groups`: ... `group_expiry` attribute (default 86400 s)."""
    layer = ctx.layer()
    expected = ctx.config.get("group_expiry", 86400)
    value = getattr(layer, "group_expiry", None)
    assert value == expected, f"layer.group_expiry is {value!r}, expected {expected!r}"
    assert ctx.layer(group_expiry=5).group_expiry == 5, "group_expiry option ignored"

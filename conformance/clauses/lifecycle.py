"""SPEC §4 expiry, flush, isolation, close(), exception attributes, extensions list."""

from __future__ import annotations

import time

from ..context import Context
from ..readings import group_members, reading_of
from ..registry import clause
from ._helpers import drain


@clause(
    "expiry.message", "A message unread for `expiry` seconds is never delivered", "§5", slow=True
)
def message_expiry(ctx: Context) -> None:
    """**Expiry.** A message unread for `expiry` seconds (default 60) is never delivered."""
    layer = ctx.layer(expiry=1)
    margin = ctx.time_margin(layer)
    layer.send("expires", {"old": True})
    layer.send("expires.fresh", {"fresh": True})
    assert layer.receive(["expires.fresh"]) == ("expires.fresh", {"fresh": True}), (
        "a message was not delivered well within its expiry"
    )
    time.sleep(1 + margin)
    layer.send("expires.later", {"new": True})
    assert layer.receive(["expires"]) == (None, None), "a message was delivered after expiry"
    assert layer.receive(["expires.later"])[0] == "expires.later"


@clause("flush.messages", "flush empties every channel of the prefix", "§4", extension="flush")
def flush_messages(ctx: Context) -> None:
    """`flush`: empties the layer's whole namespace (its `prefix`), messages and groups, and
    returns only when every client would see it empty."""
    layer = ctx.layer()
    reading = reading_of(layer)
    names = ("flushed.a", "flushed.b", layer.new_channel("flushed!"))
    for name in names:
        layer.send(name, {"x": 1})
    layer.flush()
    for name in names:
        got = layer.receive([reading.receive_key(name)])
        assert got == (None, None), f"a message survived flush: {got!r}"
    layer.send("flushed.a", {"after": True})
    assert layer.receive(["flushed.a"]) == ("flushed.a", {"after": True}), "broken after flush"


@clause("flush.groups", "flush removes every group of the prefix", "§4", extension="flush")
def flush_groups(ctx: Context) -> None:
    """`flush`: empties the layer's whole namespace (its `prefix`), messages and groups."""
    layer = ctx.layer()
    if "groups" not in layer.extensions:
        return
    layer.group_add("flushed.room", "member")
    layer.flush()
    assert group_members(layer, "flushed.room") in (set(), None), "a group survived flush"
    layer.send_group("flushed.room", {"x": 1})
    assert layer.receive(["member"]) == (None, None), "a flushed group still delivers"


@clause("flush.prefix-only", "flush never touches another prefix", "§4", extension="flush")
def flush_prefix_only(ctx: Context) -> None:
    """It must not touch data outside the layer's prefix."""
    flushed, kept = ctx.layer(), ctx.layer(prefix=ctx.prefix + "-kept")
    kept.send("shared.name", {"kept": True})
    flushed.send("shared.name", {"flushed": True})
    if "groups" in kept.extensions:
        kept.group_add("shared.room", "member")
    flushed.flush()
    assert kept.receive(["shared.name"]) == ("shared.name", {"kept": True}), (
        "flush on one prefix removed another prefix's message"
    )
    if "groups" in kept.extensions:
        members = group_members(kept, "shared.room")
        assert members in ({"member"}, None), "flush crossed prefixes"
        kept.send_group("shared.room", {"still": "there"})
        got = kept.receive(["member"])
        assert got == ("member", {"still": "there"}), f"flush crossed prefixes: group gave {got}"


@clause("isolation.prefix", "Layers with different prefixes never see each other's data", "§5")
def isolation(ctx: Context) -> None:
    """**Isolation.** Two layers with different `prefix` on the same server never see each
    other's data."""
    first, second = ctx.layer(), ctx.layer(prefix=ctx.prefix + "-other")
    first.send("same.name", {"from": "first"})
    assert second.receive(["same.name"]) == (None, None), "a message crossed prefixes"
    if "groups" in first.extensions:
        first.group_add("same.room", "member")
        assert group_members(second, "same.room") in (set(), None), "a group crossed prefixes"
        second.send_group("same.room", {"from": "second"})
    assert drain(first, ["same.name"]) == [("same.name", {"from": "first"})]
    assert drain(first, ["member"]) == [], "a group send crossed prefixes"


@clause("close.idempotent", "close() can be called twice; the layer is a context manager", "§4")
def close_idempotent(ctx: Context) -> None:
    """`close()`: releases connections and threads; idempotent; layer is a context manager."""
    layer = ctx.layer()
    layer.send("closing", {})
    layer.close()
    layer.close()
    with ctx.layer() as managed:
        managed.send("managed", {"x": 1})
        assert managed.receive(["managed"]) == ("managed", {"x": 1})
    managed.close()  # still idempotent after the with block


@clause("layer.attributes", "ChannelFull, MessageTooLarge and extensions on the layer", "§4")
def attributes(ctx: Context) -> None:
    """`ChannelFull`, `MessageTooLarge`: exception classes, also reachable as attributes of
    the layer. `extensions`: list of supported extension names."""
    layer = ctx.layer()
    own = getattr(layer, "wrapped_attributes", None)  # a Channels 4 layer: its own attributes
    for attr in ("ChannelFull", "MessageTooLarge"):
        value = own.get(attr) if own is not None else getattr(layer, attr, None)
        assert isinstance(value, type) and issubclass(value, Exception), f"layer.{attr}: {value!r}"
    extensions = layer.extensions
    assert isinstance(extensions, (list, tuple)), f"extensions is {type(extensions).__name__}"
    assert all(isinstance(name, str) for name in extensions), f"extensions: {extensions!r}"

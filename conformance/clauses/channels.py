"""SPEC §4 new_channel and the process-specific (``!``) rules of §2, §4 and §5."""

from __future__ import annotations

import random

from ..context import Context
from ..registry import clause
from ._helpers import drain, expect_error


def inbox(name: str) -> str:
    return name[: name.index("!") + 1]


@clause("new-channel.patterns", "new_channel gives a fresh name for ? and ! patterns only", "§4")
def patterns(ctx: Context) -> None:
    """`new_channel(pattern)`: pattern ends with `?` or `!`; returns a name not in use ...
    Anything else raises `TypeError`."""
    layer = ctx.layer()
    single = layer.new_channel("reply.to?")
    assert isinstance(single, str) and single.startswith("reply.to?") and len(single) > 9, single
    assert len(single) <= 100, f"new_channel returned a {len(single)}-character name"
    process = layer.new_channel("ws.send!")
    assert process.startswith("ws.send") and "!" in process and not process.endswith("!"), process
    assert process.count("!") == 1 and "?" not in process and len(process) <= 100, process
    for name in (single, process):
        layer.send(name, {"to": name})  # a valid name one can send to
        ask = inbox(name) if "!" in name else name
        assert layer.receive([ask]) == (name, {"to": name})
    bad_patterns: list[object] = ["no.marker", "two??", "a!b!", "bad char?", "", 42, None]
    for bad in bad_patterns:
        expect_error(TypeError, lambda: layer.new_channel(bad), f"new_channel({bad!r})")  # noqa: B023


@clause("new-channel.unique", "new_channel never returns a name twice", "§4")
def unique(ctx: Context) -> None:
    """`new_channel(pattern)` returns a name not in use, unique across processes."""
    first, second = ctx.layer(), ctx.layer()
    names = [layer.new_channel(p) for layer in (first, second) for p in ("u?", "u!") * 100]
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert not repeated, f"new_channel returned these names more than once: {repeated[:5]}"


@clause("new-channel.random-seed", "new_channel names are unaffected by random.seed", "§4")
def random_seed(ctx: Context) -> None:
    """`new_channel(pattern)` returns a name ... unique across processes and unaffected by
    `random.seed`."""
    state = random.getstate()
    try:
        layer = ctx.layer()
        names = []
        for _ in range(3):
            random.seed(1234)
            names.append(layer.new_channel("seeded?"))
            names.append(layer.new_channel("seeded!"))
        random.seed(1234)
        other_a = ctx.layer().new_channel("seeded!")
        random.seed(1234)
        other_b = ctx.layer().new_channel("seeded!")
        names += [other_a, other_b]
    finally:
        random.setstate(state)
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert not repeated, f"after random.seed(1234) new_channel repeated {repeated}"


@clause("process.full-name", "Receiving a ! prefix returns the full channel name", "§4")
def full_name(ctx: Context) -> None:
    """For a `!` prefix [`receive`] returns the FULL channel name."""
    layer = ctx.layer()
    first, second = layer.new_channel("daphne.response!"), layer.new_channel("daphne.response!")
    assert inbox(first) == inbox(second), "one instance's ! names should share their inbox"
    layer.send(first, {"n": 1})
    layer.send(second, {"n": 2})
    got = drain(layer, [inbox(first)])
    assert sorted(got, key=lambda item: item[1]["n"]) == [(first, {"n": 1}), (second, {"n": 2})], (
        f"receive([{inbox(first)!r}]) returned {got!r}, expected the full names"
    )


@clause("process.hand-built-name", "A hand-built ! name is received through its prefix", "§4")
def hand_built(ctx: Context) -> None:
    """A `!` name built by hand is received by whoever asks for its prefix."""
    layer = ctx.layer()
    layer.send("foo!bar", {"hand": "built"})
    assert layer.receive(["foo!"]) == ("foo!bar", {"hand": "built"})
    assert layer.receive(["foo!"]) == (None, None)


@clause("process.creator-only", "Only the creating instance's prefix receives its ! names", "§4")
def creator_only(ctx: Context) -> None:
    """For a `!` pattern, the part up to the `!` is unique to the creating instance, so that
    instance alone receives it."""
    mine, other = ctx.layer(), ctx.layer()
    name = mine.new_channel("ws.send!")
    others = other.new_channel("ws.send!")
    assert inbox(name) != inbox(others), (
        f"two layer instances share the ! prefix {inbox(name)!r}: both would receive its messages"
    )
    assert inbox(name) == inbox(mine.new_channel("ws.send!")), "one instance, two inboxes"
    mine.send(name, {"for": "mine"})
    assert other.receive([inbox(others)]) == (None, None), "another instance's inbox got it"
    assert mine.receive([inbox(name)]) == (name, {"for": "mine"})


@clause("process.capacity-on-inbox", "Capacity of ! channels counts on their inbox", "§5")
def capacity_on_inbox(ctx: Context) -> None:
    """Process-specific channels count capacity on the part up to and including the `!` (the
    process's inbox, as the ASGI spec requires; `channel_capacity` patterns such as
    `"ws.send!*"` size it)."""
    # "big!*" as the SPEC writes it; "big.*!*" matches the names Channels 4 layers make.
    layer = ctx.layer(capacity=3, channel_capacity={"big!*": 5, "big.*!*": 5})
    first, second = layer.new_channel("small!"), layer.new_channel("small!")
    layer.send(first, {})
    layer.send(first, {})
    layer.send(second, {})
    expect_error(layer.ChannelFull, lambda: layer.send(second, {}), "4th send into a 3-inbox")
    expect_error(layer.ChannelFull, lambda: layer.send(first, {}), "4th send into a 3-inbox")
    big = layer.new_channel("big!")
    for _ in range(5):
        layer.send(big, {})
    expect_error(layer.ChannelFull, lambda: layer.send(big, {}), "6th send into a big!* inbox (5)")

"""SPEC §4 send/receive and §5 at-most-once, order and capacity, in one process."""

from __future__ import annotations

import re
import threading
from typing import Any

from ..context import Context
from ..readings import reading_of
from ..registry import clause
from ._helpers import drain, expect_error, timed

#: A bound that only an implementation which waits (instead of returning) would exceed.
PROMPT_SECONDS = 2.5


@clause("delivery.no-duplicates", "A message is received once", "§5")
def no_duplicates(ctx: Context) -> None:
    """**At most once.** A message is never delivered twice, whatever the number of
    concurrent receivers, processes, reconnects or crashes."""
    layer = ctx.layer(capacity=100)
    for index in range(60):
        layer.send("once", {"i": index})
    got = [message["i"] for _, message in drain(layer, ["once"])]
    duplicates = sorted({i for i in got if got.count(i) > 1})
    assert not duplicates, f"messages delivered more than once: {duplicates}"


@clause("delivery.no-loss", "Every message sent is received (no expiry, no flush)", "§5")
def no_loss(ctx: Context) -> None:
    """Losing a message is allowed only on expiry, flush, a full capacity or a crash of the
    process that had already taken it; under normal operation at least 99.99% arrive."""
    layer = ctx.layer(capacity=100)
    for index in range(60):
        layer.send("kept", {"i": index})
    got = {message["i"] for _, message in drain(layer, ["kept"])}
    missing = sorted(set(range(60)) - got)
    assert not missing, f"messages lost: {missing}"


@clause("order.fifo", "Normal, ? and ! channels deliver in send order", "§5")
def fifo(ctx: Context) -> None:
    """**Order.** With one writer and one reader, every channel (normal, `?`, `!`) delivers in
    send order."""
    layer = ctx.layer(capacity=100)
    reading = reading_of(layer)
    names = ["order.plain", layer.new_channel("order.proc!")]
    if reading.single_reader:
        names.append(layer.new_channel("order.reply?"))
    for name, ask in ((name, reading.receive_key(name)) for name in names):
        for index in range(40):
            layer.send(name, {"i": index})
        got = [message["i"] for _, message in drain(layer, [ask])]
        assert got == list(range(40)), f"{name!r} delivered out of order: {got}"


@clause("order.threads", "One writer thread and one reader thread: order kept", "§5")
def order_threads(ctx: Context) -> None:
    """**Order.** With one writer and one reader, every channel (normal, `?`, `!`) delivers in
    send order."""
    count = 200
    layer = ctx.layer(blocking_timeout=2, capacity=count + 10)
    received: list[int] = []
    stop = threading.Event()

    def read() -> None:
        misses = 0
        while len(received) < count and misses < 3 and not stop.is_set():
            channel, message = layer.receive(["order.live"], block=True)
            if channel is None:
                misses += 1
            else:
                received.append(message["i"])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for index in range(count):
            layer.send("order.live", {"i": index})
    finally:
        reader.join(30)
        stop.set()
    assert received == list(range(count)), f"received out of order or lost: {received[:50]}..."


@clause("receive.non-blocking", "receive(block=False) returns (None, None) promptly", "§4")
def non_blocking(ctx: Context) -> None:
    """`block=False` returns promptly (one round trip at most)."""
    layer = ctx.layer(blocking_timeout=10)
    result, seconds = timed(lambda: layer.receive(["empty.a", "empty.b"], block=False))
    assert result == (None, None), f"an empty channel returned {result!r}"
    assert seconds < PROMPT_SECONDS, f"receive(block=False) waited {seconds:.2f} s"


@clause("receive.block-timeout", "receive(block=True) returns (None, None) after the timeout", "§4")
def block_timeout(ctx: Context) -> None:
    """`block=True` may wait up to an internal timeout (a few seconds) and then return
    `(None, None)`."""
    layer = ctx.layer(blocking_timeout=0.5)
    result, seconds = timed(lambda: layer.receive(["empty"], block=True))
    assert result == (None, None), f"an empty channel returned {result!r}"
    assert seconds < 0.5 + PROMPT_SECONDS, f"receive(block=True) waited {seconds:.2f} s"


@clause("receive.block-wakes", "A blocked receive gets a message sent meanwhile", "§4")
def block_wakes(ctx: Context) -> None:
    """`receive(channels, block=False)` returns `(channel, message)` or `(None, None)`;
    `block=True` may wait up to an internal timeout."""
    layer = ctx.layer(blocking_timeout=10)
    results: list[Any] = []
    waiter = threading.Thread(
        target=lambda: results.append(layer.receive(["wake"], block=True)), daemon=True
    )
    waiter.start()
    waiter.join(0.2)
    layer.send("wake", {"hello": "world"})
    waiter.join(15)
    assert results == [("wake", {"hello": "world"})], f"blocked receive returned {results!r}"


@clause("receive.fair", "A quiet channel is not starved by a busy one", "§4")
def fair(ctx: Context) -> None:
    """Channels in the list are served fairly (no starvation of a quiet channel by a busy
    one)."""
    layer = ctx.layer(capacity=100)
    for index in range(40):
        layer.send("fair.busy", {"i": index})
    layer.send("fair.quiet", {"quiet": True})
    for _attempt in range(20):
        channel, _ = layer.receive(["fair.busy", "fair.quiet"])
        if channel == "fair.quiet":
            return
    raise AssertionError("20 receives on [busy, quiet] never served the quiet channel")


@clause("receive.any-listed-channel", "receive returns from any listed channel with messages", "§4")
def any_listed(ctx: Context) -> None:
    """`receive(channels, block=False)` returns `(channel, message)` or `(None, None)`."""
    layer = ctx.layer()
    layer.send("listed.b", {"to": "b"})
    assert layer.receive(["listed.a", "listed.b", "listed.c"]) == ("listed.b", {"to": "b"})
    assert layer.receive(["listed.a", "listed.b"]) == (None, None)
    if hasattr(layer, "receive_many"):
        layer.send("listed.a", {"to": "a"})
        assert layer.receive_many(["listed.a"]) == ("listed.a", {"to": "a"})


@clause("send.never-blocks", "send on a full channel raises ChannelFull, never waits", "§4")
def never_blocks(ctx: Context) -> None:
    """`send(channel, message)` never blocks waiting for a reader; may raise `ChannelFull`,
    `MessageTooLarge`."""
    layer = ctx.layer(capacity=2, blocking_timeout=10)
    (_, seconds) = timed(lambda: [layer.send("full", {"i": i}) for i in range(2)])
    assert seconds < PROMPT_SECONDS, f"two sends to an unread channel took {seconds:.2f} s"
    _error, seconds = timed(
        lambda: expect_error(layer.ChannelFull, lambda: layer.send("full", {}), "send at capacity")
    )
    assert seconds < PROMPT_SECONDS, f"send to a full channel waited {seconds:.2f} s"


@clause("capacity.channel-full", "At capacity, send raises ChannelFull; a receive frees room", "§5")
def channel_full(ctx: Context) -> None:
    """**Capacity.** Each channel holds at most `capacity` pending messages (default 100) ...
    At capacity, `send` raises `ChannelFull`."""
    layer = ctx.layer(capacity=3)
    for index in range(3):
        layer.send("cap", {"i": index})
    error = expect_error(layer.ChannelFull, lambda: layer.send("cap", {"i": 3}), "4th send")
    assert isinstance(error, Exception)
    layer.send("cap.other", {"other": True})  # capacity is per channel
    assert layer.receive(["cap"]) == ("cap", {"i": 0})
    layer.send("cap", {"i": 4})
    got = [message["i"] for _, message in drain(layer, ["cap"])]
    assert got == [1, 2, 4], f"after ChannelFull the channel held {got}"


@clause("capacity.channel-capacity", "channel_capacity patterns size channels, first wins", "§5")
def channel_capacity(ctx: Context) -> None:
    """`channel_capacity` maps glob patterns or compiled regexes to per-channel capacities,
    first match wins."""
    patterns = {"big.*": 5, "big.small": 1, "tiny": 1, re.compile(r"rx\.\d+"): 3}
    layer = ctx.layer(capacity=2, channel_capacity=patterns)
    for index in range(5):
        layer.send("big.small", {"i": index})  # "big.*" matches first
    expect_error(layer.ChannelFull, lambda: layer.send("big.small", {}), "6th send to big.*")
    layer.send("tiny", {})
    expect_error(layer.ChannelFull, lambda: layer.send("tiny", {}), "2nd send to tiny")
    layer.send("other", {})
    layer.send("other", {})
    expect_error(layer.ChannelFull, lambda: layer.send("other", {}), "3rd send to other")
    for _ in range(3):
        layer.send("rx.42", {})
    expect_error(layer.ChannelFull, lambda: layer.send("rx.42", {}), "4th send to regex rx.\\d+")

"""SPEC §4 the ``twisted`` extension: ``receive_twisted``, as daphne 1.x calls it.

The checks run inside a real Twisted reactor: the one already running in this process, or one
the suite starts in a daemon thread on first use (a reactor runs once per process, so it is
kept). Each scenario runs in the reactor thread through ``blockingCallFromThread``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..context import Context
from ..registry import clause
from ._helpers import assert_delivered_once

_reactor_lock = threading.Lock()


def running_reactor() -> Any:
    """Twisted's global reactor, running (started in a daemon thread if nobody runs it)."""
    try:
        from twisted.internet import reactor as installed
    except ImportError as error:
        raise AssertionError(
            "the layer declares the 'twisted' extension; checking it needs Twisted installed"
        ) from error
    reactor: Any = installed
    with _reactor_lock:
        if not reactor.running:
            thread = threading.Thread(
                target=reactor.run,
                kwargs={"installSignalHandlers": False},
                name="conformance-reactor",
                daemon=True,
            )
            thread.start()
            deadline = time.monotonic() + 10
            while not reactor.running and time.monotonic() < deadline:
                time.sleep(0.005)
    return reactor


def in_reactor(scenario: Callable[[], Any]) -> Any:
    """Run ``scenario`` (which may return a Deferred) in the reactor thread; its result."""
    from twisted.internet import threads

    return threads.blockingCallFromThread(running_reactor(), scenario)


def _pause(seconds: float) -> Any:
    from twisted.internet import reactor, task

    return task.deferLater(reactor, seconds, lambda: None)


@clause(
    "twisted.receive",
    "receive_twisted returns a Deferred firing with what receive would",
    "§4",
    extension="twisted",
)
def receive(ctx: Context) -> None:
    """`twisted`: `receive_twisted(channels)` returns a Twisted `Deferred` firing with
    `(channel, message)` or `(None, None)`."""
    from twisted.internet import defer

    layer = ctx.layer()
    process = layer.new_channel("twisted!")
    layer.send("twisted.plain", {"n": 1})
    layer.send(process, {"n": 2})

    def one(channels: list[str]) -> Any:
        deferred = layer.receive_twisted(channels)
        assert isinstance(deferred, defer.Deferred), f"receive_twisted returned {deferred!r}"
        return deferred

    got = [
        in_reactor(lambda: one(["twisted.plain"])),
        in_reactor(lambda: one([process[: process.index("!") + 1]])),
        in_reactor(lambda: one(["twisted.plain"])),  # empty: (None, None) after blocking_timeout
    ]
    assert got == [("twisted.plain", {"n": 1}), (process, {"n": 2}), (None, None)], got


@clause(
    "twisted.does-not-block-reactor",
    "Waiting in receive_twisted never blocks the reactor",
    "§4",
    extension="twisted",
    slow=True,
)
def does_not_block(ctx: Context) -> None:
    """`receive_twisted(channels)` returns a Twisted `Deferred` ..., without blocking the
    reactor."""
    from twisted.internet import defer, task

    layer = ctx.layer(blocking_timeout=1)
    sender = threading.Timer(0.5, lambda: layer.send("twisted.late", {"late": True}))
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1

    @defer.inlineCallbacks
    def scenario() -> Any:
        ticker = task.LoopingCall(tick)
        ticker.start(0.02)
        try:
            started = time.monotonic()
            waiting = layer.receive_twisted(["twisted.empty"])  # waits blocking_timeout
            call_seconds = time.monotonic() - started
            got = yield waiting
            sender.start()
            late = yield layer.receive_twisted(["twisted.late"])
        finally:
            ticker.stop()
        return call_seconds, got, late

    call_seconds, got, late = in_reactor(scenario)
    sender.join()
    assert call_seconds < 0.2, f"receive_twisted took {call_seconds:.2f} s to return a Deferred"
    assert got == (None, None), got
    assert late == ("twisted.late", {"late": True}), f"receive_twisted fired with {late!r}"
    assert ticks >= 10, f"a LoopingCall ticked only {ticks} times in ~1.5 s of waiting"


@clause(
    "twisted.cancellation",
    "Cancelling a receive_twisted Deferred never loses or duplicates a message",
    "§4",
    extension="twisted",
)
def cancellation(ctx: Context) -> None:
    """`receive_twisted(channels)` returns a Twisted `Deferred` [a cancelled Deferred must not
    lose a message: at most once, and no loss under normal operation]."""
    from twisted.internet import defer

    layer = ctx.layer(blocking_timeout=0.3, capacity=100)
    count = 30

    def none_if_cancelled(failure: Any) -> tuple[None, None]:
        failure.trap(defer.CancelledError)
        return None, None

    @defer.inlineCallbacks
    def scenario() -> Any:
        got: list[int] = []
        for index in range(count):
            waiting = layer.receive_twisted(["twisted.cancel"])
            waiting.addErrback(none_if_cancelled)
            yield _pause(0.001 * (index % 4))
            layer.send("twisted.cancel", {"i": index})
            if index % 2:
                waiting.cancel()
            channel, message = yield waiting
            if channel is not None:
                got.append(message["i"])
        misses = 0
        while misses < 3:  # cancelled receivers may still finish: wait them out
            channel, message = yield layer.receive_twisted(["twisted.cancel"])
            if channel is None:
                misses += 1
            else:
                got.append(message["i"])
        return got

    got: list[int] = in_reactor(scenario)
    assert_delivered_once(layer, "twisted.cancel", got, count, "receive_twisted")

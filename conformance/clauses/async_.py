"""SPEC §4 the ``asyncio`` extension (alias ``async``): ``receive_async``."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ..context import Context
from ..registry import clause
from ._helpers import assert_delivered_once


@clause("async.receive", "receive_async returns what receive would", "§4", extension="asyncio")
def receive(ctx: Context) -> None:
    """`asyncio`: `receive_async(channels)` coroutine, same semantics as a blocking receive."""
    layer = ctx.layer()
    process = layer.new_channel("async!")
    layer.send("async.plain", {"n": 1})
    layer.send(process, {"n": 2})

    async def scenario() -> list[Any]:
        return [
            await layer.receive_async(["async.plain"]),
            await layer.receive_async([process[: process.index("!") + 1]]),
            await layer.receive_async(["async.plain"]),  # empty: None after blocking_timeout
        ]

    got = asyncio.run(scenario())
    assert got == [("async.plain", {"n": 1}), (process, {"n": 2}), (None, None)], got


@clause(
    "async.does-not-block-loop",
    "Waiting in receive_async never blocks the event loop",
    "§4",
    extension="asyncio",
)
def does_not_block(ctx: Context) -> None:
    """`receive_async(channels)` coroutine ... never blocks the event loop."""
    layer = ctx.layer(blocking_timeout=1)
    sender = threading.Timer(0.5, lambda: layer.send("async.late", {"late": True}))

    async def scenario() -> tuple[Any, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.02)

        tick_task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        try:
            got = await layer.receive_async(["async.empty"])  # waits blocking_timeout
            sender.start()
            late = await layer.receive_async(["async.late"])
        finally:
            done.set()
            await tick_task
        assert got == (None, None), got
        return late, ticks

    late, ticks = asyncio.run(scenario())
    sender.join()
    assert late == ("async.late", {"late": True}), f"receive_async returned {late!r}"
    assert ticks >= 10, f"a ticker coroutine ticked only {ticks} times in ~1.5 s of waiting"


@clause(
    "async.cancellation",
    "Cancelling receive_async never loses or duplicates a message",
    "§4",
    extension="asyncio",
)
def cancellation(ctx: Context) -> None:
    """`receive_async(channels)` coroutine, same semantics as a blocking receive [a cancelled
    receive must not lose a message: at most once, and no loss under normal operation]."""
    layer = ctx.layer(blocking_timeout=0.3, capacity=100)
    count = 30

    async def scenario() -> list[int]:
        got: list[int] = []
        for index in range(count):
            task = asyncio.create_task(layer.receive_async(["async.cancel"]))
            await asyncio.sleep(0.001 * (index % 4))
            layer.send("async.cancel", {"i": index})
            if index % 2:
                task.cancel()
            try:
                channel, message = await task
                if channel is not None:
                    got.append(message["i"])
            except asyncio.CancelledError:
                pass
        misses = 0
        while misses < 3:  # cancelled receivers may still finish: wait them out
            channel, message = await layer.receive_async(["async.cancel"])
            if channel is None:
                misses += 1
            else:
                got.append(message["i"])
        return got

    got = asyncio.run(scenario())
    assert_delivered_once(layer, "async.cancel", got, count, "receive_async")

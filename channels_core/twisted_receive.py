"""The ASGI 1.0 ``twisted`` extension's plumbing: a layer's async receive as a Twisted Deferred.

:meth:`BaseChannelLayer.receive_twisted <channels_core.layer.BaseChannelLayer.receive_twisted>`
hands this module a coroutine that takes one raw message (the layer's own cancellation-safe
async receive). The coroutine runs on one asyncio event loop in a background thread shared by
the whole process, so the reactor never waits for the layer; the Deferred fires in the reactor
thread (``reactor.callFromThread``), as Twisted requires.

Guarantees:

* ``receive_twisted`` returns at once; the Deferred fires later, never synchronously inside the
  call, with ``(channel, message)`` or ``(None, None)`` after ``blocking_timeout``.
* Cancelling the Deferred cancels the coroutine; a message already taken for it is parked on
  the layer (returned first by the next receive), never lost.
* Twisted is optional: it is imported on the first ``receive_twisted`` call, which raises
  ``ImportError`` naming the missing package when it is not installed.
* The background loop is per process: a forked child starts its own on first use.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

Raw = TypeVar("Raw")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's receive loop (a daemon thread running an asyncio event loop)."""
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="channels-core-twisted-receive", daemon=True
            )
            thread.start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def twisted_modules() -> tuple[Any, Any, Any]:
    """``(defer, reactor, Failure)`` from Twisted, imported on first use."""
    try:
        from twisted.internet import defer, reactor
        from twisted.python.failure import Failure
    except ImportError as error:
        raise ImportError(
            "receive_twisted needs Twisted, which is not installed "
            "(pip install 'channels-core[twisted]')"
        ) from error
    return defer, reactor, Failure


def immediate(result: object) -> Any:
    """A Deferred that already has ``result`` (for a receive with nothing to wait on)."""
    defer, _, _ = twisted_modules()
    return defer.succeed(result)


def deferred_receive(
    receive: Coroutine[Any, Any, Raw | None],
    deliver: Callable[[Raw | None], object],
    park: Callable[[Raw], None],
) -> Any:
    """A Deferred for ``receive``, run as a task on the background loop.

    ``deliver(raw)`` turns the raw result into what the Deferred fires with (run in the reactor
    thread; an exception it raises fails the Deferred). If the Deferred was cancelled before a
    taken message reached it, ``park(raw)`` keeps that message for the next receive.
    """
    defer, reactor, Failure = twisted_modules()
    loop = background_loop()
    tasks: list[asyncio.Task[Raw | None]] = []

    def settle(task: asyncio.Task[Raw | None]) -> None:  # in the reactor thread
        if task.cancelled():
            return  # the coroutine parked anything it had taken
        error = task.exception()
        if deferred.called:  # cancelled meanwhile: keep what was taken for it
            if error is None and (raw := task.result()) is not None:
                park(raw)
            return
        if error is not None:
            deferred.errback(Failure(error))
            return
        try:
            result = deliver(task.result())
        except Exception as failure:
            deferred.errback(Failure(failure))
        else:
            deferred.callback(result)

    def start() -> None:  # in the loop thread
        task = loop.create_task(receive)
        tasks.append(task)
        task.add_done_callback(lambda done: reactor.callFromThread(settle, done))

    # Both run in the loop thread, in this order, so the task exists when it is cancelled; a
    # task that already finished ignores the cancel and settle() parks its result instead.
    deferred = defer.Deferred(
        canceller=lambda _: loop.call_soon_threadsafe(lambda: tasks[0].cancel())
    )
    loop.call_soon_threadsafe(start)
    return deferred

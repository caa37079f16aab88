"""A tiny message board between the two sides of a cross-process workload.

Both sides are coroutines; waiting polls a queue (a ``multiprocessing`` queue between processes,
a ``queue.Queue`` between threads or tasks of one process) with short sleeps, so it never blocks
an event loop that the other side may be sharing. Every post carries the run's tag, and posts
left over from an earlier, aborted run are ignored.
"""

from __future__ import annotations

import asyncio
import queue
import time
from typing import Any, Protocol


class _Queue(Protocol):
    def put(self, item: Any) -> None: ...

    def get_nowait(self) -> Any: ...


class Mailbox:
    """Posts go to ``outbox``; ``wait`` reads ``inbox``. Both are plain FIFO queues."""

    def __init__(self, inbox: _Queue, outbox: _Queue, tag: str) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.tag = tag
        self._received: dict[str, Any] = {}

    def post(self, kind: str, value: Any = None) -> None:
        self.outbox.put((self.tag, kind, value))

    async def wait(self, kind: str, timeout: float) -> Any:
        """The value posted as ``kind`` by the other side; TimeoutError after ``timeout`` s."""
        deadline = time.perf_counter() + timeout
        while kind not in self._received:
            try:
                tag, posted_kind, value = self.inbox.get_nowait()
            except queue.Empty:
                if time.perf_counter() >= deadline:
                    raise TimeoutError(
                        f"the other side posted no {kind!r} within {timeout:g} s"
                    ) from None
                await asyncio.sleep(0.002)
                continue
            if tag == self.tag:
                self._received[posted_kind] = value
        return self._received.pop(kind)

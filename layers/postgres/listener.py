"""The layer's LISTEN connection and the local receivers it wakes.

One :class:`Listener` per layer object: a daemon thread holding one connection that LISTENs on
a channel name unique to the layer (plus the schema's flush channel). A receiver that found
nothing registers itself twice: locally (a :class:`Waiter` for the queues it asks for) and on
the server (a ``waiter`` row naming this listener, written by the same call that found
nothing). A sender that stores a message on a queue with waiter rows deletes them and NOTIFYs
each listener once; this thread then wakes the local waiters of those queues, which take the
message from the table. NOTIFY carries only queue names, never a message.

When the connection drops, every local waiter is woken (so it polls the tables), the thread
reconnects with backoff and LISTENs again under the same name, then wakes everyone once more:
messages sent while it was away are found in the tables.
"""

from __future__ import annotations

import asyncio
import logging
import os
import selectors
import threading
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg import pq, sql

from channels_core.retry import Backoff

logger = logging.getLogger(__name__)


class Waiter:
    """A blocked receiver on some queues; woken from the listener thread."""

    __slots__ = ("event", "queues")

    def __init__(self, queues: Iterable[str]) -> None:
        self.queues = tuple(queues)
        self.event = threading.Event()

    def wake(self) -> None:
        self.event.set()

    def clear(self) -> None:
        self.event.clear()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)


class AsyncWaiter(Waiter):
    """A blocked coroutine; woken through its event loop."""

    __slots__ = ("async_event", "loop")

    def __init__(self, queues: Iterable[str], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(queues)
        self.loop = loop
        self.async_event = asyncio.Event()

    def wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.async_event.set)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def clear(self) -> None:
        self.async_event.clear()

    async def wait_async(self, timeout: float) -> bool:
        if self.async_event.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):  # no task per wait, unlike wait_for
                await self.async_event.wait()
        except TimeoutError:
            return False
        return True


class Listener:
    """Owns the LISTEN connection (on its own thread) and the registry of local waiters."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        channel: str,
        flush_channel: str,
        on_flush: Callable[[list[str], psycopg.Connection[Any]], None],
        on_connect: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        self._connect = connect
        #: The name NOTIFYs for this layer are sent to (stored in ``waiter`` rows).
        self.channel = channel
        self._flush_channel = flush_channel
        self._on_flush = on_flush
        self._on_connect = on_connect
        # flush notifications received, handed to on_flush (with this thread's connection, to
        # check them against the database) outside of any statement
        self._flushes: list[str] = []
        self._lock = threading.Lock()
        self._by_queue: dict[str, set[Waiter]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._ready = threading.Event()  # set once the first LISTEN attempt has finished
        self._connected = False
        self.last_error: BaseException | None = None
        #: How many times the LISTEN connection was (re)established.
        self.sessions = 0
        #: Bumped before every wake-up is handed out: a receiver that lists its waiter only
        #: after registering on the server compares it to see whether it missed one.
        self.generation = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        """Start the thread (once); returns at once."""
        with self._lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._run, name=f"pg-listener-{self.channel}", daemon=True
                )
                self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """Start if needed and wait for the first connection attempt; True if listening."""
        self.start()
        self._ready.wait(timeout)
        return self._connected

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.wake_all()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- local waiters ------------------------------------------------------------------------

    def add(self, waiter: Waiter) -> None:
        with self._lock:
            for queue in waiter.queues:
                self._by_queue.setdefault(queue, set()).add(waiter)

    def remove(self, waiter: Waiter) -> None:
        with self._lock:
            for queue in waiter.queues:
                waiters = self._by_queue.get(queue)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._by_queue[queue]

    def wake(self, queues: Iterable[str]) -> None:
        with self._lock:
            self.generation += 1
            chosen = {w for q in queues for w in self._by_queue.get(q, ())}
        for waiter in chosen:
            waiter.wake()

    def wake_all(self) -> None:
        with self._lock:
            self.generation += 1
            chosen = {w for waiters in self._by_queue.values() for w in waiters}
        for waiter in chosen:
            waiter.wake()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(initial=0.05, maximum=2.0)
        while not self._stopping:
            try:
                conn = self._connect()
            except Exception as error:  # any failure means "retry later"
                self.last_error = error
                self._ready.set()
                logger.debug("listener %s cannot connect: %s", self.channel, error)
                self._pause(backoff.delay())
                continue
            try:
                conn.add_notify_handler(lambda n: self._dispatch(n.channel, n.payload))
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._flush_channel)))
                if self._on_connect is not None:
                    self._on_connect(conn)
                backoff.reset()
                self.sessions += 1
                self._connected = True
                self.last_error = None
                self._ready.set()
                self.wake_all()  # anything sent while we were not listening is in the tables
                self._pump(conn)
            except Exception as error:  # connection lost: reconnect
                self.last_error = error
                if not self._stopping:
                    logger.warning("listener %s lost its connection: %s", self.channel, error)
            finally:
                self._connected = False
                try:
                    conn.close()
                except Exception:
                    pass
            self.wake_all()
            if not self._stopping:
                self._pause(backoff.delay())

    def _pause(self, seconds: float) -> None:
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._wake_r, selectors.EVENT_READ)
            selector.select(seconds)
        finally:
            selector.close()

    def _pump(self, conn: psycopg.Connection[Any]) -> None:
        pgconn = conn.pgconn
        selector = selectors.DefaultSelector()
        try:
            selector.register(pgconn.socket, selectors.EVENT_READ, "pg")
            selector.register(self._wake_r, selectors.EVENT_READ, "stop")
            while not self._stopping:
                self._handle_flushes(conn)
                events = selector.select(60.0)
                if not events:
                    conn.execute("SELECT 1")  # idle for a minute: make sure it still works
                for key, _ in events:
                    if key.data == "stop":
                        return
                pgconn.consume_input()
                if pgconn.status != pq.ConnStatus.OK:
                    raise psycopg.OperationalError("the server closed the LISTEN connection")
                while True:
                    notify = pgconn.notifies()
                    if notify is None:
                        break
                    self._dispatch(
                        notify.relname.decode(errors="replace"),
                        notify.extra.decode(errors="replace"),
                    )
        finally:
            selector.close()

    def _handle_flushes(self, conn: psycopg.Connection[Any]) -> None:
        """Hand the flush notifications received so far to ``on_flush`` (which may run
        statements on ``conn``: notifications arriving meanwhile are handled next round)."""
        while self._flushes:
            payloads, self._flushes = self._flushes, []
            self._on_flush(payloads, conn)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == self._flush_channel:
            if len(self._flushes) < 1000:  # a flood of them needs one check, not a list
                self._flushes.append(payload)
        elif payload == "*":
            self.wake_all()
        else:
            self.wake(payload.split(" "))

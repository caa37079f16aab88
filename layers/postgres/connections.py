"""Bounded connection pools for the PostgreSQL layer: one for threads, one per event loop.

Both pools create connections on demand (none at start), keep at most ``size`` of them, hand
out the most recently used idle one first, and throw away any connection the server closed
(checked with a zero-timeout poll of its socket before it is handed out, so a server restart
costs no failed call). Connections run in autocommit: every call is one statement, and the
layer keeps no session state on them (no ``SET``, no temporary tables, no ``LISTEN``), so they
can go through PgBouncer in transaction mode.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import pq

from channels_core.exceptions import LayerClosed, LayerUnavailable

#: How long a caller waits for a busy pool's connection before giving up.
ACQUIRE_TIMEOUT = 30.0


def is_usable(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """False if ``conn`` is closed, broken, or the server has closed it while it was idle."""
    pgconn = conn.pgconn
    if pgconn.status != pq.ConnStatus.OK:
        return False
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    # An idle pooled connection (no LISTEN on it) gets data when the server is leaving (its
    # FATAL message, then end of file), or, rarely, a notice: never worth keeping.
    return not poller.poll(0)


def shut_down(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    """Shut down ``conn``'s socket from another thread: whatever waits on it fails at once."""
    try:
        duplicate = socket.socket(fileno=os.dup(conn.pgconn.socket))
    except (OSError, psycopg.Error):
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()


def finish(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    """Close ``conn`` from any thread, without needing its event loop."""
    try:
        conn.pgconn.finish()
    except Exception:  # closing is best effort
        pass


C = TypeVar("C", psycopg.Connection[Any], psycopg.AsyncConnection[Any])


def pop_usable(idle: list[C]) -> tuple[C | None, int]:
    """Take the most recently used connection of ``idle`` that is still usable, closing the
    unusable ones on the way: (that connection or None, how many were closed)."""
    closed = 0
    while idle:
        conn = idle.pop()
        if is_usable(conn):
            return conn, closed
        finish(conn)
        closed += 1
    return None, closed


class Watchdog:
    """Shuts down the socket of a connection still busy ``timeout`` seconds after it was
    handed out (its statement hangs: a stalled network, a server that stopped answering), so
    the statement fails at once (the caller sees a broken connection) instead of waiting
    forever; libpq's own timeouts cover only connecting.

    One daemon thread, started on first use, watches the connections of both pools (sync
    and async): a connection costs a dictionary entry while busy, and no timer of its own.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._busy: dict[Any, float] = {}  # connection -> deadline
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
        """Start ``conn``'s ``timeout`` (until :meth:`done`)."""
        deadline = time.monotonic() + self.timeout
        with self._lock:
            self._busy[conn] = deadline
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._watch, name="pg-layer-watchdog", daemon=True
                )
                self._thread.start()

    def done(self, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
        with self._lock:
            self._busy.pop(conn, None)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True

    def _watch(self) -> None:
        step = min(0.5, self.timeout / 4)
        while True:
            with self._lock:
                if self._stopped:
                    return
                now = time.monotonic()
                overdue = [conn for conn, deadline in self._busy.items() if deadline < now]
                for conn in overdue:
                    del self._busy[conn]
            for conn in overdue:
                shut_down(conn)
            time.sleep(step)


class ConnectionPool:
    """Thread-safe pool of at most ``size`` synchronous connections made by ``connect``;
    a connection handed out ``bounded`` is watched by ``watchdog`` until released."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        size: int,
        watchdog: Watchdog | None = None,
    ) -> None:
        self._connect = connect
        self.size = size
        self.watchdog = watchdog
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[psycopg.Connection[Any]] = []
        self._total = 0
        self._closed = False

    def acquire(self, bounded: bool = True) -> psycopg.Connection[Any]:
        """An idle or new connection; ``bounded``: watched by the pool's watchdog."""
        conn = self._acquire()
        if bounded and self.watchdog is not None:
            self.watchdog.watch(conn)
        return conn

    def _acquire(self) -> psycopg.Connection[Any]:
        with self._cond:
            while True:
                if self._closed:
                    raise LayerClosed("the layer's connection pool is closed")
                conn, closed = pop_usable(self._idle)
                self._total -= closed
                if conn is not None:
                    return conn
                if self._total < self.size:
                    self._total += 1
                    break
                if not self._cond.wait(ACQUIRE_TIMEOUT):
                    raise LayerUnavailable(
                        f"all {self.size} connections of the pool stayed busy for "
                        f"{ACQUIRE_TIMEOUT:g}s (raise pool_size?)"
                    )
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._total -= 1
                self._cond.notify()
            raise

    def release(self, conn: psycopg.Connection[Any], *, discard: bool = False) -> None:
        if self.watchdog is not None:
            self.watchdog.done(conn)
        with self._cond:
            if discard or self._closed or conn.pgconn.status != pq.ConnStatus.OK:
                finish(conn)
                self._total -= 1
            elif conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                finish(conn)  # interrupted mid-statement: never reuse
                self._total -= 1
            else:
                self._idle.append(conn)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for conn in self._idle:
                finish(conn)
                self._total -= 1
            self._idle.clear()
            self._cond.notify_all()


class _LoopPool:
    """The async connections of one event loop (used only from that loop)."""

    def __init__(self) -> None:
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.total = 0
        #: acquires waiting for a connection, first come first served
        self.waiting: deque[asyncio.Future[None]] = deque()

    def usable_idle(self) -> psycopg.AsyncConnection[Any] | None:
        """The most recently used idle connection still usable (the others are closed)."""
        conn, closed = pop_usable(self.idle)
        self.total -= closed
        return conn

    def notify(self) -> None:
        """Let the first waiting acquire look again (a connection or a slot is free)."""
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class AsyncConnectionPools:
    """At most ``size`` async connections per event loop, made by ``connect``; each handed
    out is watched by ``watchdog`` until released.

    An async connection belongs to the loop that created it, so each loop gets its own small
    pool, dropped (and its connections closed) when the loop is garbage-collected or the
    layer is closed.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]],
        size: int,
        watchdog: Watchdog | None = None,
    ) -> None:
        self._connect = connect
        self.size = size
        self.watchdog = watchdog
        self._lock = threading.Lock()
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            with self._lock:
                pool = self._pools.get(loop)
                if pool is None:
                    pool = self._pools[loop] = _LoopPool()
                    weakref.finalize(loop, _finish_all, pool.idle)
        return pool

    async def acquire(self) -> psycopg.AsyncConnection[Any]:
        pool = self._pool()
        while True:
            if self._closed:
                raise LayerClosed("the layer's connection pool is closed")
            conn = pool.usable_idle()
            if conn is not None:
                break
            if pool.total < self.size:
                pool.total += 1
                try:
                    conn = await self._connect()
                except BaseException:
                    pool.total -= 1
                    pool.notify()
                    raise
                break
            await self._wait_turn(pool)
        if self.watchdog is not None:
            self.watchdog.watch(conn)
        return conn

    async def _wait_turn(self, pool: _LoopPool) -> None:
        """Wait until a connection is released (first come, first served)."""
        waiter = asyncio.get_running_loop().create_future()
        pool.waiting.append(waiter)
        try:
            async with asyncio.timeout(ACQUIRE_TIMEOUT):
                await waiter
        except TimeoutError:
            raise LayerUnavailable(
                f"all {self.size} async connections of this event loop stayed busy "
                f"for {ACQUIRE_TIMEOUT:g}s (raise pool_size?)"
            ) from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                pool.notify()  # it was this acquire's turn: pass it on
            raise

    def release(self, conn: psycopg.AsyncConnection[Any], *, discard: bool = False) -> None:
        """Give ``conn`` back (closed instead if broken, mid-statement or ``discard``)."""
        if self.watchdog is not None:
            self.watchdog.done(conn)
        pool = self._pool()
        if (
            discard
            or self._closed
            or conn.pgconn.status != pq.ConnStatus.OK
            or conn.pgconn.transaction_status != pq.TransactionStatus.IDLE
        ):
            finish(conn)
            pool.total -= 1
        else:
            pool.idle.append(conn)
        if pool.waiting:
            pool.notify()

    def close(self) -> None:
        """Close every idle connection of every loop (busy ones close when released)."""
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
        for pool in pools:
            _finish_all(pool.idle)


def _finish_all(conns: list[psycopg.AsyncConnection[Any]]) -> None:
    for conn in conns:
        finish(conn)
    conns.clear()

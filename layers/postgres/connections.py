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
from collections.abc import Awaitable, Callable
from typing import Any

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


class ConnectionPool:
    """Thread-safe pool of at most ``size`` synchronous connections made by ``connect``.

    A connection handed out with a ``timeout`` that is not released within it (its
    statement hangs: a stalled network, a server that stopped answering) has its socket
    shut down by a watchdog thread, so the statement fails (the caller sees a broken
    connection) instead of waiting forever; libpq's own timeouts cover only connecting.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        size: int,
        timeout: float | None = None,
    ) -> None:
        self._connect = connect
        self.size = size
        self.timeout = timeout
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[psycopg.Connection[Any]] = []
        self._total = 0
        self._closed = False
        self._busy: dict[psycopg.Connection[Any], float] = {}  # connection -> deadline
        self._watchdog: threading.Thread | None = None

    def acquire(self, bounded: bool = True) -> psycopg.Connection[Any]:
        """An idle or new connection; ``bounded``: subject to the pool's ``timeout``."""
        conn = self._acquire()
        if bounded and self.timeout is not None:
            with self._cond:
                self._busy[conn] = time.monotonic() + self.timeout
                if self._watchdog is None:
                    self._watchdog = threading.Thread(
                        target=self._watch, name="pg-layer-watchdog", daemon=True
                    )
                    self._watchdog.start()
        return conn

    def _watch(self) -> None:
        """Shut down the sockets of connections busy past their deadline (until closed)."""
        step = min(0.5, (self.timeout or 1.0) / 4)
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                overdue = [conn for conn, deadline in self._busy.items() if deadline < now]
                for conn in overdue:
                    del self._busy[conn]
            for conn in overdue:
                shut_down(conn)
            time.sleep(step)

    def _acquire(self) -> psycopg.Connection[Any]:
        with self._cond:
            while True:
                if self._closed:
                    raise LayerClosed("the layer's connection pool is closed")
                while self._idle:
                    conn = self._idle.pop()
                    if is_usable(conn):
                        return conn
                    finish(conn)
                    self._total -= 1
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
        with self._cond:
            self._busy.pop(conn, None)
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
        self.available = asyncio.Condition()


class AsyncConnectionPools:
    """At most ``size`` async connections per event loop, made by ``connect``.

    An async connection belongs to the loop that created it, so each loop gets its own small
    pool, dropped (and its connections closed) when the loop is garbage-collected or the
    layer is closed.
    """

    def __init__(
        self, connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]], size: int
    ) -> None:
        self._connect = connect
        self.size = size
        self._lock = threading.Lock()
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        with self._lock:
            pool = self._pools.get(loop)
            if pool is None:
                pool = self._pools[loop] = _LoopPool()
                weakref.finalize(loop, _finish_all, pool.idle)
            return pool

    async def acquire(self) -> psycopg.AsyncConnection[Any]:
        pool = self._pool()
        async with pool.available:
            while True:
                if self._closed:
                    raise LayerClosed("the layer's connection pool is closed")
                while pool.idle:
                    conn = pool.idle.pop()
                    if is_usable(conn):
                        return conn
                    finish(conn)
                    pool.total -= 1
                if pool.total < self.size:
                    pool.total += 1
                    break
                try:
                    await asyncio.wait_for(pool.available.wait(), ACQUIRE_TIMEOUT)
                except TimeoutError:
                    raise LayerUnavailable(
                        f"all {self.size} async connections of this event loop stayed busy "
                        f"for {ACQUIRE_TIMEOUT:g}s (raise pool_size?)"
                    ) from None
        try:
            return await self._connect()
        except BaseException:
            pool.total -= 1
            async with pool.available:
                pool.available.notify()
            raise

    async def release(self, conn: psycopg.AsyncConnection[Any], *, discard: bool = False) -> None:
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
        async with pool.available:
            pool.available.notify()

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

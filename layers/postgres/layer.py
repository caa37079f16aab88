"""PostgresChannelLayer: the contract on PostgreSQL tables, NOTIFY as wake-up only.

See the package docstring (``layers.postgres``) for features, connection string and options.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from channels_core.exceptions import (
    ChannelFull,
    ImproperlyConfigured,
    LayerClosed,
    LayerUnavailable,
    MalformedMessage,
    OutcomeUnknown,
)
from channels_core.inbox import ProcessInbox
from channels_core.layer import RECEIVE_EXTENSIONS, BaseChannelLayer, RawReceived
from channels_core.names import inbox_name
from channels_core.options import (
    Option,
    OptionTable,
    boolean,
    integer,
    number,
    optional,
    parse_bool,
    text,
)
from channels_core.retry import outcome_unknown, unavailable
from channels_core.session_store import SessionStore
from channels_core.statistics import Statistics
from channels_core.urls import redact, scrub

from . import wire
from .connections import AsyncConnectionPools, ConnectionPool, Watchdog
from .listener import AsyncWaiter, Listener, Waiter
from .schema import check_prefix, check_schema_name, ensure_schema
from .sessions import PostgresSessionStore

ENGINE = "PostgreSQL"

logger = logging.getLogger(__name__)

#: libpq settings the layer adds to the connection string unless it sets them itself: dead
#: peers are noticed within seconds instead of the kernel's two hours.
_KEEPALIVE_DEFAULTS = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "15000",
}

Row = tuple[Any, ...]
#: Longest interval or timeout option (seconds).
MAX_INTERVAL = 3600.0


def _libpq_parameter(key: str) -> bool:
    """Other URL query keys are libpq parameters, left in the URL: libpq refuses unknown ones."""
    return True


def str_value(value: Any) -> str:
    """A str (a connection string may be empty: libpq's defaults and ``PG*`` variables)."""
    if not isinstance(value, str):
        raise ValueError(f"must be a str, got {type(value).__name__}")
    return value


class ConnectionLost(OutcomeUnknown):
    """A pooled connection broke while in use (the server went away or killed it, the network
    cut it, or a statement outlived ``command_timeout``): what it was running may or may not
    have been applied."""


class _Statements:
    """The SQL the layer runs, bound to one schema (each is one round trip)."""

    def __init__(self, schema: str) -> None:
        s = f'"{schema}"'
        self.send = f"SELECT {s}.send(%s, %s, %s, %s, %s::float8, %s::integer)"
        self.take = (
            f"SELECT r_channel, r_payload, r_ttl, r_epoch FROM {s}.take(%s, %s::text[], "
            "%s::integer, %s::text)"
        )
        self.flushes = (
            f"SELECT coalesce((SELECT flushes FROM {s}.prefix_totals WHERE prefix = %s), 0)"
        )
        self.send_group = f"SELECT {s}.send_group(%s, %s, %s, %s::float8)"
        self.evict_channels = (
            f"DELETE FROM {s}.group_member WHERE prefix = %s AND channel = ANY (%s::text[])"
        )
        self.group_add = f"SELECT {s}.group_add(%s, %s, %s, %s, %s::integer, %s::float8)"
        self.group_discard = f"SELECT {s}.group_discard(%s, %s, %s)"
        self.group_channels = f"SELECT {s}.group_channels(%s, %s)"
        self.flush = f"SELECT {s}.flush(%s, %s)"
        self.statistics = f"SELECT * FROM {s}.statistics(%s, %s::text)"
        self.sweep = f"SELECT {s}.sweep(%s::integer, %s::float8)"
        self.in_use = (
            f"SELECT EXISTS (SELECT 1 FROM {s}.message WHERE prefix = %(p)s AND queue = %(q)s "
            "AND channel = %(c)s) OR EXISTS (SELECT 1 FROM "
            f"{s}.group_member WHERE prefix = %(p)s AND channel = %(c)s)"
        )
        self.elect_vacuum = (
            f"INSERT INTO {s}.maintenance AS m (task, last_run) VALUES ('vacuum', now()) "
            "ON CONFLICT (task) DO UPDATE SET last_run = now() "
            "WHERE m.last_run < now() - make_interval(secs => %s::float8) RETURNING 1"
        )
        self.vacuum = (
            f"VACUUM (SKIP_LOCKED) {s}.message, {s}.queue, {s}.waiter, {s}.group_member, "
            f"{s}.prefix_totals"
        )


@dataclass(frozen=True)
class _Take:
    """Step of a receive plan: one take round trip (replied: the message, or None)."""

    channels: list[str]
    listener: str | None


@dataclass(frozen=True)
class _NewWaiter:
    """Step: a waiter for ``channels`` fit for the driver (replied: the waiter)."""

    channels: list[str]


@dataclass(frozen=True)
class _Wait:
    """Step: wait on ``waiter`` up to ``timeout`` seconds (replied: whether it was woken)."""

    waiter: Waiter
    timeout: float


@dataclass(frozen=True)
class _Ready:
    """Step: wait for the listener's first connection (LayerUnavailable if it cannot)."""

    listener: Listener


_Plan = Generator[_Take | _NewWaiter | _Wait | _Ready, Any, RawReceived]

T = TypeVar("T")
#: One call's statements, decided once: yields ``(query, parameters)``, is sent each one's
#: first row (None if it returns none), returns the call's result. ``_run`` and ``_run_async``
#: run them on one connection.
_Script = Generator[tuple[str, Sequence[Any] | dict[str, Any]], Row | None, T]


def _where(conninfo: str) -> tuple[str, int | None]:
    """Host and port a connection string points at (for error messages)."""
    params = conninfo_to_dict(conninfo)
    host = str(
        params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST", "localhost")
    )
    port_text = str(params.get("port") or os.environ.get("PGPORT", "5432"))
    try:
        return host, int(port_text)
    except ValueError:
        return f"{host}:{port_text}", None


def _in_inboxes(channel: str, inboxes: list[str]) -> bool:
    """Whether ``channel`` is a process-specific channel of one of ``inboxes``."""
    return any(len(channel) > len(inbox) and channel.startswith(inbox) for inbox in inboxes)


class PostgresChannelLayer(BaseChannelLayer):
    """The channel-layer contract on PostgreSQL; see the ``layers.postgres`` docstring."""

    extensions: ClassVar[list[str]] = ["groups", "flush", "statistics", *RECEIVE_EXTENSIONS]
    options: ClassVar[OptionTable] = BaseChannelLayer.options.extend(
        Option("url", None, optional(str_value)),
        Option("schema", "channels_core", check_schema_name, str),
        Option("pool_size", 4, integer(1, 1000), int),
        Option("connect_timeout", 3.0, number(maximum=MAX_INTERVAL), float),
        Option("prepared_statements", True, boolean, parse_bool),
        Option("listen_url", None, optional(text), str),
        Option("inbox_batch", 1000, integer(1, 1_000_000), int),
        Option("poll_interval", 1.0, number(maximum=MAX_INTERVAL), float),
        Option("sweep_interval", 1.0, number(maximum=MAX_INTERVAL), float),
        Option("vacuum_interval", 1.0, number(maximum=MAX_INTERVAL, zero=True), float),
        Option("command_timeout", 10.0, number(maximum=MAX_INTERVAL), float),
        client_url_keys=_libpq_parameter,
    )

    url: str
    schema: str
    pool_size: int
    connect_timeout: float
    prepared_statements: bool
    listen_url: str | None
    inbox_batch: int
    poll_interval: float
    sweep_interval: float
    vacuum_interval: float
    command_timeout: float

    #: Rows one housekeeping pass may remove per table.
    sweep_batch = 500
    #: Seconds between garbage collections of idle queue rows (counters folded per prefix).
    queue_gc_interval = 300.0

    def __init__(self, url: str | None = None, **options: Any) -> None:
        super().__init__(url=url, **options)
        check_prefix(self.prefix)
        self.url = self.url or ""
        listen_url = self.listen_url
        self._conninfo = self._build_conninfo(self.url)
        self._listen_conninfo = self._build_conninfo(listen_url) if listen_url else self._conninfo
        self._host, self._port = _where(self._conninfo)
        self._listen_host, self._listen_port = _where(self._listen_conninfo)
        self._q = _Statements(self.schema)
        self._schema_key = (
            f"{self._host}:{self._port}/{conninfo_to_dict(self._conninfo).get('dbname', '')}"
        )
        self._schema_ready = False
        self._watchdog = Watchdog(self.command_timeout)
        self._pool = ConnectionPool(self._connect, self.pool_size, self._watchdog)
        self._async_pools = AsyncConnectionPools(
            self._connect_async, self.pool_size, self._watchdog
        )
        self._inbox = ProcessInbox(self.capacity_for)
        self._inbox_epoch: int | None = None  # the prefix's flush count when last buffered
        self._epoch_lock = threading.Lock()
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        self._flush_channel = f"{self.schema}_flush"
        self._next_sweep = 0.0
        self._next_gc = time.monotonic() + self.queue_gc_interval
        self._next_vacuum = 0.0
        self._vacuuming = False
        self._gc_idle = max(3600.0, 2 * self.expiry)
        self._malformed = 0  # rows this object took that were not its messages (dropped)

    # -- connections --------------------------------------------------------------------------

    def _build_conninfo(self, url: str) -> str:
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise ImproperlyConfigured(
                f"invalid PostgreSQL connection string {redact(url)!r}: {scrub(str(error), url)}"
            ) from None
        params.setdefault("connect_timeout", max(2, math.ceil(self.connect_timeout)))
        params.setdefault("application_name", "channels-core")
        for key, value in _KEEPALIVE_DEFAULTS.items():
            params.setdefault(key, value)
        return make_conninfo("", **params)

    def _unavailable(self, error: BaseException | str, listen: bool = False) -> LayerUnavailable:
        if listen:
            return unavailable(ENGINE, self._listen_host, self._listen_port, error)
        return unavailable(ENGINE, self._host, self._port, error)

    def _lost(self, error: BaseException) -> ConnectionLost:
        return ConnectionLost(str(outcome_unknown(ENGINE, self._host, self._port, error, "a call")))

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.Connection.connect(
                self._conninfo,
                autocommit=True,
                prepare_threshold=5 if self.prepared_statements else None,
            )
        except psycopg.OperationalError as error:
            raise self._unavailable(error) from None
        if not self._schema_ready:
            try:
                ensure_schema(conn, self._schema_key, self.schema)
            except psycopg.OperationalError as error:
                conn.close()
                raise self._unavailable(error) from None
            except psycopg.Error as error:
                conn.close()
                raise ImproperlyConfigured(
                    f"cannot create or upgrade the channel layer schema {self.schema!r} on "
                    f"{self._host}:{self._port}: {error}"
                ) from None
            self._schema_ready = True
        return conn

    async def _connect_async(self) -> psycopg.AsyncConnection[Any]:
        if not self._schema_ready:  # migrate once, through a thread (never on the loop)
            await asyncio.to_thread(lambda: self._pool.release(self._pool.acquire()))
        try:
            return await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                prepare_threshold=5 if self.prepared_statements else None,
            )
        except psycopg.OperationalError as error:
            raise self._unavailable(error) from None

    def _connect_listener(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.Connection.connect(
                self._listen_conninfo, autocommit=True, prepare_threshold=None
            )
        except psycopg.OperationalError as error:
            raise self._unavailable(error, listen=True) from None

    @contextmanager
    def _connection(self, bounded: bool = True) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; a lost one raises :meth:`_loss`. ``bounded``: statements on
        it fail after ``command_timeout`` seconds."""
        conn = self._pool.acquire(bounded)
        try:
            yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            raise self._loss(conn, error) from None
        finally:
            self._pool.release(conn)

    @asynccontextmanager
    async def _async_connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """:meth:`_connection` on this event loop (always bounded by ``command_timeout``)."""
        conn = await self._async_pools.acquire()
        try:
            yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            raise self._loss(conn, error) from None
        finally:
            self._async_pools.release(conn)

    def _loss(
        self, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any], error: Exception
    ) -> Exception:
        """The lost-connection rule of every pooled connection, sync or async: ``error``
        raised on a connection that broke under it (the server went away or killed it, the
        network cut it, or the pools' watchdog shut it down after ``command_timeout``) is
        reported as :class:`ConnectionLost` (outcome unknown), any other as itself. The pool
        throws a broken connection away on release."""
        if conn.broken or conn.closed or conn.pgconn.status != pq.ConnStatus.OK:
            return self._lost(error)
        return error

    def _run(self, script: _Script[T]) -> T:
        """Run a script's statements on one pooled connection."""
        with self._connection() as conn:
            return self._run_on(conn, script)

    @staticmethod
    def _run_on(conn: psycopg.Connection[Any], script: _Script[T]) -> T:
        row: Row | None = None
        try:
            while True:
                query, params = script.send(row)
                cursor = conn.execute(query, params, binary=True)
                row = cursor.fetchone() if cursor.description is not None else None
        except StopIteration as done:
            result: T = done.value
            return result

    async def _run_async(self, script: _Script[T]) -> T:
        """Run a script's statements on one async connection of the running event loop."""
        async with self._async_connection() as conn:
            return await self._run_on_async(conn, script)

    async def _run_on_async(self, conn: psycopg.AsyncConnection[Any], script: _Script[T]) -> T:
        row: Row | None = None
        prepare = self.prepared_statements
        try:
            while True:
                query, params = script.send(row)
                rows = await wire.fetch(conn, query, params, prepare=prepare)
                row = rows[0] if rows else None
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            script.close()

    def _one_row(self, query: str, params: Sequence[Any] | dict[str, Any]) -> _Script[Row]:
        row = yield query, params
        assert row is not None
        return row

    def _fetchone(self, query: str, params: Sequence[Any] | dict[str, Any]) -> Row:
        return self._run(self._one_row(query, params))

    def _sweep_args(self) -> tuple[int, float | None] | None:
        """Arguments of a housekeeping pass if one is due now (at most one per interval)."""
        now = time.monotonic()
        if now < self._next_sweep:
            return None
        self._next_sweep = now + self.sweep_interval
        gc_idle = None
        if now >= self._next_gc:
            self._next_gc = now + self.queue_gc_interval
            gc_idle = self._gc_idle
        return self.sweep_batch, gc_idle

    def _sweep_script(self) -> _Script[None]:
        """A housekeeping pass if one is due, and a VACUUM if this process is elected."""
        args = self._sweep_args()
        if args is None:
            return
        yield self._q.sweep, args
        now = time.monotonic()
        if self.vacuum_interval and now >= self._next_vacuum and not self._vacuuming:
            self._next_vacuum = now + self.vacuum_interval
            if (yield self._q.elect_vacuum, (self.vacuum_interval,)):
                self._vacuuming = True
                threading.Thread(target=self._vacuum, name="pg-layer-vacuum", daemon=True).start()

    def _vacuum(self) -> None:
        """VACUUM the busy tables (on a pooled connection, off the caller's thread).

        Deleted rows stay in the table and its indexes until VACUUM removes them, and every
        look at a queue's head walks over them; autovacuum may be off, and otherwise wakes
        only once a minute. One process at a time does it (elected through the
        ``maintenance`` table), at most every ``vacuum_interval`` seconds; SKIP_LOCKED never
        waits for another VACUUM.
        """
        try:
            with self._connection(bounded=False) as conn:
                conn.execute(self._q.vacuum, prepare=False)
        except Exception as error:  # e.g. not the tables' owner: the server's autovacuum it is
            logger.warning("channel layer VACUUM failed: %s", error)
        finally:
            self._vacuuming = False

    # -- send and receive ---------------------------------------------------------------------

    def _send(self, channel: str, payload: bytes) -> None:
        self._run(self._send_script(channel, payload))

    async def _send_async(self, channel: str, payload: bytes) -> None:
        await self._run_async(self._send_script(channel, payload))

    def _send_script(self, channel: str, payload: bytes) -> _Script[None]:
        queue = inbox_name(channel)
        capacity = self.capacity_for(queue)
        if time.monotonic() >= self._next_sweep:
            yield from self._sweep_script()
        row = yield self._q.send, (self.prefix, queue, channel, payload, self.expiry, capacity)
        if row is None or not row[0]:
            raise ChannelFull(f"channel {channel!r} is at its capacity of {capacity}")

    def _receive(self, channels: list[str], block: bool) -> RawReceived:
        plan = self._receive_plan(channels, block)
        reply: Any = None
        try:
            while True:
                step = plan.send(reply)
                if isinstance(step, _Take):
                    reply = self._take(step.channels, step.listener)
                elif isinstance(step, _Wait):
                    reply = step.waiter.wait(step.timeout)
                elif isinstance(step, _NewWaiter):
                    reply = Waiter(step.channels)
                else:
                    self._await_listener(step.listener)
                    reply = None
        except StopIteration as done:
            result: RawReceived = done.value
            return result
        finally:
            plan.close()

    async def _receive_async(self, channels: list[str]) -> RawReceived:
        loop = asyncio.get_running_loop()
        plan = self._receive_plan(channels, True)
        reply: Any = None
        try:
            while True:
                step = plan.send(reply)
                if isinstance(step, _Take):  # a take is cancel-safe: taken then, parked
                    reply = await self._cancel_safe(self._take_async(step.channels, step.listener))
                elif isinstance(step, _Wait):
                    reply = await cast(AsyncWaiter, step.waiter).wait_async(step.timeout)
                elif isinstance(step, _NewWaiter):
                    reply = AsyncWaiter(step.channels, loop)
                else:
                    reply = await asyncio.to_thread(self._await_listener, step.listener)
        except StopIteration as done:
            result: RawReceived = done.value
            return result
        finally:
            plan.close()  # a cancelled wait unlists its waiter

    def _receive_plan(self, channels: list[str], block: bool) -> _Plan:
        """Every decision of a receive (buffered first, when to take, register a waiter, wait
        how long), written once: it yields steps the sync and async drivers above perform."""
        got = self._take_buffered(channels, leading_only=True)
        if got is not None:
            return got
        if not block:
            return (yield _Take(channels, None))
        listener = self._started_listener()
        if not listener.connected:
            got = yield _Take(channels, None)
            if got is not None:
                return got
            yield _Ready(listener)
        deadline = time.monotonic() + self.blocking_timeout
        waiter: Waiter | None = None  # listed only once a wait is needed (the busy path skips it)
        try:
            while True:
                seen = listener.generation
                if waiter is not None:
                    waiter.clear()
                got = yield _Take(channels, listener.channel)
                if got is not None or self._closed:
                    return got
                if waiter is None:
                    waiter = yield _NewWaiter(channels)
                    listener.add(waiter)
                    if listener.generation != seen:
                        continue  # a wake-up came before the waiter was listed: look again
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                yield _Wait(waiter, min(remaining, self.poll_interval))
                if self._closed:  # close() wakes every waiter: give up quietly
                    return None
        finally:
            if waiter is not None:
                listener.remove(waiter)

    def _take(self, channels: list[str], listener: str | None) -> RawReceived:
        """One round trip: take from the first non-empty queue (registering ``listener`` as
        waiting on all of them if there is none).

        A connection that breaks under it raises :class:`OutcomeUnknown` (the server may
        have handed out messages whose reply was lost); it is not retried here, so such a
        loss is always reported. The next call uses a new connection.
        """
        queues = self._drainable(channels)
        if not queues:
            return self._take_buffered(channels, leading_only=False)
        with self._nothing_if_closed_meanwhile():
            with self._connection() as conn:
                self._run_on(conn, self._before_take_script())
                take = self._q.take
                cursor = conn.execute(take, self._take_args(queues, listener), binary=True)
                rows = cursor.fetchall()
            return self._accept(rows, channels)
        return None

    def _before_take_script(self) -> _Script[None]:
        """What a take runs before taking: evict the channels whose buffered messages expired
        unread from their groups, and a housekeeping pass if one is due."""
        expired = self._inbox.expired_channels()
        if expired:
            yield self._q.evict_channels, (self.prefix, expired)
        if time.monotonic() >= self._next_sweep:
            yield from self._sweep_script()

    def _take_args(self, queues: list[str], listener: str | None) -> Sequence[Any]:
        return self.prefix, queues, self._batch(queues), listener

    def _drainable(self, channels: list[str]) -> list[str]:
        """``channels`` without the inboxes whose local buffers are full as a whole (they are
        not drained until the process reads some: their senders see ChannelFull)."""
        inbox = self._inbox
        return [name for name in channels if name[-1] != "!" or inbox.room(name)]

    def _batch(self, channels: list[str]) -> int:
        """How many messages one take may move from a ``!`` inbox into the local buffers: the
        inbox's capacity (the server held that many already), at most ``inbox_batch``."""
        batch = 1
        for name in channels:
            if name[-1] == "!":
                batch = max(batch, min(self.capacity_for(name), self.inbox_batch))
        return batch

    def _accept(self, rows: list[Row], channels: list[str]) -> RawReceived:
        """The message to return from ``rows``; inbox rows go to the local per-name buffers.

        A row that names a channel outside what was asked for (written by something else
        under this prefix) is dropped and counted; the others are kept, and the caller gets
        :class:`MalformedMessage` once.
        """
        if rows:
            channel, payload, _, epoch = rows[0]
            if epoch is None:  # one message of a plain or '?' channel
                if channel in channels:
                    return channel, payload
                self._malformed += 1
                raise MalformedMessage(
                    f"a row of one of {channels!r} names channel {channel!r}: not one of this "
                    "layer's messages; it was dropped"
                )
            inboxes = [name for name in channels if name[-1] == "!"]
            good = [row for row in rows if _in_inboxes(row[0], inboxes)]
            if good:
                self._buffer(good)
            if len(good) < len(rows):
                self._malformed += len(rows) - len(good)
                raise MalformedMessage(
                    f"{len(rows) - len(good)} rows taken from {inboxes!r} name channels outside "
                    "them: not this layer's messages; dropped (the others are kept)"
                )
        return self._take_buffered(channels, leading_only=False)

    def _buffer(self, rows: list[Row]) -> None:
        """Keep messages taken from a ``!`` inbox in the local per-channel buffers.

        Buffered messages are dropped when the prefix is flushed: each batch comes with the
        prefix's flush count, and the listener (started here, if it is not yet) reports
        later flushes and re-reads the count whenever it (re)connects.
        """
        now = time.time()
        with self._epoch_lock:
            epoch = rows[0][3]
            if epoch != self._inbox_epoch:
                self._inbox.clear()
                self._inbox_epoch = epoch
            self._inbox.put_many(
                [(address, payload, now + ttl) for address, payload, ttl, _ in rows]
            )
        if self._listener is None or not self._listener.connected:
            self._started_listener()

    def _take_buffered(self, channels: list[str], *, leading_only: bool) -> RawReceived:
        """A message already buffered locally for one of the ``!`` prefixes in ``channels``
        (only those before the first plain name if ``leading_only``, to keep the order fair)."""
        for name in channels:
            if name[-1] == "!":
                got = self._inbox.take(name)
                if got is not None:
                    return got
            elif leading_only:
                return None
        return None

    # -- async --------------------------------------------------------------------------------

    async def _take_async(self, channels: list[str], listener: str | None) -> RawReceived:
        """:meth:`_take` on this event loop's connections."""
        queues = self._drainable(channels)
        if not queues:
            return self._take_buffered(channels, leading_only=False)
        with self._nothing_if_closed_meanwhile():
            async with self._async_connection() as conn:
                await self._run_on_async(conn, self._before_take_script())
                rows = await wire.fetch(
                    conn,
                    self._q.take,
                    self._take_args(queues, listener),
                    prepare=self.prepared_statements,
                )
            return self._accept(rows, channels)
        return None

    @contextmanager
    def _nothing_if_closed_meanwhile(self) -> Iterator[None]:
        """A take that ``close()`` overtook (the pool closed under it) takes nothing, as a
        receive woken by ``close()`` returns nothing; a layer closed before the receive began
        never gets here (the base class refuses the call)."""
        try:
            yield
        except LayerClosed:
            if not self._closed:
                raise

    # -- the listener -------------------------------------------------------------------------

    def _started_listener(self) -> Listener:
        listener = self._listener
        if listener is None:
            with self._listener_lock:
                if self._listener is None:
                    self._check_open()
                    self._listener = Listener(
                        self._connect_listener,
                        f"{self.schema}_{uuid.uuid4().hex[:20]}",
                        self._flush_channel,
                        self._on_flush,
                        self._on_listener_connect,
                    )
                listener = self._listener
        listener.start()
        return listener

    def _await_listener(self, listener: Listener) -> None:
        """Wait for the listener's first connection; LayerUnavailable if it cannot connect."""
        if not listener.wait_ready(self.connect_timeout + 1.0) and listener.last_error:
            error = listener.last_error
            if isinstance(error, LayerUnavailable):
                raise error
            raise self._unavailable(error, listen=True)

    def _on_flush(self, payloads: list[str], conn: psycopg.Connection[Any]) -> None:
        """Flush notifications arrived (payloads ``"<flush count> <prefix>"``). Any role
        that can connect may send one, so none is trusted: if one names our prefix, the
        prefix's flush count is read from the database, and only a real flush since this
        object buffered drops its local buffers."""
        if any(payload.partition(" ")[2] == self.prefix for payload in payloads):
            self._check_flushes(conn)

    def _on_listener_connect(self, conn: psycopg.Connection[Any]) -> None:
        """Flushes made while the listener was not listening still drop the local buffers."""
        self._check_flushes(conn)

    def _check_flushes(self, conn: psycopg.Connection[Any]) -> None:
        """Drop the local buffers if the prefix was flushed since they were filled."""
        if self._inbox_epoch is None:
            return  # nothing buffered (the schema may not even exist yet)
        row = conn.execute(self._q.flushes, (self.prefix,)).fetchone()
        with self._epoch_lock:
            # flush counts only grow: a lower one was read before a batch taken after a flush
            if row is not None and self._inbox_epoch is not None and row[0] > self._inbox_epoch:
                self._inbox.clear()
                self._inbox_epoch = None

    # -- misc ---------------------------------------------------------------------------------

    def _channel_in_use(self, name: str) -> bool:
        return bool(self._fetchone(*self._in_use_query(name))[0])

    async def _channel_in_use_async(self, name: str) -> bool:
        return bool((await self._run_async(self._one_row(*self._in_use_query(name))))[0])

    def _in_use_query(self, name: str) -> tuple[str, dict[str, Any]]:
        return self._q.in_use, {"p": self.prefix, "q": inbox_name(name), "c": name}

    # -- groups -------------------------------------------------------------------------------

    def _group_add(self, group: str, channel: str) -> None:
        self._fetchone(*self._group_add_query(group, channel))

    async def _group_add_async(self, group: str, channel: str) -> None:
        await self._run_async(self._one_row(*self._group_add_query(group, channel)))

    def _group_add_query(self, group: str, channel: str) -> tuple[str, tuple[Any, ...]]:
        queue = inbox_name(channel)
        return self._q.group_add, (
            self.prefix,
            group,
            channel,
            queue,
            self.capacity_for(queue),
            self.group_expiry,
        )

    def _group_discard(self, group: str, channel: str) -> None:
        self._fetchone(self._q.group_discard, (self.prefix, group, channel))

    async def _group_discard_async(self, group: str, channel: str) -> None:
        await self._run_async(self._one_row(self._q.group_discard, (self.prefix, group, channel)))

    def _group_channels(self, group: str) -> list[str]:
        members: list[str] = self._fetchone(self._q.group_channels, (self.prefix, group))[0]
        return members

    def _send_group(self, group: str, payload: bytes) -> None:
        self._run(self._send_group_script(group, payload))

    async def _send_group_async(self, group: str, payload: bytes) -> None:
        await self._run_async(self._send_group_script(group, payload))

    def _send_group_script(self, group: str, payload: bytes) -> _Script[None]:
        if time.monotonic() >= self._next_sweep:
            yield from self._sweep_script()
        yield self._q.send_group, (self.prefix, group, payload, self.expiry)

    # -- flush, statistics, sessions, close ---------------------------------------------------

    def _flush(self) -> None:
        self._fetchone(self._q.flush, (self.prefix, self._flush_channel))
        with self._epoch_lock:
            self._inbox.clear()
            self._inbox_epoch = None

    def _global_statistics(self) -> Statistics:
        sent, full, pending, max_age = self._fetchone(self._q.statistics, (self.prefix, None))
        return self._inbox.add_to_global(
            {
                "messages_count": int(sent),
                "messages_pending": int(pending),
                "messages_max_age": float(max_age),
                "channel_full_count": int(full),
                "messages_malformed_count": self._malformed,
            }
        )

    def _channel_statistics(self, channel: str) -> Statistics:
        queue = inbox_name(channel)
        sent, full, pending, max_age = self._fetchone(self._q.statistics, (self.prefix, queue))
        return self._inbox.add_to_channel(
            channel,
            {
                "messages_count": int(sent),
                "messages_pending": int(pending),
                "messages_max_age": float(max_age),
                "channel_full_count": int(full),
            },
        )

    def _make_session_store(self) -> SessionStore:
        return PostgresSessionStore(self.query_row, self.schema, self.prefix, self.cipher)

    def query_row(self, query: str, params: Sequence[Any]) -> Row | None:
        """Run one statement on a pooled connection; its first row, or None if it has none.

        The seam the session store (:mod:`.sessions`) runs its statements through."""
        with self._connection() as conn:
            return conn.execute(query, params, binary=True).fetchone()

    def _close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self._pool.close()
        self._async_pools.close()
        self._watchdog.stop()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._host}:{self._port} schema={self.schema!r} "
            f"prefix={self.prefix!r}>"
        )

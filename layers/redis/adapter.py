"""Everything the Redis layer needs from redis-py beyond its public API, in one place.

The hot paths keep their own connections (one per thread, a few per event loop) and speak
RESP on them directly: redis-py's generic ``execute_command`` spends more time choosing a
pooled connection and wrapping the call than Redis spends running a script. That uses
redis-py's connection objects below their public API (sockets, stream reader and writer,
parser), which a major release may change. This module is the only one that does; its
contract test (``tests/layers/test_redis_adapter.py``) checks each function against a real
server, so a redis-py upgrade that breaks one fails there, naming it.

Synchronous connections (``redis.connection.Connection``): :func:`new_connection`,
:func:`ready`, :func:`send`, :func:`read`, :func:`drop`.
Asyncio connections (``redis.asyncio.connection.Connection``): :func:`new_async_connection`,
:func:`async_ready`, :func:`ready_async`, :func:`async_send`, :func:`read_async`,
:func:`drop_async_connection`, :func:`async_connection_timeout`, :func:`async_client_id`.
(Coroutines end with ``_async``, the project's rule.)
redis-py opens and sets up an asyncio connection; from then on its transport's replies go to
a :class:`_Replies` protocol of this module, which keeps what arrives and parses each reply
when it is read whole, without a coroutine per line as redis-py's stream parser has.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import redis
import redis.asyncio

#: Errors that mean "the server cannot be reached right now".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)
#: An error reply (read whole: the connection stays usable).
ResponseError = redis.exceptions.ResponseError
#: The error reply to EVALSHA of a script the server does not hold (after a restart).
NoScriptError = redis.exceptions.NoScriptError
#: The server is still loading its data after a restart (raised as a ConnectionError, but
#: the command was refused: it did not run).
BusyLoadingError = redis.exceptions.BusyLoadingError
#: A read or write that took longer than the connection's ``socket_timeout``.
TimeoutError = redis.exceptions.TimeoutError


# -- synchronous connections ------------------------------------------------------------------


def new_connection(client: redis.Redis) -> Any:
    """A new connection of ``client``'s kind (TLS, Unix socket, Sentinel master...), owned by
    the caller (not in the client's pool)."""
    return client.connection_pool.make_connection()


def ready(conn: Any) -> None:
    """Make ``conn`` ready to send: reopened if the server closed it (a restart) or it holds
    unread data, connected if it is not (Sentinel: asks for the current master)."""
    if conn._sock is not None:
        try:
            stale = bool(conn.can_read())
        except CONNECTION_ERRORS:
            stale = True
        if stale:
            conn.disconnect()
    if conn._sock is None:
        conn.connect()


def send(conn: Any, packed: list[bytes]) -> None:
    """Send a command already encoded as RESP (``packed``) whole."""
    conn.send_packed_command(packed, check_health=False)


def read(conn: Any) -> Any:
    """Read one reply (an error reply raises :data:`ResponseError`, read whole)."""
    return conn.read_response()


def drop(conn: Any) -> None:
    """Close ``conn``'s socket (the next :func:`ready` reconnects)."""
    conn.disconnect()


# -- asyncio connections ----------------------------------------------------------------------


def new_async_connection(client: redis.asyncio.Redis) -> Any:
    """A new asyncio connection of ``client``'s kind, owned by the caller."""
    return client.connection_pool.make_connection()


async def ready_async(conn: Any) -> None:
    """:func:`ready` for an asyncio connection (never blocks the event loop).

    A new connection is opened and set up by redis-py (TLS, AUTH, SELECT, HELLO...); its
    replies from then on are read by a :class:`_Replies` protocol of this module."""
    if conn.is_connected and _async_connection_stale(conn):
        drop_async_connection(conn)
    if not conn.is_connected:
        await conn.connect()
        replies = _read_replies_here(conn)
        async_send(conn, [b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n"])
        client_id = await read_async(conn)
        replies.client_id = client_id if isinstance(client_id, int) else None


def async_client_id(conn: Any) -> int | None:
    """The server's id of ``conn`` (``CLIENT ID``, asked once per connection; None if the
    server refused it), for ``CLIENT UNBLOCK`` from another connection."""
    client_id: int | None = conn._writer.transport.get_protocol().client_id
    return client_id


def async_connection_timeout(conn: Any) -> float | None:
    """The connection's ``socket_timeout`` (seconds), which bounds every send and read."""
    timeout: float | None = conn.socket_timeout
    return timeout


def async_ready(conn: Any) -> bool:
    """Whether an asyncio connection can take a command now (connected, not closed by the
    server, holding no unread data); else :func:`ready_async` makes it ready."""
    return bool(conn.is_connected) and not _async_connection_stale(conn)


def async_send(conn: Any, packed: list[bytes]) -> None:
    """Send a RESP-encoded command whole on a ready asyncio connection, without awaiting:
    the transport writes what the socket does not take at once while the reply is awaited
    (:func:`read_async` bounds that wait)."""
    conn._writer.transport.writelines(packed)


async def read_async(conn: Any) -> Any:
    """Read one reply (bounded by :func:`async_connection_timeout`: ``TimeoutError``); an
    error reply is RETURNED as a :data:`ResponseError` instance, read whole; a closed
    connection raises ``ConnectionError``."""
    replies: _Replies = conn._writer.transport.get_protocol()
    reply = replies.take()
    if reply is not _INCOMPLETE:
        return reply
    loop = asyncio.get_running_loop()
    timeout = conn.socket_timeout
    if timeout is not None:
        replies.deadline = loop.time() + timeout
        if replies.timer is None:
            replies.timer = loop.call_at(replies.deadline, replies.time_out)
    try:
        while reply is _INCOMPLETE:
            replies.arrived = loop.create_future()
            await replies.arrived
            reply = replies.take()
    finally:
        replies.arrived = None
    return reply


#: Largest read an asyncio connection asks its socket for at once: below glibc's mmap
#: threshold (128 KiB), so each read's buffer comes from the heap.
READ_CHUNK = 64 * 1024


def _read_replies_here(conn: Any) -> _Replies:
    """Hand the reading side of ``conn``'s transport (just connected and set up by redis-py)
    to a new :class:`_Replies`, and cap the transport's read size at :data:`READ_CHUNK`.

    asyncio's selector transport reads into a fresh ``bytes`` of ``max_size`` (256 KiB on
    CPython 3.11-3.13) per ready event; an allocation that large can be mapped and unmapped
    by the C library each time, which costs more CPU than the rest of a short round trip.
    Transports without this attribute (TLS, uvloop) are left as they are."""
    transport = conn._writer.transport
    replies = _Replies(conn._parser.parse_error)
    leftover = conn._reader._buffer  # what the handshake's reader read ahead (normally none)
    if leftover:
        replies.buffer += leftover
        leftover.clear()
    transport.set_protocol(replies)
    max_size = getattr(transport, "max_size", None)
    if isinstance(max_size, int) and max_size > READ_CHUNK:
        transport.max_size = READ_CHUNK
    return replies


class _Incomplete:
    """The marker of a reply not yet read whole."""


_INCOMPLETE: Any = _Incomplete()


class _Replies(asyncio.Protocol):
    """The reading side of one asyncio connection: RESP2/RESP3 replies, parsed as they are
    taken (:meth:`take`) from the bytes received, in order. One caller reads at a time."""

    def __init__(self, parse_error: Any) -> None:
        self.buffer = bytearray()
        #: resolved when bytes arrive, the connection closes or the read times out
        self.arrived: asyncio.Future[None] | None = None
        self.lost: BaseException | None = None
        self.client_id: int | None = None
        #: when the read in progress times out (loop time), and the timer that checks it:
        #: one per connection, armed by a read when none is, re-armed while reads wait, so
        #: a read costs no timer of its own
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self._parse_error = parse_error

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.connection_lost(None)
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = redis.exceptions.ConnectionError(
                f"Connection closed by server{f' ({exc})' if exc else ''}."
            )
        self._wake()

    def time_out(self) -> None:
        """The timer: fail the waiting read if its deadline passed, else wait for it."""
        self.timer = None
        arrived = self.arrived
        if arrived is None:
            return  # no read in progress: the next one arms the timer again
        loop = arrived.get_loop()
        if not arrived.done() and loop.time() >= self.deadline:
            arrived.set_exception(builtins.TimeoutError())
        else:  # (a read woken but not yet resumed may wait again: checked once more)
            self.timer = loop.call_at(self.deadline, self.time_out)

    def _wake(self) -> None:
        arrived = self.arrived
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    def take(self) -> Any:
        """The next whole reply (removed from the buffer), or :data:`_INCOMPLETE`; raises
        ``ConnectionError`` if the connection closed before it came whole."""
        buffer = self.buffer
        if buffer:
            try:
                reply, end = self._parse(buffer, 0)
            except IndexError:
                pass
            else:
                del buffer[:end]
                if isinstance(reply, redis.exceptions.ConnectionError):
                    raise reply  # e.g. LOADING: refused, as redis-py raises it
                return reply
        if self.lost is not None:
            raise self.lost
        return _INCOMPLETE

    def _parse(self, buffer: bytearray, position: int) -> tuple[Any, int]:
        """(reply, end position) of the reply at ``position``; IndexError if incomplete."""
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            raise IndexError
        kind = buffer[position]
        body = buffer[position + 1 : line_end]
        position = line_end + 2
        if kind == 36 or kind == 61:  # $ bulk string, = verbatim string
            length = int(body)
            if length < 0:
                return None, position
            end = position + length
            if len(buffer) < end + 2:
                raise IndexError
            value = bytes(buffer[position:end])
            return (value[4:] if kind == 61 else value), end + 2
        if kind == 58 or kind == 40:  # : integer, ( big number
            return int(body), position
        if kind in (42, 126, 62, 37, 124):  # * array, ~ set, > push, % map, | attribute
            count = int(body)
            if count < 0:
                return None, position
            items = []
            for _ in range(count * 2 if kind in (37, 124) else count):
                item, position = self._parse(buffer, position)
                items.append(item)
            if kind == 37:
                return dict(zip(items[::2], items[1::2], strict=True)), position
            if kind == 62 or kind == 124:  # out of band: the reply follows
                return self._parse(buffer, position)
            return items, position
        if kind == 43:  # + simple string
            return bytes(body), position
        if kind == 95:  # _ null
            return None, position
        if kind == 45 or kind == 33:  # - error, ! bulk error
            if kind == 33:
                end = position + int(body)
                if len(buffer) < end + 2:
                    raise IndexError
                body, position = buffer[position:end], end + 2
            return self._parse_error(body.decode("utf-8", errors="replace")), position
        if kind == 35:  # # boolean
            return body == b"t", position
        if kind == 44:  # , double
            return float(body), position
        raise redis.exceptions.InvalidResponse(f"Protocol error: {bytes(buffer[:40])!r}")


def drop_async_connection(conn: Any) -> None:
    """Close an asyncio connection's socket now, without awaiting (it is never used again as
    is); safe from any thread and on a closed event loop's connection."""
    writer = conn._writer
    conn._reader = conn._writer = None
    if writer is not None:
        try:
            transport = writer.transport
            if getattr(transport, "_loop", None) is not None and transport._loop.is_closed():
                # a closed loop runs no callbacks: close the socket itself
                transport.get_extra_info("socket")._sock.close()
            else:
                writer.close()
        except Exception:  # closing must not raise
            pass
    try:
        conn._parser.on_disconnect()
    except Exception:
        pass


def _async_connection_stale(conn: Any) -> bool:
    """Whether an idle asyncio connection was closed by the server or holds unread data."""
    writer = conn._writer
    if writer is None or writer.is_closing():
        return True
    replies = writer.transport.get_protocol()
    return not isinstance(replies, _Replies) or replies.lost is not None or bool(replies.buffer)

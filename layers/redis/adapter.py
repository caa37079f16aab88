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
:func:`ready_async`, :func:`send_async`, :func:`read_async`, :func:`drop_async_connection`,
:func:`async_connection_timeout`. (Coroutines end with ``_async``, the project's rule.)
"""

from __future__ import annotations

import asyncio
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
    """:func:`ready` for an asyncio connection (never blocks the event loop)."""
    if conn.is_connected and _async_connection_stale(conn):
        drop_async_connection(conn)
    if not conn.is_connected:
        await conn.connect()


def async_connection_timeout(conn: Any) -> float | None:
    """The connection's ``socket_timeout`` (seconds), which bounds every send and read."""
    timeout: float | None = conn.socket_timeout
    return timeout


async def send_async(conn: Any, packed: list[bytes]) -> None:
    """Send a RESP-encoded command whole (bounded by :func:`async_connection_timeout`)."""
    writer = conn._writer
    writer.writelines(packed)
    if writer.transport.get_write_buffer_size():
        async with asyncio.timeout(conn.socket_timeout):
            await writer.drain()


async def read_async(conn: Any) -> Any:
    """Read one reply (bounded by :func:`async_connection_timeout`); an error reply is RETURNED as a
    :data:`ResponseError` instance, read whole."""
    async with asyncio.timeout(conn.socket_timeout):
        return await conn._parser.read_response()


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
    reader, writer = conn._reader, conn._writer
    return bool(
        reader is None
        or writer is None
        or writer.is_closing()
        or reader.at_eof()
        or reader.exception() is not None
        or len(reader._buffer)
    )

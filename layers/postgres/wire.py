"""The layer's statements on an event loop, straight on libpq.

psycopg's ``AsyncConnection.execute`` costs more client CPU per statement than the
synchronous ``Connection.execute`` (a cursor, a generator driven through the loop, type
lookups for every parameter and column), and on a machine whose cores the database shares,
that CPU is throughput. The layer's statements are few, short and of fixed types, so on an
event loop they run here instead, on the connection's public libpq handle
(:attr:`psycopg.AsyncConnection.pgconn`): the one place this project drives libpq itself.

* A statement is psycopg's text with ``%s`` / ``%(name)s`` placeholders (``%%`` is a ``%``),
  rewritten once to ``$n`` placeholders. It is prepared on each connection the first time it
  runs there (server-side prepared statements, named ``channels_core_<hash of its text>``), unless
  ``prepare`` is false (PgBouncer in transaction mode): then it is parsed on every call.
* Parameters go in text format with no declared type, so the server types them from the
  statement (its casts and function signatures), as psycopg's text mode does; ``bytes`` go
  in binary format as ``bytea``. ``None``, ``str``, ``bytes``, ``bool``, ``int``, ``float``
  and lists or tuples of ``str`` are accepted; any other type is a :class:`TypeError`.
* Results come in binary format and are decoded by column type: the types the schema's
  functions return (text, bytea, bool, integers, floats, void, and one-dimensional arrays of
  them, as lists). A column of another type raises :class:`TypeError` naming it.
* Errors: an error answer of the server raises psycopg's exception class for its SQLSTATE
  (:func:`psycopg.errors.lookup`), so callers see what psycopg would raise; a connection that
  fails raises :class:`psycopg.OperationalError` and is left in a state the pools discard
  (not idle, or not OK). A statement cancelled while it waits leaves its connection busy, so
  the pool discards it too: it is never reused mid-statement.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
import weakref
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import pq

Params = Sequence[Any] | dict[str, Any]
Row = tuple[Any, ...]

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")
_BYTEA_OID = 17
_TEXT, _BINARY = 0, 1


class Statement:
    """One statement of the layer, rewritten for libpq (see the module docstring)."""

    __slots__ = ("name", "names", "sql")

    def __init__(self, query: str) -> None:
        names: list[str] = []
        positional = 0

        def number(match: re.Match[str]) -> str:
            nonlocal positional
            if match.group(0) == "%%":
                return "%"
            if match.group(1) is None:
                positional += 1
                return f"${positional}"
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        self.sql = _PLACEHOLDER.sub(number, query).encode()
        if names and positional:
            raise ValueError(f"statement mixes %s and %(name)s placeholders: {query!r}")
        self.names = tuple(names)  # for a dict of parameters: their order
        # Named by its text: the same on every thread and event loop, never shared by two texts.
        self.name = (
            b"channels_core_" + hashlib.blake2b(self.sql, digest_size=12).hexdigest().encode()
        )

    def values(self, params: Params) -> Sequence[Any]:
        if isinstance(params, dict):
            return [params[name] for name in self.names]
        return params


@lru_cache(maxsize=256)
def statement(query: str) -> Statement:
    """The :class:`Statement` of ``query`` (one per distinct text, shared by connections)."""
    return Statement(query)


# -- parameters ---------------------------------------------------------------------------------


def _array_literal(items: Sequence[Any]) -> bytes:
    parts = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"a list parameter may hold only str, not {type(item).__name__}")
        parts.append('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ("{" + ",".join(parts) + "}").encode()


def _float_text(value: float) -> bytes:
    if value != value:
        return b"NaN"
    if value in (float("inf"), float("-inf")):
        return b"Infinity" if value > 0 else b"-Infinity"
    return repr(value).encode()


def encode(values: Sequence[Any]) -> tuple[list[bytes | None], list[int], list[int]]:
    """``values`` as libpq parameters: (values, type OIDs, formats)."""
    out: list[bytes | None] = []
    types: list[int] = []
    formats: list[int] = []
    for value in values:
        oid, fmt = 0, _TEXT
        if value is None:
            data: bytes | None = None
        elif isinstance(value, bytes):
            data, oid, fmt = value, _BYTEA_OID, _BINARY
        elif isinstance(value, str):
            data = value.encode()
        elif isinstance(value, bool):
            data = b"t" if value else b"f"
        elif isinstance(value, int):
            data = str(value).encode()
        elif isinstance(value, float):
            data = _float_text(value)
        elif isinstance(value, list | tuple):
            data = _array_literal(value)
        else:
            raise TypeError(f"cannot send a parameter of type {type(value).__name__}")
        out.append(data)
        types.append(oid)
        formats.append(fmt)
    return out, types, formats


# -- results --------------------------------------------------------------------------------


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


_LOADERS: dict[int, Callable[[bytes], Any]] = {
    16: lambda data: data != b"\x00",  # bool
    17: bytes,  # bytea
    18: lambda data: data.decode(),  # "char"
    19: lambda data: data.decode(),  # name
    20: _int,  # int8
    21: _int,  # int2
    23: _int,  # int4
    25: lambda data: data.decode(),  # text
    26: lambda data: int.from_bytes(data, "big"),  # oid
    700: lambda data: struct.unpack("!f", data)[0],  # float4
    701: lambda data: struct.unpack("!d", data)[0],  # float8
    1043: lambda data: data.decode(),  # varchar
    2278: lambda data: None,  # void
}


#: Type OIDs of one-dimensional arrays of the types above (the data names its element type).
_ARRAYS = (1000, 1001, 1005, 1007, 1009, 1015, 1016, 1022)


def _array(data: bytes) -> list[Any]:
    """A binary-format one-dimensional array (an empty one has no dimension)."""
    ndim, _, element = struct.unpack_from("!iiI", data)
    if ndim == 0:
        return []
    if ndim != 1:
        raise TypeError(f"a {ndim}-dimensional array is not decoded here")
    (count,) = struct.unpack_from("!i", data, 12)
    load = _LOADERS.get(element)
    if load is None:
        raise TypeError(f"an array of type OID {element} is not decoded here")
    offset = 20
    items: list[Any] = []
    for _ in range(count):
        (size,) = struct.unpack_from("!i", data, offset)
        offset += 4
        if size < 0:
            items.append(None)
        else:
            items.append(load(data[offset : offset + size]))
            offset += size
    return items


_LOADERS.update(dict.fromkeys(_ARRAYS, _array))


def decode(result: pq.abc.PGresult) -> list[Row]:
    """The rows of a binary-format ``result``."""
    loaders = []
    for column in range(result.nfields):
        oid = result.ftype(column)
        loader = _LOADERS.get(oid)
        if loader is None:
            name = (result.fname(column) or b"?").decode()
            raise TypeError(f"result column {name!r} has type OID {oid}, not one decoded here")
        loaders.append(loader)
    rows = []
    for row in range(result.ntuples):
        values = []
        for column, load in enumerate(loaders):
            data = result.get_value(row, column)
            values.append(None if data is None else load(data))
        rows.append(tuple(values))
    return rows


def _error(result: pq.abc.PGresult) -> psycopg.Error:
    """psycopg's exception for an error answer (its class by SQLSTATE)."""
    message = (result.error_message or b"").decode(errors="replace").strip()
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    cls: type[psycopg.Error] = psycopg.DatabaseError
    if sqlstate:
        try:
            cls = psycopg.errors.lookup(sqlstate.decode())
        except KeyError:
            pass
    return cls(message or "the server answered with an error")


# -- running ------------------------------------------------------------------------------------

#: The statements prepared on each connection (by the connection object).
_prepared: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], set[bytes]] = (
    weakref.WeakKeyDictionary()
)


async def fetch(
    conn: psycopg.AsyncConnection[Any], query: str, params: Params, *, prepare: bool = True
) -> list[Row]:
    """Run ``query`` with ``params`` on ``conn`` (idle, autocommit); its rows (none for a
    statement that returns none)."""
    stmt = statement(query)
    values, types, formats = encode(stmt.values(params))
    pgconn = conn.pgconn
    if not prepare:
        pgconn.send_query_params(stmt.sql, values, types, formats, _BINARY)
        return await _results(pgconn)
    prepared = _prepared.setdefault(conn, set())
    if stmt.name not in prepared:
        pgconn.send_prepare(stmt.name, stmt.sql)  # every type from the statement
        await _results(pgconn)
        prepared.add(stmt.name)
    pgconn.send_query_prepared(stmt.name, values, formats, _BINARY)
    return await _results(pgconn)


async def _results(pgconn: pq.abc.PGconn) -> list[Row]:
    """Send what is queued, wait for the answer, and return its rows (or raise its error)."""
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    while pgconn.flush():
        await _ready(loop, fd, write=True)
    rows: list[Row] = []
    error: Exception | None = None
    while True:
        pgconn.consume_input()
        if pgconn.is_busy():
            await _ready(loop, fd, write=False)
            continue
        result = pgconn.get_result()
        if result is None:
            break
        if result.status == pq.ExecStatus.TUPLES_OK:
            try:
                rows = decode(result)
            except TypeError as undecoded:  # reported once the answer is read to its end
                error = undecoded
        elif result.status == pq.ExecStatus.FATAL_ERROR:
            error = _error(result)
        elif result.status != pq.ExecStatus.COMMAND_OK:
            error = psycopg.InterfaceError(f"unexpected answer {pq.ExecStatus(result.status).name}")
    if pgconn.status != pq.ConnStatus.OK:
        raise psycopg.OperationalError("the connection to the server was lost")
    if error is not None:
        raise error
    return rows


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    """Wait until ``fd`` is readable (or writable)."""
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)

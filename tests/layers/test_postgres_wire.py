"""The PostgreSQL layer's libpq statement runner (``layers.postgres.wire``), against the real
server: placeholders, every parameter and result type it claims, server errors as psycopg's
classes, a lost connection, a cancelled statement, and large payloads."""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg import pq

from layers.postgres import wire
from layers.postgres.connections import is_usable

pytestmark = pytest.mark.postgres

Scenario = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]


def run(postgres_url: str, scenario: Scenario) -> None:
    async def main() -> None:
        conn = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
        try:
            await scenario(conn)
        finally:
            await conn.close()

    asyncio.run(main())


@pytest.fixture(params=[True, False], ids=["prepared", "unprepared"])
def prepare(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_placeholders_are_rewritten_once() -> None:
    assert wire.statement("SELECT %s, %s::int, 100%%").sql == b"SELECT $1, $2::int, 100%"
    named = wire.statement("SELECT %(p)s, %(q)s, %(p)s")
    assert named.sql == b"SELECT $1, $2, $1" and named.values({"q": 2, "p": 1}) == [1, 2]
    assert wire.statement("SELECT %s") is wire.statement("SELECT %s")
    # Names follow the text (the same in every thread), distinct for distinct texts.
    assert wire.Statement("SELECT %s").name == wire.statement("SELECT %s").name
    assert wire.statement("SELECT %s").name != wire.statement("SELECT %s::int").name
    with pytest.raises(ValueError, match="mixes"):
        wire.statement("SELECT %s, %(p)s")


def test_unsupported_parameter_types_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="dict"):
        wire.encode([{"a": 1}])
    with pytest.raises(TypeError, match="only str, not int"):
        wire.encode([["a", 1]])


@pytest.mark.parametrize(
    ("sql_type", "value"),
    [
        ("text", 'hé "quoted" \\ back\'slash'),
        ("bytea", b"\x00\xff" * 10),
        ("boolean", True),
        ("boolean", False),
        ("smallint", -3),
        ("integer", 2**31 - 1),
        ("bigint", -(2**62)),
        ("float8", 0.1),
        ("float8", math.inf),
        ("float8", -math.inf),
        ("real", 1.5),
        ("varchar", "v"),
        ("name", "n"),
        ("text[]", ["a", 'b"c', "d\\e", "", "NULL", "x,y}"]),
        ("text[]", []),
        ("integer[]", None),
    ],
)
def test_parameters_and_results_round_trip(
    postgres_url: str, prepare: bool, sql_type: str, value: Any
) -> None:
    async def scenario(conn: psycopg.AsyncConnection[Any]) -> None:
        rows = await wire.fetch(conn, f"SELECT %s::{sql_type}", (value,), prepare=prepare)
        assert rows == [(value,)]

    run(postgres_url, scenario)


def test_nan_integer_arrays_void_and_statements_without_rows(postgres_url: str) -> None:
    async def scenario(conn: psycopg.AsyncConnection[Any]) -> None:
        (nan,) = (await wire.fetch(conn, "SELECT %s::float8", (math.nan,)))[0]
        assert math.isnan(nan)
        rows = await wire.fetch(conn, "SELECT ARRAY[1, NULL, 3]::int[], ARRAY[]::bigint[]", ())
        assert rows == [([1, None, 3], [])]
        assert await wire.fetch(conn, "SELECT pg_sleep(0)", ()) == [(None,)]
        assert await wire.fetch(conn, "DO $$ BEGIN END $$", ()) == []
        assert await wire.fetch(conn, "SELECT 1 WHERE false", ()) == []

    run(postgres_url, scenario)


def test_an_undecoded_column_type_is_named(postgres_url: str) -> None:
    async def scenario(conn: psycopg.AsyncConnection[Any]) -> None:
        with pytest.raises(TypeError, match=r"'stamp' has type OID 1184"):
            await wire.fetch(conn, "SELECT now() AS stamp", ())
        with pytest.raises(TypeError, match=r"'stamps' has type OID 1185"):
            await wire.fetch(conn, "SELECT ARRAY[now()]::timestamptz[] AS stamps", ())
        assert await wire.fetch(conn, "SELECT 1::int", ()) == [(1,)]  # still usable

    run(postgres_url, scenario)


def test_an_array_naming_an_undecoded_element_type_is_refused_by_name() -> None:
    garbage = struct.pack("!iiIii", 1, 0, 1184, 1, 1) + struct.pack("!i", 8) + bytes(8)
    with pytest.raises(TypeError, match="array of type OID 1184"):
        wire._array(garbage)


def test_server_errors_are_psycopgs_classes_and_the_connection_stays_usable(
    postgres_url: str, prepare: bool
) -> None:
    async def scenario(conn: psycopg.AsyncConnection[Any]) -> None:
        with pytest.raises(psycopg.errors.DivisionByZero, match="division by zero"):
            await wire.fetch(conn, "SELECT 1 / %s::int", (0,), prepare=prepare)
        with pytest.raises(psycopg.errors.UndefinedFunction):
            await wire.fetch(conn, "SELECT no_such_function(%s)", ("x",), prepare=prepare)
        assert await wire.fetch(conn, "SELECT %s::int + 1", (1,), prepare=prepare) == [(2,)]
        assert is_usable(conn)

    run(postgres_url, scenario)


def test_a_large_payload_is_written_and_read_whole(postgres_url: str) -> None:
    payload = bytes(range(256)) * 40_000  # 10 MB: more than a socket buffer each way

    async def scenario(conn: psycopg.AsyncConnection[Any]) -> None:
        assert await wire.fetch(conn, "SELECT %s::bytea", (payload,)) == [(payload,)]

    run(postgres_url, scenario)


def test_a_connection_killed_by_the_server_raises_operational_error(postgres_url: str) -> None:
    async def scenario(conn: psycopg.AsyncConnection[Any]) -> None:
        (pid,) = (await wire.fetch(conn, "SELECT pg_backend_pid()", ()))[0]
        with psycopg.connect(postgres_url, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await asyncio.sleep(0.1)
        with pytest.raises(psycopg.OperationalError):
            await wire.fetch(conn, "SELECT 1::int", ())
        assert conn.pgconn.status != pq.ConnStatus.OK and not is_usable(conn)

    run(postgres_url, scenario)


def test_a_cancelled_statement_leaves_its_connection_unusable_for_the_pool(
    postgres_url: str,
) -> None:
    async def scenario(conn: psycopg.AsyncConnection[Any]) -> None:
        task = asyncio.ensure_future(wire.fetch(conn, "SELECT pg_sleep(%s::float8)", (5.0,)))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert conn.pgconn.transaction_status != pq.TransactionStatus.IDLE
        assert not is_usable(conn)  # the pools throw it away

    run(postgres_url, scenario)

"""The contract the Redis layer relies on from redis-py's internals (``layers.redis.adapter``).

Each test pins one thing the adapter does with redis-py's connection objects, against the
real server. A redis-py release that changes them fails here, naming the function to fix,
before any layer test has to be read. Only this file and the adapter know those internals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from layers.redis import adapter
from layers.redis.connection import _pack


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    made = redis.Redis.from_url(redis_url, socket_timeout=2.0)
    yield made
    made.close()


def _round_trip(conn: object, *args: object) -> object:
    adapter.ready(conn)
    adapter.send(conn, _pack(args))
    return adapter.read(conn)


def test_a_sync_connection_connects_sends_and_reads_every_reply_type(
    client: redis.Redis, unique_prefix: str
) -> None:
    conn = adapter.new_connection(client)
    key = f"{unique_prefix}:adapter"
    try:
        assert _round_trip(conn, "PING") in (b"PONG", "PONG", True)
        assert _round_trip(conn, "RPUSH", key, b"a\x00b", "x" * 20000) == 2  # integer
        assert _round_trip(conn, "LRANGE", key, 0, -1) == [b"a\x00b", b"x" * 20000]  # array
        assert _round_trip(conn, "LPOP", key + ":none") is None  # nil
        with pytest.raises(adapter.ResponseError):
            _round_trip(conn, "LPUSH")  # wrong number of arguments: an error reply
        assert _round_trip(conn, "PING") in (b"PONG", "PONG", True), "usable after an error"
        with pytest.raises(adapter.NoScriptError):
            _round_trip(conn, "EVALSHA", "0" * 40, 0)
    finally:
        client.delete(key)
        adapter.drop(conn)


def test_a_sync_connection_the_server_closed_is_reopened(client: redis.Redis) -> None:
    conn = adapter.new_connection(client)
    try:
        my_id = _round_trip(conn, "CLIENT", "ID")
        assert client.client_kill_filter(_id=my_id) == 1  # the server closes it
        assert _round_trip(conn, "CLIENT", "ID") != my_id  # noticed before sending: new one
        adapter.drop(conn)
        assert _round_trip(conn, "PING") in (b"PONG", "PONG", True)  # dropped: reconnects
    finally:
        adapter.drop(conn)


def test_an_async_connection_sends_reads_and_is_reopened(
    client: redis.Redis, redis_url: str
) -> None:
    async def scenario() -> None:
        factory = redis.asyncio.Redis.from_url(redis_url, socket_timeout=2.0)
        conn = adapter.new_async_connection(factory)
        try:

            async def call(*args: object) -> object:
                await adapter.ready_async(conn)
                adapter.async_send(conn, _pack(args))
                return await adapter.read_async(conn)

            assert adapter.async_connection_timeout(conn) == 2.0
            my_id = await call("CLIENT", "ID")
            assert await call("ECHO", b"x" * 100_000) == b"x" * 100_000
            reply = await call("EVALSHA", "0" * 40, 0)
            assert isinstance(reply, adapter.NoScriptError)  # returned, read whole
            assert await call("CLIENT", "ID") == my_id, "an error reply keeps the connection"
            assert adapter.async_ready(conn)
            client.client_kill_filter(_id=my_id)
            await asyncio.sleep(0.05)
            assert not adapter.async_ready(conn)  # closed by the server: noticed
            assert await call("CLIENT", "ID") != my_id  # and reopened
            with pytest.raises(asyncio.TimeoutError):
                await call("BLPOP", "adapter:never", 5)  # longer than socket_timeout
            adapter.drop_async_connection(conn)
            assert await call("PING") in (b"PONG", "PONG", True)
        finally:
            adapter.drop_async_connection(conn)
            await factory.aclose()

    asyncio.run(scenario())


def test_an_async_connection_reads_every_reply_type_and_a_close_mid_reply(
    client: redis.Redis, redis_url: str, unique_prefix: str
) -> None:
    key = f"{unique_prefix}:adapter-async"

    async def scenario() -> None:
        factory = redis.asyncio.Redis.from_url(redis_url, socket_timeout=2.0)
        conn = adapter.new_async_connection(factory)
        try:

            async def call(*args: object) -> object:
                await adapter.ready_async(conn)
                adapter.async_send(conn, _pack(args))
                return await adapter.read_async(conn)

            big = b"y" * (3 * adapter.READ_CHUNK + 7)  # read in several chunks
            assert await call("RPUSH", key, b"a\x00b", big) == 2  # integer
            assert await call("LRANGE", key, 0, -1) == [b"a\x00b", big]  # array
            assert await call("LPOP", key + ":none") is None  # nil
            assert await call("BLPOP", key + ":none", 0.01) is None  # nil array / null
            nested = await call("EVAL", "return {1, {'x', 2}, 'z'}", 0)
            assert nested == [1, [b"x", 2], b"z"]
            assert isinstance(await call("LPUSH"), adapter.ResponseError)  # returned
            assert await call("PING") in (b"PONG", "PONG", True), "usable after an error"
            my_id = await call("CLIENT", "ID")
            adapter.async_send(conn, _pack(("BLPOP", key + ":none", 1)))
            reading = asyncio.ensure_future(adapter.read_async(conn))
            await asyncio.sleep(0.05)
            client.client_kill_filter(_id=my_id)  # closed while the reply is awaited
            with pytest.raises(adapter.CONNECTION_ERRORS):
                await reading
        finally:
            client.delete(key)
            adapter.drop_async_connection(conn)
            await factory.aclose()

    asyncio.run(scenario())


def test_async_drop_is_safe_on_a_closed_event_loop(redis_url: str) -> None:
    factory = redis.asyncio.Redis.from_url(redis_url)
    conn = adapter.new_async_connection(factory)

    async def connect() -> None:
        await adapter.ready_async(conn)

    asyncio.run(connect())  # the loop is closed now, the socket still open
    adapter.drop_async_connection(conn)  # must neither raise nor need the loop
    adapter.drop_async_connection(conn)  # idempotent


def test_connection_errors_name_what_an_unreachable_server_raises() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    conn = adapter.new_connection(client)
    with pytest.raises(adapter.CONNECTION_ERRORS):
        adapter.ready(conn)

"""Garbage under the Redis layer's prefix never wedges it: unreadable entries are dropped and
counted, everything else is delivered, callers see only ``MalformedMessage``."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from channels_core import codec
from channels_core.exceptions import MalformedMessage
from layers.redis import RedisChannelLayer
from tests.factories import layer_factory

pytestmark = pytest.mark.redis


@pytest.fixture
def layer(redis_url: str, unique_prefix: str) -> Iterator[RedisChannelLayer]:
    with layer_factory(functools.partial(RedisChannelLayer, redis_url), unique_prefix) as make:
        yield make(blocking_timeout=0.5)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _key(layer: RedisChannelLayer, what: str) -> bytes:
    return layer._ns_bytes + what.encode()


def _envelope(name: str, message: dict[str, Any], ttl: float = 60) -> bytes:
    deadline = int((time.time() + ttl) * 1000)
    return b"%d:%b:%b" % (deadline, name.encode(), codec.encode(message))


def _exercise_the_prefix(layer: RedisChannelLayer) -> None:
    """Every call that runs housekeeping or walks the whole prefix still works."""
    for _ in range(3):
        layer._next_housekeeping = 0.0  # this send carries the sweep
        layer.send("other", {"n": 1})
    layer.group_add("g", "other")
    assert layer.group_channels("g") == ["other"]
    layer.send_group("g", {"n": 2})
    stats = layer.global_statistics()
    assert stats["messages_pending"] >= 1
    assert stats["messages_malformed_count"] >= 1
    assert layer.channel_statistics("other")["messages_pending"] == 4


def _receive_all(layer: RedisChannelLayer, names: list[str]) -> tuple[list[Any], int]:
    got, errors = [], 0
    for _ in range(50):
        try:
            channel, message = layer.receive(names)
        except MalformedMessage:
            errors += 1
            continue
        if channel is None:
            break
        got.append((channel, message))
    return got, errors


def test_an_entry_without_separator_in_a_queue_and_the_index(
    layer: RedisChannelLayer, raw: redis.Redis
) -> None:
    raw.rpush(_key(layer, "q:bad"), b"no separator at all")
    raw.zadd(_key(layer, "x"), {"bad": 0})  # due: every sweep meets it
    raw.rpush(_key(layer, "q:bad2"), b"12x:still not one")
    raw.zadd(_key(layer, "x"), {"bad2": 0})
    _exercise_the_prefix(layer)
    assert raw.llen(_key(layer, "q:bad")) == 0  # dropped by the sweep


def test_garbage_in_a_plain_queue_is_reported_then_the_rest_delivered(
    layer: RedisChannelLayer, raw: redis.Redis
) -> None:
    layer.send("plain", {"n": 0})
    raw.rpush(_key(layer, "q:plain"), b"garbage")
    layer.send("plain", {"n": 1})
    got, errors = _receive_all(layer, ["plain"])
    assert errors == 1
    assert [m["n"] for _, m in got] == [0, 1]
    # the multi-channel path (the poll script) too
    raw.rpush(_key(layer, "q:plain"), b"garbage")
    layer.send("plain", {"n": 2})
    got, errors = _receive_all(layer, ["plain", "quiet"])
    assert errors == 1 and [m["n"] for _, m in got] == [2]
    assert layer.global_statistics()["messages_malformed_count"] >= 2


def test_garbage_at_the_head_of_an_inbox_does_not_block_it(
    layer: RedisChannelLayer, raw: redis.Redis
) -> None:
    name = layer.new_channel("ws!")
    inbox = name[: name.index("!") + 1]
    raw.rpush(_key(layer, "q:" + inbox), b"garbage without a deadline")
    for n in range(3):
        layer.send(name, {"n": n})
    got, errors = _receive_all(layer, [inbox])
    assert errors == 1
    assert [m["n"] for _, m in got] == [0, 1, 2]
    assert all(channel == name for channel, _ in got)
    _exercise_the_prefix(layer)


@pytest.mark.parametrize(
    "stranger",
    [b"%d:elsewhere!x:", b"%d::", b"%d:nobang:", b"%d:\xff!:", b"%d:short"],
    ids=["other-inbox", "no-name", "no-bang", "not-ascii", "no-second-colon"],
)
def test_an_inbox_batch_with_a_stranger_delivers_the_rest(
    layer: RedisChannelLayer, raw: redis.Redis, stranger: bytes
) -> None:
    name = layer.new_channel("ws!")
    inbox = name[: name.index("!") + 1]
    layer.send(name, {"n": 0})
    raw.rpush(_key(layer, "q:" + inbox), stranger % int((time.time() + 60) * 1000) + b"xx")
    raw.rpush(_key(layer, "q:" + inbox), _envelope(name, {"n": 1}))
    layer.send(name, {"n": 2})
    got, errors = _receive_all(layer, [inbox])
    assert errors == 1
    assert [m["n"] for _, m in got] == [0, 1, 2]


def test_the_async_path_reports_garbage_the_same_way(
    layer: RedisChannelLayer, raw: redis.Redis
) -> None:
    name = layer.new_channel("ws!")
    inbox = name[: name.index("!") + 1]
    raw.rpush(_key(layer, "q:" + inbox), b"garbage")
    layer.send(name, {"n": 0})

    async def scenario() -> Any:
        with pytest.raises(MalformedMessage):
            await layer.receive_async([inbox])
        return await layer.receive_async([inbox])

    assert asyncio.run(scenario())[1] == {"n": 0}

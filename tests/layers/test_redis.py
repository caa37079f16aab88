"""Redis-specific behaviour of ``RedisChannelLayer`` on the shared server (unique prefixes)."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from channels_core.crypto import DecryptionError
from channels_core.exceptions import ChannelFull, ImproperlyConfigured
from channels_core.loading import load_layer
from layers.redis import RedisChannelLayer
from tests.factories import layer_factory

pytestmark = pytest.mark.redis


@pytest.fixture
def make(redis_url: str, unique_prefix: str) -> Iterator[Any]:
    with layer_factory(functools.partial(RedisChannelLayer, redis_url), unique_prefix) as factory:
        yield factory


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def prefix_keys(raw: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(raw.scan_iter(match=prefix + ":*", count=1000))


# -- loading and configuration ------------------------------------------------------------------


def test_loads_from_url_and_short_name(redis_url: str, unique_prefix: str) -> None:
    with load_layer(f"{redis_url}?capacity=7&prefix={unique_prefix}") as layer:
        assert isinstance(layer, RedisChannelLayer)
        assert layer.capacity == 7 and layer.prefix == unique_prefix
    with load_layer("redis", prefix=unique_prefix) as layer:
        assert isinstance(layer, RedisChannelLayer)


@pytest.mark.parametrize(
    "options",
    [
        {"url": "http://127.0.0.1:6379"},
        {"url": "redis+sentinel://127.0.0.1:26379"},
        {"sentinels": [("127.0.0.1", 26379)]},
        {"socket_timeout": 0},
        {"drain": 0},
        {"hosts": [("127.0.0.1", "not-a-port")]},
        {"symmetric_encryption_keys": []},
        {"symmetric_encryption_keys": "one-string"},
    ],
)
def test_bad_configuration_is_a_clear_error(options: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured):
        RedisChannelLayer(**options)


def test_connection_strings_are_parsed() -> None:
    from layers.redis.connection import parse_shards

    [sentinel] = parse_shards(
        "redis+sentinel://user:pw@h1:26379,h2/mymaster/3?sentinel_password=sp",
        None,
        None,
        None,
        None,
    )
    assert sentinel.sentinels == [("h1", 26379), ("h2", 26379)]
    assert sentinel.service_name == "mymaster"
    assert sentinel.kwargs == {"db": 3, "username": "user", "password": "pw"}
    assert sentinel.sentinel_kwargs == {"password": "sp"}
    shards = parse_shards("redis://:pw@a:6379,b:6380/2", None, None, None, None)
    assert [shard.url for shard in shards] == ["redis://:pw@a:6379/2", "redis://:pw@b:6380/2"]
    shards = parse_shards(
        None, [("a", 1), "b:2", "rediss://c:3/0", {"address": ("d", 4), "db": 1}], None, None, None
    )
    assert [shard.describe() for shard in shards] == ["a:1", "b:2", "c:3", "d:4"]
    assert shards[3].kwargs == {"db": 1}
    [via_option] = parse_shards(None, None, ["s1:26380"], "svc", {"password": "x"})
    assert via_option.sentinels == [("s1", 26380)] and via_option.service_name == "svc"


def test_repr_never_shows_the_password(redis_url: str, unique_prefix: str) -> None:
    layer = RedisChannelLayer("redis://:secret@127.0.0.1:6379/0", prefix=unique_prefix)
    assert "secret" not in repr(layer)
    layer.close()


# -- send and receive ---------------------------------------------------------------------------


def test_send_is_atomic_with_capacity_under_concurrency(make: Any) -> None:
    layer = make(capacity=50)
    accepted = []
    refused = []

    def sender() -> None:
        for index in range(40):
            try:
                layer.send("crowded", {"i": index})
                accepted.append(index)
            except ChannelFull:
                refused.append(index)

    threads = [threading.Thread(target=sender) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(accepted) == 50 and len(refused) == 150
    assert layer.channel_statistics("crowded")["messages_pending"] == 50
    assert layer.channel_statistics("crowded")["channel_full_count"] == 150


def test_racing_receivers_never_duplicate(make: Any) -> None:
    sender = make(capacity=1000)
    for index in range(600):
        sender.send("work", {"i": index})
    seen: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        layer = make()
        while True:
            channel, message = layer.receive(["work", "other"], block=False)
            if channel is None:
                return
            with lock:
                seen.append(message["i"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(600))


def test_blocking_receive_wakes_up_on_send_and_times_out(make: Any) -> None:
    layer = make(blocking_timeout=0.5)
    started = time.monotonic()
    assert layer.receive(["quiet"], block=True) == (None, None)
    assert time.monotonic() - started >= 0.45
    timer = threading.Timer(0.1, lambda: make().send("quiet", {"late": True}))
    timer.start()
    layer2 = make(blocking_timeout=5)
    assert layer2.receive(["quiet", "other!"], block=True) == ("quiet", {"late": True})
    timer.join()


def test_process_specific_channels_share_one_inbox_key(make: Any, raw: redis.Redis) -> None:
    layer = make()
    first, second = layer.new_channel("ws.send!"), layer.new_channel("ws.send!")
    prefix = first[: first.index("!") + 1]
    layer.send(first, {"n": 1})
    layer.send(second, {"n": 2})
    assert raw.llen(f"{layer.prefix}:q:{prefix}") == 2
    received = {layer.receive([prefix])[0], layer.receive([prefix])[0]}
    assert received == {first, second}
    assert layer.receive([prefix]) == (None, None)


def test_busy_bang_channel_never_fills_its_neighbours(make: Any) -> None:
    layer = make(capacity=5)
    busy, quiet = layer.new_channel("ws!"), layer.new_channel("ws!")
    prefix = busy[: busy.index("!") + 1]
    received: list[Any] = []
    for round_ in range(4):
        for index in range(4):  # busy: 16 messages in all, its buffer holds 5
            layer.send(busy, {"round": round_, "i": index})
        time.sleep(0.003)  # a receiving process drains its inbox at least every 2 ms
        received.append(layer.receive([prefix]))  # drains the inbox into local buffers
        layer.send(quiet, {"round": round_})  # never ChannelFull
    while True:
        channel, message = layer.receive([prefix])
        if channel is None:
            break
        received.append((channel, message))
    assert sum(1 for channel, _ in received if channel == quiet) == 4
    busy_messages = [message for channel, message in received if channel == busy]
    dropped = layer.channel_statistics(busy)["channel_full_count"]
    assert dropped > 0  # its local buffer is bounded by its capacity...
    assert len(busy_messages) + dropped == 16  # ...and what it dropped is counted


def test_receive_returns_full_names_and_plain_channels_fairly(make: Any) -> None:
    layer = make(capacity=200)
    bang = layer.new_channel("mix!")
    prefix = bang[: bang.index("!") + 1]
    for index in range(100):
        layer.send(bang, {"i": index})
        layer.send("plain", {"i": index})
    first_hundred = [layer.receive([prefix, "plain"])[0] for _ in range(100)]
    assert 20 < first_hundred.count("plain") < 80
    assert set(first_hundred) == {bang, "plain"}


def test_message_types_round_trip(make: Any) -> None:
    layer = make()
    message = {
        "bytes": b"\x00\xff:", "text": "é\x00\U0001f600:", "int": -(2**63), "float": 1.5,
        "none": None, "bool": True, "list": [1, [2, {"x": b""}]], "dict": {"a": {"b": []}},
    }  # fmt: skip
    layer.send("types", message)
    assert layer.receive(["types"]) == ("types", message)


def test_keys_carry_ttls_and_stay_under_the_prefix(make: Any, raw: redis.Redis) -> None:
    layer = make(expiry=5, group_expiry=30)
    layer.send("ttl", {"x": 1})
    layer.group_add("room", "ttl")
    keys = prefix_keys(raw, layer.prefix)
    assert keys and all(key.startswith(layer.prefix.encode() + b":") for key in keys)
    queue_ttl = raw.pttl(f"{layer.prefix}:q:ttl")
    assert 0 < queue_ttl <= 20_000
    for key in (f"{layer.prefix}:g:room", f"{layer.prefix}:m:ttl", f"{layer.prefix}:gc:room"):
        assert 0 < raw.pttl(key) <= 30_000


# -- expiry and groups --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_expired_messages_are_never_delivered_and_evict_their_channel(make: Any) -> None:
    layer = make(expiry=1)
    bang = layer.new_channel("exp!")
    prefix = bang[: bang.index("!") + 1]
    for channel in ("plain", "other", bang, "kept"):
        layer.group_add("room", channel)
    layer.send("plain", {"x": 1})
    layer.send("other", {"x": 1})
    layer.send(bang, {"x": 1})
    time.sleep(1.2)
    layer.send("kept", {"fresh": True})
    assert layer.receive(["plain"]) == (None, None)  # non-blocking LPOP path
    assert layer.receive(["other", prefix]) == (None, None)  # script path
    assert set(layer.group_channels("room")) == {"kept"}


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_expiry_is_swept_even_if_nobody_receives(make: Any) -> None:
    layer = make(expiry=1)
    layer.group_add("room", "abandoned")
    layer.group_add("room", "alive")
    layer.send("abandoned", {"x": 1})
    time.sleep(1.2)
    assert layer.group_channels("room") == ["alive"]
    assert layer.global_statistics()["messages_pending"] == 0


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_buffered_bang_messages_expire_locally_and_evict(make: Any) -> None:
    layer = make(expiry=1)
    first, second = layer.new_channel("buf!"), layer.new_channel("buf!")
    prefix = first[: first.index("!") + 1]
    layer.group_add("room", second)
    layer.send(first, {"n": 1})
    layer.send(second, {"n": 2})
    assert layer.receive([prefix]) == (first, {"n": 1})  # the other one is buffered locally
    assert layer._inbox.pending(prefix) == 1
    time.sleep(1.3)
    assert layer.receive([prefix]) == (None, None)  # expired in the buffer: never delivered
    assert layer._inbox.pending() == 0
    assert layer.group_channels("room") == []  # and its channel left its groups


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_group_membership_lapses(make: Any) -> None:
    layer = make(group_expiry=1)
    layer.group_add("room", "a")
    time.sleep(0.6)
    layer.group_add("room", "b")
    time.sleep(0.6)
    assert layer.group_channels("room") == ["b"]
    layer.send_group("room", {"x": 1})
    assert layer.receive(["a"]) == (None, None)
    assert layer.receive(["b"]) == ("b", {"x": 1})


def test_send_group_to_a_thousand_members_loses_nothing(make: Any) -> None:
    layer = make(channel_capacity={"*!": 2000})
    members = [layer.new_channel("member!") for _ in range(1000)]
    plain = [f"plain.{index}" for index in range(200)]
    for channel in members + plain:
        layer.group_add("big", channel)
    layer.send_group("big", {"hello": "all"})
    prefix = members[0][: members[0].index("!") + 1]
    received = set()
    while True:
        channel, message = layer.receive([prefix])
        if channel is None:
            break
        assert message == {"hello": "all"}
        received.add(channel)
    assert received == set(members)
    for channel in plain:
        assert layer.receive([channel]) == (channel, {"hello": "all"})
    assert layer.global_statistics()["messages_count"] == 1200


def test_send_group_skips_full_members_and_counts_them(make: Any) -> None:
    layer = make(capacity=1)
    layer.group_add("room", "full")
    layer.group_add("room", "free")
    layer.send("full", {"x": 0})
    layer.send_group("room", {"x": 1})
    assert layer.receive(["full"]) == ("full", {"x": 0})
    assert layer.receive(["free"]) == ("free", {"x": 1})
    assert layer.channel_statistics("full")["channel_full_count"] == 1


# -- flush, statistics, sessions ----------------------------------------------------------------


def test_flush_touches_only_its_own_prefix(make: Any, raw: redis.Redis, unique_prefix: str) -> None:
    mine = make(prefix=unique_prefix)
    nested = make(prefix=unique_prefix + ":sub")
    starry = make(prefix=unique_prefix + "*")
    for layer in (mine, nested, starry):
        layer.send("c", {"x": 1})
        layer.group_add("g", "c")
    mine.flush()
    assert mine.receive(["c"]) == (None, None) and mine.group_channels("g") == []
    assert nested.receive(["c"]) == ("c", {"x": 1}) and nested.group_channels("g") == ["c"]
    assert starry.receive(["c"]) == ("c", {"x": 1})
    assert not any(
        key.startswith(f"{unique_prefix}:".encode())
        and not key.startswith(b"%s::" % unique_prefix.encode())
        for key in raw.scan_iter(match=unique_prefix + ":*", count=1000)
    )


def test_statistics_are_shared_between_layer_objects(make: Any) -> None:
    first, second = make(capacity=2), make(capacity=2)
    first.send("s", {"x": 1})
    second.send("s", {"x": 2})
    with pytest.raises(ChannelFull):
        first.send("s", {"x": 3})
    for layer in (first, second):
        stats = layer.channel_statistics("s")
        assert stats["messages_count"] == 2
        assert stats["messages_pending"] == 2
        assert stats["channel_full_count"] == 1
        assert 0 <= stats["messages_max_age"] < 5
        totals = layer.global_statistics()
        assert totals["messages_count"] == 2 and totals["messages_pending"] == 2
        assert totals["channel_full_count"] == 1
    second.receive(["s"])
    assert first.global_statistics()["messages_pending"] == 1
    assert "messages_count_per_second" in first.global_statistics()


def test_session_store_lives_in_redis_under_the_prefix(make: Any, raw: redis.Redis) -> None:
    first, second = make(), make()
    store = first.session_store()
    store.save("reply.abc!def", {"user": "alice", "n": [1, 2]}, ttl=30)
    assert second.session_store().load("reply.abc!def") == {"user": "alice", "n": [1, 2]}
    assert 0 < raw.pttl(f"{first.prefix}:s:reply.abc!def") <= 30_000
    second.session_store().delete("reply.abc!def")
    assert store.load("reply.abc!def") is None


# -- async --------------------------------------------------------------------------------------


def test_receive_async_is_native_and_does_not_block_the_loop(make: Any) -> None:
    layer = make(blocking_timeout=2)

    async def scenario() -> tuple[Any, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: make().send("async", {"a": 1}))
        result = await layer.receive_async(["async"])
        tick_task.cancel()
        return result, ticks

    result, ticks = asyncio.run(scenario())
    assert result == ("async", {"a": 1})
    assert ticks >= 10


def test_cancelled_receive_async_never_loses_a_message(make: Any) -> None:
    layer = make(blocking_timeout=2)
    sender = make()

    async def scenario() -> Any:
        task = asyncio.create_task(layer.receive_async(["cancel.me"]))
        await asyncio.sleep(0.2)
        sender.send("cancel.me", {"kept": True})
        task.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            await asyncio.sleep(1.2)  # the shielded round trip finishes and parks its message
            return await layer.receive_async(["cancel.me"])

    assert asyncio.run(scenario()) == ("cancel.me", {"kept": True})


def test_a_cancelled_blocked_receive_async_ends_at_once_and_loses_nothing(make: Any) -> None:
    """Cancelled while its BLPOP waits, a receive unblocks it (CLIENT UNBLOCK) instead of
    waiting it out; a message sent right after is received by the next receive."""
    layer = make(blocking_timeout=5)
    sender = make()

    async def scenario() -> tuple[float, Any]:
        task = asyncio.create_task(layer.receive_async(["unblock.me"]))
        await asyncio.sleep(0.2)  # in its BLPOP (a wait of up to 1 s)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        took = time.monotonic() - started
        sender.send("unblock.me", {"kept": True})
        return took, await layer.receive_async(["unblock.me"])

    took, received = asyncio.run(scenario())
    assert received == ("unblock.me", {"kept": True})
    assert took < 0.8, f"the cancelled receive took {took:.2f} s to end"


def test_a_receive_async_cancelled_as_its_loop_ends_leaves_no_blpop_behind(make: Any) -> None:
    """asyncio.run cancels a receive_async that still waits when its coroutine returns; its
    BLPOP must not stay on the server and take the next message for a loop that is gone."""
    layer = make(blocking_timeout=5)
    sender = make()

    async def abandon() -> None:
        waiting = asyncio.ensure_future(layer.receive_async(["after.loop"]))
        await asyncio.sleep(0.2)  # the receive waits in its BLPOP when the loop ends
        assert not waiting.done()

    asyncio.run(abandon())
    sender.send("after.loop", {"n": 1})
    assert layer.receive(["after.loop"], block=True) == ("after.loop", {"n": 1})


def test_concurrent_receive_async_on_one_loop_share_no_reply(make: Any) -> None:
    layer = make(blocking_timeout=2, capacity=500)
    sender = make(capacity=500)

    async def scenario() -> list[int]:
        async def receiver() -> list[int]:
            got = []
            while True:
                channel, message = await layer.receive_async(["many", "other"])
                if channel is None:
                    return got
                got.append(message["n"])

        tasks = [asyncio.create_task(receiver()) for _ in range(4)]
        await asyncio.sleep(0.1)
        for n in range(200):
            sender.send("many", {"n": n})
        return [n for got in await asyncio.gather(*tasks) for n in got]

    assert sorted(asyncio.run(scenario())) == list(range(200))


def test_cancelling_receive_async_mid_call_loses_nothing(make: Any) -> None:
    layer = make(blocking_timeout=1, capacity=500)
    sender = make(capacity=500)
    for n in range(300):
        sender.send("cancelled", {"n": n})

    async def scenario() -> list[int]:
        got: list[int] = []
        for round_ in range(60):
            tasks = [asyncio.create_task(layer.receive_async(["cancelled", "x"])) for _ in range(3)]
            await asyncio.sleep(0 if round_ % 2 else 0.0003)
            for task in tasks:
                task.cancel()
            for task in tasks:
                try:
                    channel, message = await task
                except asyncio.CancelledError:
                    continue
                if channel is not None:
                    got.append(message["n"])
        await asyncio.sleep(0.1)  # shielded calls finish and park what they took
        while True:
            channel, message = await layer.receive_async(["cancelled", "x"])
            if channel is None:
                return got
            got.append(message["n"])

    assert sorted(asyncio.run(scenario())) == list(range(300))


def test_receive_async_on_successive_event_loops(make: Any) -> None:
    layer = make(blocking_timeout=1)
    sender = make()
    for n in range(3):
        sender.send("loops", {"n": n})

        async def once() -> Any:
            return await layer.receive_async(["loops"])

        assert asyncio.run(once()) == ("loops", {"n": n})  # a closed loop's connection dropped
    shard = layer._shards[0]
    assert len(shard._async) <= 1


# -- encryption ---------------------------------------------------------------------------------


def test_symmetric_encryption_hides_bodies_and_rotates_keys(make: Any, raw: redis.Redis) -> None:
    old = make(symmetric_encryption_keys=["old-key-" + "x" * 32])
    rotated = make(symmetric_encryption_keys=["new-key-" + "y" * 32, "old-key-" + "x" * 32])
    old.send("secret", {"card": "4111-1111"})
    stored = raw.lindex(f"{old.prefix}:q:secret", 0)
    assert stored is not None and b"4111" not in stored
    assert rotated.receive(["secret"]) == ("secret", {"card": "4111-1111"})
    rotated.send("secret", {"card": "5500"})
    with pytest.raises(DecryptionError):
        old.receive(["secret"])
    rotated.session_store().save("k", {"v": 1}, 10)
    assert b"\x81" not in (raw.get(f"{rotated.prefix}:s:k") or b"")[:1]
    assert rotated.session_store().load("k") == {"v": 1}


def test_close_wakes_a_blocked_receiver(make: Any) -> None:
    layer = make(blocking_timeout=10)
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(layer.receive(["idle"], block=True)))
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    layer.close()
    thread.join(5)
    assert results == [(None, None)] and time.monotonic() - started < 3


def test_a_forked_child_gets_its_own_connection(make: Any) -> None:
    import multiprocessing

    layer = make()
    layer.send("to.child", {"ping": 1})
    context = multiprocessing.get_context("fork")

    def child() -> None:
        _, message = layer.receive(["to.child"])
        layer.send("to.parent", {"pong": message["ping"] if message else None})

    process = context.Process(target=child)
    process.start()
    process.join(20)
    assert process.exitcode == 0
    assert layer.receive(["to.parent"], block=True) == ("to.parent", {"pong": 1})
    layer.send("still", {"works": True})  # the parent's own connection was left alone
    assert layer.receive(["still"]) == ("still", {"works": True})


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_per_second_rates(make: Any) -> None:
    layer = make()
    assert layer.global_statistics()["messages_count_per_second"] == 0
    for index in range(30):
        layer.send("rate", {"i": index})
    time.sleep(1.1)
    assert layer.global_statistics()["messages_count_per_second"] > 0


def test_garbage_in_a_queue_key_is_a_clear_error(make: Any, raw: redis.Redis) -> None:
    layer = make()
    raw.rpush(f"{layer.prefix}:q:foreign", b"not an envelope")
    with pytest.raises(ValueError, match="not one of its messages"):
        layer.receive(["foreign"])


def test_receive_async_round_trips(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from layers.redis.connection import Shard

    layer = make()
    sent: list[bytes] = []
    original = Shard.execute_async

    async def counting(self: Shard, *args: Any, **options: Any) -> Any:
        sent.append(args[0] if isinstance(args[0], bytes) else str(args[0]).encode())
        return await original(self, *args, **options)

    async def scenario() -> None:
        layer.send("rt", {"x": 1})
        await layer.receive_async(["rt", "other"])  # first call: clock, scripts
        monkeypatch.setattr(Shard, "execute_async", counting)
        layer.send("rt", {"x": 2})
        layer.send("rt", {"x": 3})
        assert await layer.receive_async(["rt"]) == ("rt", {"x": 2})
        assert await layer.receive_async(["rt", "other"]) == ("rt", {"x": 3})

    asyncio.run(scenario())
    assert sent == [b"LPOP", b"EVALSHA"]

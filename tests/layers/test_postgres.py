"""PostgreSQL layer: what is specific to it, against the real server (never skipped).

The contract itself is covered by the conformance suite (tests/conformance/test_postgres.py);
these tests cover the issues users hit with the older Postgres layer: duplicated and dropped
messages, rows never deleted, capacity races, flush touching other data, schema set-up races,
connection counts, big messages, and what happens when the server goes away.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from channels_core.crypto import DecryptionError
from channels_core.exceptions import (
    ChannelFull,
    ImproperlyConfigured,
    MessageTooLarge,
)
from channels_core.loading import load_layer
from layers.postgres import PostgresChannelLayer
from layers.postgres.schema import VERSION, migrate
from tests.factories import layer_factory

pytestmark = pytest.mark.postgres

LayerFactory = Callable[..., PostgresChannelLayer]


@pytest.fixture
def make_layer(postgres_url: str, unique_prefix: str) -> Iterator[LayerFactory]:
    """Builds layers on the shared server under this test's prefix; flushes and closes them."""
    build = functools.partial(PostgresChannelLayer, postgres_url)
    with layer_factory(build, unique_prefix) as factory:
        yield factory


def _rows(url: str, prefix: str, table: str = "message") -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM channels_core.{table} WHERE prefix = %s", (prefix,)
        ).fetchone()
    assert row is not None
    return int(row[0])


# -- loading and options ----------------------------------------------------------------------


def test_load_layer_by_url_short_name_and_options(postgres_url: str, unique_prefix: str) -> None:
    for spec in (postgres_url, postgres_url.replace("postgresql://", "postgres://")):
        layer = load_layer(f"{spec}?pool_size=2&prefix={unique_prefix}&capacity=7")
        assert isinstance(layer, PostgresChannelLayer)
        assert (layer.pool_size, layer.prefix, layer.capacity) == (2, unique_prefix, 7)
        layer.close()
    layer = load_layer("postgres", url=postgres_url, prefix=unique_prefix)
    assert isinstance(layer, PostgresChannelLayer)
    layer.close()


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ({"schema": "Bad-Name"}, "schema"),
        ({"pool_size": 0}, "pool_size"),
        ({"inbox_batch": "10"}, "inbox_batch"),
        ({"connect_timeout": -1}, "connect_timeout"),
        ({"prepared_statements": "yes"}, "prepared_statements"),
    ],
)
def test_bad_options_raise_naming_the_option(options: dict[str, Any], word: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=word):
        PostgresChannelLayer("postgresql://postgres@127.0.0.1:5432/test", **options)


def test_bad_url_option_value_is_named() -> None:
    with pytest.raises(ImproperlyConfigured, match="pool_size"):
        load_layer("postgresql://postgres@127.0.0.1:5432/test?pool_size=many")


def test_construction_does_not_connect() -> None:
    layer = PostgresChannelLayer("postgresql://postgres@127.0.0.1:1/nowhere")
    layer.close()


# -- messages live in tables ------------------------------------------------------------------


def test_one_mebibyte_message_round_trips(make_layer: LayerFactory) -> None:
    layer = make_layer()
    body = bytes(range(256)) * (1024 * 4 - 1)  # just under 1 MiB once encoded
    layer.send("big", {"body": body, "text": "é" * 10})
    channel, message = layer.receive(["big"])
    assert channel == "big"
    assert message == {"body": body, "text": "é" * 10}
    with pytest.raises(MessageTooLarge):
        layer.send("big", {"body": b"x" * (1024 * 1024 + 1)})


def test_delivered_rows_are_deleted(make_layer: LayerFactory, postgres_url: str) -> None:
    layer = make_layer()
    for n in range(20):
        layer.send("rows", {"n": n})
    inbox = layer.new_channel("rows!")
    layer.send(inbox, {"n": -1})
    assert _rows(postgres_url, layer.prefix) == 21
    received = [layer.receive(["rows"])[1] for _ in range(20)]
    assert [m["n"] for m in received if m] == list(range(20))
    assert layer.receive([inbox[: inbox.index("!") + 1]])[0] == inbox
    assert _rows(postgres_url, layer.prefix) == 0


def test_messages_sent_before_the_first_receive_are_delivered(make_layer: LayerFactory) -> None:
    sender, receiver = make_layer(), make_layer()
    for n in range(5):
        sender.send("early", {"n": n})
    reply = receiver.new_channel("early!")
    sender.send(reply, {"n": 99})
    assert [receiver.receive(["early"], block=True)[1] for _ in range(5)] == [
        {"n": n} for n in range(5)
    ]
    assert receiver.receive([reply[: reply.index("!") + 1]], block=True) == (reply, {"n": 99})


def test_a_new_receiver_does_not_take_other_processes_messages(make_layer: LayerFactory) -> None:
    owner, other = make_layer(), make_layer()
    mine = owner.new_channel("own!")
    other.send(mine, {"for": "owner"})
    assert other.receive(["own!", "unrelated"], block=True) == (None, None)
    assert owner.receive([mine[: mine.index("!") + 1]]) == (mine, {"for": "owner"})


def _drain_worker(url: str, prefix: str, results: Any) -> None:
    layer = PostgresChannelLayer(url, prefix=prefix, capacity=10_000, blocking_timeout=0.5)
    seen: list[int] = []
    while True:
        _, message = layer.receive(["work"], block=True)
        if message is None:
            continue
        if message["n"] < 0:
            break
        seen.append(message["n"])
    layer.close()
    results.put(seen)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_at_most_once_with_several_receiving_processes(
    make_layer: LayerFactory, postgres_url: str
) -> None:
    """Four processes receive one channel while it is being filled: each message once."""
    layer = make_layer(capacity=10_000)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_drain_worker, args=(postgres_url, layer.prefix, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    total = 2000
    for n in range(total):
        layer.send("work", {"n": n})
    for _ in workers:
        layer.send("work", {"n": -1})
    seen = [n for _ in workers for n in results.get(timeout=90)]
    for worker in workers:
        worker.join(30)
    assert len(seen) == len(set(seen)), "a message was delivered twice"
    assert sorted(seen) == list(range(total))
    assert _rows(postgres_url, layer.prefix) == 0


# -- capacity ---------------------------------------------------------------------------------


def test_concurrent_senders_cannot_race_past_capacity(make_layer: LayerFactory) -> None:
    senders = [make_layer(capacity=25) for _ in range(6)]
    refused = []
    start = threading.Barrier(len(senders))

    def run(layer: PostgresChannelLayer) -> None:
        start.wait()
        for n in range(15):
            try:
                layer.send("narrow", {"n": n})
            except ChannelFull:
                refused.append(n)

    threads = [threading.Thread(target=run, args=(layer,)) for layer in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = senders[0].channel_statistics("narrow")
    assert stats["messages_pending"] == 25
    assert len(refused) == 6 * 15 - 25
    assert stats["channel_full_count"] == len(refused)
    assert stats["messages_count"] == 25


def test_capacity_frees_up_as_messages_are_received(make_layer: LayerFactory) -> None:
    layer = make_layer(capacity=3, channel_capacity={"wide*": 5})
    for n in range(3):
        layer.send("c", {"n": n})
    with pytest.raises(ChannelFull):
        layer.send("c", {"n": 3})
    layer.receive(["c"])
    layer.send("c", {"n": 4})
    for n in range(5):
        layer.send("wide", {"n": n})
    with pytest.raises(ChannelFull):
        layer.send("wide", {})
    assert [layer.receive(["c"])[1]["n"] for _ in range(3)] == [1, 2, 4]  # type: ignore[index]


def test_process_specific_capacity_is_counted_on_the_inbox(make_layer: LayerFactory) -> None:
    layer = make_layer(capacity=4)
    first, second = layer.new_channel("ws!"), layer.new_channel("ws!")
    for n in range(4):
        layer.send(first if n % 2 else second, {"n": n})
    with pytest.raises(ChannelFull):
        layer.send(first, {})


def test_a_slow_process_specific_channel_does_not_starve_its_neighbours(
    make_layer: LayerFactory,
) -> None:
    """The receiver drains its inbox into per-channel buffers and serves them in turn."""
    sender, receiver = make_layer(capacity=50), make_layer(capacity=50)
    busy, quiet = receiver.new_channel("ws!"), receiver.new_channel("ws!")
    for n in range(40):
        sender.send(busy, {"n": n})
    sender.send(quiet, {"n": "quiet"})
    inbox = busy[: busy.index("!") + 1]
    first_two = {receiver.receive([inbox])[0] for _ in range(2)}
    assert quiet in first_two
    for n in range(45):  # the inbox is empty on the server again: room for more
        sender.send(busy, {"n": n})


# -- groups -----------------------------------------------------------------------------------


def test_send_group_reaches_many_members_and_skips_full_ones(make_layer: LayerFactory) -> None:
    layer = make_layer(capacity=2)
    members = [f"member.{n}" for n in range(300)]
    for member in members:
        layer.group_add("crowd", member)
    for member in members[:10]:
        layer.send(member, {"filler": 1})
        layer.send(member, {"filler": 2})
    layer.send_group("crowd", {"hello": "all"})
    got = [layer.receive([m])[1] for m in members[10:]]
    assert got == [{"hello": "all"}] * 290
    assert layer.global_statistics()["channel_full_count"] == 10
    assert sorted(layer.group_channels("crowd")) == sorted(members)


def test_group_membership_is_per_prefix(make_layer: LayerFactory, unique_prefix: str) -> None:
    mine, theirs = make_layer(), make_layer(prefix=unique_prefix + "-other")
    mine.group_add("g", "a")
    theirs.group_add("g", "b")
    assert mine.group_channels("g") == ["a"]
    assert theirs.group_channels("g") == ["b"]
    mine.group_discard("g", "a")
    mine.group_discard("g", "never-added")
    assert mine.group_channels("g") == []
    assert theirs.group_channels("g") == ["b"]


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_expired_messages_are_deleted_and_evict_their_channel(
    make_layer: LayerFactory, postgres_url: str
) -> None:
    layer = make_layer(expiry=1, sweep_interval=0.1)
    layer.group_add("g", "stale")
    layer.group_add("other", "stale")
    layer.group_add("g", "fresh")
    layer.send("stale", {"old": True})
    time.sleep(1.3)
    assert layer.receive(["stale"]) == (None, None)
    assert layer.group_channels("g") == ["fresh"]
    assert layer.group_channels("other") == []
    layer.send("poke", {})  # a send runs the due housekeeping pass
    assert _rows(postgres_url, layer.prefix) == 1  # only "poke" is left
    layer.group_add("g", "stale")  # re-adding after the expiry works
    assert sorted(layer.group_channels("g")) == ["fresh", "stale"]


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_group_members_lapse_after_group_expiry(make_layer: LayerFactory) -> None:
    layer = make_layer(group_expiry=1)
    layer.group_add("g", "a")
    layer.group_add("g", "b")
    time.sleep(0.6)
    layer.group_add("g", "b")  # refreshed
    time.sleep(0.6)
    assert layer.group_channels("g") == ["b"]
    layer.send_group("g", {"x": 1})
    assert layer.receive(["a"]) == (None, None)
    assert layer.receive(["b"]) == ("b", {"x": 1})


# -- flush and isolation ----------------------------------------------------------------------


def test_flush_clears_only_its_own_prefix(
    make_layer: LayerFactory, unique_prefix: str, postgres_url: str
) -> None:
    mine, theirs = make_layer(), make_layer(prefix=unique_prefix + "-keep")
    table = f"cc_untouched_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{table} (v int)")
        conn.execute(f"INSERT INTO public.{table} VALUES (42)")
    try:
        for layer in (mine, theirs):
            layer.send("c", {"who": layer.prefix})
            layer.group_add("g", "c")
        assert mine.receive(["nothing-here"]) == (None, None)
        mine.flush()
        assert mine.receive(["c"]) == (None, None)
        assert mine.group_channels("g") == []
        assert theirs.receive(["c"]) == ("c", {"who": theirs.prefix})
        assert theirs.group_channels("g") == ["c"]
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute(f"SELECT v FROM public.{table}").fetchall() == [(42,)]
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE public.{table}")


def test_flush_from_another_process_drops_locally_buffered_inbox_messages(
    make_layer: LayerFactory,
) -> None:
    receiver, flusher = make_layer(), make_layer()
    name = receiver.new_channel("buf!")
    inbox = name[: name.index("!") + 1]
    for n in range(3):
        flusher.send(name, {"n": n})
    assert receiver.receive([inbox], block=True) == (name, {"n": 0})  # 1 and 2 now buffered
    flusher.flush()
    deadline = time.monotonic() + 10
    while receiver.channel_statistics(name)["messages_pending"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert receiver.receive([inbox]) == (None, None)


# -- blocking receive, NOTIFY, async ----------------------------------------------------------


@pytest.mark.timeout(60)
def test_blocked_receiver_is_woken_by_notify_not_by_polling(make_layer: LayerFactory) -> None:
    """With polling effectively off, only the NOTIFY can deliver within blocking_timeout."""
    receiver = make_layer(blocking_timeout=20, poll_interval=60)
    sender = make_layer()
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(receiver.receive(["wake"], block=True)))
    thread.start()
    time.sleep(0.3)
    sender.send("wake", {"up": True})
    thread.join(30)
    assert got == [("wake", {"up": True})]


def test_receive_async_never_blocks_the_loop(make_layer: LayerFactory) -> None:
    layer = make_layer(blocking_timeout=0.5)

    async def main() -> tuple[Any, int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        result = await layer.receive_async(["quiet"])
        stop.set()
        await task
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result == (None, None)
    assert ticks >= 5


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_cancelled_receive_async_never_loses_a_message(make_layer: LayerFactory) -> None:
    receiver, sender = make_layer(blocking_timeout=2), make_layer(capacity=1000)
    total = 150

    async def main() -> list[int]:
        got: list[int] = []

        async def send_all() -> None:
            for n in range(total):
                await asyncio.to_thread(sender.send, "cancel", {"n": n})

        producer = asyncio.create_task(send_all())
        n = 0
        while not producer.done() or len(got) < total:
            n += 1
            task = asyncio.create_task(receiver.receive_async(["cancel"]))
            await asyncio.sleep(0.0005 * (n % 7))
            if n % 3:
                task.cancel()
            try:
                _, message = await task
            except asyncio.CancelledError:
                continue
            if message is not None:
                got.append(message["n"])
            elif producer.done():
                break
        await producer
        return got

    got = asyncio.run(main())
    while True:  # whatever a cancelled receive took is parked for the next receive
        _, message = receiver.receive(["cancel"])
        if message is None:
            break
        got.append(message["n"])
    assert sorted(got) == list(range(total))


# -- statistics, sessions, connections --------------------------------------------------------


def test_statistics_global_and_per_channel(make_layer: LayerFactory) -> None:
    layer = make_layer(capacity=2)
    layer.send("s", {})
    layer.send("s", {})
    with pytest.raises(ChannelFull):
        layer.send("s", {})
    layer.send("t", {})
    layer.receive(["s"])
    channel = layer.channel_statistics("s")
    assert channel["messages_count"] == 2
    assert channel["messages_pending"] == 1
    assert channel["channel_full_count"] == 1
    assert channel["messages_max_age"] >= 0
    overall = layer.global_statistics()
    assert (overall["messages_count"], overall["messages_pending"]) == (3, 2)
    assert overall["channel_full_count"] == 1
    empty = layer.channel_statistics("never-used")
    assert empty == {
        "messages_count": 0,
        "messages_pending": 0,
        "messages_max_age": 0.0,
        "channel_full_count": 0,
    }


def test_session_store_round_trip_and_expiry(make_layer: LayerFactory) -> None:
    layer = make_layer()
    other_process = make_layer()
    store = layer.session_store()
    assert store is layer.session_store()
    store.save("reply.abc", {"user": 1, "raw": b"\x00"}, ttl=60)
    assert other_process.session_store().load("reply.abc") == {"user": 1, "raw": b"\x00"}
    store.save("gone", {"x": 1}, ttl=0.01)
    time.sleep(0.05)
    assert store.load("gone") is None
    store.delete("reply.abc")
    store.delete("reply.abc")
    assert store.load("reply.abc") is None


def test_sessions_are_encrypted_with_the_layers_keys(
    make_layer: LayerFactory, postgres_url: str, unique_prefix: str
) -> None:
    key = "session-key-" + "k" * 32
    make_layer(symmetric_encryption_keys=[key]).session_store().save(
        "reply.abc", {"user": "alice-in-clear"}, ttl=60
    )
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT data FROM channels_core.session WHERE prefix = %s AND key = %s",
            (unique_prefix, "reply.abc"),
        ).fetchone()
    assert row is not None
    assert b"alice-in-clear" not in bytes(row[0])
    rotated = make_layer(symmetric_encryption_keys=["new-key-" + "n" * 32, key])
    assert rotated.session_store().load("reply.abc") == {"user": "alice-in-clear"}
    with pytest.raises(DecryptionError):
        make_layer(symmetric_encryption_keys=["other-" + "o" * 32]).session_store().load(
            "reply.abc"
        )


def _connections(url: str, application_name: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_connection_budget_is_pool_size_plus_one_listener(
    postgres_url: str, unique_prefix: str
) -> None:
    name = f"cc-budget-{uuid.uuid4().hex[:8]}"
    layer = PostgresChannelLayer(
        f"{postgres_url}?application_name={name}", prefix=unique_prefix, pool_size=2,
        blocking_timeout=0.3,
    )  # fmt: skip
    try:

        def work(n: int) -> None:
            for i in range(20):
                layer.send(f"c{n}", {"i": i})
                layer.receive([f"c{n}"], block=bool(i % 2))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        peak = 0
        while any(thread.is_alive() for thread in threads):
            peak = max(peak, _connections(postgres_url, name))
            time.sleep(0.01)
        peak = max(peak, _connections(postgres_url, name))
        assert 1 <= peak <= 3
    finally:
        layer.flush()
        layer.close()
    deadline = time.monotonic() + 5
    while _connections(postgres_url, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections(postgres_url, name) == 0


def test_works_without_prepared_statements(make_layer: LayerFactory) -> None:
    layer = make_layer(prepared_statements=False)
    for n in range(12):  # more than psycopg's prepare threshold
        layer.send("np", {"n": n})
    assert [layer.receive(["np"])[1] for _ in range(12)] == [{"n": n} for n in range(12)]


# -- schema -----------------------------------------------------------------------------------


def _migrate_in_child(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, schema)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_schema_set_up_is_safe_when_processes_start_at_once(postgres_url: str) -> None:
    schema = f"cc_mig_{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_migrate_in_child, args=(postgres_url, schema)) for _ in range(4)
    ]
    try:
        for child in children:
            child.start()
        for child in children:
            child.join(90)
        assert [child.exitcode for child in children] == [0] * 4
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            versions = conn.execute(f"SELECT version FROM {schema}.schema_version").fetchall()
        assert versions == [(n,) for n in range(1, VERSION + 1)]
        layer = PostgresChannelLayer(postgres_url, schema=schema, prefix="mig")
        layer.send("c", {"ok": 1})
        assert layer.receive(["c"]) == ("c", {"ok": 1})
        layer.close()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.mark.timeout(30)
def test_close_wakes_a_blocked_receiver(postgres_url: str, unique_prefix: str) -> None:
    layer = PostgresChannelLayer(
        postgres_url, prefix=unique_prefix, blocking_timeout=20, poll_interval=20
    )
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(layer.receive(["idle"], block=True)))
    thread.start()
    deadline = time.monotonic() + 10
    while (layer._listener is None or not layer._listener.connected) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.01)
    time.sleep(0.1)
    layer.close()
    thread.join(10)
    assert got == [(None, None)]
    layer.close()  # idempotent


def test_own_flush_notification_keeps_messages_taken_after_the_flush(
    make_layer: LayerFactory,
) -> None:
    """The flush NOTIFY arrives after flush() returned: it must not drop what was buffered
    from messages sent after the flush."""
    layer = make_layer(blocking_timeout=0.3)
    name = layer.new_channel("after!")
    inbox = name[: name.index("!") + 1]
    assert layer.receive([inbox], block=True) == (None, None)  # the listener is running
    layer.flush()
    for n in range(3):
        layer.send(name, {"n": n})
    assert layer.receive([inbox]) == (name, {"n": 0})  # 1 and 2 buffered, flush NOTIFY pending
    time.sleep(0.3)  # let the NOTIFY of the flush arrive
    assert [layer.receive([inbox])[1] for _ in range(2)] == [{"n": 1}, {"n": 2}]


def test_listen_url_takes_the_listen_connection_elsewhere(
    postgres_url: str, unique_prefix: str
) -> None:
    """Behind PgBouncer in transaction mode, LISTEN must go straight to PostgreSQL."""
    name = f"cc-listen-{uuid.uuid4().hex[:8]}"
    layer = PostgresChannelLayer(
        postgres_url, prefix=unique_prefix, blocking_timeout=0.3,
        listen_url=f"{postgres_url}?application_name={name}",
    )  # fmt: skip
    try:
        assert layer.receive(["nothing"], block=True) == (None, None)
        assert _connections(postgres_url, name) == 1  # only the listener
        layer.send("nothing", {"x": 1})
        assert layer.receive(["nothing"], block=True) == ("nothing", {"x": 1})
    finally:
        layer.close()


@pytest.mark.timeout(60)
def test_many_coroutines_share_a_bounded_pool_and_get_each_message_once(
    make_layer: LayerFactory,
) -> None:
    receiver = make_layer(blocking_timeout=0.5, pool_size=2)
    sender = make_layer(capacity=1000)
    total = 200

    async def main() -> list[int]:
        got: list[int] = []
        done = asyncio.Event()

        async def consume() -> None:
            while not done.is_set():
                _, message = await receiver.receive_async(["shared"])
                if message is not None:
                    got.append(message["n"])
                    if len(got) >= total:
                        done.set()

        consumers = [asyncio.create_task(consume()) for _ in range(20)]
        for n in range(total):
            await asyncio.to_thread(sender.send, "shared", {"n": n})
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.gather(*consumers)
        return got

    got = asyncio.run(main())
    assert sorted(got) == list(range(total))


def test_notify_only_when_a_receiver_waits_and_once_per_wait(
    make_layer: LayerFactory, postgres_url: str
) -> None:
    """Sends to a queue nobody waits on NOTIFY nothing; a waiting receiver gets one NOTIFY,
    however many messages follow, until it waits again."""
    receiver, sender = make_layer(blocking_timeout=0.2), make_layer(capacity=1000)
    assert receiver.receive(["quiet"], block=True) == (None, None)  # registered as waiting
    listener = receiver._listener
    assert listener is not None
    receiver.close()  # stop its listener: this test watches the NOTIFYs itself
    with psycopg.connect(postgres_url, autocommit=True) as watcher:
        watcher.execute(f'LISTEN "{listener.channel}"')
        for n in range(20):
            sender.send("quiet", {"n": n})
        sender.send("unwatched", {})
        watcher.execute("SELECT 1")  # delivers what was queued for this session
        got = [(n.channel, n.payload) for n in watcher.notifies(timeout=0.5)]
    assert got == [(listener.channel, "quiet")]

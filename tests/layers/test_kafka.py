"""Kafka-specific behaviour beyond the shared suite, against a real broker (the session's Tansu)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from channels_core import load_layer
from channels_core.crypto import DecryptionError
from channels_core.exceptions import ImproperlyConfigured, LayerUnavailable
from layers.kafka.client import KafkaSettings, TopicPartition
from layers.kafka.layer import KafkaChannelLayer
from layers.kafka.naming import TopicNames, escape
from tests.servers import free_port


@pytest.fixture
def make(kafka_url: str, unique_prefix: str) -> Iterator[Any]:
    made: list[KafkaChannelLayer] = []

    def build(**options: Any) -> KafkaChannelLayer:
        layer = load_layer(kafka_url, **{"prefix": unique_prefix, **options})
        assert isinstance(layer, KafkaChannelLayer)
        made.append(layer)
        return layer

    yield build
    for layer in made:
        if not layer.closed:
            layer.flush()
            layer.close()


def _topics(layer: KafkaChannelLayer) -> set[str]:
    return {topic for topic in layer._client.list_topics() if layer._names.owns(topic)}


# -- names and connection strings -------------------------------------------------------------


def test_topic_names_never_collide_on_dot_or_underscore() -> None:
    names = TopicNames("app")
    dotted, underscored = names.queue("a.b"), names.queue("a_b")
    assert dotted != underscored
    assert dotted.replace(".", "_") != underscored.replace(".", "_"), "Kafka would refuse both"
    assert names.queue("x!") != names.queue("x")
    assert escape("a-b_c!d?e") == "a-db-uc-xd-we"
    long_name = "n" * 100
    assert len(TopicNames("p" * 100).queue(long_name)) <= 249


def test_prefix_ownership_is_exact() -> None:
    short, longer = TopicNames("a"), TopicNames("a-b")
    assert short.owns(short.queue("x")) and not short.owns(longer.queue("x"))
    assert longer.owns(longer.queue("x")) and not longer.owns(short.queue("x"))


def test_sasl_and_tls_come_from_the_url() -> None:
    settings = KafkaSettings.parse(
        "kafka+ssl://user:p%40ss@h1:9093,h2", None, "scram-sha-512", "/ca.pem", None, None, True
    )
    assert settings.bootstrap == ["h1:9093", "h2:9092"]
    assert settings.security["security_protocol"] == "SASL_SSL"
    assert settings.security["sasl_mechanism"] == "SCRAM-SHA-512"
    assert settings.security["sasl_plain_password"] == "p@ss"
    assert settings.security["ssl_cafile"] == "/ca.pem"
    plain = KafkaSettings.parse("kafka://u:pw@h:1", None, None, None, None, None, True)
    assert plain.security["security_protocol"] == "SASL_PLAINTEXT"
    assert plain.security["sasl_mechanism"] == "PLAIN"


def test_bad_options_are_named() -> None:
    with pytest.raises(ImproperlyConfigured, match="sasl_mechanism"):
        KafkaSettings.parse("kafka://u:p@h:1", None, "GSSAPI", None, None, None, True)
    with pytest.raises(ImproperlyConfigured, match="'frobnicate'"):
        load_layer("kafka://127.0.0.1:1?frobnicate=1")
    with pytest.raises(ImproperlyConfigured, match="session_timeout_ms"):
        load_layer("kafka://127.0.0.1:1", session_timeout_ms=0)
    with pytest.raises(ImproperlyConfigured, match="request_timeout"):
        load_layer("kafka://127.0.0.1:1?request_timeout=abc")


def test_unreachable_broker_fails_fast_naming_it() -> None:
    port = free_port()
    layer = load_layer(f"kafka://127.0.0.1:{port}?request_timeout=1")
    started = time.monotonic()
    with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{port}"):
        layer.send("nowhere", {"x": 1})
    assert time.monotonic() - started < 10
    layer.close()


# -- what the design promises ---------------------------------------------------------------


def test_group_send_stores_one_record_per_inbox(make: Any) -> None:
    layer = make(capacity=10, channel_capacity={"big!*": 2000})
    members = [layer.new_channel("big!") for _ in range(1000)]
    for member in members:
        layer.group_add("everyone", member)
    inbox = members[0][: members[0].index("!") + 1]
    tp = TopicPartition(layer._names.queue(inbox), 0)
    before = layer._client.end_offsets([tp])[tp]
    layer.send_group("everyone", {"hello": "all"})
    assert layer._client.end_offsets([tp])[tp] == before + 1, "one entry for 1,000 members"
    received = set()
    while True:
        channel, message = layer.receive([inbox])
        if channel is None:
            break
        assert message == {"hello": "all"}
        received.add(channel)
    assert received == set(members)


def test_expired_messages_are_never_delivered_and_evict(make: Any) -> None:
    layer = make(expiry=3)
    layer.receive(["warm"], block=True)  # joins the channel's group (may take seconds)
    layer.send("warm", {"first": True})
    assert layer.receive(["warm"], block=True) == ("warm", {"first": True})
    layer.group_add("room", "warm")
    layer.send("warm", {"old": True})
    time.sleep(3.3)
    assert layer.receive(["warm"]) == (None, None)
    assert layer.group_channels("room") == []


def test_a_first_receive_waits_for_the_group_join_only_when_records_are_pending(
    make: Any,
) -> None:
    """Visibility needs the join only where the channel has records: a first non-blocking
    receive on an empty channel answers from the group's lag (two round trips), while the
    reader is still joining; with a record pending it waits for the join and returns it."""
    sender, empty_reader, busy_reader = make(), make(), make()
    assert empty_reader.receive(["quiet"], block=False) == (None, None)
    assert not empty_reader._readers["quiet"].joined.is_set()  # a Tansu join takes ~0.5 s
    sender.send("busy", {"n": 1})
    assert busy_reader.receive(["busy"], block=False) == ("busy", {"n": 1})
    assert busy_reader._readers["busy"].joined.is_set()


def test_capacity_precision(make: Any) -> None:
    """One sender: exact. Two senders: each re-counts when its own count reaches capacity,
    so together they never exceed capacity by more than one capacity refresh window allows."""
    first = make(capacity=5, capacity_refresh=60)
    second = make(capacity=5, capacity_refresh=60)
    for index in range(5):
        first.send("precise", {"i": index})
    with pytest.raises(first.ChannelFull):
        first.send("precise", {})
    with pytest.raises(second.ChannelFull):  # its first send counts exactly
        second.send("precise", {})
    assert first.receive(["precise"], block=True)[1] == {"i": 0}
    first.send("precise", {"i": 5})  # the receive made room, counted at once
    with pytest.raises(first.ChannelFull):
        first.send("precise", {})
    stats = first.channel_statistics("precise")
    assert stats["messages_pending"] == 5 and stats["channel_full_count"] == 2


def test_inbox_topics_are_removed_on_close(make: Any) -> None:
    layer = make()
    name = layer.new_channel("mine!")
    layer.send(name, {"x": 1})
    assert layer.receive([name[: name.index("!") + 1]]) == (name, {"x": 1})
    inbox_topic = layer._names.queue(name[: name.index("!") + 1])
    assert inbox_topic in _topics(layer)
    observer = make()
    layer.close()
    deadline = time.monotonic() + 10
    while inbox_topic in _topics(observer) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inbox_topic not in _topics(observer)


def test_members_of_a_closed_instance_leave_groups(make: Any) -> None:
    owner = make(liveness_interval=0.2)
    other = make(liveness_interval=0.2)
    member = owner.new_channel("ws!")
    other.group_add("room", member)
    other.group_add("room", "plain")
    time.sleep(0.8)  # owner announced itself at least once
    assert sorted(other.group_channels("room")) == sorted([member, "plain"])
    owner.close()
    assert other.group_channels("room") == ["plain"]


def test_sessions_are_shared_between_layer_objects(make: Any) -> None:
    first, second = make(), make()
    first.session_store().save("reply.abc", {"user": "ann"}, ttl=60)
    assert second.session_store().load("reply.abc") == {"user": "ann"}
    second.session_store().delete("reply.abc")
    assert first.session_store().load("reply.abc") is None


def test_sessions_are_encrypted_with_the_layers_keys(make: Any) -> None:
    key = "session-key-" + "k" * 32
    sealed = make(symmetric_encryption_keys=[key])
    sealed.session_store().save("reply.abc", {"user": "alice-in-clear"}, ttl=60)
    view = make().session_store()._view  # type: ignore[attr-defined]
    view.sync()  # what the session topic holds
    stored = view.entries["reply.abc"][1]
    assert b"alice-in-clear" not in stored
    rotated = make(symmetric_encryption_keys=["new-key-" + "n" * 32, key])
    assert rotated.session_store().load("reply.abc") == {"user": "alice-in-clear"}
    with pytest.raises(DecryptionError):
        make(symmetric_encryption_keys=["other-" + "o" * 32]).session_store().load("reply.abc")


def test_flush_is_seen_by_another_reader_that_already_joined(make: Any) -> None:
    reader, flusher = make(), make()
    reader.send("f", {"before": True})
    assert reader.receive(["f"], block=True) == ("f", {"before": True})
    reader.send("f", {"flushed": True})
    flusher.flush()
    time.sleep(0.2)  # FLUSH_VISIBILITY: a reader that took messages re-reads the control topic
    reader.send("f", {"after": True})
    assert reader.receive(["f"], block=True) == ("f", {"after": True})


def test_housekeeping_starts_once_when_threads_race_for_it(make: Any) -> None:
    layer = make()
    ready = threading.Barrier(16)

    def start() -> None:
        ready.wait()
        layer._start_housekeeping()

    threads = [threading.Thread(target=start) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mine = f"kafka-layer-housekeeping-{layer.client_id}"
    assert [thread.name for thread in threading.enumerate()].count(mine) == 1


# -- native async -------------------------------------------------------------------------------


class _NoWorkerThreads(ThreadPoolExecutor):
    """An executor that fails the test when used: the call ran on a worker thread."""

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a worker thread was used for {args[0]!r}")


def test_async_send_and_receive_of_a_set_up_channel_use_no_worker_thread(make: Any) -> None:
    sender, receiver = make(capacity_refresh=60), make()
    sender.send("native", {"warm": True})  # the topic, the producer, the count: set up
    assert receiver.receive(["native"], block=True) == ("native", {"warm": True})

    async def scenario() -> list[Any]:
        asyncio.get_running_loop().set_default_executor(_NoWorkerThreads())
        assert "!" in await sender.new_channel_async("ws.send!")
        assert "?" in await sender.new_channel_async("reply?")
        for index in range(20):
            await sender.send_async("native", {"i": index})
        # an awaited send is acknowledged: visible to a non-blocking receive elsewhere
        assert receiver.receive(["native"]) == ("native", {"i": 0})
        got = [(await receiver.receive_async(["native"]))[1] for _ in range(19)]
        # a receive that waits for an arrival waits on the loop too
        later = threading.Timer(0.3, sender.send, ("native", {"late": True}))
        later.start()
        got.append((await receiver.receive_async(["native"]))[1])
        later.join()
        return got

    assert asyncio.run(scenario()) == [{"i": index} for index in range(1, 20)] + [{"late": True}]


def test_concurrent_async_sends_count_each_other_before_their_acks(make: Any) -> None:
    """Sends awaiting their acks already count toward capacity: of 60 concurrent sends to a
    channel with room for 19, the 19 first go out; the others need an exact recount (on a
    worker thread, refused here so that the broker's count, which Tansu gets wrong right
    after a multi-record batch, does not decide)."""
    layer = make(capacity=20, capacity_refresh=60)
    layer.send("bounded", {"i": -1})

    async def scenario() -> list[Any]:
        asyncio.get_running_loop().set_default_executor(_NoWorkerThreads())
        sends = [layer.send_async("bounded", {"i": index}) for index in range(60)]
        return await asyncio.gather(*sends, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert outcomes[:19] == [None] * 19
    assert all(isinstance(outcome, AssertionError) for outcome in outcomes[19:])
    assert layer.receive(["bounded"], block=True) == ("bounded", {"i": -1})


# -- the benchmark's broker ---------------------------------------------------------------------


def test_the_benchmark_starts_a_tansu_only_when_kafka_is_wanted_and_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench import targets

    port = free_port()
    monkeypatch.setenv(targets.KAFKA_ENV, f"127.0.0.1:{port}")
    assert targets.local_kafka(["redis"], None) is None  # no Kafka row requested
    broker = targets.local_kafka(["kafka"], None)
    assert broker is not None
    try:
        assert broker.port == port and targets.port_open(port)
        assert targets.local_kafka(None, []) is None  # one answers now: nothing started
        rows, _ = targets.ours(["kafka"], "t", broker.url)
        assert rows and all(row.options["spec"] == broker.url for row in rows)
    finally:
        broker.cleanup()
    assert not targets.port_open(port)

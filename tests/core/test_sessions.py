"""channel_session (per reply channel, pluggable store) and enforce_ordering (strict, slight)."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_core import ConsumeLater, Message, channel_session, enforce_ordering, route, sessions
from channels_core.loading import load_layer
from channels_core.manager import ChannelLayerWrapper
from channels_core.names import check_channel_name
from channels_core.session_store import InMemorySessionStore, SessionData
from channels_core.sessions import (
    NEXT_ORDER_KEY,
    ORIGINAL_CHANNEL_KEY,
    WAIT_CHANNEL_PREFIX,
    wait_channel_name,
)
from channels_core.worker import Worker
from tests.core.corekit import memory_wrapper, running_worker, wait_for


@pytest.fixture
def layer() -> Iterator[ChannelLayerWrapper]:
    wrapper = memory_wrapper()
    yield wrapper
    wrapper.close()


@pytest.fixture(autouse=True)
def no_settings_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHANNELS_SETTINGS_MODULE", raising=False)
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)


def message(layer: Any, reply_channel: str | None = "reply.a", **content: Any) -> Message:
    if reply_channel is not None:
        content["reply_channel"] = reply_channel
    return Message(content, "websocket.receive", layer)


@channel_session
def counter(message: Any) -> int:
    message.channel_session["count"] = message.channel_session.get("count", 0) + 1
    return int(message.channel_session["count"])


def test_session_persists_across_messages_of_one_reply_channel(layer: Any) -> None:
    assert [counter(message(layer)) for _ in range(3)] == [1, 2, 3]


def test_sessions_are_isolated_between_reply_channels(layer: Any) -> None:
    assert counter(message(layer, "reply.a")) == 1
    assert counter(message(layer, "reply.b")) == 1
    assert counter(message(layer, "reply.a")) == 2
    assert counter(message(layer, "ws.send.abc!one")) == 1
    assert counter(message(layer, "ws.send.abc!two")) == 1


def test_sessions_live_in_the_layers_store(layer: Any) -> None:
    counter(message(layer))
    other = ChannelLayerWrapper(layer.channel_layer, "another-alias")
    assert counter(message(other)) == 2  # same raw layer, same store
    with memory_wrapper() as separate:
        assert counter(message(separate)) == 1


def test_session_is_saved_when_the_consumer_raises(layer: Any) -> None:
    @channel_session
    def failing(message: Any) -> None:
        message.channel_session["seen"] = True
        raise RuntimeError("after modifying the session")

    with pytest.raises(RuntimeError):
        failing(message(layer))

    @channel_session
    def read(message: Any) -> Any:
        return message.channel_session.get("seen")

    assert read(message(layer)) is True


def test_message_without_reply_channel(layer: Any) -> None:
    with pytest.raises(ValueError, match=r"no reply_channel.*allow_reply_less=True"):
        counter(message(layer, None))

    @channel_session(allow_reply_less=True)
    def tolerant(message: Any) -> Any:
        return message.channel_session

    assert tolerant(message(layer, None)) is None


def test_stacked_decorators_share_one_session(layer: Any) -> None:
    @channel_session
    @channel_session
    def twice(message: Any) -> Any:
        message.channel_session["x"] = 1
        return message.channel_session

    session = twice(message(layer))

    @channel_session
    def read(message: Any) -> Any:
        return dict(message.channel_session)

    assert read(message(layer)) == {"x": 1}
    assert not session.modified


class CountingStore(InMemorySessionStore):
    saves: list[str] = []

    def save(self, key: str, data: SessionData, ttl: float) -> None:
        self.saves.append(key)
        super().save(key, data, ttl)


def make_store(channel_layer: Any) -> CountingStore:
    return CountingStore()


def test_custom_store_setting_and_save_only_if_modified(
    layer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"session_settings_{os.getpid()}"
    (tmp_path / f"{module}.py").write_text(
        "CHANNEL_SESSION_STORE = 'tests.core.test_sessions.make_store'\nCHANNEL_SESSION_TTL = 5\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CHANNELS_SETTINGS_MODULE", module)
    CountingStore.saves.clear()

    @channel_session
    def reader(message: Any) -> Any:
        return message.channel_session.get("count")

    assert counter(message(layer)) == 1
    assert reader(message(layer)) == 1
    assert counter(message(layer)) == 2
    assert CountingStore.saves == ["channel-session:reply.a"] * 2  # the reader saved nothing
    assert layer.session_store().load("channel-session:reply.a") is None  # not the default


def test_session_values_must_be_message_compatible(layer: Any) -> None:
    @channel_session
    def bad(message: Any) -> None:
        message.channel_session["obj"] = object()

    with pytest.raises(TypeError, match="obj"):
        bad(message(layer))


class MethodConsumer:
    """Consumers written as methods: the message is not the first argument."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    @channel_session
    def receive(self, message: Any, **kwargs: Any) -> int:
        message.channel_session["n"] = message.channel_session.get("n", 0) + 1
        return int(message.channel_session["n"])

    @enforce_ordering
    def ordered(self, message: Any) -> None:
        self.seen.append(message["order"])


def test_channel_session_decorates_a_method(layer: Any) -> None:
    consumer = MethodConsumer()
    assert [consumer.receive(message(layer), room="x") for _ in range(2)] == [1, 2]
    assert consumer.receive(message=message(layer)) == 3  # the message as a keyword too


def test_channel_session_decorates_a_bound_method_and_a_staticmethod(layer: Any) -> None:
    class Handlers:
        def count(self, message: Any) -> int:
            message.channel_session["k"] = message.channel_session.get("k", 0) + 1
            return int(message.channel_session["k"])

        @staticmethod
        @channel_session
        def static(message: Any) -> Any:
            return message.channel_session.get("k")

    wrapped = channel_session(Handlers().count)  # what a class-based consumer does
    assert wrapped(message(layer)) == 1
    assert Handlers.static(message(layer)) == 1


def test_enforce_ordering_decorates_a_method() -> None:
    consumer = MethodConsumer()
    with memory_wrapper() as wrapper:
        for order in (2, 1, 0):
            content = {"reply_channel": "ws.m", "order": order}
            consumer.ordered(Message(content, "websocket.receive", wrapper))
        assert consumer.seen == [0]  # 1 and 2 waited, and went back when 0 had run
        while True:
            channel, content = wrapper.receive(["websocket.receive"])
            if channel is None:
                break
            consumer.ordered(Message(content, channel, wrapper))
        assert consumer.seen == [0, 1, 2]


@pytest.mark.parametrize(
    ("decorator", "name"),
    [
        (channel_session, "channel_session"),
        (channel_session(allow_reply_less=True), "channel_session"),
        (enforce_ordering, "enforce_ordering"),
        (enforce_ordering(slight=True), "enforce_ordering"),
    ],
)
def test_a_call_without_a_message_is_a_value_error_naming_the_decorator(
    decorator: Any, name: str
) -> None:
    calls: list[Any] = []

    @decorator
    def consumer(*args: Any) -> None:
        calls.append(args)

    with pytest.raises(ValueError, match=rf"@{name} on .*consumer: called without a Message"):
        consumer({"reply_channel": "r"}, "websocket.receive")
    with pytest.raises(ValueError, match=rf"@{name}"):
        consumer()
    assert calls == []


# -- enforce_ordering ---------------------------------------------------------------------------


def run_until_idle(worker: Worker, wrapper: Any) -> None:
    while True:
        channel, content = wrapper.receive(worker.channels)
        if channel is None:
            return
        worker.handle(channel, content)


def ordered_consumer(seen: list[tuple[str, int]], **options: Any) -> Any:
    """A consumer recording ``(reply channel, order)``, checking it never sees the wait key."""

    @enforce_ordering(**options)
    def consumer(message: Any) -> None:
        assert ORIGINAL_CHANNEL_KEY not in message.content
        assert not message.channel.name.startswith(WAIT_CHANNEL_PREFIX)
        seen.append((message.reply_channel.name, message["order"]))

    return consumer


def ws_routing(consumer: Any) -> list[Any]:
    return [route("websocket.connect", consumer), route("websocket.receive", consumer)]


def pending(wrapper: Any, channel: str) -> int:
    return int(wrapper.channel_statistics(channel)["messages_pending"])


def test_strict_ordering_runs_messages_in_order() -> None:
    seen: list[tuple[str, int]] = []
    wrapper = memory_wrapper(ws_routing(ordered_consumer(seen)))
    worker = Worker(wrapper, signal_handlers=False)
    orders = list(range(1, 6))
    random.Random(3).shuffle(orders)
    for client in ("ws.a", "ws.b"):
        for order in orders:  # the receives arrive before the connect, shuffled
            wrapper.send("websocket.receive", {"reply_channel": client, "order": order})
        wrapper.send("websocket.connect", {"reply_channel": client, "order": 0})
    run_until_idle(worker, wrapper)
    for client in ("ws.a", "ws.b"):
        assert [order for name, order in seen if name == client] == list(range(6))
        assert pending(wrapper, wait_channel_name(client)) == 0
    assert worker.stats["consumed"] == 12 and worker.stats["parked"] > 0
    assert worker.stats["retried"] == 0 and worker.stats["dropped"] == 0


@pytest.mark.timeout(30)
def test_early_messages_wait_on_an_idle_worker_until_their_turn() -> None:
    seen: list[tuple[str, int]] = []
    with memory_wrapper(ws_routing(ordered_consumer(seen))) as wrapper:
        with running_worker(wrapper) as worker:  # default max_retries: 10
            wrapper.send("websocket.connect", {"reply_channel": "ws.a", "order": 0})
            wait_for(lambda: worker.stats["consumed"] == 1)
            for order in (3, 2):  # 2 and 3 arrive before 1, on a worker with nothing else to do
                wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": order})
            wait_for(lambda: worker.stats["parked"] == 2)
            assert pending(wrapper, wait_channel_name("ws.a")) == 2
            assert pending(wrapper, "websocket.receive") == 0  # parked, not re-queued
            wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": 1})
            wait_for(lambda: len(seen) == 4)
            wait_for(lambda: pending(wrapper, wait_channel_name("ws.a")) == 0)
        assert [order for _, order in seen] == [0, 1, 2, 3]
        assert worker.stats["consumed"] == 4 and worker.stats["retried"] == 0
        assert worker.stats["dropped"] == 0 and worker.stats["failed"] == 0


@pytest.mark.timeout(30)
def test_a_gap_that_never_fills_expires_with_the_layer_and_nothing_loops() -> None:
    seen: list[tuple[str, int]] = []
    routing = ws_routing(ordered_consumer(seen))
    with memory_wrapper(routing, expiry=0.3) as wrapper:
        wait = wait_channel_name("ws.a")
        with running_worker(wrapper) as worker:
            wrapper.send("websocket.connect", {"reply_channel": "ws.a", "order": 0})
            wait_for(lambda: worker.stats["consumed"] == 1)
            for order in (2, 3):  # 1 never comes
                wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": order})
            wait_for(lambda: worker.stats["parked"] == 2)
            wait_for(lambda: pending(wrapper, wait) == 0)  # expired with the layer's expiry
            stats = dict(worker.stats)
            # each message went to the wait channel once, and the receive channel saw no re-queue
            assert wrapper.channel_statistics(wait)["messages_count"] == 2
            assert wrapper.channel_statistics("websocket.receive")["messages_count"] == 2
            wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": 1})
            wait_for(lambda: worker.stats["consumed"] == 2)
        assert stats == {"consumed": 1, "parked": 2}
        assert [order for _, order in seen] == [0, 1]  # 2 and 3 expired unseen


def test_the_wait_channel_is_private_to_its_reply_channel_and_never_routed() -> None:
    seen: list[tuple[str, int]] = []
    wrapper = memory_wrapper(ws_routing(ordered_consumer(seen)))
    worker = Worker(wrapper, signal_handlers=False)
    reply = "ws.send.abc!token"
    wait = wait_channel_name(reply)
    assert not any(name.startswith(WAIT_CHANNEL_PREFIX) for name in worker.channels)
    wrapper.send("websocket.receive", {"reply_channel": reply, "order": 1, "text": "hi"})
    run_until_idle(worker, wrapper)
    assert worker.stats == {"parked": 1} and seen == []
    channel, parked = wrapper.receive([wait])  # what waits: the message plus its channel
    assert channel == wait
    assert parked == {
        "reply_channel": reply,
        "order": 1,
        "text": "hi",
        ORIGINAL_CHANNEL_KEY: "websocket.receive",
    }
    wrapper.send(wait, parked)
    wrapper.send("websocket.connect", {"reply_channel": reply, "order": 0})
    run_until_idle(worker, wrapper)
    assert seen == [(reply, 0), (reply, 1)]  # the consumer checked it never saw the key


def test_a_message_carrying_the_wait_key_never_shows_it_to_the_consumer(layer: Any) -> None:
    seen: list[tuple[str, int]] = []
    consumer = ordered_consumer(seen)
    consumer(message(layer, order=0, **{ORIGINAL_CHANNEL_KEY: "websocket.receive"}))
    assert seen == [("reply.a", 0)]


@pytest.mark.parametrize(
    "reply",
    [
        "reply.a",
        "ws.send.abc!token",
        "reply?xyz",
        "x" * 100,
        "a" * 60 + "!" + "b" * 39,
    ],
)
def test_wait_channel_names_are_valid_channel_names(reply: str) -> None:
    wait = wait_channel_name(reply)
    assert check_channel_name(wait) == wait and len(wait) <= 100
    assert "!" not in wait and "?" not in wait and wait.startswith(WAIT_CHANNEL_PREFIX)


def test_wait_channel_names_differ_between_reply_channels() -> None:
    names = ["a.b!c", "a.b.c", "a.b?c", "x" * 100, "x" * 99 + "y", "ws!" + "t" * 96]
    assert len({wait_channel_name(name) for name in names}) == len(names)
    assert wait_channel_name("reply.a") == "__wait__.reply.a"  # readable when it fits


def test_a_message_parked_while_its_predecessor_completes_is_not_stranded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Worker A reads "next is 1" for message 2; worker B then consumes 1 and finds the wait
    channel empty; only then does A park 2. A must notice and release it."""
    seen: list[tuple[str, int]] = []
    consumer = ordered_consumer(seen)
    wrapper = memory_wrapper(ws_routing(consumer))
    worker = Worker(wrapper, signal_handlers=False)
    store = wrapper.session_store()
    load = store.load
    armed = [True]

    def load_then_let_b_run(key: str) -> SessionData | None:
        data = load(key)
        if armed and data is not None and data.get(NEXT_ORDER_KEY) == 1:
            armed.clear()
            consumer(Message({"reply_channel": "ws.a", "order": 1}, "websocket.receive", wrapper))
        return data  # A goes on with what it read: next is 1

    wrapper.send("websocket.connect", {"reply_channel": "ws.a", "order": 0})
    run_until_idle(worker, wrapper)
    monkeypatch.setattr(store, "load", load_then_let_b_run)
    wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": 2})
    assert worker.handle(*wrapper.receive(["websocket.receive"])) == "parked"
    run_until_idle(worker, wrapper)
    assert [order for _, order in seen] == [0, 1, 2]
    assert pending(wrapper, wait_channel_name("ws.a")) == 0


@pytest.mark.timeout(60)
def test_many_connections_out_of_order_on_two_threads() -> None:
    seen: list[tuple[str, int]] = []
    with memory_wrapper(ws_routing(ordered_consumer(seen)), capacity=1000) as wrapper:
        rng = random.Random(11)
        clients = [f"ws.c{number}" for number in range(20)]
        batch = [
            (client, order) for client in clients for order in range(6)
        ]  # connect 0 and receives 1..5 of every client, all shuffled together
        rng.shuffle(batch)
        with running_worker(wrapper, threads=2) as worker:
            for client, order in batch:
                channel = "websocket.connect" if order == 0 else "websocket.receive"
                wrapper.send(channel, {"reply_channel": client, "order": order})
            wait_for(lambda: len(seen) == len(batch), timeout=20)
        for client in clients:
            assert [order for name, order in seen if name == client] == list(range(6))
            assert pending(wrapper, wait_channel_name(client)) == 0
        assert worker.stats["consumed"] == len(batch)
        assert worker.stats["retried"] == 0 and worker.stats["dropped"] == 0


@pytest.mark.timeout(60)
def test_out_of_order_on_redis_with_the_session_on_the_server(
    redis_url: str, unique_prefix: str
) -> None:
    seen: list[tuple[str, int]] = []
    raw = load_layer(redis_url, prefix=unique_prefix, blocking_timeout=0.1)
    wrapper = ChannelLayerWrapper(raw, "test", ws_routing(ordered_consumer(seen)))
    try:
        with running_worker(wrapper, threads=2) as worker:
            for order in (3, 2, 1):
                wrapper.send("websocket.receive", {"reply_channel": "ws.r", "order": order})
            wait_for(lambda: worker.stats["parked"] >= 3, timeout=20)
            wrapper.send("websocket.connect", {"reply_channel": "ws.r", "order": 0})
            wait_for(lambda: len(seen) == 4, timeout=20)
        assert [order for _, order in seen] == [0, 1, 2, 3]
        assert worker.stats["retried"] == 0 and worker.stats["dropped"] == 0
    finally:
        wrapper.flush()
        wrapper.close()


def test_slight_ordering_only_puts_connect_first() -> None:
    seen: list[tuple[str, int]] = []
    wrapper = memory_wrapper(ws_routing(ordered_consumer(seen, slight=True)))
    worker = Worker(wrapper, signal_handlers=False)
    for order in (3, 1, 2):
        wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": order})
    run_until_idle(worker, wrapper)  # before the connect: all wait, none re-queued
    assert seen == [] and worker.stats == {"parked": 3}
    wrapper.send("websocket.connect", {"reply_channel": "ws.a", "order": 0})
    run_until_idle(worker, wrapper)
    orders = [order for _, order in seen]
    assert orders[0] == 0 and sorted(orders) == [0, 1, 2, 3]
    assert orders == [0, 3, 1, 2]  # after the connect, in arrival order: no ordering
    # once connected, messages run as they come (an early or a repeated order alike)
    for order in (9, 5, 5):
        wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": order})
    run_until_idle(worker, wrapper)
    assert [order for _, order in seen][-3:] == [9, 5, 5]
    assert worker.stats["parked"] == 3 and worker.stats["retried"] == 0


def test_ordering_needs_an_integer_order(layer: Any) -> None:
    @enforce_ordering
    def consumer(message: Any) -> None: ...

    with pytest.raises(ValueError, match="no integer 'order'"):
        consumer(message(layer))


def test_a_full_wait_channel_falls_back_to_consume_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[str, int]] = []
    wrapper = memory_wrapper(ws_routing(ordered_consumer(seen)), channel_capacity={"__wait__.*": 1})
    worker = Worker(wrapper, signal_handlers=False, max_retries=2)
    for order in (1, 2):  # the connect never came; the wait channel holds one message
        wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": order})
    with caplog.at_level(logging.WARNING):
        run_until_idle(worker, wrapper)
    assert worker.stats == {"parked": 1, "retried": 2, "dropped": 1}
    assert "wait channel of 'ws.a' is full" in caplog.text
    assert "still early" in caplog.text and "decorated with @enforce_ordering" in caplog.text


def test_consume_later_from_the_consumer_keeps_its_turn() -> None:
    seen: list[int] = []
    refused: list[int] = []

    @enforce_ordering
    def consumer(message: Any) -> None:
        if message["order"] == 1 and not refused:
            refused.append(1)
            raise ConsumeLater()
        seen.append(message["order"])

    wrapper = memory_wrapper(ws_routing(consumer))
    worker = Worker(wrapper, signal_handlers=False)
    wrapper.send("websocket.connect", {"reply_channel": "ws.a", "order": 0})
    for order in (2, 1):
        wrapper.send("websocket.receive", {"reply_channel": "ws.a", "order": order})
    run_until_idle(worker, wrapper)
    assert seen == [0, 1, 2]  # 1 was not taken for consumed (and dropped as a duplicate)
    assert worker.stats["retried"] == 1 and worker.stats["dropped"] == 0


def test_a_failing_consumer_still_moves_the_connection_on() -> None:
    seen: list[int] = []

    @enforce_ordering
    def consumer(message: Any) -> None:
        seen.append(message["order"])
        if message["order"] == 1:
            raise RuntimeError("a bug in the consumer")

    wrapper = memory_wrapper(ws_routing(consumer))
    worker = Worker(wrapper, signal_handlers=False)
    for order in (2, 1, 0):
        channel = "websocket.connect" if order == 0 else "websocket.receive"
        wrapper.send(channel, {"reply_channel": "ws.a", "order": order})
    run_until_idle(worker, wrapper)
    assert seen == [0, 1, 2]
    assert worker.stats["failed"] == 1 and worker.stats["consumed"] == 2


def test_replies_of_a_consumer_go_out_before_the_messages_it_releases() -> None:
    @enforce_ordering
    def consumer(message: Any) -> None:
        message.reply_channel.send({"order": message["order"]})

    wrapper = memory_wrapper(ws_routing(consumer))
    worker = Worker(wrapper, signal_handlers=False)
    wrapper.send("websocket.receive", {"reply_channel": "ws.out", "order": 1})
    wrapper.send("websocket.connect", {"reply_channel": "ws.out", "order": 0})
    worker.handle(*wrapper.receive(["websocket.receive"]))  # 1 parks
    sent_before = wrapper.channel_statistics("websocket.receive")["messages_count"]
    worker.handle(*wrapper.receive(["websocket.connect"]))  # 0 runs and releases 1
    assert wrapper.receive(["ws.out"])[1] == {"order": 0}
    assert wrapper.channel_statistics("websocket.receive")["messages_count"] == sent_before + 1
    run_until_idle(worker, wrapper)
    assert wrapper.receive(["ws.out"])[1] == {"order": 1}


def test_replies_are_out_before_the_next_order_is_saved(monkeypatch: pytest.MonkeyPatch) -> None:
    # Once the next order is saved, another worker may run the connection's next message at
    # once: the replies of this one must already be on their way, not still buffered.
    @enforce_ordering
    def consumer(message: Any) -> None:
        message.reply_channel.send({"order": message["order"]})

    wrapper = memory_wrapper(ws_routing(consumer))
    at_save: list[Any] = []
    real_release = sessions.release_waiting

    def release_and_look(channel_layer: Any, reply_channel: str) -> int:
        saved = sessions.session_for_reply_channel(channel_layer, reply_channel)
        at_save.append((saved[NEXT_ORDER_KEY], wrapper.receive(["ws.out"])))
        return real_release(channel_layer, reply_channel)

    monkeypatch.setattr(sessions, "release_waiting", release_and_look)
    worker = Worker(wrapper, signal_handlers=False)
    wrapper.send("websocket.connect", {"reply_channel": "ws.out", "order": 0})
    worker.handle(*wrapper.receive(["websocket.connect"]))
    assert at_save == [(1, ("ws.out", {"order": 0}))]


def test_the_consumers_session_is_saved_before_its_replies_go_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A client that got the reply may send its next message (here: a disconnect that is not
    # ordered) at once: the state the reply speaks of must already be in the store.
    @enforce_ordering
    def consumer(message: Any) -> None:
        message.channel_session["seen"] = message["order"]
        message.reply_channel.send({"seen": message["order"]})

    wrapper = memory_wrapper(ws_routing(consumer))
    saves: list[tuple[Any, int]] = []
    real_save = sessions.ChannelSession.save

    def save_and_look(self: Any) -> None:
        saves.append((self.get("seen"), pending(wrapper, "ws.out")))
        real_save(self)

    monkeypatch.setattr(sessions.ChannelSession, "save", save_and_look)
    worker = Worker(wrapper, signal_handlers=False)
    wrapper.send("websocket.connect", {"reply_channel": "ws.out", "order": 0})
    worker.handle(*wrapper.receive(["websocket.connect"]))
    assert saves[0] == (0, 0)  # saved while the reply was still buffered
    assert saves[-1] == (0, 1)  # the next order saved once it was out


def test_already_consumed_order_is_dropped_not_retried(
    layer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[int] = []

    @enforce_ordering
    def consumer(message: Any) -> None:
        seen.append(message["order"])

    consumer(message(layer, order=0))
    consumer(message(layer, order=0))  # a duplicate
    assert seen == [0]
    assert "already consumed" in caplog.text


DJANGO_DEFAULT_STORE = """
import django
from channels_core.manager import ChannelLayerWrapper
from channels_core.sessions import session_store_for
from layers.inmemory import InMemoryChannelLayer

django.setup()
layer = ChannelLayerWrapper(InMemoryChannelLayer(), "default")
print(type(session_store_for(layer)).__name__)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("apps", "expected"),
    [
        (["django.contrib.sessions", "channels_core.django"], "DjangoSessionStore"),
        (["django.contrib.sessions"], "InMemorySessionStore"),
    ],
)
def test_django_session_engine_is_the_default_store_with_the_django_app(
    tmp_path: Path, apps: list[str], expected: str
) -> None:
    import subprocess
    import sys

    (tmp_path / "djsessions_settings.py").write_text(
        f"SECRET_KEY = 'x'\nINSTALLED_APPS = {apps!r}\n"
        "SESSION_ENGINE = 'django.contrib.sessions.backends.cache'\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}",
        "DJANGO_SETTINGS_MODULE": "djsessions_settings",
    }
    env.pop("CHANNELS_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_DEFAULT_STORE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected

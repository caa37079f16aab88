"""The worker: routing, buffering, ConsumeLater, errors, unrouted messages, threads, SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from channels_core import (
    Channel,
    ConsumeLater,
    Group,
    ImproperlyConfigured,
    LayerUnavailable,
    MessageTooLarge,
    route,
)
from channels_core.exceptions import DenyConnection, WebsocketCloseException
from channels_core.manager import ChannelLayerWrapper
from channels_core.routing import Router
from channels_core.worker import Worker, select_channels
from tests.core.corekit import memory_wrapper, running_worker, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_consumer_runs_with_kwargs_and_replies() -> None:
    def echo(message: Any, word: str) -> None:
        message.reply_channel.send({"echo": word, "channel": message.channel.name})

    layer = memory_wrapper([route("req", echo, path=r"^/(?P<word>\w+)$")])
    with running_worker(layer) as worker:
        layer.send("req", {"path": "/hello", "reply_channel": "rep"})
        wait_for(lambda: worker.stats["consumed"] == 1)
    assert layer.receive(["rep"]) == ("rep", {"echo": "hello", "channel": "req"})


def test_handle_returns_the_outcome_and_buffers_until_return() -> None:
    seen: list[Any] = []

    def consumer(message: Any) -> None:
        Channel("out", channel_layer=message.channel_layer).send({"n": 1})
        seen.append(message.channel_layer.receive(["out"]))  # not sent yet

    layer = memory_wrapper([route("in", consumer)])
    worker = Worker(layer, signal_handlers=False)
    assert worker.handle("in", {}) == "consumed"
    assert seen == [(None, None)]
    assert layer.receive(["out"]) == ("out", {"n": 1})


def test_buffered_sends_are_flushed_when_the_consumer_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing(message: Any) -> None:
        Channel("out", channel_layer=message.channel_layer).send({"before": "error"})
        Group("g", channel_layer=message.channel_layer).send({"group": 1})
        raise ValueError("consumer bug")

    layer = memory_wrapper([route("in", failing)])
    layer.group_add("g", "member")
    worker = Worker(layer, signal_handlers=False)
    with caplog.at_level(logging.ERROR, "channels_core.worker"):
        assert worker.handle("in", {}) == "failed"
    assert "consumer bug" in caplog.text and "Traceback" in caplog.text
    assert layer.receive(["out"]) == ("out", {"before": "error"})
    assert layer.receive(["member"]) == ("member", {"group": 1})


def test_consume_later_requeues_at_the_back_counting_retries() -> None:
    attempts: list[int] = []

    def later_twice(message: Any) -> None:
        attempts.append(message.retries)
        Channel("out", channel_layer=message.channel_layer).send({"try": message.retries})
        if message.retries < 2:
            raise ConsumeLater()

    layer = memory_wrapper([route("in", later_twice)])
    worker = Worker(layer, signal_handlers=False)
    layer.send("in", {"id": "a"})
    layer.send("in", {"id": "b"})
    order = []
    while True:
        channel, content = layer.receive(["in"])
        if channel is None:
            break
        order.append((content["id"], content.get("__retries__", 0)))
        worker.handle(channel, content)
    # "a" went to the back, behind "b", each time
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert worker.stats["retried"] == 4 and worker.stats["consumed"] == 2
    # only the sends of the successful runs went out: ConsumeLater discards the buffer
    assert [layer.receive(["out"])[1] for _ in range(2)] == [{"try": 2}, {"try": 2}]
    assert layer.receive(["out"]) == (None, None)


def test_consume_later_drops_after_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def never(message: Any) -> None:
        calls.append(message.last_attempt)
        raise ConsumeLater()

    layer = memory_wrapper([route("in", never)])
    worker = Worker(layer, signal_handlers=False, max_retries=3)
    layer.send("in", {})
    with caplog.at_level(logging.WARNING, "channels_core.worker"):
        while True:
            channel, content = layer.receive(["in"])
            if channel is None:
                break
            worker.handle(channel, content)
    assert len(calls) == 4  # first run + 3 retries
    assert calls == [False, False, False, True]
    assert worker.stats["dropped"] == 1 and worker.stats["retried"] == 3
    assert "later 4 times: dropped" in caplog.text


def test_default_max_retries_is_ten() -> None:
    layer = memory_wrapper([route("in", lambda m: None)])
    assert Worker(layer, signal_handlers=False).max_retries == 10


def test_consume_later_on_a_full_channel_drops_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def later(message: Any) -> None:
        message.channel_layer.send("in", {"filler": True})  # fills the channel (capacity 1)
        raise ConsumeLater()

    layer = memory_wrapper([route("in", later)], capacity=1)
    worker = Worker(layer, signal_handlers=False)
    assert worker.handle("in", {}) == "dropped"
    assert "channel is full" in caplog.text


def test_unmatched_message_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    layer = memory_wrapper([route("in", lambda m: None, path=r"^/only$")])
    with running_worker(layer) as worker:
        layer.send("in", {"path": "/other"})
        wait_for(lambda: worker.stats["unrouted"] == 1)
    assert "no route for a message on 'in'" in caplog.text
    assert layer.receive(["in"]) == (None, None)


def test_the_worker_goes_on_after_a_consumer_exception() -> None:
    def sometimes(message: Any) -> None:
        if message["n"] % 2:
            raise RuntimeError("odd")
        message.reply_channel.send({"n": message["n"]})

    layer = memory_wrapper([route("in", sometimes)])
    with running_worker(layer) as worker:
        for n in range(6):
            layer.send("in", {"n": n, "reply_channel": "rep"})
        wait_for(lambda: worker.stats["consumed"] + worker.stats["failed"] == 6)
    assert worker.stats == {"consumed": 3, "failed": 3}
    assert sorted(layer.receive(["rep"])[1]["n"] for _ in range(3)) == [0, 2, 4]


def test_several_threads_consume_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def meet(message: Any) -> None:
        barrier.wait()  # only passes if three consumers run at the same time

    layer = memory_wrapper([route("in", meet)])
    with running_worker(layer, threads=3) as worker:
        for _ in range(3):
            layer.send("in", {})
        wait_for(lambda: worker.stats["consumed"] == 3)


def test_only_and_exclude_channel_globs() -> None:
    assert select_channels(["http.request", "websocket.connect", "websocket.receive"]) == [
        "http.request",
        "websocket.connect",
        "websocket.receive",
    ]
    assert select_channels(["http.request", "websocket.connect"], ["websocket.*"]) == [
        "websocket.connect"
    ]
    assert select_channels(
        ["http.request", "websocket.connect", "websocket.receive"],
        None,
        ["websocket.rec*"],
    ) == ["http.request", "websocket.connect"]
    layer = memory_wrapper([route("a", lambda m: None), route("b", lambda m: None)])
    assert Worker(layer, only_channels=["b"], signal_handlers=False).channels == ["b"]
    with pytest.raises(ImproperlyConfigured, match="no channels to listen on"):
        Worker(layer, exclude_channels=["*"], signal_handlers=False)


def test_bad_worker_options_are_clear_errors() -> None:
    layer = memory_wrapper([route("a", lambda m: None)])
    with pytest.raises(ImproperlyConfigured, match="threads"):
        Worker(layer, threads=0)
    with pytest.raises(ImproperlyConfigured, match="max_retries"):
        Worker(layer, max_retries=-1)
    with pytest.raises(ImproperlyConfigured, match="no router"):
        Worker(layer.channel_layer)


def test_stop_returns_promptly_when_idle() -> None:
    layer = memory_wrapper([route("a", lambda m: None)])
    with running_worker(layer, threads=2):
        time.sleep(0.05)
    # running_worker asserts the threads ended


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from channels_core import route
    from channels_core.manager import ChannelLayerWrapper
    from channels_core.worker import Worker
    from layers.inmemory import InMemoryChannelLayer

    marks = Path(sys.argv[1])

    def slow(message):
        with marks.open("a") as f:
            f.write(f"start {message['n']}\\n")
        time.sleep(1.0)
        with marks.open("a") as f:
            f.write(f"done {message['n']}\\n")

    layer = ChannelLayerWrapper(
        InMemoryChannelLayer(blocking_timeout=0.2), "default", [route("slow", slow)]
    )
    for n in range(3):
        layer.send("slow", {"n": n})
    worker = Worker(layer, threads=int(sys.argv[2]))
    worker.run()
    with marks.open("a") as f:
        f.write(f"exit {dict(worker.stats)}\\n")
    """
)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("threads", [1, 2])
def test_sigterm_finishes_the_current_message_then_exits(tmp_path: Path, threads: int) -> None:
    marks = tmp_path / "marks.txt"
    script = tmp_path / "worker_script.py"
    script.write_text(SIGTERM_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(marks), str(threads)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # every thread is busy with a message (1 s each) when the signal arrives
        wait_for(lambda: marks.exists() and marks.read_text().count("start") == threads, 15)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    lines = marks.read_text().splitlines()
    assert process.returncode == 0, stderr.decode()
    started = [line for line in lines if line.startswith("start")]
    done = [line for line in lines if line.startswith("done")]
    assert len(started) == threads  # nothing new started after the signal
    assert len(done) == len(started)  # every message in progress completed
    assert lines[-1] == f"exit {{'consumed': {threads}}}"
    assert b"SIGTERM" in stderr


class FlakyLayer:
    """Passes everything to a real layer, but its first receives fail like a lost server."""

    def __init__(self, layer: Any, failures: int) -> None:
        self.layer = layer
        self.failures = failures

    def receive(self, channels: list[str], block: bool = False) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise LayerUnavailable("cannot reach 127.0.0.1:1 (test)")
        return self.layer.receive(channels, block)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.layer, name)


def test_worker_survives_receive_failures_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    inner = memory_wrapper([route("in", lambda m: m.reply_channel.send({"ok": True}))])
    flaky = ChannelLayerWrapper(FlakyLayer(inner.channel_layer, 2), "flaky", inner.routing)
    inner.send("in", {"reply_channel": "rep"})
    with running_worker(flaky) as worker:
        wait_for(lambda: worker.stats["consumed"] == 1)
    assert caplog.text.count("receive failed") == 2
    assert inner.receive(["rep"]) == ("rep", {"ok": True})


def test_worker_exits_when_the_layer_is_closed() -> None:
    layer = memory_wrapper([route("in", lambda m: None)])
    worker = Worker(layer, signal_handlers=False, threads=2)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    layer.close()
    thread.join(5)
    assert not thread.is_alive()


def test_malformed_retry_counter_is_treated_as_zero() -> None:
    seen = []
    layer = memory_wrapper([route("in", lambda m: seen.append(m.retries))])
    worker = Worker(layer, signal_handlers=False)
    assert worker.handle("in", {"__retries__": "lots"}) == "consumed"
    assert worker.handle("in", {"__retries__": True}) == "consumed"
    assert seen == [0, 0]


def test_too_large_reply_is_a_consumer_error_and_other_sends_still_go_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def consumer(message: Any) -> None:
        message.reply_channel.send({"first": True})
        message.reply_channel.send({"huge": b"x" * (2 * 1024 * 1024)})

    layer = memory_wrapper([route("in", consumer)])
    worker = Worker(layer, signal_handlers=False)
    assert worker.handle("in", {"reply_channel": "rep"}) == "failed"
    assert "MessageTooLarge" in caplog.text
    assert layer.receive(["rep"]) == ("rep", {"first": True})


def test_process_specific_channels_are_routed_by_their_prefix() -> None:
    got: list[str] = []
    layer = memory_wrapper([route("ws.send!", lambda m: got.append(m.channel.name))])
    name = "ws.send!abc123"  # received by whoever asks for "ws.send!"
    with running_worker(layer) as worker:
        assert worker.channels == ["ws.send!"]
        layer.send(name, {})
        wait_for(lambda: worker.stats["consumed"] == 1)
    assert got == [name]


# -- nothing raised outside a consumer ends a worker thread --------------------------------------


def largest_accepted_payload(layer: Any, channel: str) -> dict[str, Any]:
    """A message the layer just accepts: one more field (``__retries__``) pushes it over."""
    size = layer.message_size_limit
    while size > 0:
        content = {"data": b"x" * size}
        try:
            layer.send(channel, content)
        except MessageTooLarge:
            size -= 1
            continue
        assert layer.receive([channel]) == (channel, content)
        return content
    raise AssertionError("the layer accepts no payload at all")


def test_a_requeue_over_the_size_limit_is_dropped_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def later(message: Any) -> None:
        if "data" in message:
            raise ConsumeLater()
        message.reply_channel.send({"ok": True})

    layer = memory_wrapper([route("in", later)], message_size_limit=2048)
    big = largest_accepted_payload(layer, "in")
    with running_worker(layer) as worker:
        layer.send("in", big)
        layer.send("in", {"reply_channel": "rep"})
        wait_for(lambda: worker.stats["dropped"] == 1 and worker.stats["consumed"] == 1)
    assert "cannot re-queue a message on 'in'" in caplog.text
    assert "MessageTooLarge" in caplog.text
    assert layer.receive(["rep"]) == ("rep", {"ok": True})


class RequeueFailsLayer:
    """A real layer whose sends of re-queued messages fail like a broker blip."""

    def __init__(self, layer: Any, error: Exception) -> None:
        self.layer = layer
        self.error = error

    def send(self, channel: str, content: dict[str, Any]) -> None:
        if "__retries__" in content:
            raise self.error
        self.layer.send(channel, content)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.layer, name)


@pytest.mark.parametrize(
    "error",
    [LayerUnavailable("cannot reach 127.0.0.1:1 (test)"), RuntimeError("a layer bug")],
    ids=["unavailable", "bug"],
)
def test_a_requeue_the_layer_refuses_is_dropped_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    def later(message: Any) -> None:
        if message.get("later"):
            raise ConsumeLater()
        message.reply_channel.send({"ok": True})

    inner = memory_wrapper([route("in", later)])
    layer = ChannelLayerWrapper(RequeueFailsLayer(inner.channel_layer, error), "t", inner.routing)
    with running_worker(layer) as worker:
        inner.send("in", {"later": True})
        inner.send("in", {"reply_channel": "rep"})
        wait_for(lambda: worker.stats["dropped"] == 1 and worker.stats["consumed"] == 1)
    assert type(error).__name__ in caplog.text
    assert inner.receive(["rep"]) == ("rep", {"ok": True})


class PoisonRouter(Router):
    """A router with a bug that only some messages trigger."""

    def match(self, message: Any) -> Any:
        if message.get("poison"):
            raise RuntimeError("router bug")
        return super().match(message)


def test_an_error_outside_the_consumer_is_dropped_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    routing = [route("in", lambda m: m.reply_channel.send({"n": m["n"]}))]
    layer = memory_wrapper(routing)
    layer._router = PoisonRouter(routing)
    with running_worker(layer) as worker:
        for n in range(3):
            layer.send("in", {"poison": True, "n": n})
            layer.send("in", {"n": n, "reply_channel": "rep"})
        wait_for(lambda: worker.stats["dropped"] == 3 and worker.stats["consumed"] == 3)
    assert caplog.text.count("failed outside its consumer") == 3
    assert sorted(layer.receive(["rep"])[1]["n"] for _ in range(3)) == [0, 1, 2]


def test_a_failing_on_message_callback_is_logged_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def callback(outcome: str, channel: str) -> None:
        raise RuntimeError("callback bug")

    layer = memory_wrapper([route("in", lambda m: None)])
    with running_worker(layer, on_message=callback) as worker:
        for _ in range(3):
            layer.send("in", {})
        wait_for(lambda: worker.stats["consumed"] == 3)
    assert caplog.text.count("the on_message callback failed") == 3


def test_deny_connection_and_websocket_close_act_on_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def connect(message: Any) -> None:
        raise DenyConnection()

    def receive(message: Any) -> None:
        if message["text"] == "bye":
            raise WebsocketCloseException(4001)
        raise DenyConnection()  # too late: only a connect consumer can refuse

    layer = memory_wrapper(
        [route("websocket.connect", connect), route("websocket.receive", receive)]
    )
    worker = Worker(layer, signal_handlers=False)
    assert worker.handle("websocket.connect", {"reply_channel": "websocket.a"}) == "consumed"
    assert layer.receive(["websocket.a"]) == ("websocket.a", {"close": True})
    bye = {"reply_channel": "websocket.a", "text": "bye"}
    assert worker.handle("websocket.receive", bye) == "consumed"
    assert layer.receive(["websocket.a"]) == ("websocket.a", {"close": 4001})
    hello = {"reply_channel": "websocket.a", "text": "hello"}
    assert worker.handle("websocket.receive", hello) == "failed"
    assert "only a websocket.connect consumer can refuse" in caplog.text
    assert layer.receive(["websocket.a"]) == (None, None)


@pytest.mark.parametrize("code", [999, 1001, 2999, 5000, "4000", True])
def test_websocket_close_codes_are_checked(code: Any) -> None:
    with pytest.raises(ValueError, match="invalid WebSocket close code"):
        WebsocketCloseException(code)
    assert WebsocketCloseException(1000).code == 1000
    assert WebsocketCloseException().code is None

"""The ASGI 3 bridge driven directly (no server process): the message formats, backpressure,
timeouts and disconnects, on the in-memory layer with a worker thread where one is needed."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from channels_core.bridge import BridgeApplication
from channels_core.manager import ChannelLayerWrapper
from channels_core.worker import Worker
from layers.inmemory import InMemoryChannelLayer
from tests.web import app as web_app

Event = dict[str, Any]


def http_scope(method: str = "GET", path: str = "/hello") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"a=1",
        "root_path": "",
        "headers": [(b"Host", b"example.com"), (b"X-Twice", b"1"), (b"X-Twice", b"2")],
        "client": ("10.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


class Client:
    """Plays the ASGI 3 server: feeds ``events`` to the app, records what it sends."""

    def __init__(self, events: list[Event]) -> None:
        self.inbound: asyncio.Queue[Event] = asyncio.Queue()
        for event in events:
            self.inbound.put_nowait(event)
        self.sent: list[Event] = []
        self.changed = asyncio.Event()

    async def receive(self) -> Event:
        return await self.inbound.get()

    async def send(self, event: Event) -> None:
        self.sent.append(event)
        self.changed.set()

    def response(self) -> tuple[int, bytes]:
        start = next(event for event in self.sent if event["type"] == "http.response.start")
        body = b"".join(e.get("body", b"") for e in self.sent if e["type"] == "http.response.body")
        return start["status"], body


@pytest.fixture
def layer() -> Iterator[ChannelLayerWrapper]:
    wrapper = ChannelLayerWrapper(
        InMemoryChannelLayer(blocking_timeout=0.2), "default", web_app.routing
    )
    yield wrapper
    wrapper.close()


@pytest.fixture
def worker(layer: ChannelLayerWrapper) -> Iterator[Worker]:
    running = Worker(layer, signal_handlers=False, threads=2)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    yield running
    running.stop()
    thread.join(5)


def run(app: BridgeApplication, scope: dict[str, Any], client: Client, timeout: float = 10) -> None:
    async def scenario() -> None:
        try:
            await asyncio.wait_for(app(scope, client.receive, client.send), timeout)
        finally:
            await app.shutdown()

    asyncio.run(scenario())


def test_http_request_message_format(layer: ChannelLayerWrapper) -> None:
    app = BridgeApplication(layer, http_timeout=0.5)
    client = Client([{"type": "http.request", "body": b"abc", "more_body": False}])
    run(app, http_scope("POST", "/caf\u00e9"), client)
    channel, message = layer.receive(["http.request"])
    assert channel == "http.request"
    assert message["reply_channel"].startswith("bridge.response.")
    assert "!" in message["reply_channel"]
    assert message["method"] == "POST" and message["path"] == "/caf\u00e9"
    assert message["query_string"] == b"a=1" and message["body"] == b"abc"
    assert message["headers"] == [[b"host", b"example.com"], [b"x-twice", b"1"], [b"x-twice", b"2"]]
    assert message["client"] == ["10.0.0.1", 5000] and message["server"] == ["127.0.0.1", 8000]
    assert message["http_version"] == "1.1" and message["scheme"] == "http"
    assert "body_channel" not in message
    # Nobody answered within http_timeout: 503, as daphne 1.x.
    assert client.response()[0] == 503


def test_full_request_channel_answers_503_at_once(layer: ChannelLayerWrapper) -> None:
    app = BridgeApplication(layer)
    for _ in range(layer.capacity):
        layer.send("http.request", {"filler": True})
    client = Client([{"type": "http.request", "body": b"", "more_body": False}])
    run(app, http_scope(), client, timeout=2)
    status, body = client.response()
    assert status == 503 and b"Request queue full" in body


def test_worker_answers_through_the_bridge(layer: ChannelLayerWrapper, worker: Worker) -> None:
    app = BridgeApplication(layer)
    client = Client([{"type": "http.request", "body": b"", "more_body": False}])
    run(app, http_scope(), client)
    assert client.response() == (200, b"hello")
    stream = Client([{"type": "http.request", "body": b"", "more_body": False}])
    run(app, http_scope(path="/stream"), stream)
    assert stream.response() == (200, b"one two three")
    assert [e.get("more_body") for e in stream.sent if e["type"] == "http.response.body"] == [
        True,
        True,
        False,
    ]


def test_large_body_goes_in_chunks_on_a_body_channel(
    layer: ChannelLayerWrapper, worker: Worker
) -> None:
    app = BridgeApplication(layer, body_chunk_size=1000)
    pieces = [bytes([n]) * 700 for n in range(10)]  # 7,000 bytes in events of 700
    events = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    events[-1]["more_body"] = False
    client = Client(events)
    run(app, http_scope("POST", "/upload"), client)
    body = b"".join(pieces)
    assert client.response() == (200, f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode())


def test_client_gone_mid_body_closes_the_body_channel(layer: ChannelLayerWrapper) -> None:
    app = BridgeApplication(layer, body_chunk_size=10)
    client = Client(
        [
            {"type": "http.request", "body": b"x" * 10, "more_body": True},
            {"type": "http.request", "body": b"y" * 10, "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    run(app, http_scope("POST", "/upload"), client)
    _, request = layer.receive(["http.request"])
    assert request["body"] == b"x" * 10
    chunks = [layer.receive([request["body_channel"]])[1] for _ in range(2)]
    assert chunks == [
        {"content": b"y" * 10, "more_content": True},
        {"closed": True, "more_content": False},
    ]


def test_client_gone_before_the_response_sends_http_disconnect(
    layer: ChannelLayerWrapper,
) -> None:
    app = BridgeApplication(layer)
    client = Client([{"type": "http.request", "body": b"", "more_body": False}])

    async def scenario() -> None:
        task = asyncio.create_task(app(http_scope(path="/poll"), client.receive, client.send))
        await asyncio.sleep(0.1)
        client.inbound.put_nowait({"type": "http.disconnect"})
        await asyncio.wait_for(task, 5)
        await app.shutdown()

    asyncio.run(scenario())
    _, request = layer.receive(["http.request"])
    assert layer.receive(["http.disconnect"]) == (
        "http.disconnect",
        {"reply_channel": request["reply_channel"], "path": "/poll"},
    )
    assert client.sent == []


def ws_scope(path: str) -> dict[str, Any]:
    return {**http_scope(path=path), "type": "websocket", "scheme": "ws"}


def test_websocket_messages_and_order(layer: ChannelLayerWrapper) -> None:
    """connect (order 0), frames (1, 2), replies written back, disconnect (order 3)."""
    app = BridgeApplication(layer)
    client = Client([{"type": "websocket.connect"}])

    async def scenario() -> None:
        task = asyncio.create_task(app(ws_scope("/room"), client.receive, client.send))
        connect = await _next_message(layer, "websocket.connect")
        assert connect["order"] == 0 and connect["path"] == "/room"
        reply = connect["reply_channel"]
        layer.send(reply, {"accept": True})
        await _sent(client, 1)
        client.inbound.put_nowait({"type": "websocket.receive", "text": "hi"})
        client.inbound.put_nowait({"type": "websocket.receive", "bytes": b"\x01"})
        first = await _next_message(layer, "websocket.receive")
        second = await _next_message(layer, "websocket.receive")
        assert (first["text"], first["order"]) == ("hi", 1)
        assert (second["bytes"], second["order"]) == (b"\x01", 2)
        layer.send(reply, {"text": "back"})
        layer.send(reply, {"text": "a", "bytes": b"b"})  # both: ignored, as ASGI 1.0 asks
        layer.send(reply, {"bytes": b"raw", "close": 4001})
        await asyncio.wait_for(task, 5)
        await app.shutdown()
        gone = await _next_message(layer, "websocket.disconnect")
        assert gone == {"reply_channel": reply, "code": 4001, "path": "/room", "order": 3}

    asyncio.run(scenario())
    assert [e["type"] for e in client.sent] == [
        "websocket.accept",
        "websocket.send",
        "websocket.send",
        "websocket.close",
    ]
    assert client.sent[1]["text"] == "back" and client.sent[2]["bytes"] == b"raw"
    assert client.sent[3]["code"] == 4001


def test_websocket_rejected_when_connect_is_full_or_unanswered(
    layer: ChannelLayerWrapper,
) -> None:
    app = BridgeApplication(layer, websocket_connect_timeout=0.3)
    unanswered = Client([{"type": "websocket.connect"}])
    run(app, ws_scope("/nobody"), unanswered)
    assert unanswered.sent == [{"type": "websocket.close"}]  # before accept: HTTP 403
    while layer.receive(["websocket.connect"])[0] is not None:
        pass
    for _ in range(layer.capacity):
        layer.send("websocket.connect", {"filler": True})
    full = Client([{"type": "websocket.connect"}])
    run(app, ws_scope("/full"), full)
    assert full.sent == [{"type": "websocket.close", "code": 1013}]


def test_websocket_receive_that_stays_full_closes_with_1013(layer: ChannelLayerWrapper) -> None:
    app = BridgeApplication(layer)
    client = Client([{"type": "websocket.connect"}])

    async def scenario() -> None:
        task = asyncio.create_task(app(ws_scope("/busy"), client.receive, client.send))
        connect = await _next_message(layer, "websocket.connect")
        layer.send(connect["reply_channel"], {"accept": True})
        await _sent(client, 1)
        for _ in range(layer.capacity):
            layer.send("websocket.receive", {"filler": True})
        client.inbound.put_nowait({"type": "websocket.receive", "text": "one too many"})
        await asyncio.wait_for(task, 5)
        await app.shutdown()

    asyncio.run(scenario())
    assert client.sent[-1] == {"type": "websocket.close", "code": 1013}


def test_replies_for_unknown_connections_are_dropped_and_counted(
    layer: ChannelLayerWrapper,
) -> None:
    app = BridgeApplication(layer)

    async def scenario() -> int:
        replies = await app.replies()
        layer.send(replies.inbox + "gone", {"text": "late"})
        for _ in range(100):
            if replies.unrouted:
                break
            await asyncio.sleep(0.01)
        await app.shutdown()
        return replies.unrouted

    assert asyncio.run(scenario()) == 1


def test_lifespan_opens_the_inbox_and_reports_a_broken_layer() -> None:
    app = BridgeApplication("redis://127.0.0.1:1/0?blocking_timeout=0.2")
    sent: list[Event] = []
    events = asyncio.Queue[Event]()
    events.put_nowait({"type": "lifespan.startup"})

    async def send(event: Event) -> None:
        sent.append(event)

    asyncio.run(app({"type": "lifespan"}, events.get, send))
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "127.0.0.1" in sent[0]["message"]


async def _next_message(layer: Any, channel: str, wait: float = 5) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        name, message = layer.receive([channel])
        if name is not None:
            return dict(message)
        await asyncio.sleep(0.005)
    raise AssertionError(f"nothing arrived on {channel!r}")


async def _sent(client: Client, count: int, wait: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while len(client.sent) < count:
        if loop.time() > deadline:
            raise AssertionError(f"the bridge sent {client.sent}, expected {count} events")
        client.changed.clear()
        try:
            await asyncio.wait_for(client.changed.wait(), 0.05)
        except TimeoutError:
            pass

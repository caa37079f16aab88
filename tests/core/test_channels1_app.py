"""The Channels 1.x app of ``channels1_app.py`` end to end through a worker, as Daphne 1.x
would drive it (bytes paths, ``order`` on WebSocket messages), on the in-memory layer and on
Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from channels_core.loading import load_layer
from channels_core.manager import ChannelLayerWrapper, channel_layers
from channels_core.names import inbox_name
from channels_core.worker import Worker
from tests.core import channels1_app
from tests.core.corekit import running_worker, wait_for


@pytest.fixture(params=["inmemory", "redis"])
def app_layer(request: pytest.FixtureRequest, unique_prefix: str) -> Iterator[ChannelLayerWrapper]:
    """The app's routing (plus ``add_route``) on a fresh layer, installed as ``default``."""
    if request.param == "redis":
        spec = request.getfixturevalue("redis_url")
    else:
        spec = "inmemory"
    raw = load_layer(spec, prefix=unique_prefix, blocking_timeout=0.1)
    wrapper = ChannelLayerWrapper(raw, "default", channels1_app.channel_routing)
    wrapper.router.add_route(channels1_app.fallback_route)
    previous = channel_layers.set("default", wrapper)
    try:
        yield wrapper
    finally:
        if previous is not None:
            channel_layers.set("default", previous)
        wrapper.flush()
        wrapper.close()


class Server:
    """The interface server's side: reply channels of one process, their messages sorted out
    by full name (every reply channel of a process shares one inbox)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.inboxes: dict[str, list[dict[str, Any]]] = {}

    def new_channel(self, pattern: str) -> str:
        name = self.layer.new_channel(pattern)
        self.inboxes.setdefault(inbox_name(name), [])
        self.inboxes[name] = []
        return str(name)

    def next(self, channel: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next message for ``channel`` (a reply channel or a plain channel)."""
        receive_on = inbox_name(channel) if "!" in channel else channel
        deadline = time.monotonic() + timeout
        while not self.inboxes.get(channel):
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing arrived on {channel!r} within {timeout} s")
            got, content = self.layer.receive([receive_on], block=True)
            if got is not None:
                self.inboxes.setdefault(got, []).append(content)
        return self.inboxes[channel].pop(0)

    def idle(self, channel: str) -> bool:
        """True if nothing is waiting for ``channel``."""
        while True:
            got, content = self.layer.receive([inbox_name(channel)])
            if got is None:
                return not self.inboxes.get(channel)
            self.inboxes.setdefault(got, []).append(content)


class Socket:
    """One WebSocket connection as a 1.x interface server reports it."""

    def __init__(self, server: Server, path: bytes) -> None:
        self.server = server
        self.layer = server.layer
        self.path = path
        self.reply_channel = server.new_channel("websocket.send!")

    def send(self, channel: str, order: int, **fields: Any) -> None:
        content = {"reply_channel": self.reply_channel, "path": self.path, "order": order}
        self.layer.send(channel, {**content, **fields})

    def connect(self) -> None:
        headers = [[b"host", b"example.com"], [b"origin", b"http://example.com"]]
        self.send("websocket.connect", 0, headers=headers, query_string=b"")

    def text(self, order: int, text: str) -> None:
        self.send("websocket.receive", order, text=text)

    def frame(self, order: int, stream: str, payload: Any) -> None:
        self.text(order, json.dumps({"stream": stream, "payload": payload}))

    def disconnect(self, order: int) -> None:
        self.send("websocket.disconnect", order, code=1000)

    def next(self) -> dict[str, Any]:
        return self.server.next(self.reply_channel)

    def next_json(self) -> Any:
        return json.loads(self.next()["text"])


def http_get(server: Server, path: bytes) -> dict[str, Any]:
    reply_channel = server.new_channel("http.response!")
    server.layer.send(
        "http.request",
        {"reply_channel": reply_channel, "method": "GET", "path": path, "headers": []},
    )
    return server.next(reply_channel)


@pytest.mark.timeout(120)
def test_a_channels1_app_runs_unchanged_but_for_its_imports(app_layer: Any) -> None:
    layer = app_layer
    server = Server(layer)
    with running_worker(layer, threads=2) as worker:
        # http.request with bytes paths; the route added with Router.add_route comes last
        assert http_get(server, "/hello/wörld/".encode())["content"] == "hello wörld".encode()
        assert http_get(server, b"/elsewhere/")["status"] == 404
        assert http_get(server, b"/hello/\xff\xfe/")["status"] == 404  # undecodable: no route

        # a generic consumer: groups, channel session, strict ordering
        alice, bob = Socket(server, b"/chat/lobby/"), Socket(server, b"/chat/lobby/")
        for sock in (alice, bob):
            sock.connect()
            assert sock.next() == {"accept": True}
        alice.text(2, "second")  # arrives first, waits for its turn
        alice.text(1, "first")
        nick = "guest-" + alice.reply_channel[-4:]
        for sock in (alice, bob):
            assert [sock.next()["text"] for _ in range(2)] == [
                f"{nick}: first (#1)",
                f"{nick}: second (#2)",
            ]
        alice.disconnect(3)
        assert server.next("chat.log") == {"left": nick, "room": "lobby"}
        bob.text(1, "anyone?")
        assert bob.next()["text"].endswith(": anyone? (#1)")
        assert server.idle(alice.reply_channel)  # left the group on disconnect

        # the demultiplexer and its multiplexer
        multi = Socket(server, b"/multi/")
        multi.connect()
        connect_replies = [multi.next() for _ in range(3)]
        assert connect_replies[0] == {"accept": True}
        assert {"stream": "echo", "payload": {"status": "ready"}} in [
            json.loads(reply["text"]) for reply in connect_replies if "text" in reply
        ]
        multi.frame(1, "echo", {"hi": 1})
        assert multi.next_json() == {
            "stream": "echo",
            "payload": {"echo": {"hi": 1}, "path": "/multi/"},
        }
        for order, (add, total) in enumerate([(2, 2), (3, 5)], start=2):
            multi.frame(order, "counter", {"add": add})
            assert multi.next_json() == {"stream": "counter", "payload": {"total": total}}
        multi.frame(4, "counter", {"add": 1, "rude": True})  # self.send under a demultiplexer
        multi.frame(5, "nope", {})  # a stream nobody consumes
        wait_for(lambda: worker.stats["failed"] >= 2, timeout=20)
        multi.disconnect(6)
        assert server.next("chat.log") == {"stream_closed": "echo"}

        # refusing a connection from connect
        private = Socket(server, b"/private/")
        private.connect()
        assert private.next() == {"close": True}
        member = Socket(server, b"/members/")
        member.connect()
        assert member.next() == {"close": True}  # raise DenyConnection

        # consumers that are decorated methods of an object
        watcher = Socket(server, b"/presence/")
        watcher.connect()
        watcher.text(2, "b")
        watcher.text(1, "a")
        assert watcher.next() == {"accept": True}
        assert [watcher.next()["text"] for _ in range(2)] == ["seen 1", "seen 2"]
        assert [entry[1:] for entry in channels1_app.presence.log[-2:]] == [(1, "a"), (2, "b")]
        watcher.disconnect(3)
        assert server.next("chat.log") == {"presence_seen": 2}
    assert worker.stats["failed"] == 2  # the two bad frames, nothing else
    assert worker.stats["unrouted"] == 0 and worker.stats["dropped"] == 0


def test_router_channels_include_what_add_route_added() -> None:
    wrapper = ChannelLayerWrapper(load_layer("inmemory"), "x", channels1_app.channel_routing)
    before = set(wrapper.router.channels)
    wrapper.router.add_route(channels1_app.route("chat.log", channels1_app.not_found))
    assert wrapper.router.channels == before | {"chat.log"}
    assert "chat.log" in Worker(wrapper, signal_handlers=False).channels
    wrapper.close()

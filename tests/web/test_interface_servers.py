"""Real interface servers in front of real workers, on every network backend.

* daphne 1.4.2 itself (the seed era's server), through its native ``twisted`` mode;
* uvicorn serving the ASGI 3 bridge (``channels_core.bridge:application``).

Each (server, backend) pair starts a worker (``channels-core runworker`` on ``tests.web.app``)
and the server as separate processes on the backend's real server, under a unique prefix.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.web import processes
from tests.web.backends import network_backend_names, server_url, with_prefix
from tests.web.clients import request, wait_until_served, websocket_connect

SERVERS = {"daphne1": processes.daphne1, "bridge-uvicorn": processes.uvicorn_bridge}


@dataclass
class Site:
    server: str
    backend: str
    port: int
    logs: list[processes.Process]

    def ws(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


@pytest.fixture(
    scope="module",
    params=[(server, backend) for server in SERVERS for backend in network_backend_names()],
    ids=lambda pair: f"{pair[0]}-{pair[1]}",
)
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    server, backend = request.param
    url = with_prefix(server_url(request, backend), f"web-{uuid.uuid4().hex[:10]}")
    port = processes.new_port()
    started = [processes.worker(url, "tests.web.app.routing"), SERVERS[server](url, port)]
    with processes.running(started, port=port) as running:
        wait_until_served(port)
        yield Site(server, backend, port, running)


def test_http_request_and_response(site: Site) -> None:
    status, body, headers = request(site.port, "GET", "/hello")
    assert (status, body) == (200, b"hello")
    assert headers["content-type"] == "text/plain"
    if site.server == "daphne1":  # it found receive_twisted: no 50 ms polling
        assert "Using native Twisted mode on channel layer" in site.logs[1].output()


def test_request_body_reaches_the_consumer(site: Site) -> None:
    body = bytes(range(256)) * 4000  # ~1 MB: in chunks on a body_channel through the bridge
    status, answer, _ = request(site.port, "POST", "/upload", body=body)
    assert status == 200, answer
    assert answer == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()


def test_response_in_chunks(site: Site) -> None:
    assert request(site.port, "GET", "/stream")[:2] == (200, b"one two three")


def test_websocket_text_bytes_and_close(site: Site) -> None:
    with websocket_connect(site.ws("/echo"), open_timeout=10) as socket:
        socket.send("hi")
        assert socket.recv(timeout=10) == "hi"
        socket.send(b"\x00\xff")
        assert socket.recv(timeout=10) == b"\x00\xff"
        socket.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000


def test_websocket_rejected_by_the_app(site: Site) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        websocket_connect(site.ws("/reject"), open_timeout=10)
    assert rejected.value.response.status_code == 403

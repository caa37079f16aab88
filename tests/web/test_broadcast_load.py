"""The broadcast bar: 1,000 WebSockets on ONE server process, all in one group, 10 group
broadcasts sent at once, default layer settings: all 10,000 deliveries arrive.

All the sockets of one server process share one ``!`` inbox; ASGI 1.0 counts capacity (100 by
default) on that inbox, so before group fan-out (one inbox entry per group send, fanned out by
the receiving process) this delivered about 100 of 1,000 per broadcast. Run through daphne
1.4.2 and through the bridge on uvicorn, on every network backend.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect

from channels_core.loading import load_layer
from tests.web import processes
from tests.web.app import BROADCAST_GROUP
from tests.web.backends import network_backend_names, server_url, with_prefix
from tests.web.clients import wait_until_served

SOCKETS = 1000
BROADCASTS = 10
#: Sockets in their opening handshake at once. daphne 1.4.2 drops a handshake the application
#: has not accepted within 5 s (its default websocket_handshake_timeout): with 50 at once, a
#: loaded machine queued connects past that (the test then failed before any broadcast). Ten
#: keep the worker's 4 threads busy, so setting up the 1,000 sockets takes no longer.
CONNECTING_AT_ONCE = 10
SERVERS = {"daphne1": processes.daphne1, "bridge-uvicorn": processes.uvicorn_bridge}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(
    params=[(server, backend) for server in SERVERS for backend in network_backend_names()],
    ids=lambda pair: f"{pair[0]}-{pair[1]}",
)
def site(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    server, backend = request.param
    url = with_prefix(server_url(request, backend), f"load-{uuid.uuid4().hex[:10]}")
    port = processes.new_port()
    worker = processes.worker(url, "tests.web.app.routing", threads=4)
    started = [worker, SERVERS[server](url, port)]
    with processes.running(started, port=port):
        wait_until_served(port)
        yield url, port


def test_every_member_gets_every_broadcast(site: tuple[str, int]) -> None:
    url, port = site
    delivered, per_socket, members = asyncio.run(_scenario(url, port))
    short = [count for count in per_socket if count < BROADCASTS]
    assert delivered == SOCKETS * BROADCASTS, (
        f"{delivered} of {SOCKETS * BROADCASTS} delivered; {len(short)} sockets got fewer than "
        f"{BROADCASTS} (e.g. {short[:10]}); the sender saw {members} members in the group"
    )


async def _scenario(url: str, port: int) -> tuple[int, list[int], int]:
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def join() -> ClientConnection:
        async with gate:
            socket = await connect(f"ws://127.0.0.1:{port}/broadcast", open_timeout=120)
            assert await asyncio.wait_for(socket.recv(), 120) == "joined"
            return socket

    sockets = await asyncio.gather(*(join() for _ in range(SOCKETS)))
    try:
        members = await asyncio.to_thread(_broadcast_at_once, url)
        counts = await asyncio.gather(*(_count(socket) for socket in sockets))
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    return sum(counts), counts, members


def _broadcast_at_once(url: str) -> int:
    """``BROADCASTS`` send_group calls from as many threads, released together; returns the
    number of group members the sending layer saw just before."""
    layer = load_layer(url)
    members = len(layer.group_channels(BROADCAST_GROUP))
    start = threading.Barrier(BROADCASTS)

    def send(number: int) -> None:
        start.wait()
        layer.send_group(BROADCAST_GROUP, {"text": f"broadcast {number}"})

    try:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(BROADCASTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        layer.close()
    return members


async def _count(socket: ClientConnection, wait: float = 60.0) -> int:
    """How many broadcasts ``socket`` receives (stops at all of them, or after ``wait``)."""
    seen = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while seen < BROADCASTS:
        try:
            message = await asyncio.wait_for(socket.recv(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            break
        if str(message).startswith("broadcast "):
            seen += 1
    return seen

"""The PostgreSQL layer when its server goes away: a private server this test starts and stops.

Never the shared server: each test runs ``initdb`` into a temporary directory and its own
``postgres`` on a spare port (see :mod:`tests.layers.postgres_helpers`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from channels_core.exceptions import LayerUnavailable
from layers.postgres import PostgresChannelLayer
from tests.layers.outage_helpers import BackgroundReceiver, eventually
from tests.layers.postgres_helpers import PrivateServer
from tests.servers import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def server() -> Iterator[PrivateServer]:
    private = PrivateServer()
    private.start()
    yield private
    private.destroy()


@pytest.mark.timeout(30)
def test_unreachable_server_fails_fast_naming_host_and_port() -> None:
    port = free_port()
    layer = PostgresChannelLayer(f"postgresql://postgres@127.0.0.1:{port}/test", connect_timeout=2)
    try:
        for call in (
            lambda: layer.send("c", {}),
            lambda: layer.receive(["c"]),
            lambda: layer.receive(["c"], block=True),
            lambda: layer.group_add("g", "c"),
            lambda: asyncio.run(layer.receive_async(["c"])),
        ):
            with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{port}"):
                call()
    finally:
        layer.close()


@pytest.mark.timeout(90)
def test_restart_sends_fail_fast_then_recover_and_the_listener_reconnects(
    server: PrivateServer,
) -> None:
    layer = PostgresChannelLayer(
        server.url, prefix="restart", connect_timeout=2, blocking_timeout=1, poll_interval=0.5
    )
    sender = PostgresChannelLayer(server.url, prefix="restart", connect_timeout=2)
    try:
        sender.send("events", {"n": 1})
        with BackgroundReceiver(layer, "events") as receiver:
            eventually(lambda: receiver.received == [1])

            server.stop("fast")
            with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{server.port}"):
                sender.send("events", {"n": 2})
            eventually(lambda: receiver.errors)

            server.start()
            sender.send("events", {"n": 3})  # stale pooled connections are replaced, no error
            eventually(lambda: receiver.received == [1, 3])
            assert layer._listener is not None
            eventually(lambda: layer._listener is not None and layer._listener.connected)
            sender.send("events", {"n": 4})
            eventually(lambda: receiver.received == [1, 3, 4])
    finally:
        layer.close()
        sender.close()


@pytest.mark.timeout(90)
def test_messages_sent_while_the_listener_is_away_are_found(server: PrivateServer) -> None:
    """Every connection of the layer is killed server-side while a receiver waits; nothing is
    lost: the listener reconnects, and the receiver polls the table when it does."""
    import psycopg

    receiver = PostgresChannelLayer(server.url, prefix="gap", blocking_timeout=30, poll_interval=60)
    sender = PostgresChannelLayer(server.url, prefix="gap")
    got: list[Any] = []
    try:
        listener = receiver._started_listener()
        eventually(lambda: listener.connected)

        def receive() -> None:
            for _ in range(5):  # a take on a connection killed under it reports OutcomeUnknown,
                try:  # a receive starting while the listener reconnects LayerUnavailable
                    got.append(receiver.receive(["gap"], block=True))
                    return
                except LayerUnavailable:
                    time.sleep(0.2)

        thread = threading.Thread(target=receive)
        thread.start()
        with psycopg.connect(server.url, autocommit=True) as admin:
            eventually(lambda: _waiting(admin, "gap"))  # the receiver is blocked, not mid-call
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        eventually(lambda: _try_send(sender, {"sent": "while reconnecting"}))
        thread.join(40)
        assert got == [("gap", {"sent": "while reconnecting"})]
        eventually(lambda: listener.sessions >= 2)  # and it listens again
    finally:
        receiver.close()
        sender.close()


@pytest.mark.timeout(90)
def test_crash_restart_empties_messages_but_the_layer_keeps_working(server: PrivateServer) -> None:
    """After a crash PostgreSQL empties UNLOGGED tables (messages may be lost, as allowed)."""
    layer = PostgresChannelLayer(server.url, prefix="crash", connect_timeout=2)
    try:
        layer.group_add("room", "member")
        layer.send("c", {"before": True})
        server.stop("immediate")
        server.start()
        eventually(lambda: _try_send(layer))
        assert layer.receive(["c"]) == ("c", {"after": True})
    finally:
        layer.close()


def _waiting(conn: Any, prefix: str) -> bool:
    """True once a receiver of ``prefix`` is registered as waiting (its call is over)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'channels_core' AND tablename = 'waiter'"
    ).fetchone()
    if not row[0]:
        return False
    row = conn.execute(
        "SELECT count(*) FROM channels_core.waiter WHERE prefix = %s", (prefix,)
    ).fetchone()
    return bool(row[0])


def _try_send(layer: PostgresChannelLayer, message: Any = None) -> bool:
    try:
        layer.send("gap" if message else "c", message or {"after": True})
    except LayerUnavailable:
        return False
    return True

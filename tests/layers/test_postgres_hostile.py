"""PostgreSQL under hostile data and careless operators: rows of other writers, forged flush
notifications, one-off channels by the million, prefixes it cannot store.

These run in a schema of their own (created here, dropped afterwards), so the migration of
this code base is the one under test whatever other checkouts did to the shared server's
default schema.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from channels_core import codec
from channels_core.exceptions import ImproperlyConfigured, MalformedMessage
from layers.postgres import PostgresChannelLayer
from tests.factories import layer_factory

pytestmark = pytest.mark.postgres

LayerFactory = Callable[..., PostgresChannelLayer]


@pytest.fixture(scope="module")
def schema(postgres_url: str) -> Iterator[str]:
    name = f"faults_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def make_layer(postgres_url: str, unique_prefix: str, schema: str) -> Iterator[LayerFactory]:
    build = functools.partial(PostgresChannelLayer, postgres_url, schema=schema)
    with layer_factory(build, unique_prefix) as factory:
        yield factory


def _sql(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _insert_row(url: str, schema: str, prefix: str, queue: str, channel: str, body: bytes) -> None:
    _sql(
        url,
        f'INSERT INTO "{schema}".message (prefix, queue, channel, seq, sent_at, expires_at, '
        "payload) VALUES (%s, %s, %s, 0, now(), now() + interval '1 minute', %s)",
        (prefix, queue, channel, body),
    )


@pytest.mark.parametrize(
    "prefix",
    ["with\x00nul", "x" * 8000, "lone \ud800 surrogate"],
    ids=["nul", "8000-chars", "surrogate"],
)
def test_a_prefix_postgres_cannot_store_is_refused_when_the_layer_is_built(prefix: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="prefix"):
        PostgresChannelLayer("postgresql://nobody@127.0.0.1:1/none", prefix=prefix)


def test_an_inbox_batch_with_a_stranger_delivers_the_rest(
    make_layer: LayerFactory, postgres_url: str, schema: str
) -> None:
    layer = make_layer()
    name = layer.new_channel("ws!")
    inbox = name[: name.index("!") + 1]
    layer.send(name, {"n": 0})
    _insert_row(postgres_url, schema, layer.prefix, inbox, "nobang", codec.encode({"n": -1}))
    _insert_row(postgres_url, schema, layer.prefix, inbox, "other!x", codec.encode({"n": -2}))
    layer.send(name, {"n": 1})
    layer.send(name, {"n": 2})
    got, errors = [], 0
    for _ in range(10):
        try:
            channel, message = layer.receive([inbox])
        except MalformedMessage:
            errors += 1
            continue
        if channel is None:
            break
        got.append(message["n"])
    assert errors == 1 and got == [0, 1, 2]
    assert layer.global_statistics()["messages_malformed_count"] == 2


def test_a_plain_row_naming_another_channel_is_malformed(
    make_layer: LayerFactory, postgres_url: str, schema: str
) -> None:
    layer = make_layer()
    _insert_row(postgres_url, schema, layer.prefix, "plain", "elsewhere", codec.encode({"n": 0}))
    layer.send("plain", {"n": 1})
    with pytest.raises(MalformedMessage):
        layer.receive(["plain"])
    assert layer.receive(["plain"]) == ("plain", {"n": 1})
    # housekeeping, groups and statistics are not disturbed by such rows
    _insert_row(postgres_url, schema, layer.prefix, "plain", "elsewhere", b"\xc1garbage")
    layer.group_add("g", "plain")
    layer.send_group("g", {"n": 2})
    assert layer.group_channels("g") == ["plain"]
    assert layer.global_statistics()["messages_pending"] == 2


@pytest.mark.timeout(60)
def test_a_forged_flush_notification_drops_nothing(
    make_layer: LayerFactory, postgres_url: str, schema: str
) -> None:
    receiver, sender = make_layer(), make_layer()
    name = receiver.new_channel("buf!")
    inbox = name[: name.index("!") + 1]
    for n in range(3):
        sender.send(name, {"n": n})
    assert receiver.receive([inbox], block=True) == (name, {"n": 0})  # 1 and 2 buffered
    listener = receiver._started_listener()
    deadline = time.monotonic() + 10
    while not listener.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    sessions = listener.sessions
    for payload in (f"999999 {receiver.prefix}", "not-a-number " + receiver.prefix, "", "x"):
        _sql(postgres_url, "SELECT pg_notify(%s, %s)", (f"{schema}_flush", payload))
    time.sleep(1.0)  # the listener has had the notifications
    assert receiver.receive([inbox]) == (name, {"n": 1})
    assert receiver.receive([inbox]) == (name, {"n": 2})
    assert listener.sessions == sessions and listener.connected  # garbage did not kill it
    # a real flush still drops the local buffers
    for n in range(3):
        sender.send(name, {"n": n})
    assert receiver.receive([inbox], block=True) == (name, {"n": 0})
    sender.flush()
    deadline = time.monotonic() + 10
    while receiver.channel_statistics(name)["messages_pending"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert receiver.receive([inbox]) == (None, None)


def test_drained_one_off_channels_leave_no_rows(
    make_layer: LayerFactory, postgres_url: str, schema: str
) -> None:
    layer = make_layer(sweep_interval=0.05)
    replies = 300
    for index in range(replies):
        reply = layer.new_channel("reply?")
        layer.send(reply, {"i": index})
        assert layer.receive([reply]) == (reply, {"i": index})
    rows = _sql(
        postgres_url,
        f"SELECT count(*) FROM \"{schema}\".queue WHERE prefix = %s AND strpos(name, '?') > 0",
        (layer.prefix,),
    )
    assert rows[0][0] == 0
    assert layer.global_statistics()["messages_count"] == replies
    time.sleep(0.1)
    layer.send("tick", {})  # a sweep folds the retired counters into the prefix's totals
    assert layer.global_statistics()["messages_count"] == replies + 1

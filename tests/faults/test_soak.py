"""Soak: 100,000 messages from 2 producer processes to 4 consumer processes, with a restart
of the server in the middle. No duplicate, at most 0.01% lost, consumers' memory flat.

Each run uses a PRIVATE server on a spare port (restarted here; never the shared one), with
durability settings that keep stored messages across a clean restart (Redis: append-only
file; PostgreSQL: a clean shutdown keeps UNLOGGED tables). CI runs a bounded soak of
10,000 messages (about 30 s on Redis, 2 minutes on PostgreSQL on a loaded 2-core machine);
``SOAK_MESSAGES=100000`` runs the full one. "Lost" counts every message that never arrived;
the bound (0.01%) applies to those the layer never reported (a send of unknown outcome is
reported). A backend joins when it has a private-server recipe in ``_PRIVATE``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from channels_core.loading import load_layer
from tests.faults import soak
from tests.faults.backends import NetworkBackend, network_backends

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(900)]

MESSAGES = int(os.environ.get("SOAK_MESSAGES", "10000"))
PRODUCERS, CONSUMERS = 2, 4


@contextmanager
def _private_redis() -> Iterator[tuple[int, Callable[[], None]]]:
    from tests.layers.redis_helpers import PrivateRedis

    server = PrivateRedis(["--appendonly", "yes", "--appendfsync", "everysec"])
    server.start()

    def restart() -> None:
        server.stop()  # SIGTERM: the append-only file is synced on the way out
        time.sleep(1.0)
        server.start()

    try:
        yield server.port, restart
    finally:
        server.cleanup()


@contextmanager
def _private_postgres() -> Iterator[tuple[int, Callable[[], None]]]:
    from tests.layers.postgres_helpers import PrivateServer

    server = PrivateServer()
    server.start()

    def restart() -> None:
        server.stop("fast")
        time.sleep(1.0)
        server.start()

    try:
        yield server.port, restart
    finally:
        server.destroy()


_PRIVATE: dict[str, Callable[[], Any]] = {"redis": _private_redis, "postgres": _private_postgres}
_URL = {"postgres": "postgresql://postgres@127.0.0.1:{port}/postgres"}
BACKENDS = [backend for backend in network_backends() if backend.name in _PRIVATE]


@pytest.mark.parametrize("backend", BACKENDS, ids=[backend.name for backend in BACKENDS])
def test_soak_with_a_server_restart(backend: NetworkBackend) -> None:
    context = multiprocessing.get_context("spawn")
    with _PRIVATE[backend.name]() as (port, restart):
        url = _URL.get(backend.name, "").format(port=port) or backend.url_for(port)
        options = {
            **backend.options,
            "prefix": f"soak-{uuid.uuid4().hex[:8]}",
            "capacity": 20_000,
            "blocking_timeout": 1.0,
        }
        channel = "soak.work"
        per_producer = MESSAGES // PRODUCERS
        results: Any = context.Queue()
        progress: Any = context.Value("q", 0)
        stop = context.Event()
        consumers = [
            context.Process(target=soak.consume, args=(url, options, channel, index, stop, results))
            for index in range(CONSUMERS)
        ]
        producers = [
            context.Process(
                target=soak.produce,
                args=(url, options, channel, index, per_producer, progress, results),
            )
            for index in range(PRODUCERS)
        ]
        started = time.monotonic()
        for process in consumers + producers:
            process.start()
        while progress.value < MESSAGES * 0.4 and time.monotonic() - started < 600:
            time.sleep(0.1)
        restart_at = progress.value
        restart()
        reports: dict[tuple[str, int], Any] = {}
        while len(reports) < PRODUCERS:
            item = results.get(timeout=600)
            reports[(item[0], item[1])] = item
        produced = time.monotonic() - started
        with load_layer(url, **options) as observer:  # wait until the consumers drained it
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if observer.global_statistics()["messages_pending"] == 0:
                    break
                time.sleep(0.5)
        stop.set()
        while len(reports) < PRODUCERS + CONSUMERS:
            item = results.get(timeout=120)
            reports[(item[0], item[1])] = item
        elapsed = time.monotonic() - started
        for process in consumers + producers:
            process.join(30)

    unknown_sends = {n for key, item in reports.items() if key[0] == "producer" for n in item[2]}
    send_retries = sum(item[3] for key, item in reports.items() if key[0] == "producer")
    received = array("q")
    receive_unknown = receive_failures = 0
    growth = []
    for key, item in reports.items():
        if key[0] != "consumer":
            continue
        part = array("q")
        part.frombytes(item[2])
        received.extend(part)
        receive_unknown += item[3]
        receive_failures += item[4]
        samples = item[5]
        warm = next((rss for count, rss in samples if count >= len(part) // 5), samples[0][1])
        growth.append(samples[-1][1] - warm)
    distinct = set(received)
    duplicates = len(received) - len(distinct)
    lost = MESSAGES - len(distinct)
    print(
        f"\nsoak {backend.name}: {MESSAGES} messages, {PRODUCERS} producers -> {CONSUMERS} "
        f"consumers, restart after {restart_at} sent, all sent in {produced:.1f} s, all "
        f"received in {elapsed:.1f} s; received "
        f"{len(distinct)}, duplicates {duplicates}, lost {lost} ({lost / MESSAGES:.4%}; "
        f"{len(unknown_sends)} sends of unknown outcome, {receive_unknown} receives of "
        f"unknown outcome), send retries after 'unavailable' {send_retries}, receive "
        f"failures {receive_failures}; consumer RSS growth after warm-up (MiB): "
        f"{', '.join(f'{g:+.1f}' for g in growth)}"
    )
    silent = len(set(range(MESSAGES)) - distinct - unknown_sends)  # lost, never reported
    assert duplicates == 0
    assert silent <= MESSAGES // 10_000
    assert max(growth) < 25, growth

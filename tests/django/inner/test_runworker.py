"""``manage.py runworker``: starts on the configured layer and stops cleanly on SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from channels_core.django.management.commands import runworker
from channels_core.loading import load_layer
from channels_core.manager import ChannelLayerWrapper
from channels_core.routing import route
from tests.core.corekit import running_worker, wait_for

from .conftest import receive_on

ROOT = Path(__file__).resolve().parents[3]


def django_admin(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args, "--settings", "tests.django.settings"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_runworker_starts_and_stops_on_sigterm() -> None:
    process = django_admin(
        "runworker", "--layer", "default", "--threads", "2", "--exclude-channels", "websocket.*"
    )
    assert process.stdout is not None
    try:
        banner = process.stdout.readline()
        assert "listening on: http.request" in banner, banner
        assert "websocket" not in banner
        time.sleep(0.3)  # let the threads enter receive()
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest
    assert "worker stopped" in rest


@pytest.mark.timeout(60)
def test_runworker_reports_an_unknown_layer() -> None:
    process = django_admin("runworker", "--layer", "nosuchlayer")
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "CommandError" in output or "configuration error" in output
    assert "nosuchlayer" in output


@pytest.mark.parametrize("threads", ["0", "-2", "two"])
def test_runworker_refuses_a_thread_count_that_is_not_a_positive_integer(threads: str) -> None:
    with pytest.raises(
        CommandError, match=f"--threads: expected a positive integer, got .*{threads}"
    ):
        call_command("runworker", "--threads", threads)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.redis
def test_runworker_serves_django_views_across_processes(redis_url: str, unique_prefix: str) -> None:
    url = f"{redis_url}?prefix={unique_prefix}&blocking_timeout=0.5"
    process = django_admin("runworker", "--layer", url, "--only-channels", "http.*")
    assert process.stdout is not None
    client = load_layer(url)
    try:
        assert "listening on: http.request" in process.stdout.readline()
        reply = client.new_channel("http.response!")
        client.send(
            "http.request",
            {
                "reply_channel": reply,
                "method": "GET",
                "path": "/echo/",
                "query_string": b"from=test",
                "headers": [[b"host", b"example.com"]],
            },
        )
        first = receive_on(client, reply, timeout=20)
        assert first["status"] == 200
        assert json.loads(first["content"])["GET"] == {"from": "test"}
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        client.flush()
        client.close()


def test_runworker_closes_old_database_connections_after_every_message(
    layer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    def orm_consumer(message: Any) -> None:
        User.objects.filter(username=message["name"]).exists()  # opens this thread's connection
        seen.append(connections["default"])

    wrapper = ChannelLayerWrapper(layer.channel_layer, "default", [route("orm.test", orm_consumer)])
    ran: list[Any] = []

    def run_in_thread(args: argparse.Namespace) -> int:  # what cmd_runworker gets
        ran.append(args.on_message)
        with running_worker(wrapper, on_message=args.on_message) as worker:
            layer.send("orm.test", {"name": "x"})
            wait_for(lambda: worker.stats["consumed"] == 1)
        return 0

    monkeypatch.setattr(runworker, "cmd_runworker", run_in_thread)
    call_command("runworker")
    assert ran == [runworker.close_old_connections_after]
    assert seen and seen[0].connection is None  # CONN_MAX_AGE = 0: closed after the message

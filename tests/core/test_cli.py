"""The channels-core command: demo, check, backends, runworker, bench delegation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from channels_core import channel_layers, route
from channels_core.cli import main

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("CHANNEL_LAYER_URL")},
    "PYTHONPATH": str(ROOT),
}
ENV.pop("CHANNELS_SETTINGS_MODULE", None)
ENV.pop("DJANGO_SETTINGS_MODULE", None)


def _noop(message: Any) -> None: ...


ROUTING = [route("cli.test", _noop), route("cli.other", _noop)]


@pytest.fixture(autouse=True)
def fresh_layers(monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("CHANNELS_SETTINGS_MODULE", "DJANGO_SETTINGS_MODULE", "CHANNEL_LAYER_URL"):
        monkeypatch.delenv(var, raising=False)
    channel_layers.reset()
    yield
    channel_layers.reset()


@pytest.mark.timeout(60)
def test_demo_exits_0_and_prints_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--messages", "60", "--threads", "2"]) == 0
    out = capsys.readouterr().out
    assert "channels-core demo on InMemoryChannelLayer" in out
    assert "include([...], path='^/chat'):" in out
    assert "request/reply: 60 sent, 60 delivered, 0 lost, 0 wrong" in out
    assert "p50" in out and "p99" in out
    assert "75 expected, 75 delivered, 0 out of order" in out
    assert "layer statistics: messages_count" in out
    assert "total: 0 lost" in out and out.rstrip().endswith("OK")
    routed = {
        line.split()[0]: int(line.split()[1])
        for line in out.splitlines()
        if line.startswith("  ") and len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert routed == {
        "echo": 54,
        "not_found": 6,
        "chat_connect": 5,
        "chat_receive": 15,
        "chat_disconnect": 5,
    }


@pytest.mark.timeout(60)
def test_python_m_channels_core_demo_runs_in_a_fresh_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "channels_core", "demo", "--messages", "20"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "total: 0 lost" in done.stdout


def test_check_reports_a_healthy_layer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "layer: layers.inmemory.InMemoryChannelLayer from alias 'default'" in out
    assert "extensions: groups, flush, statistics, asyncio, async, twisted" in out
    assert "- cross-process:" in out
    assert "round trip: ok" in out and "group round trip: ok" in out
    assert "statistics: messages_count" in out
    assert out.rstrip().endswith("healthy")


def test_check_with_a_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--layer", "memory://?capacity=5"]) == 0
    assert "from memory://?capacity=5" in capsys.readouterr().out


def test_bad_layer_is_a_clear_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--layer", "mqtt://nowhere"]) == 2
    err = capsys.readouterr().err
    assert "configuration error: --layer 'mqtt://nowhere': unknown URL scheme 'mqtt'" in err


def test_runworker_without_routing_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runworker", "--layer", "memory://"]) == 2
    assert "no routes; give --routing" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_runworker_starts_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "channels_core",
            "runworker",
            "--layer",
            "memory://?blocking_timeout=0.2",
            "--routing",
            "tests.core.test_cli.ROUTING",
            "--only-channels",
            "cli.*",
            "--exclude-channels",
            "cli.other",
            "--threads",
            "2",
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "listening on: cli.test" in first and "2 thread(s)" in first
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "worker stopped" in out
    assert "SIGTERM" in err


def test_bench_is_delegated_with_the_remaining_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        calls.append(argv)
        return 3

    monkeypatch.setattr("channels_core.cli._bench_main", lambda: fake_main)
    assert main(["bench", "--backends", "inmemory", "--help"]) == 3
    assert calls == [["--backends", "inmemory", "--help"]]


def test_bench_outside_a_checkout_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("channels_core.cli._bench_main", lambda: None)
    assert main(["bench"]) == 2
    assert "run it from a source checkout" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["-m", "bench", "--help"], ["-m", "channels_core", "bench", "--help"]]
)
def test_the_benchmark_runs_from_the_checkout(command: list[str], tmp_path: Path) -> None:
    # ``channels-core bench`` finds the checkout's bench/ from any directory.
    cwd = ROOT if command[1] == "bench" else tmp_path
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--workloads" in done.stdout


def test_the_benchmark_is_not_installed_with_the_core() -> None:
    import configparser

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    included = setup.get("options.packages.find", "include").split()
    assert included and not any(
        pattern.split(".")[0] == "bench" or pattern == "*" for pattern in included
    ), included


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--messages", "0"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2


@pytest.mark.redis
@pytest.mark.timeout(90)
def test_demo_on_redis_exits_0_and_flushes_its_prefix(redis_url: str) -> None:
    import re

    import redis

    done = subprocess.run(
        [sys.executable, "-m", "channels_core", "demo", "--layer", redis_url, "--messages", "50"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "channels-core demo on RedisChannelLayer" in done.stdout
    assert "total: 0 lost" in done.stdout
    prefix = re.search(r"prefix (demo-[0-9a-f]+)", done.stdout)
    assert prefix is not None
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"*{prefix.group(1)}*", count=1000)) == []
    finally:
        client.close()


@pytest.mark.redis
@pytest.mark.timeout(60)
def test_check_on_an_unreachable_server_is_unhealthy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.servers import free_port

    port = free_port()
    assert main(["check", "--layer", f"redis://127.0.0.1:{port}/0"]) == 1
    out = capsys.readouterr().out
    assert f"round trip: FAILED: LayerUnavailable: Redis at 127.0.0.1:{port}" in out
    assert "group round trip" not in out  # no noise from steps that need the round trip
    assert out.rstrip().endswith("UNHEALTHY")


@pytest.mark.redis
def test_check_on_redis_is_healthy(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--layer", redis_url]) == 0
    out = capsys.readouterr().out
    assert "RedisChannelLayer" in out and "round trip: ok" in out

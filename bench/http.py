"""HTTP through an interface server: request latency of a trivial consumer, end to end.

For each (interface server, network backend) pair: a worker process (``channels-core
runworker``, routing :data:`ROUTING`) and the server process on the backend's local server,
then ``requests`` sequential ``GET /`` over one keep-alive connection (after a warm-up);
p50/p90/p99 and requests per second. The servers: daphne 1.4.2 itself (``daphne
channels_core.asgi:channel_layer``, native ``twisted`` mode) and uvicorn serving the ASGI 3
bridge (``channels_core.bridge:application``). A pair whose server or backend is missing is
reported as such, never silently left out.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from channels_core import route

from . import processes

ROOT = Path(__file__).resolve().parents[1]
#: The trivial app the worker runs.
ROUTING = "bench.http.routing"
WARM_UP = 50


def hello(message: Any) -> None:
    message.reply_channel.send(
        {"status": 200, "headers": [[b"content-type", b"text/plain"]], "content": b"hello"}
    )


routing = [route("http.request", hello)]


def _server_argv(server: str, port: int) -> list[str]:
    bindir = Path(sys.executable).parent
    if server == "daphne 1.4.2":
        return [str(bindir / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
    return [str(bindir / "uvicorn"), "--host", "127.0.0.1", "--port", str(port)]


SERVERS = {
    "daphne 1.4.2": ("daphne", "channels_core.asgi:channel_layer"),
    "uvicorn + bridge": ("uvicorn", "channels_core.bridge:application"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, processes: list[subprocess.Popen[bytes]], wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise RuntimeError("a process exited before the server listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {wait:.0f} s")


def measure(server: str, layer_url: str, requests: int) -> dict[str, Any]:
    """Latency of ``requests`` sequential GETs through ``server`` on ``layer_url``."""
    program, app = SERVERS[server]
    if shutil.which(program, path=str(Path(sys.executable).parent)) is None:
        return {"status": f"could not run: {program} is not installed"}
    url = f"{layer_url}{'&' if '?' in layer_url else '?'}prefix=benchhttp{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHANNEL_LAYER_URL": url}
    log = tempfile.TemporaryFile()
    worker = [sys.executable, "-m", "channels_core", "runworker", "--routing", ROUTING]
    started = [
        subprocess.Popen([*worker, "--layer", url], cwd=ROOT, env=env, stdout=log, stderr=log),
        subprocess.Popen(
            [*_server_argv(server, port), app], cwd=ROOT, env=env, stdout=log, stderr=log
        ),
    ]
    try:
        _wait_listening(port, started, 30)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies = []
        for index in range(WARM_UP + requests):
            began = time.perf_counter()
            connection.request("GET", "/")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or body != b"hello":
                raise RuntimeError(f"GET / answered {response.status} {body[:80]!r}")
            if index >= WARM_UP:
                latencies.append((time.perf_counter() - began) * 1000)
        connection.close()
    except Exception as error:
        log.seek(0)
        tail = log.read()[-400:].decode(errors="replace").strip().replace("\n", " ")
        return {"status": f"could not run: {error} ({tail})"}
    finally:
        for process in started:
            process.terminate()  # all at once, then wait for each
        for process in started:
            processes.stop(process)
        log.close()
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "status": "ok",
        "requests": requests,
        "p50_ms": statistics.median(latencies),
        "p90_ms": cuts[89],
        "p99_ms": cuts[98],
        "rate": len(latencies) / (sum(latencies) / 1000),
    }


def run(requests: int, backends: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One row per (server, backend) for each ``(backend name, server URL)`` of ``backends``
    (:func:`bench.targets.network_urls`)."""
    rows = []
    for name, url in backends:
        for server in SERVERS:
            row = {"server": server, "backend": name}
            row.update(measure(server, url, requests))
            rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], requests: int) -> str:
    lines = [
        "#### HTTP through an interface server",
        "",
        "| server | layer | p50 / p90 / p99 ms | requests/s |",
        "|---|---|---|---|",
    ]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"| {row['server']} | {row['backend']} | {row['status']} | |")
            continue
        lines.append(
            f"| {row['server']} | {row['backend']} | {row['p50_ms']:.2f} / {row['p90_ms']:.2f}"
            f" / {row['p99_ms']:.2f} | {row['rate']:,.0f} |"
        )
    lines += [
        "",
        f"{requests:,} sequential `GET /` over one keep-alive connection (after {WARM_UP} "
        "warm-up requests), answered by a trivial consumer in one `channels-core runworker` "
        "process; the server and the worker are separate processes on the same machine.",
    ]
    return "\n".join(lines) + "\n"

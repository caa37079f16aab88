"""The benchmark's "HTTP through an interface server" rows run against the real servers."""

from __future__ import annotations

import pytest

from bench import http


@pytest.mark.parametrize("server", sorted(http.SERVERS))
def test_http_rows_measure_a_real_round_trip(server: str, redis_url: str) -> None:
    row = http.measure(server, redis_url, requests=20)
    assert row["status"] == "ok", row["status"]
    assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
    assert row["rate"] > 0
    text = http.markdown([{"server": server, "backend": "redis", **row}], 20)
    assert f"| {server} | redis | " in text


def test_a_missing_server_is_reported_not_hidden(redis_url: str) -> None:
    row = http.measure("uvicorn + bridge", "redis://127.0.0.1:1/0", requests=5)
    assert row["status"].startswith("could not run")

"""The benchmark's "HTTP through an interface server" rows run against the real servers."""

from __future__ import annotations

import pytest

from bench import http, targets


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


def test_http_rows_follow_the_layers_asked_for() -> None:
    """``--layers`` picks the HTTP rows too, resolved as our rows are: only its network
    backends, a URL as given, ``kafka`` on the private broker when one was started (so a run
    that did not ask for Kafka never needs a Kafka broker)."""
    everyone = dict(targets.network_urls(None))
    assert "inmemory" not in everyone and {"redis", "postgres", "kafka"} <= set(everyone)
    assert targets.network_urls(["inmemory", "memory://", "redis"]) == [
        ("redis", everyone["redis"])
    ]
    url = "redis://127.0.0.1:6379/5"
    assert targets.network_urls([url, "some.module.Layer"]) == [("redis", url)]
    tansu = "kafka://127.0.0.1:19092"
    assert targets.network_urls(["kafka"], tansu) == [("kafka", tansu)]
    assert dict(targets.network_urls(None, tansu))["kafka"] == tansu

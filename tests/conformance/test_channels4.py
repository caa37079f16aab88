"""The suite on Channels 4 layers: detection, the adapter, "not applicable", the Channels 4
reading; and our own layers through ``channels_core.channels4.ChannelLayer`` judged by it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import conformance
from conformance.channels4 import NOT_APPLICABLE, Channels4Adapter, open_layer
from conformance.registry import NotApplicable
from conformance.runner import NOT_APPLICABLE as NA_STATUS
from conformance.settings import examples_budget
from tests import servers

ROOT = Path(__file__).resolve().parents[2]
CHANNELS_INMEMORY = "channels.layers:InMemoryChannelLayer"
OURS = "channels_core.channels4:ChannelLayer"
#: Our in-memory layer lives in one layer object (its own deviations, restated for the adapter).
ONE_PROCESS = {"cross-process": "one process", "cross-instance": "one layer object"}


def test_a_channels4_class_is_detected_and_wrapped() -> None:
    layer = open_layer(CHANNELS_INMEMORY, {"prefix": "ignored", "capacity": 7})
    try:
        assert isinstance(layer, Channels4Adapter)
        assert layer.extensions == ["groups", "flush"]
        layer.send("a", {"x": 1})
        assert layer.receive(["a"]) == ("a", {"x": 1})
        assert layer.receive(["a"]) == (None, None)  # waited conformance_empty_wait, then gave up
        with pytest.raises(NotApplicable, match="one channel"):
            layer.receive(["a", "b"])
        with pytest.raises(NotApplicable, match="prefix"):
            layer.receive(["ws.send!"])
    finally:
        layer.close()
        layer.close()


def test_an_option_the_layer_does_not_take_makes_the_clause_not_applicable() -> None:
    with pytest.raises(NotApplicable, match="message_size_limit"):
        open_layer(CHANNELS_INMEMORY, {"message_size_limit": 100})


def test_not_applicable_is_neither_a_pass_nor_a_failure() -> None:
    report = conformance.run(
        CHANNELS_INMEMORY,
        {},
        clauses=["receive.fair", "statistics.keys", "messages.size-limit", "groups.send"],
    )
    statuses = {result.id: result.status for result in report.results}
    assert statuses == {
        "receive.fair": NA_STATUS,
        "statistics.keys": NA_STATUS,
        "messages.size-limit": NA_STATUS,
        "groups.send": "passed",
    }, report.results
    assert report.ok
    assert report.counts()[NA_STATUS] == 3
    fair = report.result("receive.fair")
    assert fair.detail == NOT_APPLICABLE["receive.fair"]
    assert "message_size_limit" in report.result("messages.size-limit").detail


def test_the_channels4_reading_finds_what_channels_inmemory_layer_breaks() -> None:
    """Channels' own layer keeps tuples and sends out-of-range ints: both are findings."""
    report = conformance.run(CHANNELS_INMEMORY, {}, clauses=["messages.int64", "names.max-length"])
    assert report.result("messages.int64").status == "failed"
    assert "9223372036854775808" in report.result("messages.int64").detail
    # 99 characters accepted, 100 refused: the Channels 4 reading of the name rule.
    assert report.result("names.max-length").status == "passed"


def test_our_layers_pass_the_suite_as_a_channels4_layer() -> None:
    """Every clause the Channels 4 API can express, on our in-memory layer through the adapter."""
    config = {"url": "inmemory", "conformance_deviations": ONE_PROCESS}
    # The in-memory suite proper runs the full budget; through the adapter the same suite
    # took 104 s in CI (against 15 s direct), so this run proves the adapter on 20 examples.
    with examples_budget(20):
        report = conformance.run(OURS, config)
    failures = [f"{r.id}: {r.detail}" for r in report.results if r.failed]
    assert not failures, "\n\n".join(failures)
    not_applicable = {r.id for r in report.results if r.status == NA_STATUS}
    assert "receive.fair" in not_applicable and "model.stateful" not in not_applicable
    assert report.result("model.stateful").status == "passed"


@pytest.mark.timeout(300)
def test_our_redis_layer_keeps_at_most_once_across_processes_as_a_channels4_layer() -> None:
    servers.require("redis")
    clauses = ["delivery", "order.fifo", "groups.send", "cross-process.no-duplicates"]
    report = conformance.run(OURS, {"url": servers.REDIS_URL}, clauses=clauses)
    failures = [f"{r.id}: {r.detail}" for r in report.results if r.failed]
    assert not failures, "\n\n".join(failures)
    assert all(r.status == "passed" for r in report.results), report.results


@pytest.mark.timeout(120)
def test_pytest_plugin_reports_not_applicable_as_skipped_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_mine():\n    pass\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--channel-layer",
            CHANNELS_INMEMORY,
            "-k",
            "receive.fair or groups.send",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    # groups.send and groups.send-skips-full pass; receive.fair is not applicable.
    assert "2 passed, 1 skipped" in done.stdout, done.stdout[-2000:]
    assert "not applicable: receive() takes one channel" in done.stdout, done.stdout[-2000:]

"""Smoke tests of ``channels-core bench --quick``: it runs, bounded, and writes its reports.

No figure is asserted on (figures come from the benchmark, never from tests); only that the
harness produces the table, the JSON and the chart, reports what it could not run, and
counts lost messages instead of waiting for them forever.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from bench import report
from bench.cli import main


def _load(output: Path) -> dict:
    return json.loads((output / "bench.json").read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_run_on_inmemory_and_channels_peer(tmp_path: Path, capsys) -> None:
    output = tmp_path / "out"
    code = main(
        [
            "--quick",
            "--layers",
            "inmemory",
            "no_such_module_xyz:Layer",
            "--peers",
            "channels-inmemory",
            "--ceilings",
            "inmemory",
            "--output",
            str(output),
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert report.HEADER in printed.out
    assert "[" in printed.err  # the progress bar goes to stderr

    table = (output / "bench.md").read_text(encoding="utf-8")
    assert table == printed.out.split("Wrote ")[0].rstrip("\n") + "\n"
    assert "**ours: inmemory †**" in table
    assert "channels InMemoryChannelLayer ‡" in table

    result = _load(output)
    assert result["machine"]["cpu_count"] >= 1
    assert result["packages"]["channels"]
    rows = {record["name"]: record for record in result["targets"]}
    ours = rows["ours: inmemory"]
    assert ours["status"] == "ok"
    assert ours["topology"] == "threads"
    for workload in ("B1", "B2", "B3", "B4", "soak"):
        assert ours["summary"][workload]["status"] == "ok", ours["workloads"][workload]
    assert ours["summary"]["B2"]["counts"]["lost"] == 0
    assert ours["summary"]["B2"]["counts"]["duplicates"] == 0
    assert ours["summary"]["B4"]["counts"]["delivered"] == 50
    assert set(ours["ratios"]["B1"]["send_rate"]) == {"peer", "ceiling"}
    channels4 = rows["ours via Channels 4 API: inmemory"]  # channels_core.channels4.ChannelLayer
    assert channels4["status"] == "ok" and channels4["topology"] == "tasks"
    assert channels4["summary"]["B3"]["counts"]["completed"] == 100
    assert channels4["summary"]["B2"]["counts"]["lost"] == 0
    peer = rows["channels InMemoryChannelLayer"]
    assert peer["status"] == "ok" and peer["topology"] == "tasks"
    assert peer["summary"]["B3"]["counts"]["completed"] == 100
    broken = rows["ours: no_such_module_xyz:Layer"]
    assert broken["status"].startswith("could not run: ")
    assert "no_such_module_xyz" in broken["status"]

    png = (output / "bench.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_lost_messages_are_counted_not_awaited(tmp_path: Path) -> None:
    code = main(
        [
            "--quick",
            "--layers",
            "tests.bench.faulty_layers:LossyLayer",
            "--no-peers",
            "--no-ceilings",
            "--no-soak",
            "--workloads",
            "B1,B2",
            "--output",
            str(tmp_path),
        ]
    )
    assert code == 0
    record = _load(tmp_path)["targets"][0]
    assert record["status"] == "ok"
    b1, b2 = record["workloads"]["B1"][0], record["workloads"]["B2"][0]
    # The layer drops one message in seven silently: both workloads stop waiting after the
    # idle limit and report the difference as lost.
    assert b1["sent"] == 500 and b1["lost"] == 500 // 7
    assert b1["received"] + b1["lost"] == 500
    assert abs(b2["lost"] - 1000 / 7) < 2 and b2["received"] + b2["lost"] == 1000
    assert b2["duplicates"] == 0


def test_bad_arguments_are_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--workloads", "B9"])
    assert exit_info.value.code == 2
    assert "B9" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--peers", "nope", "--layers", "inmemory"])


def test_summary_medians_spread_and_ratios() -> None:
    runs = [{"send_rate": 100.0, "recv_rate": 10.0}, {"send_rate": 300.0, "recv_rate": 30.0}]
    runs.append({"send_rate": 200.0, "recv_rate": 20.0, "timed_out": True})
    summary = report.summarize("B1", [*runs, {"error": "boom"}])
    assert summary["metrics"]["send_rate"]["median"] == 200.0
    assert summary["metrics"]["send_rate"]["spread_pct"] == 50.0
    assert summary["status"] == "timed out" and summary["errors"] == ["boom"]
    assert report.summarize("B1", [{"error": "timed out"}])["status"] == "timed out"
    assert report.better_ratio(2.0, 1.0, higher_is_better=True) == 2.0
    assert report.better_ratio(1.0, 4.0, higher_is_better=False) == 4.0


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_stuck_worker_is_killed_and_the_run_marked_timed_out() -> None:
    from bench.runner import Progress, Settings, run_target
    from bench.targets import ours

    settings = Settings.make(quick=True, runs=1, workloads=["B1"], soak=False)
    settings.caps["B1"], settings.ready_timeout, settings.grace = 1.0, 1.0, 1.0
    [target], _ = ours(["tests.bench.faulty_layers:HangingLayer"], "benchhang")
    progress = Progress(1, stream=io.StringIO())
    started = time.monotonic()
    record = run_target(0, target, settings, progress)
    assert time.monotonic() - started < 30
    assert record["workloads"]["B1"] == [{"error": "timed out", "timed_out": True, "killed": True}]
    assert report.summarize("B1", record["workloads"]["B1"])["status"] == "timed out"

"""The PNG chart: one panel per workload, horizontal bars on a log scale, ours highlighted.

matplotlib is imported lazily with the Agg backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import fmt_ms, fmt_rate, median_of

COLORS = {"ours": "#d95f02", "peer": "#4c78a8", "ceiling": "#b0b0b0"}
#: panel title, [(workload, metric, legend label)], unit kind, note on direction
PANELS: list[tuple[str, list[tuple[str, str, str]], str, str]] = [
    (
        "B1 burst in one process (msg/s)",
        [("B1", "send_rate", "send"), ("B1", "recv_rate", "receive")],
        "rate",
        "higher is better",
    ),
    ("B2 producer → consumer (msg/s)", [("B2", "rate", "end-to-end")], "rate", "higher is better"),
    (
        "B3 request/reply latency (ms)",
        [("B3", "p50_ms", "p50"), ("B3", "p99_ms", "p99")],
        "ms",
        "lower is better",
    ),
    (
        "B4 send_group to members (ms)",
        [("B4", "call_ms", "call"), ("B4", "all_ms", "all delivered")],
        "ms",
        "lower is better",
    ),
]


def draw(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in result["targets"] if r["status"] == "ok"]
    labels = [
        r["name"] + {"threads": " †", "tasks": " ‡"}.get(r.get("topology") or "", "")
        for r in records
    ]
    height = max(6.0, 0.55 * len(records) * 2 + 2)
    fig, axes = plt.subplots(2, 2, figsize=(17, height), constrained_layout=True)
    for ax, (title, series, kind, direction) in zip(axes.flat, PANELS, strict=False):
        bar = 0.8 / len(series)
        drawn = False
        for index, (workload, metric, legend) in enumerate(series):
            for row, record in enumerate(records):
                value = median_of(record, workload, metric)
                if value is None or value <= 0:
                    continue
                y = row - 0.4 + bar * (index + 0.5)
                ax.barh(
                    y,
                    value,
                    height=bar * 0.9,
                    color=COLORS[record["kind"]],
                    alpha=1.0 if index == 0 else 0.55,
                    hatch="//" if record["kind"] == "ceiling" else None,
                    edgecolor="black" if record["kind"] == "ours" else "none",
                    linewidth=1.2,
                )
                text = fmt_rate(value) if kind == "rate" else fmt_ms(value)
                if record["summary"][workload]["timed_out_runs"]:
                    text += " (timed out)"
                ax.text(value, y, f" {text} {legend}", va="center", fontsize=8)
                drawn = True
        ax.set_yticks(range(len(records)))
        ax.set_yticklabels(labels, fontsize=9)
        for tick, record in zip(ax.get_yticklabels(), records, strict=True):
            if record["kind"] == "ours":
                tick.set_fontweight("bold")
                tick.set_color(COLORS["ours"])
        for row in range(1, len(records)):
            if records[row]["engine"] != records[row - 1]["engine"]:
                ax.axhline(row - 0.5, color="black", linewidth=0.6, alpha=0.6)
        ax.invert_yaxis()
        if drawn:
            ax.set_xscale("log")
            left, right = ax.get_xlim()
            ax.set_xlim(left, right * 8)  # room for the value labels
        ax.set_title(f"{title} — {direction}", fontsize=11)
        ax.grid(axis="x", which="both", alpha=0.25)
    machine = result["machine"]
    fig.suptitle(
        f"channels-core benchmark, {result['date']} — {machine['cpu_count']} x "
        f"{machine['cpu_model']}, Python {machine['python']}  (ours: orange, peers: blue, "
        "raw client ceiling: grey; † threads / ‡ tasks of one process)",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

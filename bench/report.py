"""Turn the runs into figures: medians and spreads, ratios, the Markdown table and the JSON.

Figures are medians over the runs that finished (runs that timed out contribute what they
measured and flag the cell). The spread is half the range of the runs as a percentage of the
median (``±4%``). Ratios say how many times *better* ours is (so ``>1`` favours ours): for
rates ours/other, for times other/ours; "peer" is the best peer on the same engine, "ceiling"
the raw client of that engine.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import statistics
from typing import Any

from .targets import engines

#: workload -> metric -> True if higher is better
METRICS: dict[str, dict[str, bool]] = {
    "B1": {"send_rate": True, "recv_rate": True},
    "B2": {"rate": True, "peak_rss_mib": False},
    "B3": {"p50_ms": False, "p90_ms": False, "p99_ms": False},
    "B4": {"call_ms": False, "all_ms": False},
    "soak": {"rss_before_mib": False, "rss_after_mib": False, "growth_mib": False},
}
#: Counters reported as the worst run: max for losses, min for deliveries.
WORST_MAX = ("lost", "duplicates", "reordered", "full", "stale")
WORST_MIN = ("delivered", "received", "completed", "messages")
#: The metrics that get ratios in the table.
RATIO_METRICS = {
    "B1": ("send_rate", "recv_rate"),
    "B2": ("rate",),
    "B3": ("p50_ms",),
    "B4": ("call_ms", "all_ms"),
}
PACKAGES = (
    "channels-core",
    "msgpack",
    "redis",
    "psycopg",
    "psycopg-pool",
    "pika",
    "kafka-python",
    "channels",
    "channels_redis",
    "channels_rabbitmq",
    "channels_postgres",
    "carehare",
    "Django",
    "matplotlib",
)


def summarize(workload: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median/min/max/spread of each metric over the runs, the worst counters, a status."""
    usable = [run for run in runs if "error" not in run]
    errors = [str(run["error"]) for run in runs if "error" in run]
    summary: dict[str, Any] = {
        "runs": len(runs),
        "usable_runs": len(usable),
        "timed_out_runs": sum(1 for run in runs if run.get("timed_out")),
        "metrics": {},
        "counts": {},
    }
    if not usable:
        summary["status"] = (
            "timed out"
            if errors and all(e == "timed out" for e in errors)
            else f"error: {errors[0]}"
            if errors
            else "not run"
        )
        return summary
    summary["status"] = "timed out" if summary["timed_out_runs"] else "ok"
    if errors:
        summary["errors"] = errors
    for metric in METRICS.get(workload, {}):
        values = [float(run[metric]) for run in usable if run.get(metric) is not None]
        if not values:
            continue
        median = statistics.median(values)
        spread = (max(values) - min(values)) / 2 / median * 100 if median else 0.0
        summary["metrics"][metric] = {
            "median": median,
            "min": min(values),
            "max": max(values),
            "spread_pct": spread,
            "n": len(values),
        }
    for counter in WORST_MAX:
        values = [int(run[counter]) for run in usable if run.get(counter) is not None]
        if values:
            summary["counts"][counter] = max(values)
    for counter in WORST_MIN:
        values = [int(run[counter]) for run in usable if run.get(counter) is not None]
        if values:
            summary["counts"][counter] = min(values)
    for key in ("members", "sent", "served"):
        values = [int(run[key]) for run in usable if run.get(key) is not None]
        if values:
            summary["counts"][key] = max(values)
    return summary


def median_of(record: dict[str, Any], workload: str, metric: str) -> float | None:
    summary = record.get("summary", {}).get(workload)
    if not summary:
        return None
    value = summary["metrics"].get(metric)
    return None if value is None else float(value["median"])


def better_ratio(ours: float, other: float, higher_is_better: bool) -> float | None:
    if not ours or not other:
        return None
    return ours / other if higher_is_better else other / ours


def compute_ratios(records: list[dict[str, Any]]) -> None:
    """Attach ``ratios[workload][metric] = {"peer": x, "ceiling": y}`` to our rows."""
    for record in records:
        if record["kind"] != "ours":
            continue
        ratios: dict[str, dict[str, dict[str, float | None]]] = {}
        for workload, metrics in RATIO_METRICS.items():
            for metric in metrics:
                ours = median_of(record, workload, metric)
                if ours is None:
                    continue
                higher = METRICS[workload][metric]
                peers = [
                    value
                    for other in records
                    if other["kind"] == "peer" and other["engine"] == record["engine"]
                    for value in [median_of(other, workload, metric)]
                    if value is not None
                ]
                best = (max(peers) if higher else min(peers)) if peers else None
                ceiling = next(
                    (
                        median_of(other, workload, metric)
                        for other in records
                        if other["kind"] == "ceiling" and other["engine"] == record["engine"]
                    ),
                    None,
                )
                ratios.setdefault(workload, {})[metric] = {
                    "peer": better_ratio(ours, best, higher) if best else None,
                    "ceiling": better_ratio(ours, ceiling, higher) if ceiling else None,
                }
        record["ratios"] = ratios


# -- formatting -----------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def fmt_ms(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _ratio_text(record: dict[str, Any], workload: str, metric: str) -> str:
    ratio = record.get("ratios", {}).get(workload, {}).get(metric)
    if not ratio:
        return ""
    parts = []
    if ratio.get("peer"):
        parts.append(f"{ratio['peer']:.2f}x peer")
    if ratio.get("ceiling"):
        parts.append(f"{ratio['ceiling']:.2f}x ceil")
    return f" ({', '.join(parts)})" if parts else ""


def _figure(record: dict[str, Any], workload: str, metric: str, kind: str) -> str:
    summary = record.get("summary", {}).get(workload)
    if summary is None:
        return "-"
    value = summary["metrics"].get(metric)
    if value is None:
        return summary["status"] if summary["status"] != "ok" else "-"
    number = fmt_rate(value["median"]) if kind == "rate" else fmt_ms(value["median"])
    text = number
    if value["n"] > 1:
        text += f" ±{value['spread_pct']:.0f}%"
    if summary["timed_out_runs"]:
        text += " (timed out)"
    return text + _ratio_text(record, workload, metric)


def _b2_counts(record: dict[str, Any]) -> str:
    summary = record.get("summary", {}).get("B2")
    if not summary or not summary["usable_runs"]:
        return "-"
    counts = summary["counts"]
    text = f"{counts.get('duplicates', 0)} / {counts.get('lost', 0)}"
    if counts.get("reordered"):
        text += f" ({counts['reordered']} out of order)"
    return text


def _b3(record: dict[str, Any]) -> str:
    summary = record.get("summary", {}).get("B3")
    if summary is None:
        return "-"
    metrics = summary["metrics"]
    if "p50_ms" not in metrics:
        return summary["status"]
    text = " / ".join(
        fmt_ms(metrics[m]["median"]) if m in metrics else "-"
        for m in ("p50_ms", "p90_ms", "p99_ms")
    )
    lost = summary["counts"].get("lost")
    if lost:
        text += f", {lost} lost"
    if summary["timed_out_runs"]:
        text += " (timed out)"
    return text + _ratio_text(record, "B3", "p50_ms")


def _b4_all(record: dict[str, Any]) -> str:
    text = _figure(record, "B4", "all_ms", "ms")
    summary = record.get("summary", {}).get("B4")
    if summary and summary["usable_runs"]:
        counts = summary["counts"]
        delivered, members = counts.get("delivered"), counts.get("members")
        if delivered is not None and members is not None and delivered < members:
            text = f"{text}; {delivered}/{members} delivered"
    return text


def _memory(record: dict[str, Any]) -> str:
    parts = []
    b2 = record.get("summary", {}).get("B2")
    if b2 and "peak_rss_mib" in b2["metrics"]:
        parts.append(f"B2 peak {b2['metrics']['peak_rss_mib']['median']:.0f}")
    soak = record.get("summary", {}).get("soak")
    if soak and "rss_before_mib" in soak["metrics"]:
        m = soak["metrics"]
        messages = soak["counts"].get("messages", 0)
        parts.append(
            f"soak {messages // 1000}k: {m['rss_before_mib']['median']:.1f} → "
            f"{m['rss_after_mib']['median']:.1f} ({m['growth_mib']['median']:+.1f})"
        )
    elif soak:
        parts.append(f"soak: {soak['status']}")
    return "; ".join(parts) if parts else "-"


def row_label(record: dict[str, Any]) -> str:
    mark = {"threads": " †", "tasks": " ‡"}.get(record.get("topology") or "", "")
    name = record["name"] + mark
    return f"**{name}**" if record["kind"] == "ours" else name


HEADER = (
    "| Layer | B1 send msg/s | B1 receive msg/s | B2 end-to-end msg/s | B2 dup / lost "
    "| B3 p50 / p90 / p99 ms | B4 send_group call ms | B4 all delivered ms | Memory MiB |"
)


def markdown_table(records: list[dict[str, Any]]) -> str:
    lines = [HEADER, "|" + "---|" * 9]
    engine = None
    titles = engines()
    for record in records:
        if record["engine"] != engine:
            engine = record["engine"]
            lines.append(f"| *{titles.get(engine, engine)}* |" + " |" * 8)
        if record["status"] != "ok":
            lines.append(f"| {row_label(record)} | {record['status']} |" + " |" * 7)
            continue
        cells = [
            row_label(record),
            _figure(record, "B1", "send_rate", "rate"),
            _figure(record, "B1", "recv_rate", "rate"),
            _figure(record, "B2", "rate", "rate"),
            _b2_counts(record),
            _b3(record),
            _figure(record, "B4", "call_ms", "ms"),
            _b4_all(record),
            _memory(record),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """The paste-ready report: heading, table, how to read it, notes."""
    records = result["targets"]
    machine = result["machine"]
    settings = result["settings"]
    counts = settings["counts"]
    lines = [
        f"### channels-core benchmark — {result['date']}",
        "",
        f"Machine: {machine['cpu_count']} x {machine['cpu_model']}, {machine['os']}, "
        f"Python {machine['python']}. Runs per figure: up to {settings['runs']}"
        + (" (quick mode)" if settings["quick"] else "")
        + f"; total {result['elapsed_s']:.0f} s.",
        "",
        markdown_table(records),
        "",
        f"B1: {counts['B1']:,} messages of ~100 bytes sent, then received, by one process. "
        f"B2: {counts['B2']:,} messages from a producer process to a consumer process "
        f"(end-to-end rate; duplicates and lost counted by sequence number). B3: "
        f"{counts['B3']:,} request/reply round trips between two processes, a new reply "
        f"channel per request. B4: one send_group to {counts['B4']:,} members, then every "
        f"member receives. Memory: peak RSS of the B2 consumer; RSS before → after a "
        f"{counts['soak']:,}-message soak (ours only).",
        "",
        "Figures are medians ±half the range of the runs. Ratios say how many times better "
        "ours is (>1 = ours better): vs the best peer on the same engine, and vs the raw "
        "client (ceiling).",
        "",
        "† in-process layer: B2/B3 between two threads of one process. "
        "‡ in-process async layer: B2/B3 as two tasks on one event loop.",
    ]
    notes = []
    for record in records:
        for note in record.get("notes", []):
            notes.append(f"- {record['name']}: {note}")
        for workload, summary in record.get("summary", {}).items():
            if summary.get("usable_runs", 0) < summary.get("runs", 0) and summary.get("errors"):
                notes.append(f"- {record['name']} {workload}: {summary['errors'][0]}")
            elif 0 < summary.get("runs", 0) < settings["runs"] and workload != "soak":
                notes.append(
                    f"- {record['name']} {workload}: {summary['runs']} run(s) only (time budget)"
                )
    for skipped in result.get("skipped", []):
        notes.append(f"- not benchmarked: {skipped}")
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


# -- machine and packages -------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

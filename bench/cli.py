"""``python -m bench`` (or ``channels-core bench`` in a checkout): run B1-B4 on every target.

Prints the Markdown report on stdout, a progress bar on stderr, and writes ``bench.md``,
``bench.json`` and ``bench.png`` to the output directory (``bench-results/`` by default).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from channels_core.argtypes import positive_int

from . import http, report, targets
from .runner import Progress, Settings, run_all, total_steps

ALL_WORKLOADS = ("B1", "B2", "B3", "B4")


def _workloads(text: str) -> list[str]:
    chosen = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [w for w in chosen if w not in ALL_WORKLOADS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown workload(s) {', '.join(unknown) or text!r}: choose from "
            f"{','.join(ALL_WORKLOADS)}"
        )
    return [w for w in ALL_WORKLOADS if w in chosen]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="channels-core bench",
        description="Benchmark channel layers (SPEC §9): B1 burst, B2 producer->consumer, "
        "B3 request/reply, B4 send_group; ours, the peers and the raw clients side by side.",
    )
    p.add_argument(
        "--layers",
        nargs="+",
        metavar="SPEC",
        help="our layers as load_layer specs (short name, URL or dotted path); default: every "
        "backend of ours whose module exists and whose server answers on 127.0.0.1",
    )
    p.add_argument(
        "--peers",
        nargs="*",
        metavar="NAME",
        help=f"peer layers to include (default: all): {', '.join(targets.PEERS)}",
    )
    p.add_argument("--no-peers", action="store_true", help="leave the peers out")
    p.add_argument(
        "--ceilings",
        nargs="*",
        metavar="ENGINE",
        help=f"raw-client ceiling rows (default: all): {', '.join(targets.CEILINGS)}",
    )
    p.add_argument("--no-ceilings", action="store_true", help="leave the ceiling rows out")
    p.add_argument(
        "--workloads",
        type=_workloads,
        default=list(ALL_WORKLOADS),
        metavar="B1,B2,...",
        help="which workloads to run (default: all four)",
    )
    p.add_argument("--runs", type=positive_int, help="runs per figure (default 3, quick 1)")
    p.add_argument("--quick", action="store_true", help="small counts, for tests and smoke runs")
    p.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="time for the whole run, shared among the rows (default 540; 0 = no limit; "
        "no limit with --quick)",
    )
    p.add_argument("--no-soak", action="store_true", help="skip the memory soak")
    p.add_argument(
        "--http",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the 'HTTP through an interface server' rows: daphne 1.4.2 and uvicorn + the "
        "bridge in front of a worker on each network backend, or on those --layers names "
        "(default: on, off with --quick)",
    )
    p.add_argument(
        "--output",
        type=Path,
        default=Path("bench-results"),
        metavar="DIR",
        help="where bench.md, bench.json and bench.png go (default: bench-results/)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 if at least one row ran, 1 if none could, 2 on bad arguments."""
    args = parser().parse_args(argv)
    token = f"bench{os.urandom(4).hex()}"
    broker = targets.local_kafka(
        args.layers, None if args.no_ceilings else list(args.ceilings or [])
    )
    try:
        return _run(args, token, None if broker is None else broker.url)
    finally:
        if broker is not None:
            broker.cleanup()


def _run(args: argparse.Namespace, token: str, kafka_url: str | None) -> int:
    try:
        chosen, skipped = targets.ours(args.layers, token, kafka_url)
        if not args.no_peers:
            chosen += targets.peers(args.peers or None, token)
        if not args.no_ceilings:
            chosen += targets.ceilings(args.ceilings or None, token)
    except ValueError as error:
        parser().error(str(error))
    chosen = targets.ordered(chosen)
    settings = Settings.make(
        quick=args.quick, runs=args.runs, workloads=args.workloads, soak=not args.no_soak
    )
    if args.time_limit is not None:
        settings.time_limit = args.time_limit if args.time_limit > 0 else None
    started = time.monotonic()
    progress = Progress(total_steps(chosen, settings))
    try:
        records = run_all(chosen, settings, progress)
    finally:
        progress.close()
    for record in records:
        record["summary"] = {
            workload: report.summarize(workload, runs)
            for workload, runs in record["workloads"].items()
        }
    report.compute_ratios(records)
    run_http = args.http if args.http is not None else not args.quick
    http_requests = 200 if args.quick else 2000
    http_rows = (
        http.run(http_requests, targets.network_urls(args.layers, kafka_url)) if run_http else []
    )
    result = {
        "date": report.now_utc(),
        "elapsed_s": time.monotonic() - started,
        "machine": report.machine_info(),
        "packages": report.package_versions(),
        "settings": {
            "runs": settings.runs,
            "workloads": settings.workloads,
            "counts": settings.counts,
            "caps_s": settings.caps,
            "idle_s": settings.idle,
            "budget_s": settings.budget,
            "time_limit_s": settings.time_limit,
            "quick": settings.quick,
        },
        "skipped": skipped,
        "targets": records,
        "http": {"requests": http_requests, "rows": http_rows} if run_http else None,
    }
    text = report.markdown(result)
    if run_http:
        text += "\n" + http.markdown(http_rows, http_requests)
    print(text)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "bench.md").write_text(text, encoding="utf-8")
    (args.output / "bench.json").write_text(
        json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8"
    )
    from .chart import draw

    draw(result, args.output / "bench.png")
    print(f"Wrote {args.output}/bench.md, bench.json and bench.png")
    return 0 if any(r["status"] == "ok" for r in records) else 1

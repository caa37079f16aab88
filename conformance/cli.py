"""``python -m conformance``: run the suite against a layer and print a per-clause report.

Usage::

    python -m conformance LAYER [--config JSON] [--format text|markdown|json|jsonl] [--clause ID]...
    python -m conformance matrix [LAYER...] [--config JSON]
    python -m conformance --matrix LAYER [LAYER...]
    python -m conformance matrix --peers [--time-limit SECONDS] [--write FILE]

``matrix`` without LAYERs runs every registered backend (:mod:`channels_core.registry`) on its
local server.

``LAYER`` is anything ``channels_core.load_layer`` accepts (``inmemory``, ``redis://...``,
``package.module:Class``), or a Channels 4 layer class (``channels_redis.core:RedisChannelLayer``),
driven through :mod:`conformance.channels4`. A progress bar goes to stderr; the report to stdout
(``jsonl``: one JSON line per clause, as each finishes). ``matrix --peers`` runs the suite on
Channels' own layers and the other packages' (:mod:`conformance.peers`). The exit status is 1 if
any clause of a layer failed (not for ``--peers``: a peer's failures are findings), 2 on a usage
or configuration error, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .registry import Clause, NotApplicable, all_clauses
from .report import FORMATS, ProgressBar, format_jsonl_line, format_matrix
from .runner import ClauseResult, Progress, Report, run


def _config(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise SystemExit(f"--config is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise SystemExit(f"--config must be a JSON object, got {type(value).__name__}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Run the channel-layer conformance suite (SPEC §2-§5) against a layer.",
    )
    parser.add_argument(
        "layers", nargs="*", metavar="LAYER", help="short name, URL or module:Class"
    )
    parser.add_argument("--config", help="constructor options as a JSON object")
    parser.add_argument("--format", choices=sorted([*FORMATS, "jsonl"]), default="text")
    parser.add_argument(
        "--clause",
        action="append",
        dest="clauses",
        metavar="ID",
        help="run only this clause or family (repeatable), e.g. order.fifo or groups",
    )
    parser.add_argument("--matrix", action="store_true", help="print a layers x clauses matrix")
    parser.add_argument(
        "--peers", action="store_true", help="with matrix: the Channels 4 peer layers"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --peers: the time limit of each peer (default 300)",
    )
    parser.add_argument(
        "--write",
        metavar="FILE",
        help="with --peers: replace the generated section of FILE (e.g. docs/conformance.md)",
    )
    parser.add_argument("--list", action="store_true", help="list clause ids and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def _registered_layers() -> list[str]:
    """Every registered backend, on its local server (``matrix`` without LAYERs)."""
    from channels_core.registry import registry

    return [backend.spec for backend in registry()]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        for clause in all_clauses().values():
            extension = f" [{clause.extension}]" if clause.extension else ""
            print(f"{clause.id}{extension}: {clause.title}")
        return 0
    layers = list(args.layers)
    matrix = args.matrix
    if layers and layers[0] == "matrix":
        matrix, layers = True, layers[1:]
    if args.peers:
        return _peer_matrix(args, layers)
    if not layers and matrix:
        layers = _registered_layers()
    if not layers:
        print(
            "give at least one LAYER (e.g. inmemory or redis://127.0.0.1:6379/0)", file=sys.stderr
        )
        return 2
    if len(layers) > 1 and not matrix:
        print("several layers need `matrix` (or --matrix)", file=sys.stderr)
        return 2
    config = _config(args.config)
    reports: list[Report] = []
    for layer in layers:
        progress: Progress | None = None if args.no_progress else ProgressBar(layer)
        if args.format == "jsonl":
            progress = _stream_results
        try:
            reports.append(run(layer, config, args.clauses, progress=progress))
        except (KeyError, ValueError, ImportError, ConnectionError, NotApplicable) as error:
            print(f"cannot run the suite on {layer}: {error}", file=sys.stderr)
            return 2
    if matrix:
        print(format_matrix(reports))
    elif args.format != "jsonl":
        print(FORMATS[args.format](reports[0]))
    return 0 if all(report.ok for report in reports) else 1


def _stream_results(done: int, total: int, clause: Clause, result: ClauseResult | None) -> None:
    if result is not None:
        print(format_jsonl_line(result), flush=True)


def _peer_matrix(args: argparse.Namespace, layers: list[str]) -> int:
    from . import peers

    if layers:
        print("matrix --peers takes no LAYER: the peers are fixed", file=sys.stderr)
        return 2
    limit = peers.DEFAULT_TIME_LIMIT if args.time_limit is None else args.time_limit
    runs = peers.run_matrix(limit, args.clauses, progress=None if args.no_progress else sys.stderr)
    section = peers.format_peer_matrix(runs, limit)
    if args.write:
        peers.write_between_markers(args.write, section)
        print(f"wrote the peer matrix into {args.write}", file=sys.stderr)
    else:
        print(section)
    return 0

"""``python -m conformance``: run the suite against a layer and print a per-clause report.

Usage::

    python -m conformance LAYER [--config JSON] [--format text|markdown|json] [--clause ID]...
    python -m conformance matrix [LAYER...] [--config JSON]
    python -m conformance --matrix LAYER [LAYER...]

``matrix`` without LAYERs runs every registered backend (:mod:`channels_core.registry`) on its
local server.

``LAYER`` is anything ``channels_core.load_layer`` accepts (``inmemory``, ``redis://...``,
``package.module:Class``). A progress bar goes to stderr; the report to stdout. The exit status
is 1 if any clause failed, 2 on a usage or configuration error, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .registry import all_clauses
from .report import FORMATS, ProgressBar, format_matrix
from .runner import Report, run


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
    parser.add_argument("--format", choices=sorted(FORMATS), default="text")
    parser.add_argument(
        "--clause",
        action="append",
        dest="clauses",
        metavar="ID",
        help="run only this clause or family (repeatable), e.g. order.fifo or groups",
    )
    parser.add_argument("--matrix", action="store_true", help="print a layers x clauses matrix")
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
        progress = None if args.no_progress else ProgressBar(layer)
        try:
            reports.append(run(layer, config, args.clauses, progress=progress))
        except (KeyError, ValueError, ImportError, ConnectionError) as error:
            print(f"cannot run the suite on {layer}: {error}", file=sys.stderr)
            return 2
    if matrix:
        print(format_matrix(reports))
    else:
        print(FORMATS[args.format](reports[0]))
    return 0 if all(report.ok for report in reports) else 1

"""Rendering reports: a text table, markdown, JSON, and a markdown matrix of layers x clauses."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TextIO

from .registry import Clause, all_clauses
from .runner import (
    DEVIATION,
    FAILED,
    NOT_APPLICABLE,
    NOT_DECLARED,
    NOT_RUN,
    PASSED,
    STATUSES,
    ClauseResult,
    Report,
)

_TEXT_STATUS = {
    PASSED: "pass",
    FAILED: "FAIL",
    NOT_DECLARED: "not declared",
    DEVIATION: "deviation",
    NOT_APPLICABLE: "n/a",
    NOT_RUN: "not run",
}
_MATRIX_CELL = {
    PASSED: "✅",
    FAILED: "❌",
    NOT_DECLARED: "n/d",
    DEVIATION: "dev",
    NOT_APPLICABLE: "n/a",
    NOT_RUN: "⏱",
}
MATRIX_LEGEND = (
    "✅ passed · ❌ failed · dev: declared deviation · n/d: extension not declared · "
    "n/a: not applicable (the layer's API cannot express the clause) · ⏱: not run (time limit)"
)


def _summary(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[status]} {status}" for status in STATUSES]
    seconds = sum(result.seconds for result in report.results)
    verdict = "CONFORMS" if report.ok else "DOES NOT CONFORM"
    return f"{report.layer}: {verdict} ({', '.join(parts)}; {seconds:.1f} s)"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def format_text(report: Report) -> str:
    width = max((len(result.id) for result in report.results), default=10)
    lines = [f"Conformance of {report.layer} (extensions: {', '.join(report.extensions)})", ""]
    for result in report.results:
        status = _TEXT_STATUS[result.status]
        lines.append(f"{result.id:<{width}}  {status:<12}  {result.seconds:6.2f}s  {result.title}")
        if result.status in (DEVIATION, NOT_APPLICABLE):
            lines.append(f"{'':<{width}}  reason: {result.detail}")
    failures = [result for result in report.results if result.failed]
    for result in failures:
        clause = all_clauses().get(result.id)
        lines += ["", f"--- {result.id} FAILED: {result.title}"]
        if clause is not None:
            lines.append(f"    SPEC {clause.section}: {clause.quote}")
        lines += ["    " + line for line in result.detail.splitlines()]
    lines += ["", _summary(report)]
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(report: Report) -> str:
    lines = [
        f"## Conformance of `{report.layer}`",
        "",
        f"Extensions: {', '.join(f'`{e}`' for e in report.extensions) or 'none'}",
        "",
        "| clause | title | result | time | note |",
        "|---|---|---|---:|---|",
    ]
    for result in report.results:
        note = _md_escape(_first_line(result.detail)) if result.status != PASSED else ""
        lines.append(
            f"| `{result.id}` | {_md_escape(result.title)} | {result.status} | "
            f"{result.seconds:.2f}s | {note} |"
        )
    lines += ["", _summary(report)]
    return "\n".join(lines)


def format_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2)


def format_jsonl_line(result: ClauseResult) -> str:
    """One clause result as one JSON line (``--format jsonl`` streams them as they finish)."""
    return json.dumps(asdict(result))


FORMATS = {"text": format_text, "markdown": format_markdown, "json": format_json}


def format_matrix(reports: list[Report]) -> str:
    """A markdown table: one row per clause, one column per layer (for the README)."""
    clauses: list[Clause] = list(all_clauses().values())
    header = "| clause | " + " | ".join(f"`{r.layer}`" for r in reports) + " |"
    lines = [header, "|---|" + "---|" * len(reports)]
    by_layer = [{result.id: result for result in report.results} for report in reports]
    for clause in clauses:
        if not any(clause.id in results for results in by_layer):
            continue  # not run for any layer (the run was limited to some clauses)
        cells = []
        for results in by_layer:
            result: ClauseResult | None = results.get(clause.id)
            cells.append(_MATRIX_CELL[result.status] if result else "")
        lines.append(f"| `{clause.id}` | " + " | ".join(cells) + " |")
    lines += ["", MATRIX_LEGEND]
    return "\n".join(lines)


class ProgressBar:
    """A one-line progress bar on a stream (stderr), redrawn in place on a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()

    def __call__(self, done: int, total: int, clause: Clause, result: ClauseResult | None) -> None:
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        state = "..." if result is None else _TEXT_STATUS[result.status]
        line = f"{self.label} [{bar}] {done}/{total} {clause.id} {state}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            if done == total and result is not None:
                self.stream.write("\n")
        elif result is not None:
            self.stream.write(line + "\n")
        self.stream.flush()

"""Run clauses against a layer and collect a :class:`Report` (the CLI and the tests use this).

Outcome of each clause:

``passed``        the check ran and the layer kept the rule;
``failed``        the check ran and the layer broke it (``detail`` says how);
``not declared``  the clause belongs to an extension the layer does not list in ``extensions``;
``deviation``     the layer declares a deliberate deviation for it (``deviations``), with a reason;
``not applicable`` the layer's API cannot express the check (a Channels 4 layer has no receive
                  over several channels, no ``!`` prefix receive, no statistics...), with why.

Only ``failed`` makes a report fail; ``not applicable`` is neither a pass nor a failure.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .context import Context, LayerFactory, unique_prefix
from .registry import Clause, NotApplicable, declares, select

PASSED = "passed"
FAILED = "failed"
NOT_DECLARED = "not declared"
DEVIATION = "deviation"
NOT_APPLICABLE = "not applicable"
#: Only in the peer matrix: the per-layer time limit stopped the run before this clause.
NOT_RUN = "not run"
#: Every status, in report order.
STATUSES = (PASSED, FAILED, DEVIATION, NOT_APPLICABLE, NOT_DECLARED, NOT_RUN)


@dataclass
class ClauseResult:
    id: str
    title: str
    status: str
    seconds: float = 0.0
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAILED


@dataclass
class Report:
    layer: str
    results: list[ClauseResult] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no clause failed."""
        return not any(result.failed for result in self.results)

    def result(self, clause_id: str) -> ClauseResult:
        for result in self.results:
            if result.id == clause_id:
                return result
        raise KeyError(clause_id)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for result in self.results:
            counts[result.status] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "ok": self.ok,
            "extensions": self.extensions,
            "counts": self.counts(),
            "results": [asdict(result) for result in self.results],
        }


@dataclass(frozen=True)
class LayerFacts:
    """What a layer declares about itself: its extensions, deliberate deviations, and the
    clauses its API cannot express (``conformance_not_applicable``, set by the Channels 4
    adapter: clause id or family -> reason)."""

    extensions: list[str]
    deviations: dict[str, str]
    not_applicable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def probe(cls, factory: LayerFactory) -> LayerFacts:
        layer = factory(prefix=unique_prefix())
        try:
            return cls(
                list(getattr(layer, "extensions", [])),
                dict(getattr(layer, "deviations", {})),
                dict(getattr(layer, "conformance_not_applicable", {})),
            )
        finally:
            layer.close()


def skip_reason(clause: Clause, facts: LayerFacts) -> tuple[str, str] | None:
    """``(status, reason)`` when the clause does not apply to the layer, else None."""
    not_applicable = clause.deviation_reason(facts.not_applicable)
    if not_applicable is not None:
        return NOT_APPLICABLE, not_applicable
    if clause.extension is not None and not declares(facts.extensions, clause.extension):
        return NOT_DECLARED, f"the layer does not declare the {clause.extension!r} extension"
    reason = clause.deviation_reason(facts.deviations)
    if reason is not None:
        return DEVIATION, reason
    return None


def describe_failure(error: BaseException) -> str:
    """A readable failure: the message, hypothesis' notes (falsifying steps) and where."""
    lines = [f"{type(error).__name__}: {error}".rstrip()]
    lines.extend(str(note) for note in getattr(error, "__notes__", ()))
    # hypothesis reports a failure that did not reproduce as a group of the original errors.
    for inner in getattr(error, "exceptions", ()):
        lines.append(f"  caused by {type(inner).__name__}: {inner}".rstrip())
        lines.extend("  " + str(note) for note in getattr(inner, "__notes__", ()))
    frames = traceback.extract_tb(error.__traceback__)
    suite_frames = [f for f in frames if "conformance" in f.filename]
    if suite_frames:
        where = suite_frames[-1]
        lines.append(f"(at {where.filename.rsplit('/', 1)[-1]}:{where.lineno} in {where.name})")
    return "\n".join(lines)


def execute(
    clause: Clause,
    factory: LayerFactory,
    spec: str | None = None,
    config: dict[str, Any] | None = None,
) -> ClauseResult:
    """Run one clause (no applicability check) and return its result."""
    started = time.monotonic()
    status, detail = PASSED, ""
    context = Context(factory, spec, config)
    try:
        try:
            clause.check(context)
        finally:
            context.close()
    except NotApplicable as error:
        status, detail = NOT_APPLICABLE, str(error)
    except Exception as error:
        status, detail = FAILED, describe_failure(error)
    return ClauseResult(clause.id, clause.title, status, time.monotonic() - started, detail)


def spec_factory(spec: str, config: dict[str, Any] | None) -> LayerFactory:
    """``open_layer(spec, {**config, **overrides})`` as a factory (``load_layer``, or the
    Channels 4 adapter for a Channels 4 layer class)."""
    from .channels4 import open_layer

    base = dict(config or {})

    def factory(**overrides: Any) -> Any:
        return open_layer(spec, {**base, **overrides})

    return factory


Progress = Callable[[int, int, Clause, ClauseResult | None], None]


def run(
    layer_spec: str,
    config: dict[str, Any] | None = None,
    clauses: Iterable[str] | None = None,
    *,
    factory: LayerFactory | None = None,
    progress: Progress | None = None,
) -> Report:
    """Run the suite (or the named clauses / families) against a layer; return the report.

    ``layer_spec`` is anything ``channels_core.load_layer`` accepts; ``config`` its options.
    A custom ``factory(**options)`` may replace ``load_layer`` (clauses that start a child
    process still rebuild the layer there from ``layer_spec`` and ``config``).
    """
    chosen = select(list(clauses) if clauses is not None else None)
    build = factory or spec_factory(layer_spec, config)
    facts = LayerFacts.probe(build)
    report = Report(layer=layer_spec, extensions=facts.extensions)
    for index, clause in enumerate(chosen):
        if progress is not None:
            progress(index, len(chosen), clause, None)
        skipped = skip_reason(clause, facts)
        if skipped is not None:
            result = ClauseResult(clause.id, clause.title, skipped[0], 0.0, skipped[1])
        else:
            result = execute(clause, build, layer_spec, config)
        report.results.append(result)
        if progress is not None:
            progress(index + 1, len(chosen), clause, result)
    return report

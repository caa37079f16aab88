"""The conformance suite rejects each deliberately broken layer and accepts the real one."""

from __future__ import annotations

import pytest

import conformance
from tests.conformance.mutants import MUTANTS

MODULE = "tests.conformance.mutants"


@pytest.mark.parametrize(("mutant", "clause_id"), sorted(MUTANTS.items()))
def test_suite_rejects_mutant(mutant: str, clause_id: str) -> None:
    report = conformance.run(f"{MODULE}:{mutant}", {}, clauses=[clause_id])
    result = report.result(clause_id)
    assert result.status == "failed", f"{mutant} passed {clause_id}: the clause cannot fail"
    assert not report.ok
    # The clause's own check caught it (not a crash of the mutant or of the suite).
    assert result.detail.startswith("AssertionError"), result.detail


#: Mutants the stateful model comparison also finds on its own (a sample: it is slower).
MODEL_CATCHES = ["DiscardIgnoredLayer", "FlushKeepsGroupsLayer", "WrongBangNameLayer"]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("mutant", MODEL_CATCHES)
def test_stateful_model_rejects_mutant(mutant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")  # derandomized: the same sequences on every run
    report = conformance.run(f"{MODULE}:{mutant}", {}, clauses=["model.stateful"])
    result = report.result("model.stateful")
    assert result.status == "failed", f"the stateful test accepted {mutant}"
    assert "state." in result.detail, f"no readable counterexample:\n{result.detail}"


def test_suite_accepts_the_inmemory_layer_on_every_mutant_clause() -> None:
    report = conformance.run("inmemory", {}, clauses=sorted(set(MUTANTS.values())))
    failures = [f"{r.id}: {r.detail}" for r in report.results if r.failed]
    assert report.ok, "\n".join(failures)
    assert all(result.status == "passed" for result in report.results)


def test_undeclared_extensions_are_reported_as_not_declared() -> None:
    clauses = ["groups", "async", "twisted", "order"]
    report = conformance.run(f"{MODULE}:CoreOnlyLayer", {}, clauses=clauses)
    statuses = {result.id: result.status for result in report.results}
    assert statuses["groups.discard"] == "not declared"
    assert statuses["async.receive"] == "not declared"
    assert statuses["twisted.receive"] == "not declared"
    assert statuses["order.fifo"] == "passed"
    assert report.ok


def test_async_is_an_alias_of_the_asyncio_extension() -> None:
    report = conformance.run(f"{MODULE}:OldAsyncNameLayer", {}, clauses=["async"])
    assert {result.status for result in report.results} == {"passed"}


def test_declared_deviations_are_reported_as_such() -> None:
    report = conformance.run("inmemory", {}, clauses=["cross-process", "cross-instance"])
    assert {result.status for result in report.results} == {"deviation"}
    assert all("in-memory" in result.detail for result in report.results)

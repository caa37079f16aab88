"""The suite's example budget: a class default, overridden by the environment when set."""

from __future__ import annotations

import pytest

from conformance.settings import DEFAULT_MAX_EXAMPLES, examples_budget, max_examples


def test_budget_applies_within_its_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFORMANCE_MAX_EXAMPLES", raising=False)
    with examples_budget(7):
        assert max_examples() == 7
        with examples_budget(None):
            assert max_examples() == DEFAULT_MAX_EXAMPLES
    assert max_examples() == DEFAULT_MAX_EXAMPLES


def test_environment_wins_over_a_class_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFORMANCE_MAX_EXAMPLES", "200")
    with examples_budget(7):
        assert max_examples() == 200


@pytest.mark.parametrize("bad", [0, -3, True])
def test_a_budget_that_is_not_a_positive_int_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="examples budget must be a positive int"):
        with examples_budget(bad):
            pass

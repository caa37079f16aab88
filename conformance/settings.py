"""Hypothesis settings of the suite: bounded so a run fits a CI budget on any backend.

The suite never relies on the caller's hypothesis profile (a user's project may have none, or
one with thousands of examples). Environment knobs:

``CONFORMANCE_MAX_EXAMPLES`` (50)   examples per property clause and per stateful run;
``CONFORMANCE_STEPS`` (40)          steps per stateful run;
``CI`` (unset)                      when set, runs are derandomized (reproducible).

A test class may lower its own default (:func:`examples_budget`, used by
``LayerConformance.max_examples``) for a layer whose round trips are slow; the environment
variable, when set, still wins, so a deep run raises every layer's budget at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from hypothesis import HealthCheck, settings

DEFAULT_MAX_EXAMPLES = 50

_budget: ContextVar[int | None] = ContextVar("conformance_examples_budget", default=None)


def max_examples() -> int:
    """``CONFORMANCE_MAX_EXAMPLES`` if set, else the budget in force, else 50."""
    configured = os.environ.get("CONFORMANCE_MAX_EXAMPLES")
    if configured:
        return int(configured)
    return _budget.get() or DEFAULT_MAX_EXAMPLES


@contextmanager
def examples_budget(examples: int | None) -> Iterator[None]:
    """Within the block, property clauses run ``examples`` examples by default (``None``:
    the suite's default)."""
    if examples is not None and (isinstance(examples, bool) or examples < 1):
        raise ValueError(f"examples budget must be a positive int, got {examples!r}")
    token = _budget.set(examples)
    try:
        yield
    finally:
        _budget.reset(token)


def suite_settings(**overrides: Any) -> settings:
    """Settings for one property or stateful clause (``overrides`` win)."""
    options: dict[str, Any] = {
        "max_examples": max_examples(),
        "stateful_step_count": int(os.environ.get("CONFORMANCE_STEPS", "40")),
        "deadline": None,
        "derandomize": bool(os.environ.get("CI")),
        "database": None,
        "suppress_health_check": list(HealthCheck),
        "print_blob": False,
    }
    options.update(overrides)
    return settings(**options)

"""``LayerConformance``: subclass it in your own test module to run the suite with pytest.

.. code-block:: python

    from conformance import LayerConformance

    class TestMyLayer(LayerConformance):
        layer = "redis://127.0.0.1:6379/0"   # anything channels_core.load_layer accepts
        config = {"capacity": 100}           # constructor options
        max_examples = 25                    # optional: examples per property clause

Each clause becomes one test, ``test_clause[<clause id>]``; the few that sleep on purpose
(expiry) carry the ``slow`` marker (``-m "not slow"`` leaves them out). Every test builds its
layers with ``make_layer(**overrides)``, by default ``load_layer(layer, **config,
**overrides)``; the overrides are per-test options such as a unique ``prefix``, ``expiry=1``,
``capacity=3`` or ``blocking_timeout=0.5``. Override ``make_layer`` for custom construction
(keep honouring the overrides). Clauses that run a child process rebuild the layer there from
``layer`` and ``config``, so both must be picklable. Each test flushes and closes its layers.

A clause of an extension the layer does not declare is skipped as "not declared", one the
layer's API cannot express (a Channels 4 layer: :mod:`conformance.channels4`) is skipped as
"not applicable" (neither a pass nor a failure); a clause
the layer declares a deviation for (``deviations``) is reported as an expected failure
(``xfailed``) with the layer's reason: not run, not passed, and not a silent skip.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from .registry import all_clauses
from .runner import DEVIATION, FAILED, NOT_APPLICABLE, LayerFacts, execute, skip_reason
from .settings import examples_budget


class LayerConformance:
    """Base class of a pytest test class that runs every conformance clause on a layer."""

    #: The layer under test: a short name, URL or ``module:Class`` (see ``load_layer``).
    layer: ClassVar[str] = ""
    #: Options passed to the layer's constructor in every test.
    config: ClassVar[dict[str, Any]] = {}
    #: Examples per property clause and stateful run (``None``: the suite's default, 50);
    #: ``CONFORMANCE_MAX_EXAMPLES`` overrides it when set.
    max_examples: ClassVar[int | None] = None

    def make_layer(self, **overrides: Any) -> Any:
        """A new layer under test with ``config`` plus the suite's per-test ``overrides``
        (a Channels 4 layer class is driven through :mod:`conformance.channels4`)."""
        from .channels4 import open_layer

        if not self.layer:
            raise TypeError(f"{type(self).__name__}.layer must name the layer under test")
        return open_layer(self.layer, {**self.config, **overrides})

    def _layer_facts(self) -> LayerFacts:
        """The layer's extensions and deviations, probed once per test class."""
        cls = type(self)
        facts = cls.__dict__.get("_conformance_facts")
        if facts is None:
            facts = LayerFacts.probe(self.make_layer)
            cls._conformance_facts = facts  # type: ignore[attr-defined]
        return facts

    @pytest.mark.parametrize(
        "clause_id",
        [
            pytest.param(clause.id, marks=pytest.mark.slow) if clause.slow else clause.id
            for clause in all_clauses().values()
        ],
    )
    def test_clause(self, clause_id: str) -> None:
        clause = all_clauses()[clause_id]
        skipped = skip_reason(clause, self._layer_facts())
        if skipped is not None:
            status, reason = skipped
            if status == DEVIATION:
                pytest.xfail(f"declared deviation: {reason}")
            pytest.skip(f"{status}: {reason}")
        with examples_budget(self.max_examples):
            result = execute(clause, self.make_layer, self.layer or None, self.config)
        if result.status == FAILED:
            pytest.fail(f"[{clause.id}] {clause.quote}\n\n{result.detail}", pytrace=False)
        if result.status == NOT_APPLICABLE:
            pytest.skip(f"{NOT_APPLICABLE}: {result.detail}")

"""The shared conformance suite on the Kafka layer, against a real broker (never skipped).

The broker is the session's private Tansu (tests/layers/kafka_helpers.py), or the one
``TEST_KAFKA_URL`` names.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from conformance import LayerConformance
from tests.layers import kafka_helpers


@pytest.fixture(autouse=True)
def _kafka_running(kafka_url: str) -> None:
    """Start (or fail loudly about) the session's broker before each clause."""


class TestKafkaConformance(LayerConformance):
    layer: ClassVar[str] = kafka_helpers.KAFKA_URL
    config: ClassVar[dict[str, Any]] = {}
    #: Every normal channel a property example invents costs a consumer-group join (about a
    #: second on Tansu), so the CI budget runs fewer examples here than on the other backends.
    max_examples: ClassVar[int | None] = 20

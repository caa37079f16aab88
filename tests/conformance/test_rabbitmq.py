"""The shared conformance suite on the RabbitMQ layer, against the real broker (never skipped)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from conformance import LayerConformance
from tests import servers


@pytest.fixture(autouse=True)
def _rabbitmq_running(rabbitmq_url: str) -> None:
    """Start (or fail loudly about) the shared RabbitMQ before each clause."""


class TestRabbitMQConformance(LayerConformance):
    layer: ClassVar[str] = servers.RABBITMQ_URL
    config: ClassVar[dict[str, Any]] = {}

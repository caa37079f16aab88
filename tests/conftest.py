"""Shared test configuration: hypothesis profiles and the real servers' fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests import servers

# "ci": bounded and derandomized, so CI runs are reproducible and stay within budget.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=50,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def unique_prefix() -> str:
    """A layer prefix no other test (or concurrently running test process) uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    servers.require("redis")
    return servers.REDIS_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    servers.require("postgres")
    return servers.POSTGRES_URL


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    servers.require("rabbitmq")
    return servers.RABBITMQ_URL


@pytest.fixture(scope="session")
def kafka_url() -> Iterator[str]:
    """A Kafka broker for the session: a private Tansu on a spare port (fails, never skips)."""
    from tests.layers import kafka_helpers

    yield kafka_helpers.require_session_broker()
    kafka_helpers.stop_session_broker()

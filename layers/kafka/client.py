"""The one adapter on kafka-python: connection settings, producing, offsets, admin calls.

Everything else in :mod:`layers.kafka` talks to Kafka through :class:`KafkaClient` (and the
consumers it builds), so kafka-python's API and its errors appear in this module only. Every
kafka-python error becomes :class:`~channels_core.exceptions.LayerUnavailable` naming the
bootstrap servers; every call is bounded by ``request_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from channels_core.exceptions import ImproperlyConfigured, LayerUnavailable, OutcomeUnknown

try:
    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import (
        KafkaError,
        KafkaTimeoutError,
        NoError,
        TopicAlreadyExistsError,
        UnknownTopicOrPartitionError,
    )
    from kafka.structs import OffsetAndMetadata
except ModuleNotFoundError as error:  # pragma: no cover - the extra is missing
    raise ModuleNotFoundError(
        "the Kafka layer needs kafka-python: pip install 'channels-core[kafka]'", name="kafka"
    ) from error

__all__ = [
    "KafkaClient",
    "KafkaError",
    "KafkaSettings",
    "OffsetAndMetadata",
    "OutcomeUnknown",
    "TopicMissing",
    "TopicPartition",
    "UnknownTopicOrPartitionError",
    "kafka",
]

ENGINE = "Kafka"


class TopicMissing(LayerUnavailable):
    """The broker does not know the topic (e.g. a memory broker restarted): nothing was sent."""


#: Room for Kafka's own record and batch overhead above the layer's message_size_limit.
RECORD_OVERHEAD = 64 * 1024
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass
class KafkaSettings:
    """Where and how to connect: bootstrap servers and kafka-python security options."""

    bootstrap: list[str]
    security: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        url: str | None,
        bootstrap_servers: str | Sequence[str] | None,
        sasl_mechanism: str | None,
        ssl_cafile: str | None,
        ssl_certfile: str | None,
        ssl_keyfile: str | None,
        ssl_check_hostname: bool,
    ) -> KafkaSettings:
        """From ``kafka://[user:password@]host:port[,host:port...]`` (``kafka+ssl://`` for TLS)
        or from ``bootstrap_servers``; credentials select SASL (``PLAIN`` unless
        ``sasl_mechanism`` says ``SCRAM-SHA-256``/``SCRAM-SHA-512``)."""
        user = password = None
        tls = bool(ssl_cafile or ssl_certfile)
        hosts: list[str]
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("kafka", "kafka+ssl"):
                raise ImproperlyConfigured(
                    f"Kafka URL scheme must be kafka:// or kafka+ssl://, got {parts.scheme!r}"
                )
            tls = tls or parts.scheme == "kafka+ssl"
            netloc = parts.netloc
            if "@" in netloc:
                credentials, netloc = netloc.rsplit("@", 1)
                user, _, password = credentials.partition(":")
                user, password = unquote(user), unquote(password)
            if parts.query:
                unknown = sorted({pair.split("=", 1)[0] for pair in parts.query.split("&")})
                raise ImproperlyConfigured(
                    f"unknown option(s) {', '.join(map(repr, unknown))} in Kafka URL "
                    f"{parts.scheme}://{netloc}: see the layers.kafka docstring for options"
                )
            hosts = [host for host in netloc.split(",") if host]
        elif isinstance(bootstrap_servers, str):
            hosts = [host for host in bootstrap_servers.split(",") if host]
        else:
            hosts = list(bootstrap_servers or ["127.0.0.1:9092"])
        if not hosts:
            raise ImproperlyConfigured(f"no Kafka bootstrap server in {url!r}")
        hosts = [host if ":" in host else f"{host}:9092" for host in hosts]
        security: dict[str, Any] = {}
        if user:
            mechanism = (sasl_mechanism or "PLAIN").upper()
            if mechanism not in _SASL_MECHANISMS:
                raise ImproperlyConfigured(
                    f"sasl_mechanism must be one of {', '.join(_SASL_MECHANISMS)}, "
                    f"got {sasl_mechanism!r}"
                )
            security.update(
                security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
                sasl_mechanism=mechanism,
                sasl_plain_username=user,
                sasl_plain_password=password,
            )
        elif tls:
            security["security_protocol"] = "SSL"
        if tls:
            security.update(
                ssl_cafile=ssl_cafile,
                ssl_certfile=ssl_certfile,
                ssl_keyfile=ssl_keyfile,
                ssl_check_hostname=ssl_check_hostname,
            )
        return cls(hosts, security)

    def describe(self) -> str:
        return ",".join(self.bootstrap)


class KafkaClient:
    """A producer, an admin client and an offsets probe on one cluster, for one layer object.

    Thread-safe: the producer is; the admin client and the probe consumer are used under a
    lock each. Topics are created on first use (and again after a broker lost them).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        request_timeout: float,
        message_size_limit: int,
    ) -> None:
        self.settings = settings
        self.timeout = request_timeout
        self.timeout_ms = int(request_timeout * 1000)
        self.max_bytes = message_size_limit + RECORD_OVERHEAD
        self.common: dict[str, Any] = {
            "bootstrap_servers": settings.bootstrap,
            "request_timeout_ms": self.timeout_ms,
            "bootstrap_timeout_ms": self.timeout_ms,
            "reconnect_backoff_max_ms": 1000,
            **settings.security,
        }
        self._producer: Any = None
        self._admin: Any = None
        self._probe: Any = None
        self._lock = threading.Lock()
        self._admin_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._known: set[str] = set()
        self._closed = False
        #: How many calls failed so far (a layer re-checks its read positions after one).
        self.failures = 0

    # -- errors ---------------------------------------------------------------------------------

    def error(self, error: BaseException | str, doing: str = "") -> LayerUnavailable:
        """A LayerUnavailable naming the bootstrap servers and what failed."""
        self.failures += 1
        detail = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
        what = f" while {doing}" if doing else ""
        return LayerUnavailable(
            f"{ENGINE} at {self.settings.describe()} is unreachable or failing{what} ({detail})"
        )

    # -- clients ----------------------------------------------------------------------------------

    def _get_producer(self) -> Any:
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    try:
                        self._producer = KafkaProducer(
                            acks=1,
                            linger_ms=0,
                            max_block_ms=self.timeout_ms,
                            max_request_size=self.max_bytes,
                            retries=0,  # at most once: never resend a request by itself
                            delivery_timeout_ms=2 * self.timeout_ms,
                            **self.common,
                        )
                    except KafkaError as error:
                        raise self.error(error, "connecting the producer") from None
        return self._producer

    def _get_admin(self) -> Any:
        if self._admin is None:
            try:
                self._admin = KafkaAdminClient(**self.common)
            except KafkaError as error:
                raise self.error(error, "connecting the admin client") from None
        return self._admin

    def _get_probe(self) -> Any:
        if self._probe is None:
            self._probe = self.consumer()
        return self._probe

    def consumer(self, **options: Any) -> Any:
        """A new KafkaConsumer on this cluster (never auto-committing)."""
        config: dict[str, Any] = {
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "fetch_max_wait_ms": 20,
            "max_partition_fetch_bytes": self.max_bytes,
            "allow_auto_create_topics": False,
            **self.common,
            **options,
        }
        try:
            return KafkaConsumer(**config)
        except KafkaError as error:
            raise self.error(error, "connecting a consumer") from None

    # -- topics ---------------------------------------------------------------------------------

    def ensure_topics(self, specs: Mapping[str, dict[str, Any]]) -> None:
        """Create the topics of ``specs`` (name -> {partitions, configs}) not known to exist."""
        missing = {name: spec for name, spec in specs.items() if name not in self._known}
        if not missing:
            return
        request = {
            name: {
                "num_partitions": spec.get("partitions", 1),
                "replication_factor": spec.get("replication", -1),
                "configs": {"max.message.bytes": str(self.max_bytes), **spec.get("configs", {})},
            }
            for name, spec in missing.items()
        }
        with self._admin_lock:
            try:
                self._get_admin().create_topics(
                    request, timeout_ms=self.timeout_ms, raise_errors=False
                )
            except TopicAlreadyExistsError:
                pass
            except KafkaError as error:
                raise self.error(error, f"creating topics {sorted(missing)}") from None
        self._known.update(missing)

    def forget_topics(self, topics: Iterable[str] | None = None) -> None:
        """Forget that topics exist (after a broker lost them): next use creates them again."""
        if topics is None:
            self._known.clear()
        else:
            self._known.difference_update(topics)

    def list_topics(self) -> list[str]:
        with self._admin_lock:
            try:
                return list(self._get_admin().list_topics())
            except KafkaError as error:
                raise self.error(error, "listing topics") from None

    def delete_topics(self, topics: Sequence[str]) -> None:
        if not topics:
            return
        self.forget_topics(topics)
        with self._admin_lock:
            try:
                self._get_admin().delete_topics(
                    list(topics), timeout_ms=self.timeout_ms, raise_errors=False
                )
            except KafkaError as error:
                raise self.error(error, f"deleting topics {list(topics)[:5]}") from None

    # -- producing ------------------------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> int:
        """Append one record and wait for the broker's ack; returns its offset."""
        return self.produce_many([(topic, value, key, partition, timestamp_ms)])[0]

    def produce_many(
        self, records: Sequence[tuple[str, bytes | None, bytes | None, int | None, int | None]]
    ) -> list[int]:
        """Append records (batched into one request per broker) and wait for every ack."""
        producer, futures = self._submit(records)
        if len(futures) > 1:
            producer.flush(timeout=self.timeout)
        return self._outcome(records, futures, self.timeout)

    def can_produce_now(self, topics: Iterable[str]) -> bool:
        """Whether producing to ``topics`` needs no blocking step first: the producer is
        connected and knows each topic (made by this client) and its partitions."""
        producer = self._producer
        if producer is None:
            return False
        metadata = producer._metadata  # kafka-python internal: what send() would wait for
        return all(
            topic in self._known and metadata.partitions_for_topic(topic) for topic in topics
        )

    async def produce_many_async(
        self, records: Sequence[tuple[str, bytes | None, bytes | None, int | None, int | None]]
    ) -> list[int]:
        """:meth:`produce_many` as a coroutine, for topics :meth:`can_produce_now` accepts:
        the records are handed to the producer at once and the event loop is woken by their
        acks (no thread waits for them); the same outcomes and errors as the blocking call."""
        loop = asyncio.get_running_loop()
        acked = loop.create_future()
        _, futures = self._submit(records)
        remaining = len(futures)
        counting = threading.Lock()

        def one_done(_: object) -> None:  # on the producer's IO thread (or here if done)
            nonlocal remaining
            with counting:
                remaining -= 1
                last = remaining == 0
            if last:
                loop.call_soon_threadsafe(_resolve, acked)

        for future in futures:
            future.add_both(one_done)
        try:
            async with asyncio.timeout(self.timeout):
                await acked
        except TimeoutError:
            pass  # the outcome below reports the unanswered records
        return self._outcome(records, futures, 0)

    def _submit(
        self, records: Sequence[tuple[str, bytes | None, bytes | None, int | None, int | None]]
    ) -> tuple[Any, list[Any]]:
        """Hand the records to the producer; its futures, one per record."""
        producer = self._get_producer()
        futures = []
        first = records[0][0]
        try:
            for topic, value, key, partition, timestamp_ms in records:
                futures.append(
                    producer.send(
                        topic, value=value, key=key, partition=partition, timestamp_ms=timestamp_ms
                    )
                )
        except KafkaTimeoutError as error:  # no metadata for the topic: nothing was sent
            if futures:
                producer.flush(timeout=self.timeout)
            self.forget_topics({record[0] for record in records})
            raise TopicMissing(str(self.error(error, f"producing to {first!r}"))) from None
        except KafkaError as error:
            raise self.error(error, f"producing to {first!r}") from None
        return producer, futures

    def _outcome(
        self,
        records: Sequence[tuple[str, bytes | None, bytes | None, int | None, int | None]],
        futures: Sequence[Any],
        timeout: float,
    ) -> list[int]:
        """The offsets of acked records (waiting up to ``timeout`` s for each), or the error:
        TopicMissing if the broker refused them (nothing appended), else OutcomeUnknown."""
        first = records[0][0]
        try:
            return [future.get(timeout=timeout).offset for future in futures]
        except UnknownTopicOrPartitionError as error:  # refused: nothing was appended
            self.forget_topics({record[0] for record in records})
            raise TopicMissing(str(self.error(error, f"producing to {first!r}"))) from None
        except KafkaError as error:
            raise OutcomeUnknown(
                f"{self.error(error, f'producing to {first!r}')}; the broker may or may not "
                "have stored the message (it is not sent again: at most once)"
            ) from None

    # -- offsets --------------------------------------------------------------------------------

    def _probe_call(self, call: str, argument: Any, partitions: Iterable[Any], doing: str) -> Any:
        """Call a probe method; partitions whose topic the probe has no metadata for yet (a
        topic just created) make kafka-python raise KeyError: fetch it and retry (bounded)."""
        deadline = time.monotonic() + self.timeout
        with self._probe_lock:
            probe = self._get_probe()
            while True:
                try:
                    return getattr(probe, call)(argument, timeout_ms=self.timeout_ms)
                except KeyError as missing:
                    if time.monotonic() > deadline:
                        raise self.error(f"no metadata for {missing}", doing) from None
                    for topic in {tp.topic for tp in partitions}:
                        probe.partitions_for_topic(topic)
                    time.sleep(0.02)
                except KafkaError as error:
                    raise self.error(error, doing) from None

    def end_offsets(self, partitions: Sequence[Any]) -> dict[Any, int]:
        """The next offset each partition will write (one request per broker)."""
        if not partitions:
            return {}
        result: dict[Any, int] = self._probe_call(
            "end_offsets", list(partitions), partitions, "reading end offsets"
        )
        return result

    def offsets_for_times(self, times: Mapping[Any, int]) -> dict[Any, int | None]:
        """The first offset at or after each timestamp (ms), None past the end."""
        found = self._probe_call(
            "offsets_for_times", dict(times), times, "looking offsets up by time"
        )
        return {tp: (None if hit is None else hit.offset) for tp, hit in found.items()}

    def committed(self, groups: Mapping[str, Sequence[Any]]) -> dict[str, dict[Any, int]]:
        """Committed offsets of consumer groups (-1 where a group committed nothing)."""
        if not groups:
            return {}
        with self._admin_lock:
            try:
                found = self._get_admin().list_group_offsets(
                    {group: list(tps) for group, tps in groups.items()}
                )
            except KafkaError as error:
                raise self.error(error, "reading committed offsets") from None
        return {
            group: {tp: (meta.offset if meta is not None else -1) for tp, meta in offsets.items()}
            for group, offsets in found.items()
        }

    def alter_offsets(self, group: str, offsets: Mapping[Any, int]) -> str | None:
        """Commit offsets for a group without members (one round trip); None or the error."""
        with self._admin_lock:
            try:
                result = self._get_admin().alter_group_offsets(
                    group, {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
                )
            except KafkaError as error:
                raise self.error(error, f"committing offsets of group {group!r}") from None
        failed = [error.__name__ for error in result.values() if error is not NoError]
        return ", ".join(failed) or None

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True
        for client, args in ((self._producer, {"timeout": 2}), (self._admin, {})):
            if client is not None:
                try:
                    client.close(**args)
                except Exception:
                    pass
        if self._probe is not None:
            with self._probe_lock:
                try:
                    self._probe.close(autocommit=False)
                except Exception:
                    pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)

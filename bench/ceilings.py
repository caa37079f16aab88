"""Ceiling rows: the raw client of each engine doing the workloads' work, one operation per
message, without a channel layer's bookkeeping (no name or message validation, no capacity,
no expiry, no fairness).

Every ceiling stores each message as msgpack ``[channel, message]`` in one queue per *inbox*
(a reply channel's part up to the ``!``, else the channel itself), which is how our layers
and channels_redis route reply channels. Group membership is kept by the client, and a group
send is the cheapest the engine allows: one pipeline (Redis), one INSERT of all rows
(PostgreSQL), one publish per member (RabbitMQ), a loop of appends (memory).

* memory: ``dict`` of ``deque`` under a ``threading.Condition``; messages are not copied.
* redis-py: ``LPUSH`` / ``BRPOP`` on a list per inbox.
* psycopg: ``INSERT`` / ``DELETE ... RETURNING`` (oldest row, ``FOR UPDATE SKIP LOCKED``) on an
  UNLOGGED table with ``synchronous_commit = off``, the durability our PostgreSQL layer
  chooses; an empty poll sleeps 0.5 ms.
* pika: ``basic_publish`` to the default exchange (no publisher confirms) and
  ``basic_consume`` with auto-ack on an exclusive queue per inbox. A second row does the
  same with publisher confirms, each publish waiting for its confirm (as a send of our
  RabbitMQ layer must, to raise ``ChannelFull`` itself): the ceiling of a confirmed send.
* kafka-python: ``send(...).get()`` (acks=1) to a one-partition topic per inbox, and
  ``poll`` of a consumer assigned to it (no consumer group); group send = one send per
  member, then one ``flush``. The broker is ``CHANNELS_CORE_BENCH_KAFKA`` (host:port,
  default 127.0.0.1:9092).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import msgpack

from .drivers import Collector, Driver, Endpoint, Message, Received


def inbox_of(channel: str) -> str:
    return channel[: channel.index("!") + 1] if "!" in channel else channel


class CeilingDriver(Driver):
    """Shared naming and client-side group membership of the ceilings."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self._groups: dict[str, list[str]] = {}
        self._counter = itertools.count()
        self._client = f"c{id(self) % 100_000}{int(time.time() * 1000) % 100_000}"

    async def reply_channel(self, label: str) -> Endpoint:
        name = f"{self.token}.{label}.{self._client}!{next(self._counter)}"
        return Endpoint(name, inbox_of(name))

    async def group_add(self, group: str, channel: str) -> None:
        members = self._groups.setdefault(group, [])
        if channel not in members:
            members.append(channel)

    async def cleanup(self) -> None:
        self._groups.clear()


# -- memory ---------------------------------------------------------------------------------


class MemoryCeiling(CeilingDriver):
    topology = "threads"
    notes = ("in-process: B2/B3 run between two threads of one process",)

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self._cond = threading.Condition()
        self._queues: dict[str, deque[Received]] = {}

    async def send(self, channel: str, message: Message) -> None:
        with self._cond:
            queue = self._queues.get(inbox_of(channel))
            if queue is None:
                queue = self._queues[inbox_of(channel)] = deque()
            queue.append((channel, message))
            self._cond.notify()

    async def receive(self, key: str) -> Received | None:
        with self._cond:
            queue = self._queues.get(key)
            if not queue:
                self._cond.wait(0.25)
                queue = self._queues.get(key)
                if not queue:
                    return None
            return queue.popleft()

    async def send_group(self, group: str, message: Message) -> None:
        with self._cond:
            for channel in self._groups.get(group, ()):
                self._queues.setdefault(inbox_of(channel), deque()).append((channel, message))
            self._cond.notify_all()

    async def cleanup(self) -> None:
        await super().cleanup()
        with self._cond:
            self._queues.clear()


async def build_memory(options: dict[str, Any]) -> Driver:
    return MemoryCeiling(options["token"])


# -- redis-py -------------------------------------------------------------------------------


class RedisCeiling(CeilingDriver):
    def __init__(self, token: str) -> None:
        import redis

        super().__init__(token)
        self.client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=10)
        self.client.ping()

    def _key(self, inbox: str) -> str:
        return f"{self.token}:ceiling:{inbox}"

    async def send(self, channel: str, message: Message) -> None:
        self.client.lpush(self._key(inbox_of(channel)), msgpack.packb([channel, message]))

    async def receive(self, key: str) -> Received | None:
        popped = self.client.brpop([self._key(key)], timeout=0.5)
        if popped is None:
            return None
        channel, message = msgpack.unpackb(popped[1])
        return channel, message

    async def send_group(self, group: str, message: Message) -> None:
        pipe = self.client.pipeline(transaction=False)
        for channel in self._groups.get(group, ()):
            pipe.lpush(self._key(inbox_of(channel)), msgpack.packb([channel, message]))
        pipe.execute()

    async def cleanup(self) -> None:
        await super().cleanup()
        keys = list(self.client.scan_iter(match=f"{self.token}:ceiling:*", count=1000))
        if keys:
            self.client.delete(*keys)

    async def close(self) -> None:
        await self.cleanup()
        self.client.close()


async def build_redis(options: dict[str, Any]) -> Driver:
    return RedisCeiling(options["token"])


# -- psycopg --------------------------------------------------------------------------------


class PsycopgCeiling(CeilingDriver):
    def __init__(self, token: str) -> None:
        import psycopg

        super().__init__(token)
        self.table = f"bench_ceiling_{token.lower()}"
        self.conn = psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=10
        )
        self.conn.execute("SET synchronous_commit = off")
        self.conn.execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {self.table} "
            "(id bigserial PRIMARY KEY, channel text NOT NULL, payload bytea NOT NULL)"
        )
        self.conn.execute(
            f"CREATE INDEX IF NOT EXISTS {self.table}_channel ON {self.table} (channel, id)"
        )
        self._insert = f"INSERT INTO {self.table} (channel, payload) VALUES (%s, %s)"
        self._take = (
            f"DELETE FROM {self.table} WHERE id = (SELECT id FROM {self.table} "
            "WHERE channel = %s ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING payload"
        )

    async def send(self, channel: str, message: Message) -> None:
        self.conn.execute(self._insert, (inbox_of(channel), msgpack.packb([channel, message])))

    async def receive(self, key: str) -> Received | None:
        give_up = time.perf_counter() + 0.5
        while True:
            row = self.conn.execute(self._take, (key,)).fetchone()
            if row is not None:
                channel, message = msgpack.unpackb(row[0])
                return channel, message
            if time.perf_counter() >= give_up:
                return None
            time.sleep(0.0005)

    async def send_group(self, group: str, message: Message) -> None:
        members = self._groups.get(group, [])
        self.conn.execute(
            f"INSERT INTO {self.table} (channel, payload) "
            "SELECT unnest(%s::text[]), unnest(%s::bytea[])",
            ([inbox_of(c) for c in members], [msgpack.packb([c, message]) for c in members]),
        )

    async def cleanup(self) -> None:
        await super().cleanup()
        self.conn.execute(f"DELETE FROM {self.table}")

    async def close(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.conn.close()


async def build_psycopg(options: dict[str, Any]) -> Driver:
    return PsycopgCeiling(options["token"])


# -- pika -----------------------------------------------------------------------------------


class PikaCeiling(CeilingDriver):
    def __init__(self, token: str) -> None:
        import pika

        super().__init__(token)
        params = pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F")
        params.socket_timeout = 10
        self.connection = pika.BlockingConnection(params)
        self.channel = self.connection.channel()
        self._buffers: dict[str, deque[Received]] = {}

    def _queue(self, inbox: str) -> str:
        return f"{self.token}.ceiling.{inbox}"

    async def listen(self, endpoint: Endpoint) -> None:
        if endpoint.key in self._buffers:
            return
        buffer: deque[Received] = deque()
        self._buffers[endpoint.key] = buffer
        queue = self._queue(endpoint.key)
        self.channel.queue_declare(queue, exclusive=True)

        def deliver(channel: Any, method: Any, properties: Any, body: bytes) -> None:
            name, message = msgpack.unpackb(body)
            buffer.append((name, message))

        self.channel.basic_consume(queue, deliver, auto_ack=True)

    async def send(self, channel: str, message: Message) -> None:
        self.channel.basic_publish(
            "", self._queue(inbox_of(channel)), msgpack.packb([channel, message])
        )

    async def receive(self, key: str) -> Received | None:
        buffer = self._buffers[key]
        if not buffer:
            self.connection.process_data_events(time_limit=0.5)
            if not buffer:
                return None
        return buffer.popleft()

    async def send_group(self, group: str, message: Message) -> None:
        for channel in self._groups.get(group, ()):
            await self.send(channel, message)

    async def collect(self, members: Sequence[Endpoint], count: int, deadline: float) -> Collector:
        for member in members:
            await self.listen(member)
        return await super().collect(members, count, deadline)

    async def close(self) -> None:
        self.connection.close()


async def build_pika(options: dict[str, Any]) -> Driver:
    return PikaCeiling(options["token"])


async def build_pika_confirms(options: dict[str, Any]) -> Driver:
    driver = PikaCeiling(options["token"])
    driver.channel.confirm_delivery()
    return driver


# -- kafka-python ---------------------------------------------------------------------------


class KafkaCeiling(CeilingDriver):
    """One single-partition topic per inbox (created on ``listen``, deleted at cleanup);
    each send waits for the broker's ack; each receiving inbox has its own consumer, assigned
    to its partition (no consumer group, no commits)."""

    def __init__(self, token: str, bootstrap: str) -> None:
        from kafka import KafkaProducer
        from kafka.admin import KafkaAdminClient

        super().__init__(token)
        self.bootstrap = bootstrap
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks=1, linger_ms=0, request_timeout_ms=10_000
        )
        self._consumers: dict[str, Any] = {}
        self._buffers: dict[str, deque[Received]] = {}
        self._topics: set[str] = set()

    def _topic(self, inbox: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "-", f"{self.token}.ceiling.{inbox}")[:249]

    async def listen(self, endpoint: Endpoint) -> None:
        if endpoint.key in self._consumers:
            return
        from kafka import KafkaConsumer, TopicPartition
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        topic = self._topic(endpoint.key)
        try:
            self.admin.create_topics([NewTopic(topic, 1, 1)])
        except TopicAlreadyExistsError:
            pass
        self._topics.add(topic)
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,  # low latency: do not let the broker hold a fetch 500 ms
        )
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        self._consumers[endpoint.key] = consumer
        self._buffers[endpoint.key] = deque()

    async def send(self, channel: str, message: Message) -> None:
        topic = self._topic(inbox_of(channel))
        self.producer.send(topic, msgpack.packb([channel, message])).get(timeout=10)

    async def receive(self, key: str) -> Received | None:
        buffer = self._buffers[key]
        if not buffer:
            batches = self._consumers[key].poll(timeout_ms=500, max_records=1000)
            for records in batches.values():
                for record in records:
                    channel, message = msgpack.unpackb(record.value)
                    buffer.append((channel, message))
            if not buffer:
                return None
        return buffer.popleft()

    async def send_group(self, group: str, message: Message) -> None:
        for channel in self._groups.get(group, ()):
            self.producer.send(self._topic(inbox_of(channel)), msgpack.packb([channel, message]))
        self.producer.flush(timeout=10)

    async def collect(self, members: Sequence[Endpoint], count: int, deadline: float) -> Collector:
        for member in members:
            await self.listen(member)
        return await super().collect(members, count, deadline)

    async def cleanup(self) -> None:
        await super().cleanup()
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()
        self._buffers.clear()
        if self._topics:
            try:
                self.admin.delete_topics(sorted(self._topics))
            except Exception:  # a broker without DeleteTopics keeps them (memory only)
                pass
            self._topics.clear()

    async def close(self) -> None:
        await self.cleanup()
        self.producer.close(timeout=5)
        self.admin.close()


async def build_kafka(options: dict[str, Any]) -> Driver:
    return KafkaCeiling(options["token"], options["kafka"])

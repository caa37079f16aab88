"""Drivers for the peers: the Channels 2+ layers a user would pick instead of ours.

Each adapter runs the peer's coroutines on the worker's event loop, as a Channels app does,
and maps the workloads onto the Channels 2+ API (``send``, ``receive(channel)`` of one channel,
``new_channel()``, ``group_add``, ``group_send``):

* plain channel -> a normal channel name (``<token>.<label>``); reply channel ->
  ``new_channel(prefix)``; both are received by their full name.
* ``listen`` (before the other side sends): what a consumer's first ``receive`` would set up:
  the subscription (RedisPubSubChannelLayer), the connection and queue (channels_rabbitmq),
  the advisory lock and LISTEN connection (channels_postgres).
* B4's members are reply channels; one ``receive`` coroutine per member is started before the
  group send (like one consumer per WebSocket), and "all delivered" is when the last returns.
* A wait that must give up cancels the peer's ``receive`` coroutine.

The peers are imported lazily (``[bench]`` extra), never at import time of this module.
Options common to all: ``token`` (unique name prefix of this benchmark run), ``capacity``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from .drivers import Collector, Driver, Endpoint, Full, Message, Received

REDIS_HOST = ("127.0.0.1", 6379)
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672"
POSTGRES_DATABASE = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "test",
    "USER": "postgres",
    "PASSWORD": "",
    "HOST": "127.0.0.1",
    "PORT": "5432",
}


class PeerDriver(Driver):
    """Channels 2+ API adapter; subclasses only say how to build and tune the layer."""

    #: Pattern given to ``new_channel`` (None: the layer's default, which takes no argument).
    accepts_prefix = True

    def __init__(self, token: str, layer: Any) -> None:
        from channels.exceptions import ChannelFull

        super().__init__(token)
        self.layer = layer
        self._full = ChannelFull

    async def reply_channel(self, label: str) -> Endpoint:
        if self.accepts_prefix:
            name = await self.layer.new_channel(f"{self.token}.{label}")
        else:
            name = await self.layer.new_channel()
        return Endpoint(name, name)

    async def send(self, channel: str, message: Message) -> None:
        try:
            await self.layer.send(channel, message)
        except self._full:
            raise Full(channel) from None

    async def receive(self, key: str) -> Received | None:
        return key, await self.layer.receive(key)

    async def group_add(self, group: str, channel: str) -> None:
        await self.layer.group_add(group, channel)

    async def send_group(self, group: str, message: Message) -> None:
        await self.layer.group_send(group, message)

    async def collect(self, members: Sequence[Endpoint], count: int, deadline: float) -> Collector:
        for member in members:
            await self.listen(member)
        return TaskCollector(self, members)

    async def cleanup(self) -> None:
        flush = getattr(self.layer, "flush", None)
        if flush is not None:
            await flush()


class TaskCollector(Collector):
    """One receiving task per member, started at once (before the group send)."""

    def __init__(self, driver: Driver, members: Sequence[Endpoint]) -> None:
        self.times: list[float] = []
        self.tasks = [asyncio.ensure_future(self._one(driver, m)) for m in members]

    async def _one(self, driver: Driver, member: Endpoint) -> None:
        while True:
            result = await driver.receive(member.key)
            if result is not None:
                self.times.append(time.perf_counter())
                return

    async def wait(self, count: int, deadline: float) -> tuple[int, float | None]:
        await asyncio.sleep(0)
        timeout = max(0.0, deadline - time.perf_counter())
        _, pending = await asyncio.wait(self.tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        return len(self.times), max(self.times) if self.times else None


# -- ours, through the Channels 4 API -------------------------------------------------------


class OursChannels4Driver(PeerDriver):
    """Our layer behind ``channels_core.channels4.ChannelLayer``, driven like the peers."""

    async def close(self) -> None:
        await self.layer.close()


async def build_ours_channels4(options: dict[str, Any]) -> Driver:
    """``options`` = token, spec, config (as for our synchronous rows)."""
    from channels_core.channels4 import ChannelLayer

    layer = ChannelLayer(options["spec"], **options.get("config", {}))
    driver = OursChannels4Driver(options["token"], layer)
    if "cross-process" in (getattr(layer.layer, "deviations", {}) or {}):
        driver.topology = "tasks"  # one layer object: both sides on one event loop
        driver.notes = ("in-process layer: B2/B3 run as two tasks on one event loop",)
    return driver


# -- channels InMemoryChannelLayer ----------------------------------------------------------


class ChannelsInMemoryDriver(PeerDriver):
    topology = "tasks"
    notes = (
        "in-process layer (asyncio queues): B2/B3 run as two tasks on one event loop; "
        "the producer's sends do not yield, so B2 is a burst then a drain",
    )


async def build_channels_inmemory(options: dict[str, Any]) -> Driver:
    from channels.layers import InMemoryChannelLayer

    layer = InMemoryChannelLayer(capacity=options["capacity"], expiry=60)
    return ChannelsInMemoryDriver(options["token"], layer)


# -- channels_redis -------------------------------------------------------------------------


class ChannelsRedisDriver(PeerDriver):
    async def cleanup(self) -> None:
        await self.layer.flush()

    async def close(self) -> None:
        await self.layer.close_pools()


async def build_channels_redis(options: dict[str, Any]) -> Driver:
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(
        hosts=[REDIS_HOST], prefix=options["token"], capacity=options["capacity"], expiry=60
    )
    return ChannelsRedisDriver(options["token"], layer)


class ChannelsRedisPubSubDriver(PeerDriver):
    notes = (
        "pub/sub: no capacity and no persistence; a message published before the receiver "
        "subscribed is lost, so each receiver subscribes before the sender starts",
    )

    async def reply_channel(self, label: str) -> Endpoint:
        # new_channel subscribes; the name is prefix + pattern + uuid.
        name = await self.layer.new_channel(f".{label}.")
        return Endpoint(name, name)

    async def listen(self, endpoint: Endpoint) -> None:
        inner = self.layer._get_layer()  # the per-event-loop layer that owns subscriptions
        if endpoint.name not in inner.channels:
            await inner._subscribe_to_channel(endpoint.name)
            await asyncio.sleep(0.05)  # the SUBSCRIBE reaches Redis before the first publish

    async def cleanup(self) -> None:
        # flush() drops subscriptions and closes the connections; they reopen on next use.
        await self.layer.flush()

    async def close(self) -> None:
        await self.layer.flush()


async def build_channels_redis_pubsub(options: dict[str, Any]) -> Driver:
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = RedisPubSubChannelLayer(hosts=[REDIS_HOST], prefix=options["token"])
    return ChannelsRedisPubSubDriver(options["token"], layer)


# -- channels_rabbitmq ----------------------------------------------------------------------


class ChannelsRabbitMQDriver(PeerDriver):
    supports_plain = False
    accepts_prefix = False
    notes = (
        "no normal channels: B1/B2 and B3's request channel are channels created by the "
        "receiving process (new_channel), as channels_rabbitmq requires; no flush",
    )

    async def listen(self, endpoint: Endpoint) -> None:
        await self.layer.carehare_connection  # connected, and its queue declared

    async def cleanup(self) -> None:
        """No flush in channels_rabbitmq; every run uses new channel names."""

    async def close(self) -> None:
        await self.layer.close()


async def build_channels_rabbitmq(options: dict[str, Any]) -> Driver:
    from channels_rabbitmq.core import RabbitmqChannelLayer

    capacity = min(int(options["capacity"]), 65_535)  # prefetch count is a 16-bit field
    layer = RabbitmqChannelLayer(
        host=RABBITMQ_URL, local_capacity=capacity, remote_capacity=capacity, expiry=60
    )
    driver = ChannelsRabbitMQDriver(options["token"], layer)
    await asyncio.wait_for(layer.carehare_connection, 20)
    return driver


# -- channels_postgres ----------------------------------------------------------------------


def configure_django() -> None:
    """Django settings for channels_postgres (it reads them through its ORM), and its
    tables: the package's own migrations, run once (idempotent)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["channels_postgres"],
            DATABASES={"default": POSTGRES_DATABASE, "channels_postgres": POSTGRES_DATABASE},
            USE_TZ=True,
        )
        django.setup()
    from django.core.management import call_command

    call_command("migrate", "channels_postgres", database="channels_postgres", verbosity=0)
    from django.db import connections

    connections.close_all()


class ChannelsPostgresDriver(PeerDriver):
    _listener: asyncio.Future[None] | None = None
    notes = (
        "NOTIFY carries each message (one committed INSERT per send); fresh worker "
        "processes per run, because each received channel holds a session advisory lock",
    )

    async def listen(self, endpoint: Endpoint) -> None:
        # What the layer's first receive() on a channel does, without waiting for a message:
        # take the channel's advisory lock and start the LISTEN task.
        layer = self.layer
        layer._get_or_create_queue(endpoint.name)
        await layer._get_or_create_channel_advisory_lock(endpoint.name)
        ready, is_new = layer._get_or_create_listener_task()
        if is_new:
            self._listener = asyncio.ensure_future(layer.listen_to_all_channels())
        await asyncio.wait_for(ready.wait(), 20)

    async def cleanup(self) -> None:
        # The layer's flush() truncates its tables for every user; delete only our rows.
        import channels_postgres.db as db

        pool = await self.layer.django_db.get_db_pool(db_params=self.layer.db_params)
        async with pool.connection() as conn:
            await conn.execute(
                f"DELETE FROM {db.MESSAGE_TABLE} WHERE channel LIKE %s", (f"{self.token}%",)
            )
            await conn.execute(
                f"DELETE FROM {db.GROUP_CHANNEL_TABLE} WHERE group_key LIKE %s",
                (f"{self.token}%",),
            )

    async def close(self) -> None:
        import channels_postgres.db as db

        await self.cleanup()
        if db.connection_pool is not None:
            await db.connection_pool.close()
            db.connection_pool = None


async def build_channels_postgres(options: dict[str, Any]) -> Driver:
    await asyncio.to_thread(configure_django)
    from channels_postgres.core import PostgresChannelLayer

    config = {key: value for key, value in POSTGRES_DATABASE.items() if key != "ENGINE"}
    layer = PostgresChannelLayer(prefix=options["token"], expiry=60, **config)
    return ChannelsPostgresDriver(options["token"], layer)

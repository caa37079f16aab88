"""The one interface every benchmarked layer is driven through, and its driver for our layers.

A :class:`Driver` is asynchronous so that one implementation of each workload serves both our
synchronous layers and the peers' coroutine APIs. Our layers' calls are made directly inside
the coroutines (no executor): they may block the event loop, which is harmless because each
side of a workload has its own event loop (its own process, or its own thread). A peer's
coroutines run on the event loop of the worker process, as they would in a Channels app.

Names: an :class:`Endpoint` pairs the name a sender uses with the key its receiver asks for.
For our layers a reply channel's key is its inbox prefix (up to and including the ``!``), as
the contract wants; for the peers (Channels 2+ API) it is the full channel name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
Received = tuple[str, Message]

#: How the two sides of B2/B3 run: two processes, two threads of one process (our in-process
#: layers, which two processes cannot share), or two tasks of one event loop (async in-process
#: peers, whose asyncio queues cannot be shared between event loops).
TOPOLOGIES = ("processes", "threads", "tasks")


class Full(Exception):
    """The layer refused a send because the channel is at capacity."""


@dataclass(frozen=True)
class Endpoint:
    """A channel: ``name`` to send to, ``key`` to receive it with."""

    name: str
    key: str


class Driver:
    """Drive one layer (ours, a peer, or a raw client) through the workloads.

    ``receive`` may return ``None`` when nothing arrived for a while (our layers return after
    their ``blocking_timeout``); the peers' ``receive`` waits until cancelled, so the workloads
    bound every wait with deadlines and cancellation (see :mod:`.workloads`).
    """

    #: Where B2/B3 run their two sides (see TOPOLOGIES).
    topology: str = "processes"
    #: False for layers without normal channels (channels_rabbitmq): B1/B2 use a reply channel.
    supports_plain: bool = True
    #: Remarks shown in the table's footnotes (how the workloads were adapted).
    notes: tuple[str, ...] = ()

    def __init__(self, token: str) -> None:
        #: Unique to this benchmark invocation: every name starts with it.
        self.token = token

    def info(self) -> dict[str, Any]:
        return {"topology": self.topology, "notes": list(self.notes)}

    async def plain_channel(self, label: str) -> Endpoint:
        name = f"{self.token}.{label}"
        return Endpoint(name, name)

    async def reply_channel(self, label: str) -> Endpoint:
        raise NotImplementedError

    async def queue_channel(self, label: str) -> Endpoint:
        """The channel of B1/B2/soak: a normal channel where the layer has them."""
        if self.supports_plain:
            return await self.plain_channel(label)
        return await self.reply_channel(label)

    async def listen(self, endpoint: Endpoint) -> None:
        """Make sure messages sent to ``endpoint`` from now on reach this receiver."""

    async def send(self, channel: str, message: Message) -> None:
        raise NotImplementedError

    async def receive(self, key: str) -> Received | None:
        raise NotImplementedError

    async def group_add(self, group: str, channel: str) -> None:
        raise NotImplementedError

    async def send_group(self, group: str, message: Message) -> None:
        raise NotImplementedError

    async def collect(self, members: Sequence[Endpoint], count: int, deadline: float) -> Collector:
        """Start receiving on every member (before a group send); see :class:`Collector`."""
        return DrainCollector(self, members)

    async def cleanup(self) -> None:
        """Remove whatever the last workload left (our layers: ``flush``)."""

    async def close(self) -> None:
        """Release connections; called once, when the worker stops."""


class Collector:
    """Receives one message per group member; ``wait`` says how many arrived and when."""

    async def wait(self, count: int, deadline: float) -> tuple[int, float | None]:
        """(messages received, perf_counter time of the last one), waiting until ``deadline``."""
        raise NotImplementedError


class DrainCollector(Collector):
    """For layers whose members share receive keys (inboxes): drain each key in turn."""

    def __init__(self, driver: Driver, members: Sequence[Endpoint]) -> None:
        self.driver = driver
        self.names = {member.name for member in members}
        self.keys = list(dict.fromkeys(member.key for member in members))

    async def wait(self, count: int, deadline: float) -> tuple[int, float | None]:
        received = 0
        last: float | None = None
        keys = list(self.keys)
        while received < count and keys and time.perf_counter() < deadline:
            for key in list(keys):
                result = await self.driver.receive(key)
                if result is None:
                    continue
                if result[0] in self.names:
                    received += 1
                    last = time.perf_counter()
                if received >= count:
                    break
        return received, last


class OursDriver(Driver):
    """Our layers, through their public synchronous API (``channels_core`` contract)."""

    def __init__(self, token: str, spec: str, config: dict[str, Any]) -> None:
        from channels_core.exceptions import ChannelFull
        from channels_core.loading import load_layer

        super().__init__(token)
        self.layer = load_layer(spec, **config)
        self._full = ChannelFull
        deviations = getattr(self.layer, "deviations", {}) or {}
        if "cross-process" in deviations:
            self.topology = "threads"
            self.notes = ("in-process layer: B2/B3 run between two threads of one process",)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "class": type(self.layer).__qualname__}

    async def reply_channel(self, label: str) -> Endpoint:
        name = self.layer.new_channel(f"{self.token}.{label}!")
        return Endpoint(name, name[: name.index("!") + 1])

    async def send(self, channel: str, message: Message) -> None:
        try:
            self.layer.send(channel, message)
        except self._full:
            raise Full(channel) from None

    async def receive(self, key: str) -> Received | None:
        channel, message = self.layer.receive([key], block=True)
        if channel is None or message is None:
            return None
        return channel, message

    async def group_add(self, group: str, channel: str) -> None:
        self.layer.group_add(group, channel)

    async def send_group(self, group: str, message: Message) -> None:
        self.layer.send_group(group, message)

    async def cleanup(self) -> None:
        self.layer.flush()

    async def close(self) -> None:
        self.layer.close()


async def build_ours(options: dict[str, Any]) -> Driver:
    """Factory used by worker processes: ``options`` = token, spec, config."""
    return OursDriver(options["token"], options["spec"], dict(options.get("config", {})))

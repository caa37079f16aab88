"""Deliberately broken channel layers: each breaks exactly one rule of the contract.

They prove the conformance suite can fail: ``test_mutants.py`` asserts that the clause each
one breaks is reported as failed. All are small subclasses of the in-memory layer.
"""

from __future__ import annotations

import itertools
import random
import string
from collections import deque
from typing import Any, ClassVar

from channels_core import codec
from channels_core.exceptions import ChannelFull
from channels_core.layer import Message, RawReceived, Received
from channels_core.names import inbox_name
from layers.inmemory import InMemoryChannelLayer


class DuplicatingLayer(InMemoryChannelLayer):
    """Every fifth message received is left in place as well: it is delivered twice."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._receives = itertools.count(1)

    def _receive(self, channels: list[str], block: bool) -> RawReceived:
        result = super()._receive(channels, block)
        if result is not None and next(self._receives) % 5 == 0:
            channel, payload = result
            with self._cond:
                queue = self._queues.setdefault(inbox_name(channel), deque())
                queue.appendleft((float("inf"), channel, payload, 0.0))
        return result


class ReorderingLayer(InMemoryChannelLayer):
    """Every second message sent to a channel jumps ahead of the one before it."""

    def _send(self, channel: str, payload: bytes) -> None:
        super()._send(channel, payload)
        with self._cond:
            queue = self._queues[inbox_name(channel)]
            if len(queue) >= 2 and len(queue) % 2 == 0:
                queue[-1], queue[-2] = queue[-2], queue[-1]


class NoCapacityLayer(InMemoryChannelLayer):
    """Ignores ``capacity``: channels grow without bound, ChannelFull is never raised."""

    def __init__(self, **options: Any) -> None:
        options["capacity"] = 10**9
        options.pop("channel_capacity", None)
        super().__init__(**options)


class LeakyLayer(InMemoryChannelLayer):
    """Hands the receiver the sender's own dict object: no copy is taken at send."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._objects: dict[int, Message] = {}

    def send(self, channel: str, message: Message) -> None:
        codec.validate(message)
        self._objects[id(message)] = message
        super().send(channel, {"leaked_object": id(message)})

    def receive(self, channels: Any, block: bool = False) -> Received:
        channel, message = super().receive(channels, block)
        if channel is None or message is None:
            return None, None
        return channel, self._objects.pop(message["leaked_object"])


class NeverExpiresLayer(InMemoryChannelLayer):
    """Ignores ``expiry``: messages are kept forever."""

    def __init__(self, **options: Any) -> None:
        options["expiry"] = 10**8  # about three years: within the option's bound
        super().__init__(**options)


class GroupChannelFullLayer(InMemoryChannelLayer):
    """``send_group`` lets ChannelFull of a full member escape instead of skipping it."""

    def _send_group(self, group: str, payload: bytes) -> None:
        for channel in self._group_channels(group):
            self._send(channel, payload)


class LaxNamesLayer(InMemoryChannelLayer):
    """Accepts channel names longer than 100 characters when sending."""

    def send(self, channel: str, message: Message) -> None:
        if isinstance(channel, str) and len(channel) > 100:
            self._send(channel, codec.encode(message, self.message_size_limit))
            return
        super().send(channel, message)


class SeededNamesLayer(InMemoryChannelLayer):
    """``new_channel`` draws from the global ``random`` module: ``random.seed`` repeats names."""

    def new_channel(self, pattern: str) -> str:
        suffix = "".join(random.choices(string.ascii_letters, k=12))
        if pattern.endswith("?"):
            return pattern + suffix
        body = pattern[:-1]
        return f"{body}{'.' if body else ''}{self.client_id}!{suffix}"


class DroppingLayer(InMemoryChannelLayer):
    """Silently drops every seventh message sent."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._sends = itertools.count(1)

    def _send(self, channel: str, payload: bytes) -> None:
        if next(self._sends) % 7 == 0:
            return
        super()._send(channel, payload)


class FlushKeepsGroupsLayer(InMemoryChannelLayer):
    """``flush`` empties the channels but keeps every group."""

    def _flush(self) -> None:
        with self._cond:
            self._queues.clear()


class DiscardIgnoredLayer(InMemoryChannelLayer):
    """``group_discard`` does nothing."""

    def _group_discard(self, group: str, channel: str) -> None:
        return None


class WrongBangNameLayer(InMemoryChannelLayer):
    """A receive on a ``!`` prefix returns the prefix instead of the full channel name."""

    def _receive(self, channels: list[str], block: bool) -> RawReceived:
        result = super()._receive(channels, block)
        if result is None:
            return None
        channel, payload = result
        return inbox_name(channel), payload


class BlockingTwistedLayer(InMemoryChannelLayer):
    """``receive_twisted`` waits in the reactor thread: a blocking receive, then a fired
    Deferred (the reactor stands still for up to ``blocking_timeout``)."""

    def receive_twisted(self, channels: Any) -> Any:
        from twisted.internet import defer

        return defer.succeed(self.receive(channels, block=True))


class LosingTwistedLayer(InMemoryChannelLayer):
    """``receive_twisted`` is a blocking receive on a reactor thread: a message taken for a
    Deferred that was cancelled meanwhile is thrown away."""

    def receive_twisted(self, channels: Any) -> Any:
        from twisted.internet import threads

        return threads.deferToThread(self.receive, list(channels), True)


class EntryPerMemberLayer(InMemoryChannelLayer):
    """``send_group`` stores one entry per member, even for ``!`` members sharing an inbox:
    the inbox's capacity then cuts a large group short (the Channels 1.x failure)."""

    def _send_group(self, group: str, payload: bytes) -> None:
        for channel in self._group_channels(group):
            try:
                self._send(channel, payload)
            except ChannelFull:
                pass


#: Each mutant and the conformance clause it must fail.
MUTANTS: dict[str, str] = {
    "DuplicatingLayer": "delivery.no-duplicates",
    "ReorderingLayer": "order.fifo",
    "NoCapacityLayer": "capacity.channel-full",
    "LeakyLayer": "messages.mutation-after-send",
    "NeverExpiresLayer": "expiry.message",
    "GroupChannelFullLayer": "groups.send-skips-full",
    "LaxNamesLayer": "names.max-length",
    "SeededNamesLayer": "new-channel.random-seed",
    "DroppingLayer": "delivery.no-loss",
    "FlushKeepsGroupsLayer": "flush.groups",
    "DiscardIgnoredLayer": "groups.discard",
    "WrongBangNameLayer": "process.full-name",
    "BlockingTwistedLayer": "twisted.does-not-block-reactor",
    "LosingTwistedLayer": "twisted.cancellation",
    "EntryPerMemberLayer": "groups.fan-out-per-inbox",
}


class CoreOnlyLayer(InMemoryChannelLayer):
    """Not a mutant: a correct layer that declares no extension (their clauses must be reported
    as "not declared", never as passed)."""

    extensions: ClassVar[list[str]] = []


class OldAsyncNameLayer(InMemoryChannelLayer):
    """Not a mutant: a correct layer that declares receive_async by its earlier name only."""

    extensions: ClassVar[list[str]] = ["async"]

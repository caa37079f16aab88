"""A reference model of the contract: plain Python, no time, no concurrency.

The model is what a layer must agree with in the stateful test (:mod:`conformance.stateful`):

* channels hold FIFO queues of messages per full channel name;
* capacity is counted on the inbox (``a.b!xyz`` counts on ``a.b!``; other names on themselves),
  with its own size for process-specific inboxes (``process_capacity``; see the stateful test);
* ``receive(names)`` may return the head of ANY non-empty queue among the names asked for
  (a ``!`` prefix matches every full name of that inbox): order across channels is free,
  per-channel FIFO is strict;
* groups are sets of channel names; ``send_group`` delivers to every member that has room and
  skips (counts) full members;
* ``flush`` forgets everything. A message is taken at most once.

Expiry is not modelled: the stateful test runs far below the layer's ``expiry``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .compare import normalized

Message = dict[str, Any]


def inbox_of(channel: str) -> str:
    """The queue a channel counts capacity on: ``a!x`` -> ``a!``, others -> themselves."""
    bang = channel.find("!")
    return channel if bang < 0 else channel[: bang + 1]


def receive_name(channel: str) -> str:
    """The name one passes to ``receive`` to get messages sent to ``channel``."""
    return inbox_of(channel)


class ModelChannelFull(Exception):
    """The model's verdict that a send must raise ChannelFull."""


@dataclass
class ContractModel:
    """The state a correct layer holds after a sequence of operations."""

    capacity: int
    #: Capacity of ``!`` inboxes and full ``!`` names (default: ``capacity``).
    process_capacity: int | None = None
    #: The name ``receive`` takes for a channel: its inbox (ASGI 1.0) or itself (Channels 4).
    receive_key: Callable[[str], str] = receive_name
    queues: dict[str, deque[Message]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    full_count: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        pending = {name: list(queue) for name, queue in self.queues.items() if queue}
        groups = {name: sorted(members) for name, members in self.groups.items() if members}
        return f"ContractModel(capacity={self.capacity}, pending={pending!r}, groups={groups!r})"

    # -- messages -------------------------------------------------------------------------------

    def pending(self, inbox: str) -> int:
        """Messages waiting in ``inbox`` (all full names of a ``!`` inbox together)."""
        return sum(len(q) for name, q in self.queues.items() if inbox_of(name) == inbox)

    def send(self, channel: str, message: Message) -> None:
        """Store ``message``; raise :class:`ModelChannelFull` if its inbox is at capacity."""
        inbox = inbox_of(channel)
        capacity = self.capacity
        if self.process_capacity is not None and "!" in inbox:
            capacity = self.process_capacity
        if self.pending(inbox) >= capacity:
            self.full_count[inbox] = self.full_count.get(inbox, 0) + 1
            raise ModelChannelFull(channel)
        self.queues.setdefault(channel, deque()).append(normalized(message))

    def store(self, channel: str, message: Message) -> None:
        """Store ``message`` whatever the capacity (the layer had room where the model cannot
        tell; see the stateful test's Channels 4 reading)."""
        self.queues.setdefault(channel, deque()).append(normalized(message))

    def candidates(self, names: list[str]) -> dict[str, Message]:
        """Full channel name -> the message a receive on ``names`` may return from it."""
        wanted = set(names)
        return {
            channel: queue[0]
            for channel, queue in self.queues.items()
            if queue and self.receive_key(channel) in wanted
        }

    def take(self, channel: str) -> Message:
        """Remove and return the head of ``channel`` (the layer returned it)."""
        return self.queues[channel].popleft()

    # -- groups ---------------------------------------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        self.groups.setdefault(group, set()).add(channel)

    def group_discard(self, group: str, channel: str) -> None:
        self.groups.get(group, set()).discard(channel)

    def group_channels(self, group: str) -> set[str]:
        return set(self.groups.get(group, set()))

    def send_group(self, group: str, message: Message) -> list[str]:
        """Deliver to every member with room; return the members skipped because full."""
        skipped = []
        for channel in sorted(self.groups.get(group, set())):
            try:
                self.send(channel, message)
            except ModelChannelFull:
                skipped.append(channel)
        return skipped

    def flush(self) -> None:
        self.queues.clear()
        self.groups.clear()

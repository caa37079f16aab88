"""The process inbox: how every backend delivers process-specific (``!``) channels.

All ``!`` channels behind one inbox name (``ws.send.AbC!``: the part up to and including the
``!``) share ONE server-side queue, the process's inbox, whose capacity the contract counts
(SPEC §5 "Capacity"). A backend stores *inbox entries* in that queue and a receiving process
drains them into a :class:`ProcessInbox`, which owns everything that happens after that, the
same way for every backend.

Inbox entries (what a backend stores)
    An entry is one payload plus an *address*: the full ``!`` names it is for, all of one
    inbox. :func:`entry_address` builds it: the inbox name followed by the parts after the
    ``!`` of the names, comma-separated (channel names never contain ``,`` or ``:``):

    * a direct ``send("ws.send.AbC!x1", m)`` stores one entry addressed ``ws.send.AbC!x1``
      (the address of one name IS that name);
    * a ``send_group`` whose members include ``ws.send.AbC!x1`` ... ``ws.send.AbC!x999``
      stores ONE entry addressed ``ws.send.AbC!x1,x2,...,x999`` (SPEC §5 "Group fan-out":
      one entry per inbox, whatever the number of members behind it). It takes one slot of
      the inbox's capacity; if the inbox is full, every member behind it is skipped and
      counted as full, as a plain member would be.

    :func:`address_channels` turns an address back into the full names (a backend needs it
    to evict the channels of an entry that expired unread on the server). A backend that
    stores bytes may use :func:`pack_entry` / :func:`unpack_entry` (``<address>:<payload>``);
    one with columns or headers stores the address as text beside the payload.

Draining (what a backend does when a process receives on an inbox)
    1. If :meth:`ProcessInbox.room` for the inbox is 0, do not take entries from the server:
       the inbox's buffers are full as a whole, so its server-side queue fills up and senders
       see ``ChannelFull`` (back-pressure, nothing lost). :meth:`ProcessInbox.take` has
       something to return for that inbox whenever ``room`` is 0.
    2. Otherwise take up to a batch of entries (at most once each: delete them as they are
       read) and hand them over with :meth:`ProcessInbox.put_many`
       (``(address, payload, expires_at)``, ``expires_at`` on the inbox's clock).
    3. Serve the receive with :meth:`ProcessInbox.take` (the next message, full name and
       payload, round-robin over the full names behind the inbox).

What the inbox guarantees
    * Fan-out: an entry becomes one buffered message per name of its address (the payload
      bytes are shared, not copied).
    * Each full name's buffer holds at most the inbox's capacity (``capacity_for(inbox)``);
      what does not fit is dropped and counted (``channel_full_count``).
    * The buffers of one inbox together hold at most ``inbox_factor`` times the inbox's
      capacity (10,000 messages at the default capacity of 100) before :meth:`room` says 0;
      one drained batch may go past it, never more.
    * A buffered message past ``expires_at`` is never returned; empty buffers are deleted.
      :meth:`ProcessInbox.expired_channels` (call it on every receive; it sweeps at most every
      ``sweep_interval`` seconds) returns the full names whose messages expired unread: the
      backend removes them from all their groups (SPEC §5 "Expiry").
    * Statistics: :meth:`ProcessInbox.add_to_global` and :meth:`ProcessInbox.add_to_channel`
      add what is buffered (``messages_pending``) and what the buffers dropped
      (``channel_full_count``) to the backend's server-side figures.
    * :meth:`ProcessInbox.clear` empties it (``flush``, ``close``).

Thread-safe. Buffered messages live in the process that drained them: they are only ever
received there (they are process-specific) and die with it (the contract allows loss on a
crash).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence

from .exceptions import MalformedMessage
from .statistics import Statistics

#: Separates the names' parts after the ``!`` in an entry's address.
SEPARATOR = ","
#: The buffers of one inbox hold at most this many times the inbox's capacity in total.
INBOX_FACTOR = 100
_EXPIRED_NAMES_LIMIT = 10_000

_Item = tuple[float, bytes]  # (expires_at, payload)
_Buffer = _Item | deque[_Item]  # one message, or several in order


class _FanOut:
    """One entry's message for each of ``names`` not yet served, in order: how an inbox with
    nothing else buffered holds a fan-out (no buffer a name until another entry arrives)."""

    __slots__ = ("item", "names", "next")

    def __init__(self, names: list[str], item: _Item) -> None:
        self.names = names
        self.item = item
        self.next = 0  # names[next:] are still to be served

    def waiting(self) -> list[str]:
        return self.names[self.next :]

    def spread(self) -> OrderedDict[str, _Buffer]:
        """The names still to be served, each with its own buffer (in service order)."""
        item = self.item
        by_name: OrderedDict[str, _Buffer] = OrderedDict()
        for channel in self.waiting():
            buffer = by_name.get(channel)
            if buffer is None:
                by_name[channel] = item
            elif isinstance(buffer, deque):
                buffer.append(item)
            else:
                by_name[channel] = deque((buffer, item))
        return by_name


def entry_address(channels: Sequence[str]) -> str:
    """The address of one inbox entry for the full ``!`` names ``channels`` (all of one inbox,
    at least one): ``"a.b!x"`` for one name, ``"a.b!x,y,z"`` for three."""
    first = channels[0]
    if len(channels) == 1:
        return first
    cut = first.index("!") + 1
    return first[:cut] + SEPARATOR.join(channel[cut:] for channel in channels)


def address_channels(address: str) -> list[str]:
    """The full channel names an entry's address is for (the inverse of :func:`entry_address`)."""
    if SEPARATOR not in address:
        return [address]
    cut = address.index("!") + 1
    inbox = address[:cut]
    return [inbox + token for token in address[cut:].split(SEPARATOR)]


def address_size(address: str) -> int:
    """How many names an address holds (without building them)."""
    return address.count(SEPARATOR) + 1


def pack_entry(address: str, payload: bytes) -> bytes:
    """An entry as one byte string, ``<address>:<payload>`` (for backends that store bytes)."""
    return address.encode("ascii") + b":" + payload


def unpack_entry(data: bytes) -> tuple[str, bytes]:
    """``(address, payload)`` of :func:`pack_entry`'s bytes; MalformedMessage if not one."""
    colon = data.find(b":")
    try:
        if colon < 1:
            raise ValueError
        address = data[:colon].decode("ascii")
        if "!" not in address:
            raise ValueError
    except ValueError:
        raise MalformedMessage(
            f"an inbox entry ({data[:40]!r}...) has no '<address>:' before its payload"
        ) from None
    return address, data[colon + 1 :]


class ProcessInbox:
    """Per-full-name buffers of the messages a process drained from its ``!`` inboxes."""

    def __init__(
        self,
        capacity_for: Callable[[str], int],
        *,
        clock: Callable[[], float] = time.time,
        sweep_interval: float = 1.0,
        inbox_factor: int = INBOX_FACTOR,
    ) -> None:
        self._capacity_for = capacity_for
        self._clock = clock
        self._sweep_interval = sweep_interval
        self._inbox_factor = inbox_factor
        self._lock = threading.Lock()
        # inbox -> full name -> its buffer, OrderedDict order = service order. A buffer holding
        # one message is the bare item (expires_at, payload), a deque of items from the second
        # on: a fan-out of 1,000 names then makes no container the garbage collector must
        # traverse again and again (1,000 deques made GC a third of the cost of a take).
        # An inbox whose buffers were empty when a fan-out entry came holds a _FanOut instead,
        # spread into buffers when the next entry comes (the common broadcast costs no buffer).
        self._buffers: dict[str, OrderedDict[str, _Buffer] | _FanOut] = {}
        self._totals: dict[str, int] = {}  # inbox -> messages buffered
        #: Messages dropped because their full name's buffer was full (all inboxes).
        self.dropped = 0
        #: Buffered messages that expired unread (all inboxes).
        self.expired = 0
        self._dropped_by_inbox: dict[str, int] = {}
        self._expired_channels: set[str] = set()
        self._next_sweep = 0.0

    # -- feeding ------------------------------------------------------------------------------

    def room(self, inbox: str) -> int:
        """How many more messages the buffers of ``inbox`` take before draining must stop (0:
        do not take entries of this inbox from the server now)."""
        limit = self._capacity_for(inbox) * self._inbox_factor
        return max(0, limit - self._totals.get(inbox, 0))

    def put(self, address: str, payload: bytes, expires_at: float) -> int:
        """Buffer one entry for every name of its address; returns how many were dropped."""
        return self.put_many(((address, payload, expires_at),))

    def put_many(self, entries: Iterable[tuple[str, bytes, float]]) -> int:
        """:meth:`put` for many ``(address, payload, expires_at)`` at once (one lock), in
        order; returns how many messages were dropped because their buffer was full."""
        dropped = 0
        with self._lock:
            buffers, totals = self._buffers, self._totals
            inbox = ""
            capacity = stored = 0
            for address, payload, expires_at in entries:
                cut = address.index("!") + 1
                if address[:cut] != inbox:
                    if inbox:
                        totals[inbox] = totals.get(inbox, 0) + stored
                    inbox, stored = address[:cut], 0
                    capacity = self._capacity_for(inbox)
                item = (expires_at, payload)
                names = [address] if SEPARATOR not in address else address_channels(address)
                held = buffers.get(inbox)
                if held is None:
                    if len(names) > 1:
                        buffers[inbox] = _FanOut(names, item)
                        stored += len(names)
                        continue
                    by_name = buffers[inbox] = OrderedDict()
                elif isinstance(held, _FanOut):
                    by_name = buffers[inbox] = held.spread()
                else:
                    by_name = held
                for channel in names:
                    buffer = by_name.get(channel)
                    if buffer is None:
                        by_name[channel] = item
                    elif len(buffer) >= capacity if isinstance(buffer, deque) else capacity < 2:
                        dropped += 1
                        self._dropped_by_inbox[inbox] = self._dropped_by_inbox.get(inbox, 0) + 1
                        continue
                    elif isinstance(buffer, deque):
                        buffer.append(item)
                    else:
                        by_name[channel] = deque((buffer, item))
                    stored += 1
            if inbox:
                totals[inbox] = totals.get(inbox, 0) + stored
                if not buffers.get(inbox, True):
                    del buffers[inbox]
            self.dropped += dropped
        return dropped

    # -- serving ------------------------------------------------------------------------------

    def take(self, inbox: str) -> tuple[str, bytes] | None:
        """The next unexpired message under ``inbox`` (round-robin over full names), or None."""
        if inbox not in self._buffers:
            return None
        with self._lock:
            by_name = self._buffers.get(inbox)
            if not by_name:
                return None
            now = self._clock()
            if isinstance(by_name, _FanOut):
                fan_out = by_name
                if fan_out.item[0] <= now:
                    self._expire_fan_out(inbox, fan_out)
                    return None
                channel = fan_out.names[fan_out.next]
                fan_out.next += 1
                if fan_out.next == len(fan_out.names):
                    del self._buffers[inbox]
                left = self._totals[inbox] - 1
                if left > 0:
                    self._totals[inbox] = left
                else:
                    del self._totals[inbox]
                return channel, fan_out.item[1]
            gone = 0
            taken: tuple[str, bytes] | None = None
            while by_name:
                channel, buffer = by_name.popitem(last=False)
                if not isinstance(buffer, deque):  # one message: the bare item
                    gone += 1
                    if buffer[0] > now:
                        taken = channel, buffer[1]
                        break
                    self.expired += 1
                    self._note_expired(channel)
                    continue
                while buffer and buffer[0][0] <= now:
                    buffer.popleft()
                    gone += 1
                    self.expired += 1
                    self._note_expired(channel)
                if not buffer:
                    continue
                taken = channel, buffer.popleft()[1]
                gone += 1
                if buffer:
                    by_name[channel] = buffer  # at the end: next call serves the neighbours first
                break
            left = self._totals[inbox] - gone
            if left > 0:
                self._totals[inbox] = left
            else:
                del self._totals[inbox]
                if not by_name:
                    del self._buffers[inbox]
            return taken

    def has(self, inbox: str) -> bool:
        """Whether anything is buffered under ``inbox`` (cheap: no lock, no counting)."""
        return inbox in self._buffers

    def holds(self, channel: str) -> bool:
        """Whether the full name ``channel`` has a buffer (for ``new_channel``'s in-use check)."""
        with self._lock:
            by_name = self._buffers.get(channel[: channel.index("!") + 1])
            if isinstance(by_name, _FanOut):
                return channel in by_name.waiting()
            return by_name is not None and channel in by_name

    # -- expiry -------------------------------------------------------------------------------

    def expired_channels(self) -> list[str]:
        """The full names whose buffered messages expired unread, for group eviction: sweeps
        every buffer at most every ``sweep_interval`` seconds (else returns ``[]`` at once)."""
        now = self._clock()
        if now < self._next_sweep:
            return []
        self._next_sweep = now + self._sweep_interval
        self.sweep()
        return self.take_expired_channels()

    def sweep(self) -> int:
        """Drop expired messages in every buffer (also of inboxes nobody asks for any more)
        and delete empty buffers; returns how many were dropped."""
        dropped = 0
        with self._lock:
            now = self._clock()
            for inbox, by_name in list(self._buffers.items()):
                if isinstance(by_name, _FanOut):
                    if by_name.item[0] <= now:
                        del self._buffers[inbox]
                        gone = self._expire_all(by_name)
                        self._forget(inbox, gone)
                        dropped += gone
                    continue
                gone = 0
                for channel, buffer in list(by_name.items()):
                    if not isinstance(buffer, deque):  # one message: the bare item
                        if buffer[0] <= now:
                            del by_name[channel]
                            gone += 1
                            self._note_expired(channel)
                        continue
                    while buffer and buffer[0][0] <= now:
                        buffer.popleft()
                        gone += 1
                        self._note_expired(channel)
                    if not buffer:
                        del by_name[channel]
                self._forget(inbox, gone)
                dropped += gone
            self.expired += dropped
        return dropped

    def take_expired_channels(self) -> list[str]:
        """The full names whose buffered messages expired unread since the last call (at most
        10,000 names are kept between calls)."""
        with self._lock:
            names = list(self._expired_channels)
            self._expired_channels.clear()
            return names

    # -- statistics ---------------------------------------------------------------------------

    def pending(self, inbox: str | None = None) -> int:
        """How many messages are buffered (under ``inbox``, or in all)."""
        with self._lock:
            if inbox is not None:
                return self._totals.get(inbox, 0)
            return sum(self._totals.values())

    def dropped_for(self, inbox: str) -> int:
        """How many messages for channels under ``inbox`` were dropped because full."""
        with self._lock:
            return self._dropped_by_inbox.get(inbox, 0)

    def add_to_global(self, statistics: Statistics) -> Statistics:
        """``statistics`` (the backend's server-side global figures) with what this process
        holds buffered and what its buffers dropped added in."""
        statistics["messages_pending"] += self.pending()
        statistics["channel_full_count"] += self.dropped
        return statistics

    def add_to_channel(self, channel: str, statistics: Statistics) -> Statistics:
        """:meth:`add_to_global` for ``channel_statistics(channel)`` (a ``!`` channel counts
        its inbox's buffers; any other channel is returned unchanged)."""
        bang = channel.find("!")
        if bang >= 0:
            inbox = channel[: bang + 1]
            statistics["messages_pending"] += self.pending(inbox)
            statistics["channel_full_count"] += self.dropped_for(inbox)
        return statistics

    # -- lifecycle ----------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget everything buffered (counters stay)."""
        with self._lock:
            self._buffers.clear()
            self._totals.clear()

    # -- internals (called with the lock held) ------------------------------------------------

    def _expire_fan_out(self, inbox: str, fan_out: _FanOut) -> None:
        """:meth:`take` for an inbox whose fan-out expired: all of it goes."""
        del self._buffers[inbox]
        gone = self._expire_all(fan_out)
        self.expired += gone
        self._forget(inbox, gone)

    def _expire_all(self, fan_out: _FanOut) -> int:
        """Note every name a fan-out still had as expired; returns how many."""
        waiting = fan_out.waiting()
        for channel in waiting:
            self._note_expired(channel)
        return len(waiting)

    def _forget(self, inbox: str, count: int) -> None:
        """``count`` messages of ``inbox`` left its buffers; drop the inbox once empty."""
        total = self._totals.get(inbox, 0) - count
        if total > 0:
            self._totals[inbox] = total
            return
        self._totals.pop(inbox, None)
        if not self._buffers.get(inbox, True):
            del self._buffers[inbox]

    def _note_expired(self, channel: str) -> None:
        if len(self._expired_channels) < _EXPIRED_NAMES_LIMIT:
            self._expired_channels.add(channel)

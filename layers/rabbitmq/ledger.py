"""The ledger: what a prefix holds on the broker, kept in one queue because AMQP cannot list.

AMQP 0-9-1 has no way to list queues, exchanges or bindings. So every layer object of a
prefix appends a small record to the prefix's ledger queue when it declares something or
changes a group:

``q`` name
    a queue of the prefix was declared (re-recorded while in use, so the record outlives
    the queue's idle expiry); ``flush`` deletes every queue named here.
``x`` name
    a group's fanout exchange was declared.
``a`` group, channel
    ``group_add``: membership until ``t + l`` (``l`` = ``group_expiry``).
``d`` group, channel
    ``group_discard`` at ``t``: cancels older ``a`` records of that membership.
``e`` channel
    a message of ``channel`` expired unread at ``t``: cancels older ``a`` records of
    that channel in every group.
``m`` token
    a reader's end marker (see below).

Records are msgpack maps (the message codec; never pickle). Dead ones (lapsed, superseded,
cancelled) are deleted by the next read.

Reading is serialized and complete: the reader appends its own marker, takes the queue with
an **exclusive** consumer on a channel of its own (a second reader is refused and retries),
reads until its marker, acknowledges (deletes) the records that are dead or superseded, and
closes the channel, which puts every other record back in its place. So a read sees
everything appended before it started, and compacts the ledger as it goes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from channels_core import codec

from .connection import (
    ACCESS_REFUSED,
    CHANNEL_ERRORS,
    CONNECTION_ERRORS,
    RESOURCE_LOCKED,
    Link,
    Unroutable,
    properties,
    reply_code,
)

#: Longest a reader waits for another reader to finish, then for its own marker (seconds).
READ_TIMEOUT = 10.0
#: A marker older than this belongs to a reader that died: it is dropped.
STALE_MARKER = 60.0
RECORD_LIMIT = 64 * 1024


def encode(kind: str, name: str, group: str = "", lapse: float = 0.0) -> bytes:
    record = {"k": kind, "n": name, "g": group, "t": time.time(), "l": lapse}
    return codec.encode(record, RECORD_LIMIT)


@dataclass
class Record:
    tag: int
    kind: str
    name: str
    group: str
    at: float
    lapse: float

    @classmethod
    def parse(cls, tag: int, body: bytes) -> Record | None:
        try:
            data = codec.decode(body)
            return cls(
                tag,
                str(data["k"]),
                str(data["n"]),
                str(data.get("g", "")),
                float(data["t"]),
                float(data.get("l", 0.0)),
            )
        except Exception:  # a record written by something else: dropped by the reader
            return None


@dataclass
class Snapshot:
    """What one read of the ledger found, and which records it deletes."""

    queues: set[str] = field(default_factory=set)
    exchanges: set[str] = field(default_factory=set)
    #: group -> channel -> when its membership lapses (live memberships only)
    members: dict[str, dict[str, float]] = field(default_factory=dict)
    #: (group, channel) memberships that ended since the last read (lapsed, discarded or
    #: evicted): the reader removes their bindings.
    ended: set[tuple[str, str]] = field(default_factory=set)
    #: the earliest lapse among live memberships (when a reader must look again)
    next_lapse: float = float("inf")
    delete: list[int] = field(default_factory=list)


def settle(records: Iterable[Record], evicted: Iterable[str], now: float) -> Snapshot:
    """The live state of the ledger, and the tags of dead or superseded records.

    ``evicted`` are channels whose messages expired unread (from the dead-letter queue):
    their memberships end now.
    """
    snapshot = Snapshot()
    latest_named: dict[tuple[str, str], Record] = {}
    adds: dict[tuple[str, str], list[Record]] = {}
    discards: dict[tuple[str, str], list[Record]] = {}
    evictions: dict[str, list[Record]] = {}
    for record in records:
        if record.kind in ("q", "x"):
            key = (record.kind, record.name)
            previous = latest_named.get(key)
            if previous is None or previous.at <= record.at:
                if previous is not None:
                    snapshot.delete.append(previous.tag)
                latest_named[key] = record
            else:
                snapshot.delete.append(record.tag)
        elif record.kind == "a":
            adds.setdefault((record.group, record.name), []).append(record)
        elif record.kind == "d":
            discards.setdefault((record.group, record.name), []).append(record)
        elif record.kind == "e":
            evictions.setdefault(record.name, []).append(record)
        elif record.kind == "m" and record.at + STALE_MARKER < now:
            snapshot.delete.append(record.tag)
    for (kind, name), record in latest_named.items():
        if record.at + record.lapse < now:
            snapshot.delete.append(record.tag)
        else:
            (snapshot.queues if kind == "q" else snapshot.exchanges).add(name)
    evicted_now = set(evicted)
    for key, records in adds.items():
        group, channel = key
        latest = max(records, key=lambda r: r.at)
        ended_at = max(
            [r.at for r in discards.get(key, ())] + [r.at for r in evictions.get(channel, ())],
            default=-1.0,
        )
        alive = latest.at > ended_at and latest.at + latest.lapse > now
        alive = alive and channel not in evicted_now
        snapshot.delete.extend(r.tag for r in records if r is not latest or not alive)
        if alive:
            lapse_at = latest.at + latest.lapse
            snapshot.members.setdefault(group, {})[channel] = lapse_at
            snapshot.next_lapse = min(snapshot.next_lapse, lapse_at)
        else:
            snapshot.ended.add(key)
    # Discards and evictions have done their work once the adds they cancel are deleted.
    for records in discards.values():
        snapshot.delete.extend(r.tag for r in records)
    for records in evictions.values():
        snapshot.delete.extend(r.tag for r in records)
    return snapshot


def append(link: Link, ledger: str, body: bytes, declare: Any) -> None:
    """Publish one record (confirmed); declares the ledger if it does not exist."""

    def publish(channel: Any) -> None:
        channel.basic_publish(
            "",
            ledger,
            body,
            properties(delivery_mode=1),
            mandatory=True,
        )

    try:
        link.run(publish, applies=True)
    except Unroutable:
        link.run(declare)
        link.run(publish, applies=True)


def read(link: Link, ledger: str, declare: Any) -> tuple[list[Record], Any]:
    """All records of the ledger, read under an exclusive consumer.

    Returns the records and the open reading channel: the caller acknowledges the tags it
    deletes on it, then closes it (which requeues the rest in place).
    """
    token = os.urandom(8).hex()
    append(link, ledger, encode("m", token), declare)
    deadline = time.monotonic() + READ_TIMEOUT
    pause = 0.01
    while True:
        channel = link.new_channel()
        reader = _Reader(channel, token)
        try:
            with link.deadline():
                channel.basic_consume(ledger, reader.collect, auto_ack=False, exclusive=True)
        except CHANNEL_ERRORS as error:
            if reply_code(error) not in (ACCESS_REFUSED, RESOURCE_LOCKED):
                raise
            if time.monotonic() > deadline:
                raise link.error(f"the ledger {ledger!r} stayed locked by another reader") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
            continue
        except CONNECTION_ERRORS as error:
            raise link.failed(error) from None
        try:
            while not reader.done:
                if time.monotonic() > deadline:
                    raise link.error(f"the ledger {ledger!r} did not return its end marker")
                link.connection.process_data_events(0.05)
        except CONNECTION_ERRORS as error:
            raise link.failed(error) from None
        return reader.records, channel


class _Reader:
    """Collects the records delivered to one ledger read, up to its own marker."""

    def __init__(self, channel: Any, token: str) -> None:
        self.channel = channel
        self.token = token
        self.records: list[Record] = []
        self.done = False

    def collect(self, _ch: Any, method: Any, _props: Any, body: bytes) -> None:
        record = Record.parse(method.delivery_tag, body)
        if record is None:  # not a record of ours: dropped
            self.channel.basic_ack(method.delivery_tag)
        elif record.kind == "m" and record.name == self.token:
            self.channel.basic_ack(method.delivery_tag)
            self.done = True
        else:
            self.records.append(record)


def close_quietly(channel: Any) -> None:
    try:
        if channel.is_open:
            channel.close()
    except Exception:
        pass

"""Who a receiving layer object fans a group entry out to: the ``!`` members of its inboxes
at the time the entry was sent.

A group entry reaches an inbox queue once, however many of the inbox's ``!`` channels are in
the group; the inbox's owner hands a copy to each member it knows of. It knows them from two
sources, merged here:

* memberships it made itself (``group_add`` / ``group_discard`` of one of its own ``!``
  channels by the same layer object): applied at once, no broker round trip and nothing to
  read back;
* records of the inbox's roster queue, published by other processes that add or discard its
  channels (and by ledger readers when a membership lapses or is evicted), in queue order.

Every change carries the wall-clock time it was made (by the writer's clock), and each group
entry the time it was sent (by the sender's clock). An entry goes to the members *at its send
time*, as if ``send_group`` had stored a copy in each member then: a channel added after the
send gets nothing of it, one discarded after the send still gets it, and a membership lapses
at its ``lapses_at`` (``group_expiry`` after its ``group_add``, the rule the ledger applies).
So the owner keeps, per membership, the changes of the last :data:`HISTORY` seconds (and the
one in force before them); the newest change at or before a time decides, whatever order the
changes arrived in (a record still travelling through the roster queue cannot undo a newer
local change, and applying a record twice changes nothing).
"""

from __future__ import annotations

import bisect
import threading

#: How long membership changes are remembered (seconds): longer than a group entry can wait
#: in an inbox (its ``expiry``) and than any roster record takes to arrive.
HISTORY = 3600.0

#: One change of a membership: (when it was made, when the membership lapses; 0 if it ended),
#: both in microseconds (the resolution of an entry's send time).
Change = tuple[int, int]


def micros(seconds: float) -> int:
    """A wall-clock time in whole microseconds (how changes and send times are compared)."""
    return int(seconds * 1_000_000)


class Rosters:
    """Inbox -> group -> full ``!`` name -> its membership changes, oldest first
    (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inboxes: dict[str, dict[str, dict[str, list[Change]]]] = {}

    def add(self, inbox: str, group: str, name: str, at: float, lapses_at: float) -> None:
        self._change(inbox, group, name, (micros(at), micros(lapses_at)))

    def discard(self, inbox: str, group: str, name: str, at: float) -> None:
        self._change(inbox, group, name, (micros(at), 0))

    def _change(self, inbox: str, group: str, name: str, change: Change) -> None:
        with self._lock:
            changes = self._inboxes.setdefault(inbox, {}).setdefault(group, {}).setdefault(name, [])
            index = bisect.bisect_right(changes, change)
            if index == 0 or changes[index - 1] != change:  # a record applied twice: no-op
                changes.insert(index, change)

    def members(self, inbox: str, group: str, sent_at: float, now: float) -> list[str]:
        """The members of ``group`` in ``inbox`` at ``sent_at`` (the newest change made at or
        before it is a live add); changes older than :data:`HISTORY` before ``now`` that a
        later change replaced are forgotten."""
        sent, horizon = micros(sent_at), micros(now - HISTORY)
        with self._lock:
            members = self._inboxes.get(inbox, {}).get(group)
            if not members:
                return []
            live = []
            for name, changes in list(members.items()):
                # Keep the change in force at the horizon and every later one.
                keep = max(0, bisect.bisect_right(changes, (horizon, 2**63)) - 1)
                if keep:
                    del changes[:keep]
                if len(changes) == 1 and changes[0][0] < horizon and changes[0][1] < horizon:
                    del members[name]  # ended or lapsed before the horizon
                    continue
                index = bisect.bisect_right(changes, (sent, 2**63))
                if index and changes[index - 1][1] > sent:
                    live.append(name)
            return live

    def clear(self) -> None:
        with self._lock:
            self._inboxes.clear()

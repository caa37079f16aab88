"""Who a receiving layer object fans a group entry out to: the ``!`` members of its inboxes.

A group entry reaches an inbox queue once, however many of the inbox's ``!`` channels are in
the group; the inbox's owner hands a copy to each member it knows of. It knows them from two
sources, merged here:

* memberships it made itself (``group_add`` / ``group_discard`` of one of its own ``!``
  channels by the same layer object): applied at once, no broker round trip and nothing to
  read back;
* records of the inbox's roster queue, published by other processes that add or discard its
  channels (and by ledger readers when a membership lapses or is evicted), in queue order.

Every change carries the wall-clock time it was made (by the writer's clock): a change older
than what is known of that membership is ignored, so a record still travelling through the
roster queue cannot undo a newer local change. A membership lapses at its ``lapses_at``
(``group_expiry`` after its ``group_add``), the same rule the ledger applies.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Membership:
    since: float  # when the latest add or discard of it was made
    lapses_at: float  # 0.0 once discarded


class Rosters:
    """Inbox -> group -> full ``!`` name -> :class:`Membership` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inboxes: dict[str, dict[str, dict[str, Membership]]] = {}

    def add(self, inbox: str, group: str, name: str, at: float, lapses_at: float) -> None:
        with self._lock:
            members = self._inboxes.setdefault(inbox, {}).setdefault(group, {})
            known = members.get(name)
            if known is None or known.since <= at:
                members[name] = Membership(at, lapses_at)

    def discard(self, inbox: str, group: str, name: str, at: float) -> None:
        """End a membership (a tombstone is kept until it would have lapsed, so an older add
        arriving later stays ignored)."""
        with self._lock:
            members = self._inboxes.setdefault(inbox, {}).setdefault(group, {})
            known = members.get(name)
            if known is None or known.since <= at:
                members[name] = Membership(at, 0.0)

    def members(self, inbox: str, group: str, now: float) -> list[str]:
        """The live members of ``group`` in ``inbox`` at ``now`` (lapsed ones are dropped)."""
        with self._lock:
            members = self._inboxes.get(inbox, {}).get(group)
            if not members:
                return []
            live = []
            for name, membership in list(members.items()):
                if membership.lapses_at > now:
                    live.append(name)
                elif membership.lapses_at or membership.since + TOMBSTONE < now:
                    del members[name]
            return live

    def clear(self) -> None:
        with self._lock:
            self._inboxes.clear()


#: How long a discard is remembered (seconds): longer than any roster record takes to arrive.
TOMBSTONE = 3600.0

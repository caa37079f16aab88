"""The workload roles' bookkeeping, driven by small in-process drivers (no layer, no figures)."""

from __future__ import annotations

import asyncio
import queue
from typing import Any

from bench.drivers import Driver, Endpoint, Message, Received
from bench.mailbox import Mailbox
from bench.workloads import b3_requester


class Unanswered(Driver):
    """A request channel nobody serves: every receive waits until it is cancelled."""

    async def reply_channel(self, label: str) -> Endpoint:
        return Endpoint(f"{label}!r", f"{label}!")

    async def send(self, channel: str, message: Message) -> None:
        pass

    async def receive(self, key: str) -> Received | None:
        await asyncio.sleep(3600)
        return None


def _requester(params: dict[str, Any]) -> dict[str, Any]:
    posted: queue.Queue[Any] = queue.Queue()
    posted.put(("t", "ready", "requests"))
    mail = Mailbox(posted, queue.Queue(), "t")
    base = {"n": 5, "ready_timeout": 1.0}
    return asyncio.run(b3_requester(Unanswered("tok"), base | params, mail))


def test_a_round_trip_cut_short_by_the_cap_is_not_counted_lost() -> None:
    # The cap (0.2 s) ends the run long before the reply timeout (30 s) would call it lost.
    result = _requester({"cap": 0.2, "reply_timeout": 30.0})
    assert result["timed_out"] is True
    assert result["lost"] == 0 and result["completed"] == 0


def test_a_reply_that_never_comes_within_its_timeout_is_lost() -> None:
    result = _requester({"cap": 30.0, "reply_timeout": 0.05, "n": 3})
    assert result["lost"] == 3 and result["timed_out"] is False

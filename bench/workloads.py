"""The workloads B1-B4 and the memory soak, written once against :class:`.drivers.Driver`.

Each is a *role*: a coroutine ``role(driver, params, mailbox) -> dict`` run by a worker. B1,
B4 and the soak are one role each; B2 and B3 have two roles (producer/consumer,
requester/responder) that meet through a :class:`.mailbox.Mailbox`.

Bounds: every role gets a ``deadline`` (``params["cap"]`` seconds from its start). Waits for
messages stop at the deadline, or after ``params["idle"]`` seconds without any message (so a
layer that loses messages is reported with a "lost" count instead of hanging). A stopped wait
is reported with ``timed_out`` and the counts reached so far.

Times are ``time.perf_counter()`` values, which on Linux read CLOCK_MONOTONIC and therefore
compare across processes of one machine (B2's end-to-end rate uses the producer's start and
the consumer's last receipt).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .drivers import Driver, Endpoint, Full, Message, Received
from .mailbox import Mailbox

Role = Callable[[Driver, dict[str, Any], Mailbox], Awaitable[dict[str, Any]]]

#: 80 characters: with the ``seq`` field a message is about 100 bytes of msgpack.
FILLER = "x" * 80
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def make_message(seq: int) -> Message:
    return {"seq": seq, "text": FILLER}


def rss_mib() -> float:
    """Resident set size of this process now, in MiB (Linux ``/proc``; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE / 2**20
    except OSError:
        return 0.0


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak) / (2**20 if sys.platform == "darwin" else 2**10)


class Watch:
    """Deadline + idle detector for a receiving loop. ``beat()`` on every message."""

    def __init__(self, deadline: float, idle: float) -> None:
        self.deadline = deadline
        self.idle = idle
        self.beats = 0
        self._seen = 0
        self._last = time.perf_counter()
        self.stopped = False

    def beat(self) -> None:
        self.beats += 1

    def expired(self) -> bool:
        now = time.perf_counter()
        if self.beats != self._seen:
            self._seen = self.beats
            self._last = now
        if now >= self.deadline or now - self._last >= self.idle:
            self.stopped = True
        return self.stopped


async def guarded(work: Coroutine[Any, Any, None], watch: Watch) -> None:
    """Run ``work``; cancel it when ``watch`` expires (for receives that never return None)."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.2)
        if done:
            task.result()
            return
        if watch.expired():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            return


async def receive_until(
    driver: Driver,
    key: str,
    handle: Callable[[Received], Awaitable[bool]],
    watch: Watch,
) -> None:
    """Receive on ``key`` and pass each message to ``handle`` until it returns True, or the
    watch expires (deadline or idle)."""

    async def loop() -> None:
        while True:
            result = await driver.receive(key)
            if result is None:
                if watch.expired():
                    return
                continue
            watch.beat()
            if await handle(result):
                return

    await guarded(loop(), watch)


async def bounded(awaitable: Awaitable[Received | None], timeout: float) -> Received | None:
    """``awaitable``'s result, or None if it takes longer than ``timeout`` seconds."""
    if timeout <= 0:
        return None
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:
        return None


def _deadline(params: dict[str, Any]) -> float:
    return time.perf_counter() + float(params["cap"])


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _send_all(
    driver: Driver, channel: str, count: int, deadline: float, retry_full: bool
) -> tuple[int, int, bool]:
    """Send ``count`` messages (seq 0..count-1); (sent, full events, timed out)."""
    sent = full = 0
    for seq in range(count):
        if not seq & 511 and time.perf_counter() >= deadline:
            return sent, full, True
        message = make_message(seq)
        while True:
            try:
                await driver.send(channel, message)
                sent += 1
                break
            except Full:
                full += 1
                if not retry_full:
                    break
                if time.perf_counter() >= deadline:
                    return sent, full, True
                await asyncio.sleep(0.001)
    return sent, full, False


# -- B1: one-process burst ------------------------------------------------------------------


async def b1(driver: Driver, params: dict[str, Any], mail: Mailbox) -> dict[str, Any]:
    """Send ``n`` messages to one channel, then receive them, one call per message."""
    count = int(params["n"])
    half = float(params["cap"]) / 2  # each phase gets half the cap
    endpoint = await driver.queue_channel(f"b1.{mail.tag}")
    await driver.listen(endpoint)
    start = time.perf_counter()
    sent, full, send_timed_out = await _send_all(driver, endpoint.name, count, start + half, False)
    sent_at = time.perf_counter()
    deadline = sent_at + half
    received = 0

    async def take(result: Received) -> bool:
        nonlocal received
        received += 1
        return received >= sent

    watch = Watch(deadline, float(params["idle"]))
    if sent:
        await receive_until(driver, endpoint.key, take, watch)
    done_at = time.perf_counter()
    await driver.cleanup()
    return {
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "full": full,
        "send_rate": sent / (sent_at - start) if sent else None,
        "recv_rate": received / (done_at - sent_at) if received else None,
        "timed_out": send_timed_out or (watch.stopped and received < sent),
    }


# -- B2: producer process -> consumer process -----------------------------------------------


async def b2_consumer(driver: Driver, params: dict[str, Any], mail: Mailbox) -> dict[str, Any]:
    """Receive the producer's ``n`` messages; count duplicates, order breaks and RSS."""
    count = int(params["n"])
    # The producer sends for at most ``cap`` seconds after "ready"; the consumer then has
    # ``drain`` more seconds to take what was sent, so a capped run does not report the
    # messages still in flight as lost.
    deadline = _deadline(params) + float(params["drain"])
    endpoint = await driver.queue_channel(f"b2.{mail.tag}")
    await driver.listen(endpoint)
    rss_start = rss_mib()
    peak = rss_start
    seen = bytearray(count)
    unique = duplicates = reordered = foreign = 0
    highest = -1
    last: float | None = None
    mail.post("ready", endpoint.name)

    async def take(result: Received) -> bool:
        nonlocal unique, duplicates, reordered, foreign, highest, last, peak
        seq = result[1].get("seq")
        if not isinstance(seq, int) or not 0 <= seq < count:
            foreign += 1
            return False
        if seen[seq]:
            duplicates += 1
        else:
            seen[seq] = 1
            unique += 1
            last = time.perf_counter()
        if seq < highest:
            reordered += 1
        else:
            highest = seq
        if not unique & 1023:
            peak = max(peak, rss_mib())
        return unique >= count

    watch = Watch(deadline, float(params["idle"]))
    await receive_until(driver, endpoint.key, take, watch)
    peak = max(peak, rss_mib())
    await driver.cleanup()
    return {
        "received": unique,
        "duplicates": duplicates,
        "reordered": reordered,
        "foreign": foreign,
        "last": last,
        "rss_start_mib": rss_start,
        "peak_rss_mib": peak,
        "timed_out": watch.stopped and unique < count and time.perf_counter() >= deadline,
    }


async def b2_producer(driver: Driver, params: dict[str, Any], mail: Mailbox) -> dict[str, Any]:
    """Send ``n`` messages to the consumer's channel; ChannelFull is retried (back-pressure)."""
    count = int(params["n"])
    channel = await mail.wait("ready", float(params["ready_timeout"]))
    deadline = _deadline(params)
    start = time.perf_counter()
    sent, full, timed_out = await _send_all(driver, channel, count, deadline, True)
    return {
        "sent": sent,
        "full": full,
        "start": start,
        "send_done": time.perf_counter(),
        "timed_out": timed_out,
    }


# -- B3: request/reply between two processes ------------------------------------------------


async def b3_responder(driver: Driver, params: dict[str, Any], mail: Mailbox) -> dict[str, Any]:
    """Answer each request on the reply channel it names, until told to stop."""
    deadline = _deadline(params)
    endpoint = await driver.queue_channel(f"b3.{mail.tag}")
    await driver.listen(endpoint)
    served = full = 0
    mail.post("ready", endpoint.name)

    async def answer(result: Received) -> bool:
        nonlocal served, full
        request = result[1]
        if request.get("stop"):
            return True
        try:
            await driver.send(request["reply_channel"], {"seq": request["seq"], "text": "ok"})
            served += 1
        except Full:
            full += 1
        return False

    # Idle limit: the requester may legitimately pause up to its reply timeout.
    watch = Watch(deadline, float(params["idle"]) + float(params["reply_timeout"]))
    await receive_until(driver, endpoint.key, answer, watch)
    await driver.cleanup()
    return {"served": served, "full": full}


async def b3_requester(driver: Driver, params: dict[str, Any], mail: Mailbox) -> dict[str, Any]:
    """``n`` round trips, each on a fresh reply channel; latency from send to reply."""
    count = int(params["n"])
    reply_timeout = float(params["reply_timeout"])
    channel = await mail.wait("ready", float(params["ready_timeout"]))
    deadline = _deadline(params)
    latencies: list[float] = []
    lost = stale = 0
    timed_out = False
    for seq in range(count):
        if time.perf_counter() >= deadline:
            timed_out = True
            break
        reply = await driver.reply_channel(f"b3r.{mail.tag}")
        await driver.listen(reply)
        start = time.perf_counter()
        await driver.send(channel, {"seq": seq, "reply_channel": reply.name, "text": "ping"})
        until = min(start + reply_timeout, deadline)
        while True:
            result = await bounded(driver.receive(reply.key), until - time.perf_counter())
            if result is not None and result[0] == reply.name and result[1].get("seq") == seq:
                latencies.append(time.perf_counter() - start)
                break
            if result is not None:
                stale += 1  # a late reply to an earlier request
                continue
            if time.perf_counter() >= until:
                if until < start + reply_timeout:
                    timed_out = True  # the workload's cap cut this round trip short
                else:
                    lost += 1
                break
        if timed_out:
            break
    try:
        await driver.send(channel, {"stop": True, "seq": -1, "reply_channel": channel})
    except Full:
        pass
    # No cleanup here: the responder may share this layer (threads, or one server prefix)
    # and still has the stop message to read; it cleans up after reading it.
    ordered = sorted(latencies)
    return {
        "completed": len(latencies),
        "lost": lost,
        "stale": stale,
        "p50_ms": _ms(_percentile(ordered, 0.50)),
        "p90_ms": _ms(_percentile(ordered, 0.90)),
        "p99_ms": _ms(_percentile(ordered, 0.99)),
        "timed_out": timed_out,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


# -- B4: send_group to many members ---------------------------------------------------------


async def b4(driver: Driver, params: dict[str, Any], mail: Mailbox) -> dict[str, Any]:
    """One group send to ``n`` members (reply channels of this process), then receive all."""
    count = int(params["n"])
    deadline = _deadline(params)
    group = f"{driver.token}.b4.{mail.tag}"
    members: list[Endpoint] = []
    for _ in range(count):
        members.append(await driver.reply_channel(f"b4.{mail.tag}"))
    for member in members:
        await driver.group_add(group, member.name)
    collector = await driver.collect(members, count, deadline)
    start = time.perf_counter()
    await driver.send_group(group, make_message(0))
    returned = time.perf_counter()
    delivered, last = await collector.wait(count, deadline)
    await driver.cleanup()
    return {
        "members": count,
        "delivered": delivered,
        "call_ms": (returned - start) * 1000.0,
        "all_ms": (last - start) * 1000.0 if last is not None and delivered >= count else None,
        "timed_out": delivered < count and time.perf_counter() >= deadline,
    }


# -- memory soak ----------------------------------------------------------------------------


async def soak(driver: Driver, params: dict[str, Any], mail: Mailbox) -> dict[str, Any]:
    """Send and receive ``n`` messages in batches; RSS before (after a warm-up) and after."""
    count = int(params["n"])
    batch = min(1000, count)
    deadline = _deadline(params)
    endpoint = await driver.queue_channel(f"soak.{mail.tag}")
    await driver.listen(endpoint)
    lost = 0

    async def one_batch() -> None:
        nonlocal lost
        sent, _, _ = await _send_all(driver, endpoint.name, batch, deadline, True)
        received = 0

        async def take(result: Received) -> bool:
            nonlocal received
            received += 1
            return received >= sent

        if sent:
            await receive_until(driver, endpoint.key, take, Watch(deadline, params["idle"]))
        lost += sent - received

    await one_batch()  # warm-up: connections, caches, interned names
    gc.collect()
    before = rss_mib()
    done = 0
    while done < count and time.perf_counter() < deadline:
        await one_batch()
        done += batch
    gc.collect()
    after = rss_mib()
    await driver.cleanup()
    return {
        "messages": done,
        "lost": lost,
        "rss_before_mib": before,
        "rss_after_mib": after,
        "growth_mib": after - before,
        "timed_out": done < count,
    }


ROLES: dict[str, Role] = {
    "b1": b1,
    "b2_producer": b2_producer,
    "b2_consumer": b2_consumer,
    "b3_requester": b3_requester,
    "b3_responder": b3_responder,
    "b4": b4,
    "soak": soak,
}

#: Workload -> the roles it runs: one role (in one worker), or two (first in worker A,
#: second in worker B, or both inside one worker for in-process layers).
WORKLOADS: dict[str, tuple[str, ...]] = {
    "B1": ("b1",),
    "B2": ("b2_producer", "b2_consumer"),
    "B3": ("b3_requester", "b3_responder"),
    "B4": ("b4",),
    "soak": ("soak",),
}

"""Run the workloads on every target, in worker processes, with hard time limits.

The whole run has a time limit (9 minutes by default): before each target, the time left is
shared among the targets still to run, and each workload's time budget and cap shrink to
that share when it is smaller (fast rows finish early and leave their time to later ones).

For each target the parent starts worker A (and worker B unless the layer lives in one
process), runs every workload ``runs`` times, then the soak, and stops the workers. Every wait
for a worker is bounded: a worker that does not answer within the workload's cap plus a grace
period is killed, the run is recorded as "timed out", and fresh workers are started for the
next one. A workload whose runs have used up the per-workload time budget is not repeated
(the table shows how many runs each figure is the median of).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any, TextIO

from channels_core.urls import redact_value

from .targets import Target
from .worker import worker_main
from .workloads import WORKLOADS

FULL_COUNTS = {"B1": 10_000, "B2": 20_000, "B3": 2_000, "B4": 1_000, "soak": 100_000}
QUICK_COUNTS = {"B1": 500, "B2": 1_000, "B3": 100, "B4": 50, "soak": 2_000}
FULL_CAPS = {"B1": 30.0, "B2": 30.0, "B3": 30.0, "B4": 30.0, "soak": 45.0}
QUICK_CAPS = {"B1": 15.0, "B2": 15.0, "B3": 15.0, "B4": 15.0, "soak": 15.0}


@dataclass
class Settings:
    runs: int = 3
    workloads: list[str] = field(default_factory=lambda: ["B1", "B2", "B3", "B4"])
    soak: bool = True
    counts: dict[str, int] = field(default_factory=lambda: dict(FULL_COUNTS))
    caps: dict[str, float] = field(default_factory=lambda: dict(FULL_CAPS))
    #: Seconds without any message after which a receiver stops and counts the rest as lost.
    idle: float = 3.0
    #: Seconds a B3 requester waits for one reply before counting it lost.
    reply_timeout: float = 5.0
    #: Seconds one side waits for the other to be ready (connected, subscribed).
    ready_timeout: float = 60.0
    #: Seconds of runs per (target, workload) after which no further run is started.
    budget: float = 15.0
    #: Extra seconds a B2 consumer keeps receiving after the producer's cap.
    drain: float = 10.0
    #: Extra seconds the parent grants a worker beyond the workload's cap before killing it.
    grace: float = 30.0
    #: Seconds for the whole run (None: no limit); shared out among the targets.
    time_limit: float | None = 540.0
    #: A workload's cap never shrinks below this, whatever the time left.
    min_cap: float = 10.0
    quick: bool = False

    @classmethod
    def make(cls, *, quick: bool, runs: int | None, workloads: list[str], soak: bool) -> Settings:
        if quick:
            return cls(
                runs=runs or 1,
                workloads=workloads,
                soak=soak,
                counts=dict(QUICK_COUNTS),
                caps=dict(QUICK_CAPS),
                idle=2.0,
                reply_timeout=3.0,
                drain=5.0,
                ready_timeout=30.0,
                budget=15.0,
                grace=15.0,
                time_limit=None,
                min_cap=5.0,
                quick=True,
            )
        return cls(runs=runs or 3, workloads=workloads, soak=soak)

    def params(self, workload: str, cap: float | None = None) -> dict[str, Any]:
        return {
            "n": self.counts[workload],
            "cap": self.caps[workload] if cap is None else cap,
            "idle": self.idle,
            "reply_timeout": self.reply_timeout,
            "ready_timeout": self.ready_timeout,
            "drain": self.drain,
        }


class Progress:
    """A one-line progress bar on stderr: steps done, elapsed time, what runs now."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 28) -> None:
        self.total = max(1, total)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.started = time.monotonic()
        self._last_len = 0

    def show(self, label: str) -> None:
        filled = int(self.width * self.done / self.total)
        elapsed = int(time.monotonic() - self.started)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
            f"{elapsed // 60:02d}:{elapsed % 60:02d}  {label}"
        )
        padding = " " * max(0, self._last_len - len(line))
        self._last_len = len(line)
        self.stream.write(f"\r{line}{padding}")
        self.stream.flush()

    def advance(self, steps: int = 1, label: str = "") -> None:
        self.done = min(self.total, self.done + steps)
        self.show(label)

    def close(self) -> None:
        self.show("done")
        self.stream.write("\n")
        self.stream.flush()


class Worker:
    """One worker process and the pipe to it."""

    def __init__(self, ctx: SpawnContext, target: Target, inbox: Any, outbox: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process: SpawnProcess = ctx.Process(
            target=worker_main,
            args=(target.factory, target.options, child, inbox, outbox),
            daemon=True,
        )
        self.process.start()
        child.close()

    def send(self, command: dict[str, Any]) -> None:
        self.conn.send(command)

    def answer(self, timeout: float) -> Any:
        """The worker's answer, or None if it gave none within ``timeout`` seconds."""
        try:
            if self.conn.poll(max(0.0, timeout)):
                return self.conn.recv()
        except (EOFError, OSError):
            return {"error": f"worker exited (exit code {self.process.exitcode})"}
        return None

    def stop(self, kill: bool = False) -> None:
        if not kill and self.process.is_alive():
            try:
                self.conn.send({"op": "stop"})
            except (OSError, ValueError):
                pass
            self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(3)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(3)
        self.conn.close()


class Workers:
    """Worker A, and worker B for layers that run across processes."""

    def __init__(self, target: Target, settings: Settings) -> None:
        self.target = target
        self.settings = settings
        self.ctx = multiprocessing.get_context("spawn")
        self.a: Worker | None = None
        self.b: Worker | None = None
        self.info: dict[str, Any] = {}

    @property
    def cross_process(self) -> bool:
        return self.info.get("topology") == "processes"

    def start(self) -> str | None:
        """Start the workers; an error message if the layer cannot be built."""
        a_to_b, b_to_a = self.ctx.Queue(), self.ctx.Queue()
        self.a = Worker(self.ctx, self.target, b_to_a, a_to_b)
        hello = self.a.answer(self.settings.ready_timeout + 30)
        if not isinstance(hello, dict) or "ok" not in hello:
            self.stop(kill=True)
            return _error_of(hello, "the worker did not start in time")
        self.info = hello["info"]
        if self.cross_process:
            self.b = Worker(self.ctx, self.target, a_to_b, b_to_a)
            hello = self.b.answer(self.settings.ready_timeout + 30)
            if not isinstance(hello, dict) or "ok" not in hello:
                self.stop(kill=True)
                return _error_of(hello, "the second worker did not start in time")
        return None

    def stop(self, kill: bool = False) -> None:
        for worker in (self.a, self.b):
            if worker is not None:
                worker.stop(kill)
        self.a = self.b = None

    def run(self, workload: str, tag: str, cap: float | None = None) -> dict[str, Any]:
        """Run one workload once (within ``cap`` seconds); the merged result of its roles."""
        assert self.a is not None
        params = self.settings.params(workload, cap)
        limit = params["cap"] + params["drain"] + params["ready_timeout"] + self.settings.grace
        roles = WORKLOADS[workload]
        if len(roles) == 1:
            self.a.send({"op": "role", "role": roles[0], "params": params, "tag": tag})
            results = [self.a.answer(limit)]
        elif self.b is None:
            self.a.send({"op": "pair", "roles": list(roles), "params": params, "tag": tag})
            answer = self.a.answer(limit)
            results = answer if isinstance(answer, list) else [answer, answer]
        else:
            self.b.send({"op": "role", "role": roles[1], "params": params, "tag": tag})
            self.a.send({"op": "role", "role": roles[0], "params": params, "tag": tag})
            deadline = time.monotonic() + limit
            first = self.a.answer(limit)
            results = [first, self.b.answer(deadline - time.monotonic())]
        if any(result is None for result in results):
            return {"error": "timed out", "timed_out": True, "killed": True}
        for result in results:
            if "error" in result:
                return {"error": result["error"]}
        return merge(workload, results)


def _error_of(answer: Any, default: str) -> str:
    if isinstance(answer, dict) and "error" in answer:
        return str(answer["error"])
    return default


def merge(workload: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """One record per workload run from the records of its roles."""
    if workload == "B2":
        producer, consumer = results
        received = consumer["received"]
        start, last = producer["start"], consumer["last"]
        return {
            "sent": producer["sent"],
            "received": received,
            "lost": producer["sent"] - received,
            "duplicates": consumer["duplicates"],
            "reordered": consumer["reordered"],
            "full": producer["full"],
            "rate": received / (last - start) if received and last and last > start else None,
            "peak_rss_mib": consumer["peak_rss_mib"],
            "timed_out": producer["timed_out"] or consumer["timed_out"],
        }
    if workload == "B3":
        requester, responder = results
        return {**requester, "served": responder["served"]}
    return dict(results[0])


def run_target(
    index: int,
    target: Target,
    settings: Settings,
    progress: Progress,
    allowance: float | None = None,
) -> dict[str, Any]:
    """Every workload run on one target, within about ``allowance`` seconds if given; the
    record the report is built from."""
    steps = settings.runs * len(settings.workloads) + (1 if settings.soak and target.soak else 0)
    started_at = time.monotonic()
    soaks = settings.soak and target.soak
    # The soak keeps its full cap (it backs the "no memory growth" claim); the workloads
    # share the rest of the allowance.
    share = None
    if allowance is not None:
        rest = max(allowance - (settings.caps["soak"] if soaks else 0.0), allowance / 2)
        share = rest / len(settings.workloads)
    # Never below min_cap / 2: a fast row (milliseconds per run) always gets all its runs.
    budget = (
        settings.budget if share is None else min(settings.budget, max(share, settings.min_cap / 2))
    )

    def cap_of(workload: str) -> float:
        cap = settings.caps[workload]
        if share is None or workload == "soak":
            return cap
        return min(cap, max(settings.min_cap, share))

    record: dict[str, Any] = {
        "name": target.name,
        "kind": target.kind,
        "engine": target.engine,
        "options": {
            key: redact_value(value) for key, value in target.options.items() if key != "token"
        },
        "status": "ok",
        "allowance_s": allowance,
        "workloads": {},
    }
    if target.unavailable:
        record["status"] = f"could not run: {target.unavailable}"
        progress.advance(steps, f"{target.name}: could not run")
        return record
    progress.show(f"{target.name}: starting")
    workers = Workers(target, settings)
    error = workers.start()
    if error is not None:
        record["status"] = f"could not run: {error}"
        progress.advance(steps, f"{target.name}: could not run")
        return record
    record["topology"] = workers.info.get("topology")
    record["notes"] = workers.info.get("notes", [])
    spent: dict[str, float] = {}
    plan = [(run, w) for run in range(settings.runs) for w in settings.workloads]
    if settings.soak and target.soak:
        plan.append((0, "soak"))
    try:
        for run, workload in plan:
            runs = record["workloads"].setdefault(workload, [])
            label = f"{target.name}: {workload}" + (
                f" run {run + 1}/{settings.runs}" if workload != "soak" else ""
            )
            if runs and spent.get(workload, 0.0) >= budget:
                progress.advance(1, f"{label} skipped (time budget)")
                continue
            progress.show(label)
            if target.recycle and workers.a is None:
                error = workers.start()
                if error is not None:
                    runs.append({"error": error})
                    progress.advance(1, label)
                    continue
            started = time.monotonic()
            result = workers.run(workload, f"t{index}{workload.lower()}{run}", cap_of(workload))
            spent[workload] = spent.get(workload, 0.0) + time.monotonic() - started
            runs.append(result)
            if result.get("killed"):
                workers.stop(kill=True)
                if not target.recycle:
                    error = workers.start()
                    if error is not None:
                        record["status"] = f"stopped: {error}"
                        break
            elif target.recycle:
                workers.stop()
            progress.advance(1, label)
    finally:
        workers.stop()
        record["elapsed_s"] = time.monotonic() - started_at
    return record


def run_all(targets: list[Target], settings: Settings, progress: Progress) -> list[dict[str, Any]]:
    """Run every target in turn, sharing ``settings.time_limit`` among them."""
    deadline = None if settings.time_limit is None else time.monotonic() + settings.time_limit
    records = []
    for index, target in enumerate(targets):
        allowance = None
        if deadline is not None:
            left = sum(1 for t in targets[index:] if not t.unavailable)
            allowance = max(0.0, deadline - time.monotonic()) / max(1, left)
        records.append(run_target(index, target, settings, progress, allowance))
    return records


def total_steps(targets: list[Target], settings: Settings) -> int:
    per_target = settings.runs * len(settings.workloads)
    return sum(per_target + (1 if settings.soak and t.soak else 0) for t in targets)

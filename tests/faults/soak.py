"""The processes of the soak test (importable, for the ``spawn`` start method)."""

from __future__ import annotations

import os
import time
from array import array
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from channels_core.exceptions import ChannelFull, LayerUnavailable, OutcomeUnknown
from channels_core.loading import load_layer

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def produce(
    url: str, options: dict[str, Any], channel: str, index: int, count: int, progress: Any,
    results: Queue[Any],
) -> None:  # fmt: skip
    """Send ``count`` numbered messages; a send that failed before reaching the server is
    sent again (it was not stored), one of unknown outcome never is."""
    layer = load_layer(url, **options)
    unknown: list[int] = []
    failures = 0
    for number in range(count):
        while True:
            try:
                layer.send(channel, {"id": index * count + number, "pad": "x" * 64})
                break
            except OutcomeUnknown:
                unknown.append(index * count + number)
                break
            except ChannelFull:
                time.sleep(0.01)
            except LayerUnavailable:
                failures += 1
                time.sleep(0.1)
        if number % 100 == 0:
            with progress.get_lock():
                progress.value += 100
    layer.close()
    results.put(("producer", index, unknown, failures))


def consume(
    url: str, options: dict[str, Any], channel: str, index: int, stop: Event, results: Queue[Any]
) -> None:
    """Receive until told to stop and nothing is left; report ids, errors and memory."""
    layer = load_layer(url, **options)
    ids = array("q")
    unknown = failures = 0
    samples: list[tuple[int, float]] = []
    next_sample = time.monotonic()
    while True:
        stopping = stop.is_set()
        try:
            channel_got, message = layer.receive([channel], block=not stopping)
        except OutcomeUnknown:
            unknown += 1
            continue
        except LayerUnavailable:
            failures += 1
            time.sleep(0.1)
            continue
        if channel_got is not None:
            ids.append(message["id"])
        elif stopping:
            break
        if time.monotonic() >= next_sample:
            samples.append((len(ids), rss_mib()))
            next_sample = time.monotonic() + 1.0
    samples.append((len(ids), rss_mib()))
    layer.close()
    results.put(("consumer", index, ids.tobytes(), unknown, failures, samples))

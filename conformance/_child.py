"""Code that runs in the suite's child processes. Imports nothing heavy: only the core.

Each function rebuilds the layer under test from ``(spec, options)`` with ``open_layer``
(``load_layer``, or the Channels 4 adapter) and reports back through a ``multiprocessing`` queue.
"""

from __future__ import annotations

from typing import Any


def _layer(spec: str, options: dict[str, Any]) -> Any:
    from .channels4 import open_layer

    return open_layer(spec, options)


def receive_all(
    spec: str,
    options: dict[str, Any],
    channel: str,
    start: Any,
    results: Any,
    taken: Any,
    total: int,
    idle_seconds: float,
) -> None:
    """Wait for ``start``, then receive from ``channel`` until the receivers together took
    ``total`` messages (``taken`` is a shared counter) or nothing came for ``idle_seconds``;
    report the ids received."""
    import time

    got: list[int] = []
    try:
        with _layer(spec, options) as layer:
            start.wait(30)
            idle_since = time.monotonic()
            while taken.value < total and time.monotonic() - idle_since < idle_seconds:
                name, message = layer.receive([channel], block=True)
                if name is not None:
                    got.append(message["i"])
                    with taken.get_lock():
                        taken.value += 1
                    idle_since = time.monotonic()
        results.put(("ok", got))
    except BaseException as error:  # report, never hang the parent
        results.put(("error", f"{type(error).__name__}: {error}"))


def receive_now(spec: str, options: dict[str, Any], channels: list[str], results: Any) -> None:
    """One non-blocking receive; report what it returned."""
    try:
        with _layer(spec, options) as layer:
            results.put(("ok", layer.receive(channels, block=False)))
    except BaseException as error:
        results.put(("error", f"{type(error).__name__}: {error}"))


def send_sequence(
    spec: str, options: dict[str, Any], channel: str, count: int, results: Any
) -> None:
    """Send ``{"i": 0..count-1}`` to ``channel`` in order; report when done."""
    try:
        with _layer(spec, options) as layer:
            for index in range(count):
                layer.send(channel, {"i": index})
        results.put(("ok", count))
    except BaseException as error:
        results.put(("error", f"{type(error).__name__}: {error}"))

"""Small tools the clauses share: strict message comparison and draining channels."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..compare import assert_same_message, differences, normalized

__all__ = [
    "assert_delivered_once",
    "assert_same_message",
    "differences",
    "drain",
    "expect_error",
    "normalized",
    "timed",
]


def drain(layer: Any, channels: list[str], limit: int = 100_000) -> list[tuple[str, Any]]:
    """Every message ``receive(channels, block=False)`` returns until it returns nothing."""
    received: list[tuple[str, Any]] = []
    for _ in range(limit):
        channel, message = layer.receive(channels, block=False)
        if channel is None:
            return received
        received.append((channel, message))
    raise AssertionError(f"receive({channels!r}) never ran dry after {limit} messages")


def assert_delivered_once(layer: Any, channel: str, got: list[int], count: int, what: str) -> None:
    """The end of a cancellation scenario: the ``i`` fields received (``got``) plus the
    messages still on ``channel`` hold each of ``0 .. count-1`` exactly once (``what``: the
    receive call that was cancelled, for the failure message)."""
    got = got + [message["i"] for _, message in drain(layer, [channel])]
    duplicated = sorted({i for i in got if got.count(i) > 1})
    assert not duplicated, f"delivered twice around cancellations: {duplicated}"
    missing = sorted(set(range(count)) - set(got))
    assert not missing, f"lost around cancelled {what} calls: {missing}"


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """``(result, seconds)`` of ``call()``."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def expect_error(
    kinds: type[BaseException] | tuple[type[BaseException], ...], call: Callable[[], Any], what: str
) -> BaseException:
    """Run ``call`` and return the error it raised; fail if it raised nothing or another type."""
    try:
        result = call()
    except kinds as error:
        return error
    except Exception as error:
        raise AssertionError(
            f"{what}: expected {_names(kinds)}, got {type(error).__name__}: {error}"
        ) from error
    raise AssertionError(f"{what}: expected {_names(kinds)}, but it returned {result!r:.80}")


def _names(kinds: type[BaseException] | tuple[type[BaseException], ...]) -> str:
    if isinstance(kinds, tuple):
        return " or ".join(kind.__name__ for kind in kinds)
    return kinds.__name__

"""Shared connection helpers for network backends: bounded backoff, "unreachable" and
"outcome unknown" errors.

Every network layer fails fast with :class:`~channels_core.exceptions.LayerUnavailable` naming
host and port when its server cannot be reached, and reconnects by itself on the next call once
the server is back. A call that was sent but got no reply raises
:class:`~channels_core.exceptions.OutcomeUnknown` instead, and is never retried (at most once).
:class:`Backoff` paces background reconnect loops (listeners, consumers) so a
dead server is not hammered.
"""

from __future__ import annotations

import random
import time

from .exceptions import LayerUnavailable, OutcomeUnknown


def unavailable(
    engine: str, host: str, port: int | None, error: BaseException | str
) -> LayerUnavailable:
    """A :class:`LayerUnavailable` naming the engine, host and port and the underlying error."""
    where = f"{host}:{port}" if port is not None else host
    detail = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
    return LayerUnavailable(f"{engine} at {where} is unreachable ({detail})")


def outcome_unknown(
    engine: str, host: str, port: int | None, error: BaseException | str, what: str
) -> OutcomeUnknown:
    """An :class:`OutcomeUnknown` for ``what`` (e.g. "send"), naming engine, host and port."""
    where = f"{host}:{port}" if port is not None else host
    detail = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
    return OutcomeUnknown(
        f"{engine} at {where}: {what} was sent but its reply never came ({detail}); the "
        "outcome is unknown (it may have been applied) and it was not retried"
    )


class Backoff:
    """Exponential backoff with jitter: ``initial`` doubling up to ``maximum`` seconds."""

    def __init__(self, initial: float = 0.05, maximum: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial
        self._rng = random.Random()

    def delay(self) -> float:
        """The next delay to wait (and advance the sequence)."""
        current = self._next
        self._next = min(self.maximum, self._next * 2)
        return current * (0.5 + self._rng.random() / 2)

    def sleep(self) -> None:
        time.sleep(self.delay())

    def reset(self) -> None:
        self._next = self.initial

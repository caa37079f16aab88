"""What the server-restart tests of every backend share: waiting through an outage, and a
receiver that keeps receiving across one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from channels_core.exceptions import LayerUnavailable


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Call ``check`` until it returns something true (a call raising LayerUnavailable counts
    as false: the server is still away); its result. AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except LayerUnavailable:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(0.05)


class BackgroundReceiver:
    """A thread receiving on ``channel`` with blocking receives until the ``with`` block
    ends: ``received`` holds each message's ``n`` in order, ``errors`` each LayerUnavailable
    a receive raised (it goes on receiving after one)."""

    def __init__(self, layer: Any, channel: str) -> None:
        self.received: list[int] = []
        self.errors: list[BaseException] = []
        self._layer = layer
        self._channel = channel
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive_forever, daemon=True)

    def _receive_forever(self) -> None:
        while not self._stop.is_set():
            try:
                _, message = self._layer.receive([self._channel], block=True)
            except LayerUnavailable as error:
                self.errors.append(error)
                time.sleep(0.1)
                continue
            if message is not None:
                self.received.append(message["n"])

    def __enter__(self) -> BackgroundReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(10)

"""Plain HTTP and WebSocket clients for the end-to-end tests (stdlib http.client, websockets)."""

from __future__ import annotations

import http.client
import time
from typing import Any

from websockets.sync.client import connect as websocket_connect

__all__ = ["request", "wait_until_served", "websocket_connect"]


def request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 10.0
) -> tuple[int, bytes, dict[str, str]]:
    """``(status, body, headers)`` of one request to 127.0.0.1:``port``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, response.read(), headers
    finally:
        connection.close()


def wait_until_served(port: int, path: str = "/hello", wait: float = 30.0) -> Any:
    """Request ``path`` until it answers 200 (the worker may still be starting)."""
    deadline = time.monotonic() + wait
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = request(port, "GET", path, timeout=5)
            if last[0] == 200:
                return last
        except OSError as error:
            last = error
        time.sleep(0.1)
    raise AssertionError(f"GET {path} never answered 200 within {wait:.0f} s: last {last!r}")

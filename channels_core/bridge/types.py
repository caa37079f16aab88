"""What the protocol handlers need from the bridge application, and the ASGI 3 callables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .replies import ReplyDispatcher

ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]
Result = TypeVar("Result")


class Bridge(Protocol):
    """The bridge as the HTTP and WebSocket handlers use it (see ``BridgeApplication``)."""

    http_timeout: float
    websocket_connect_timeout: float
    body_chunk_size: int

    @property
    def layer(self) -> Any: ...

    async def replies(self) -> ReplyDispatcher: ...

    async def call(self, function: Callable[..., Result], *args: Any) -> Result: ...

    async def send_patiently(
        self, channel: str, message: dict[str, Any], timeout: float | None = None
    ) -> None: ...

    async def send_if_room(self, channel: str, message: dict[str, Any]) -> None: ...

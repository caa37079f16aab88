"""The bridge's ASGI 3 application: routes each scope to its protocol and owns the process inbox."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from ..exceptions import ChannelFull
from ..loading import load_layer
from ..manager import channel_layers
from ..settings import DEFAULT_CHANNEL_LAYER
from .http_connection import serve_http
from .replies import ReplyDispatcher
from .types import ASGIReceive, ASGISend, Result
from .websocket_connection import serve_websocket

logger = logging.getLogger(__name__)


#: Pauses between retries of a send to a full channel that must not be dropped.
_RETRY_PAUSES = (0.001, 0.005, 0.02, 0.05, 0.1)


class BridgeApplication:
    """An ASGI 3 application that serves a Channels 1.x-style app running in workers.

    ``layer`` is a channel layer object, a spec for :func:`~channels_core.loading.load_layer`
    (``"redis://127.0.0.1:6379/0"``), or None for the ``alias`` of ``CHANNEL_LAYERS`` (so
    ``CHANNEL_LAYER_URL`` picks the backend). The layer is opened on first use (or at lifespan
    startup, where the server sends it).

    ``http_timeout`` (120)
        Seconds to wait for a response to start (and between its chunks): then 503.
    ``websocket_connect_timeout`` (20)
        Seconds a WebSocket handshake waits for the app's ``accept``: then rejected.
    ``body_chunk_size`` (256 KiB)
        Request bodies larger than this go on in chunks on a ``body_channel``.
    ``mailbox_size`` (1000)
        Replies kept per connection that its client has not taken yet.
    """

    def __init__(
        self,
        layer: Any = None,
        *,
        alias: str = DEFAULT_CHANNEL_LAYER,
        http_timeout: float = 120,
        websocket_connect_timeout: float = 20,
        body_chunk_size: int = 256 * 1024,
        mailbox_size: int = 1000,
    ) -> None:
        self._layer_spec = layer
        self.alias = alias
        self.http_timeout = http_timeout
        self.websocket_connect_timeout = websocket_connect_timeout
        self.body_chunk_size = body_chunk_size
        self.mailbox_size = mailbox_size
        self._layer: Any = None if isinstance(layer, str) else layer
        self._replies: ReplyDispatcher | None = None
        self._replies_loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    # -- ASGI 3 -------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        kind = scope["type"]
        if kind == "http":
            await serve_http(self, scope, receive, send)
        elif kind == "websocket":
            await serve_websocket(self, scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ValueError(f"the bridge serves 'http' and 'websocket' scopes, not {kind!r}")

    async def _lifespan(self, receive: ASGIReceive, send: ASGISend) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                try:
                    await self.replies()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- the layer and the process inbox ------------------------------------------------------

    @property
    def layer(self) -> Any:
        """The channel layer (opened on first use)."""
        if self._layer is None:
            if isinstance(self._layer_spec, str):
                self._layer = load_layer(self._layer_spec)
            else:
                self._layer = channel_layers[self.alias]
        return self._layer

    async def replies(self) -> ReplyDispatcher:
        """This process's inbox and its receive loop (made on first use, per event loop)."""
        loop = asyncio.get_running_loop()
        if self._replies is not None and self._replies_loop is loop:
            return self._replies
        if self._lock is None or self._replies_loop is not loop:
            self._lock, self._replies_loop, self._replies = asyncio.Lock(), loop, None
        async with self._lock:
            if self._replies is None:
                layer = await self.call(lambda: self.layer)
                self._replies = await self.call(ReplyDispatcher, layer, self.mailbox_size)
                self._replies.start()
                logger.info("bridge: replies for this process arrive on %s", self._replies.inbox)
        return self._replies

    async def shutdown(self) -> None:
        """Stop the receive loop; close the layer if the bridge opened it from a spec."""
        if self._replies is not None:
            await self._replies.stop()
            self._replies = None
        if isinstance(self._layer_spec, str) and self._layer is not None:
            self._layer.close()
            self._layer = None

    # -- calling the (synchronous) layer ------------------------------------------------------

    async def call(self, function: Callable[..., Result], *args: Any) -> Result:
        """``function(*args)`` on a worker thread: a layer call never blocks the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(function, *args))

    async def send_patiently(
        self, channel: str, message: dict[str, Any], timeout: float | None = None
    ) -> None:
        """Send, retrying while ``channel`` is full, for up to ``timeout`` seconds (default
        ``http_timeout``); then ``ChannelFull`` propagates. For messages that must not be
        dropped (request body chunks, WebSocket frames)."""
        deadline = time.monotonic() + (self.http_timeout if timeout is None else timeout)
        attempt = 0
        while True:
            try:
                await self.call(self.layer.send, channel, message)
                return
            except ChannelFull:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(_RETRY_PAUSES[min(attempt, len(_RETRY_PAUSES) - 1)])
                attempt += 1

    async def send_if_room(self, channel: str, message: dict[str, Any]) -> None:
        """Send, or give up quietly if ``channel`` is full (disconnect notices)."""
        try:
            await self.call(self.layer.send, channel, message)
        except ChannelFull:
            logger.debug("bridge: %s is full; %r not sent", channel, message.get("reply_channel"))

"""One WebSocket through the bridge: ASGI 3 events in, ASGI 1.0 channel messages out.

* The handshake becomes ``websocket.connect`` (``reply_channel``, ``path``, ``headers``, ...,
  ``order`` 0); the socket is accepted when the app replies ``accept: True`` or sends data, and
  rejected (HTTP 403) on ``accept: False``, ``close``, or no answer within
  ``websocket_connect_timeout`` seconds. A full ``websocket.connect`` channel rejects it at once.
* Each frame becomes ``websocket.receive`` (``text`` or ``bytes``, ``order`` 1, 2, ...). A full
  ``websocket.receive`` channel is retried for up to a second, then the socket is closed with
  code 1013 (try again later), as ASGI 1.0 asks.
* Replies (``text``, ``bytes``, ``close``: True or a code, ``accept``) are written as they
  arrive; a reply with both ``text`` and ``bytes`` is ignored, as ASGI 1.0 asks.
* However the socket ends, ``websocket.disconnect`` (``reply_channel``, ``code``, ``path``,
  ``order``) is sent once, if there is room on its channel.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..exceptions import ChannelFull
from .scope import connection_fields
from .types import ASGIReceive, ASGISend, Bridge

logger = logging.getLogger(__name__)

Reply = dict[str, Any]

#: The close code reported when the socket was rejected or lost without a close frame.
ABNORMAL_CLOSURE = 1006
#: The close code of a socket whose frames the app cannot take in (ASGI 1.0).
TRY_AGAIN_LATER = 1013
_REPLY_KEYS = {"text", "bytes", "close", "accept"}


class WebSocketConnection:
    """The state of one bridged WebSocket."""

    def __init__(
        self,
        bridge: Bridge,
        scope: dict[str, Any],
        send: ASGISend,
        reply_channel: str,
    ) -> None:
        self.bridge = bridge
        self.fields = connection_fields(scope, "ws")
        self.path: str = self.fields["path"]
        self.send = send
        self.reply_channel = reply_channel
        self.accepted = False
        self.order = 0

    async def connect(self) -> bool:
        """Send ``websocket.connect``; False (socket rejected) if its channel is full."""
        message = {"reply_channel": self.reply_channel, **self.fields, "order": 0}
        try:
            await self.bridge.call(self.bridge.layer.send, "websocket.connect", message)
        except ChannelFull:
            logger.warning("bridge: websocket.connect is full; %s rejected", self.path)
            await self.send({"type": "websocket.close", "code": TRY_AGAIN_LATER})
            return False
        return True

    async def frame(self, event: dict[str, Any]) -> bool:
        """Forward one received frame; False when it could not be and the socket was closed."""
        self.order += 1
        message: dict[str, Any] = {
            "reply_channel": self.reply_channel,
            "path": self.path,
            "order": self.order,
        }
        if event.get("bytes") is not None:
            message["bytes"] = event["bytes"]
        else:
            message["text"] = event.get("text") or ""
        try:
            await self.bridge.send_patiently("websocket.receive", message, timeout=1.0)
        except ChannelFull:
            logger.warning("bridge: websocket.receive stayed full; %s closed", self.reply_channel)
            await self.send({"type": "websocket.close", "code": TRY_AGAIN_LATER})
            return False
        return True

    async def reply(self, reply: Reply) -> int | None:
        """Apply one reply; the close code if it closed (or rejected) the socket, else None."""
        unknown = set(reply) - _REPLY_KEYS
        if unknown:
            logger.warning("bridge: reply on %s has unknown keys %s", self.reply_channel, unknown)
        text, data = reply.get("text"), reply.get("bytes")
        if text and data:
            logger.warning(
                "bridge: reply on %s has both text and bytes: ignored", self.reply_channel
            )
            return None
        close = reply.get("close", False)
        if not self.accepted:
            if reply.get("accept") is False or (close and not (text or data)):
                await self.send({"type": "websocket.close"})  # before accept: HTTP 403
                return ABNORMAL_CLOSURE
            if reply.get("accept") or text or data:
                await self.send({"type": "websocket.accept"})
                self.accepted = True
        if not self.accepted:
            return None
        if data:
            await self.send({"type": "websocket.send", "bytes": bytes(data)})
        elif text:
            await self.send({"type": "websocket.send", "text": str(text)})
        if close:
            code = 1000 if close is True else int(close)
            await self.send({"type": "websocket.close", "code": code})
            return code
        return None

    async def disconnected(self, code: int) -> None:
        """Tell the app the socket is gone (skipped if ``websocket.disconnect`` is full)."""
        await self.bridge.send_if_room(
            "websocket.disconnect",
            {
                "reply_channel": self.reply_channel,
                "code": code,
                "path": self.path,
                "order": self.order + 1,
            },
        )


async def serve_websocket(
    bridge: Bridge, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend
) -> None:
    """Serve one WebSocket (see the module docstring)."""
    if (await receive())["type"] != "websocket.connect":
        return
    replies = await bridge.replies()
    reply_channel, mailbox = replies.open()
    try:
        await _serve(
            bridge, WebSocketConnection(bridge, scope, send, reply_channel), receive, mailbox
        )
    finally:
        replies.close(reply_channel)


async def _serve(
    bridge: Bridge,
    socket: WebSocketConnection,
    receive: ASGIReceive,
    mailbox: asyncio.Queue[Reply],
) -> None:
    if not await socket.connect():
        return
    loop = asyncio.get_running_loop()
    connect_deadline = loop.time() + bridge.websocket_connect_timeout
    incoming: asyncio.Future[Any] = asyncio.ensure_future(receive())
    outgoing: asyncio.Future[Reply] = asyncio.ensure_future(mailbox.get())
    code = ABNORMAL_CLOSURE
    try:
        while True:
            timeout = None if socket.accepted else max(0.0, connect_deadline - loop.time())
            done, _ = await asyncio.wait(
                {incoming, outgoing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                logger.warning("bridge: no answer to websocket.connect for %s", socket.path)
                await socket.send({"type": "websocket.close"})
                break
            if outgoing in done:
                closed = await _apply_replies(socket, outgoing.result(), mailbox)
                if closed is not None:
                    code = closed
                    break
                outgoing = asyncio.ensure_future(mailbox.get())
            if incoming in done:
                event = incoming.result()
                if event["type"] == "websocket.disconnect":
                    code = int(event.get("code", 1000))
                    break
                if event["type"] == "websocket.receive" and not await socket.frame(event):
                    code = TRY_AGAIN_LATER
                    break
                incoming = asyncio.ensure_future(receive())
    finally:
        incoming.cancel()
        outgoing.cancel()
    await socket.disconnected(code)


async def _apply_replies(
    socket: WebSocketConnection, reply: Reply, mailbox: asyncio.Queue[Reply]
) -> int | None:
    """Apply ``reply`` and every reply already waiting (a broadcast burst in one go); the
    close code if one of them closed the socket."""
    while True:
        closed = await socket.reply(reply)
        if closed is not None or mailbox.empty():
            return closed
        reply = mailbox.get_nowait()

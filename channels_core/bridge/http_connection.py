"""One HTTP request through the bridge: ASGI 3 events in, ASGI 1.0 channel messages out.

* The request becomes one ``http.request`` message with its ``reply_channel``. A body larger
  than ``body_chunk_size`` starts in ``body`` and goes on in Request Body Chunk messages
  (``content``, ``more_content``) on a ``body_channel`` (``http.request.body?...``); a client
  that goes away mid-body ends it with ``closed: True``.
* Backpressure as daphne 1.x: a full ``http.request`` channel (``ChannelFull``) answers
  ``503 Service Unavailable`` at once; a request too large for one message answers ``413``.
* The Response (``status``, ``headers``, ``content``, ``more_content``) and Response Chunks on
  the reply channel are written back as they arrive. No response start within
  ``http_timeout`` seconds (nor a next chunk within it) answers ``503`` (or cuts the stream).
* A client that disconnects before its response is complete is reported with an
  ``http.disconnect`` message (``reply_channel``, ``path``), for long-polling apps.
"""

from __future__ import annotations

import asyncio
import html
import logging
from http import HTTPStatus
from typing import Any

from ..exceptions import ChannelFull, MessageTooLarge
from .scope import connection_fields
from .types import ASGIReceive, ASGISend, Bridge

logger = logging.getLogger(__name__)

Reply = dict[str, Any]


class BodyReader:
    """The request body from ASGI 3 ``http.request`` events, in pieces of at most ``size``."""

    def __init__(self, receive: ASGIReceive, size: int) -> None:
        self._receive = receive
        self._size = size
        self._buffer = bytearray()
        self._more = True
        #: Whether the client went away before the body was complete.
        self.disconnected = False

    async def next(self) -> bytes:
        """The next piece (up to ``size`` bytes; shorter only at the end)."""
        while self._more and len(self._buffer) < self._size:
            event = await self._receive()
            if event["type"] == "http.disconnect":
                self.disconnected, self._more = True, False
                break
            self._buffer += event.get("body", b"")
            self._more = bool(event.get("more_body", False))
        piece = bytes(self._buffer[: self._size])
        del self._buffer[: self._size]
        return piece

    @property
    def finished(self) -> bool:
        return not self._more and not self._buffer


async def serve_http(
    bridge: Bridge, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend
) -> None:
    """Serve one HTTP request (see the module docstring)."""
    replies = await bridge.replies()
    reply_channel, mailbox = replies.open()
    try:
        await _serve(bridge, scope, receive, send, reply_channel, mailbox)
    finally:
        replies.close(reply_channel)


async def _serve(
    bridge: Bridge,
    scope: dict[str, Any],
    receive: ASGIReceive,
    send: ASGISend,
    reply_channel: str,
    mailbox: asyncio.Queue[Reply],
) -> None:
    layer = bridge.layer
    body = BodyReader(receive, bridge.body_chunk_size)
    first = await body.next()
    if body.disconnected:
        return  # gone before the request was complete: nothing to process
    request: dict[str, Any] = {
        "reply_channel": reply_channel,
        "http_version": scope.get("http_version", "1.1"),
        "method": scope.get("method", "GET").upper(),
        **connection_fields(scope, "http"),
        "body": first,
    }
    body_channel = None
    if not body.finished:
        body_channel = await bridge.call(layer.new_channel, "http.request.body?")
        request["body_channel"] = body_channel
    try:
        await bridge.call(layer.send, "http.request", request)
    except ChannelFull:
        await error_response(send, 503, "Request queue full.")
        return
    except MessageTooLarge as error:
        await error_response(send, 413, str(error))
        return
    if body_channel is not None and not await _stream_body(bridge, body, body_channel):
        return
    await _relay_response(bridge, receive, send, reply_channel, mailbox, request["path"])


async def _stream_body(bridge: Bridge, body: BodyReader, body_channel: str) -> bool:
    """Send the rest of the body on ``body_channel``; False if the client went away."""
    while not body.finished:
        content = await body.next()
        if body.disconnected:
            chunk: dict[str, Any] = {"closed": True, "more_content": False}
        else:
            chunk = {"content": content, "more_content": not body.finished}
        await bridge.send_patiently(body_channel, chunk)
        if body.disconnected:
            return False
    return True


async def _relay_response(
    bridge: Bridge,
    receive: ASGIReceive,
    send: ASGISend,
    reply_channel: str,
    mailbox: asyncio.Queue[Reply],
    path: str,
) -> None:
    """Write the replies of ``reply_channel`` back until the response is complete."""
    gone: asyncio.Future[Any] = asyncio.ensure_future(_wait_disconnect(receive))
    started = False
    try:
        while True:
            get = asyncio.ensure_future(mailbox.get())
            done, _ = await asyncio.wait(
                {get, gone}, timeout=bridge.http_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if get not in done:
                get.cancel()
                if gone in done:
                    await bridge.send_if_room(
                        "http.disconnect", {"reply_channel": reply_channel, "path": path}
                    )
                elif not started:
                    await error_response(
                        send, 503, "Worker server failed to respond within time limit."
                    )
                else:
                    logger.warning("bridge: response on %s stalled; cut", reply_channel)
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            reply = get.result()
            if not started:
                if "status" not in reply:
                    logger.error("bridge: response on %s has no 'status': %r", reply_channel, reply)
                    await error_response(send, 500, "The application sent no response status.")
                    return
                await send(
                    {
                        "type": "http.response.start",
                        "status": int(reply["status"]),
                        "headers": _headers(reply.get("headers") or []),
                    }
                )
                started = True
            more = bool(reply.get("more_content", False))
            await send(
                {"type": "http.response.body", "body": reply.get("content", b""), "more_body": more}
            )
            if not more:
                return
    finally:
        gone.cancel()


async def _wait_disconnect(receive: ASGIReceive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _headers(headers: Any) -> list[tuple[bytes, bytes]]:
    return [(_latin1(name).lower(), _latin1(value)) for name, value in headers]


def _latin1(value: Any) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


async def error_response(send: ASGISend, status: int, detail: str) -> None:
    """A small HTML error page from the bridge itself."""
    title = f"{status} {HTTPStatus(status).phrase}"
    page = (
        f"<!DOCTYPE html><html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{html.escape(detail)}</p></body></html>"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(page)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": page, "more_body": False})

"""A small Channels 1.x-style app the interface-server tests run in a worker."""

from __future__ import annotations

import hashlib
from typing import Any

from channels_core import Group, channel_session, route

BROADCAST_GROUP = "web-broadcast"


def hello(message: Any) -> None:
    """``GET /hello``: a trivial response (the latency bar measures this one)."""
    message.reply_channel.send(
        {"status": 200, "headers": [[b"content-type", b"text/plain"]], "content": b"hello"}
    )


def read_body(message: Any) -> bytes:
    """The whole request body: ``body``, then the chunks of its ``body_channel`` if any."""
    body = bytearray(message["body"])
    body_channel = message.get("body_channel")
    while body_channel:
        channel, chunk = message.channel_layer.receive([body_channel], block=True)
        assert channel is not None, "a body chunk did not arrive"
        assert not chunk.get("closed"), "the client went away"
        body += chunk["content"]
        if not chunk.get("more_content"):
            break
    return bytes(body)


def upload(message: Any) -> None:
    """``POST /upload``: the body's length and SHA-256 (reads a ``body_channel`` if any)."""
    body = read_body(message)
    summary = f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
    message.reply_channel.send({"status": 200, "content": summary})


def stream(message: Any) -> None:
    """``GET /stream``: a response in three chunks."""
    message.reply_channel.send({"status": 200, "content": b"one ", "more_content": True})
    message.reply_channel.send({"content": b"two ", "more_content": True})
    message.reply_channel.send({"content": b"three", "more_content": False})


def echo_connect(message: Any) -> None:
    message.reply_channel.send({"accept": True})


def echo_receive(message: Any) -> None:
    """Echo a frame; ``close`` closes with code 4000."""
    if message.get("text") == "close":
        message.reply_channel.send({"close": 4000})
    elif message.get("bytes") is not None:
        message.reply_channel.send({"bytes": message["bytes"]})
    else:
        message.reply_channel.send({"text": message["text"]})


def reject_connect(message: Any) -> None:
    message.reply_channel.send({"accept": False})


@channel_session
def broadcast_connect(message: Any) -> None:
    """Join the broadcast group; answer ``joined`` once the membership is stored."""
    Group(BROADCAST_GROUP, channel_layer=message.channel_layer).add(message.reply_channel)
    message.channel_session["joined"] = True
    message.reply_channel.send({"accept": True, "text": "joined"})


@channel_session
def broadcast_disconnect(message: Any) -> None:
    Group(BROADCAST_GROUP, channel_layer=message.channel_layer).discard(message.reply_channel)


routing = [
    route("http.request", hello, path=r"^/hello$"),
    route("http.request", upload, path=r"^/upload$", method=r"^POST$"),
    route("http.request", stream, path=r"^/stream$"),
    route("websocket.connect", echo_connect, path=r"^/echo$"),
    route("websocket.receive", echo_receive, path=r"^/echo$"),
    route("websocket.connect", reject_connect, path=r"^/reject$"),
    route("websocket.connect", broadcast_connect, path=r"^/broadcast$"),
    route("websocket.disconnect", broadcast_disconnect, path=r"^/broadcast$"),
]

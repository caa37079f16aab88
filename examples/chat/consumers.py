"""The chat's consumers (they run in workers; the interface server only carries messages).

A WebSocket on ``/chat/<room>/?name=<name>`` joins the room: its reply channel is added to the
room's ``Group`` and the room and name are kept in its ``channel_session``, so the later
messages of the connection (which carry no room) know where to go. Every message a member sends
is broadcast to the room through the ``Group``; leaving (closing the socket) discards it. The
frames are JSON: the client sends ``{"text": ...}``; members receive
``{"type": "join" | "leave" | "message", "room", "user", "text"?}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from channels_core import Group, channel_session, enforce_ordering

PAGE = Path(__file__).with_name("index.html")
MAX_NAME = 40
MAX_TEXT = 2000


def room_group(message: Any, room: str) -> Group:
    return Group(f"chat-room-{room}", channel_layer=message.channel_layer)


def page(message: Any) -> None:
    """``GET /``: the chat page."""
    message.reply_channel.send(
        {
            "status": 200,
            "headers": [[b"content-type", b"text/html; charset=utf-8"]],
            "content": PAGE.read_bytes(),
        }
    )


def not_found(message: Any) -> None:
    message.reply_channel.send({"status": 404, "content": b"not found"})


def _announce(message: Any, room: str, **event: Any) -> None:
    room_group(message, room).send({"text": json.dumps({"room": room, **event})})


@enforce_ordering(slight=True)
@channel_session
def join(message: Any, room: str) -> None:
    """A socket opened on ``/chat/<room>/``: accept it, join the room, tell its members."""
    query = parse_qs(bytes(message.get("query_string", b"")).decode("latin-1"))
    name = (query.get("name", [""])[0].strip() or "anonymous")[:MAX_NAME]
    message.channel_session["room"] = room
    message.channel_session["name"] = name
    message.reply_channel.send({"accept": True})
    room_group(message, room).add(message.reply_channel)
    _announce(message, room, type="join", user=name)


def refuse(message: Any) -> None:
    """A socket on an invalid room name."""
    message.reply_channel.send({"accept": False})


@enforce_ordering(slight=True)
@channel_session
def say(message: Any) -> None:
    """A frame from a member: broadcast its text to the room kept in the session."""
    room = message.channel_session.get("room")
    if room is None:
        return  # not joined (refused): nothing to broadcast to
    try:
        text = str(json.loads(message.get("text") or "{}").get("text", ""))
    except (ValueError, AttributeError):
        return  # not a chat frame
    if text.strip():
        user = message.channel_session["name"]
        _announce(message, room, type="message", user=user, text=text[:MAX_TEXT])


@enforce_ordering(slight=True)
@channel_session
def leave(message: Any) -> None:
    """The socket closed: leave the room and tell the members who stay."""
    room = message.channel_session.get("room")
    if room is None:
        return
    room_group(message, room).discard(message.reply_channel)
    _announce(message, room, type="leave", user=message.channel_session["name"])

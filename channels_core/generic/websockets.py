"""Generic WebSocket consumers, as in Channels 1.x (see docs/generic.md).

``WebsocketConsumer``
    Handles ``websocket.connect`` / ``websocket.receive`` / ``websocket.disconnect`` and calls
    ``connect(message, **kwargs)``, ``receive(text=None, bytes=None, **kwargs)`` and
    ``disconnect(message, **kwargs)``. The default ``connect`` accepts the connection. The
    groups of ``connection_groups(**kwargs)`` (by default the ``groups`` attribute) are joined
    before ``connect`` and left before ``disconnect``. Class attributes: ``channel_session``,
    ``channel_session_user``, ``http_user`` (the Django user of the HTTP session, copied into
    the channel session on connect; implies ``channel_session_user``),
    ``http_user_and_session`` (the same, and ``message.http_session`` on every message),
    ``strict_ordering`` (``enforce_ordering``) and ``slight_ordering``
    (``enforce_ordering(slight=True)``). ``self.path`` is the message's ``path`` as text.
    Helpers: ``send(text=None, bytes=None, close=False)``, ``close(status=True)`` (from
    ``connect``, before accepting, it refuses the connection) and the class method
    ``group_send(name, text=None, bytes=None, close=False)``.
``JsonWebsocketConsumer``
    The same with JSON text frames: ``receive(content, **kwargs)``, ``send(content,
    close=False)``, ``group_send(name, content, close=False)``; a binary frame is a
    ``ValueError``.
``WebsocketDemultiplexer`` and ``WebsocketMultiplexer``
    One connection carrying several JSON streams, each frame ``{"stream": name, "payload":
    {...}}``. ``consumers`` maps stream names to consumer classes (usually
    ``JsonWebsocketConsumer`` subclasses): connect and disconnect are forwarded to every one of
    them, a frame to the one of its stream with the payload as the frame's text. Each call gets
    ``multiplexer=``, a :class:`WebsocketMultiplexer` whose ``send(payload)`` answers on that
    stream; the consumer's own ``send`` raises
    :class:`~channels_core.exceptions.SendNotAvailableOnDemultiplexer` there.

Everything a consumer sends goes through ``Channel``/``Group``, so inside a worker it leaves
when the consumer returns (send buffering).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..channel import Channel, Group
from ..exceptions import SendNotAvailableOnDemultiplexer
from ..routing import field_text
from ..sessions import enforce_ordering
from .base import BaseConsumer, Handler, django_auth

__all__ = [
    "JsonWebsocketConsumer",
    "WebsocketConsumer",
    "WebsocketDemultiplexer",
    "WebsocketMultiplexer",
]


def websocket_frame(text: str | None, bytes: bytes | None, close: bool | int) -> dict[str, Any]:
    """The ASGI 1.0 message that sends ``text`` or ``bytes`` (and closes if ``close``)."""
    frame: dict[str, Any] = {}
    if close:
        frame["close"] = close
    if text is not None:
        frame["text"] = text
    elif bytes is not None:
        frame["bytes"] = bytes
    else:
        raise ValueError("a WebSocket frame needs text or bytes")
    return frame


@functools.cache
def json_encoder() -> type[json.JSONEncoder]:
    """Django's JSON encoder (dates, decimals, UUIDs) when Django is installed, else json's."""
    try:
        from django.core.serializers.json import DjangoJSONEncoder
    except ImportError:
        return json.JSONEncoder
    return DjangoJSONEncoder


class WebsocketConsumer(BaseConsumer):
    """A WebSocket connection's connect, receive and disconnect (see the module doc)."""

    method_mapping: ClassVar[Mapping[str, str]] = {
        "websocket.connect": "raw_connect",
        "websocket.receive": "raw_receive",
        "websocket.disconnect": "raw_disconnect",
    }
    #: copy the Django user of the HTTP session into the channel session on connect
    http_user: ClassVar[bool] = False
    #: ``http_user``, and ``message.http_session`` on every message of the connection
    http_user_and_session: ClassVar[bool] = False
    #: run the connection's messages in their ``order`` (``enforce_ordering``)
    strict_ordering: ClassVar[bool] = False
    #: run ``connect`` before any other message (``enforce_ordering(slight=True)``)
    slight_ordering: ClassVar[bool] = False
    #: groups joined on connect and left on disconnect (see ``connection_groups``)
    groups: ClassVar[Sequence[str] | None] = None

    path: str

    def get_handler(self, message: Any, **kwargs: Any) -> Handler:
        self.path = field_text(message.get("path")) or ""
        return super().get_handler(message, **kwargs)

    def decorate(self, handler: Handler) -> Handler:
        if self.http_user_and_session or self.http_user:
            auth = django_auth()
            handler = auth.channel_session_user(handler)
            if self.http_user_and_session:
                handler = auth.channel_and_http_session_user_from_http(handler)
            else:
                handler = auth.channel_session_user_from_http(handler)
        else:
            handler = super().decorate(handler)
        if self.strict_ordering:
            return enforce_ordering(handler)
        if self.slight_ordering:
            return enforce_ordering(slight=True)(handler)
        return handler

    def connection_groups(self, **kwargs: Any) -> Sequence[str]:
        """The groups a connection joins on connect and leaves on disconnect (a list of names,
        never a bare string)."""
        groups = self.groups or []
        if isinstance(groups, str):
            raise TypeError(
                f"{type(self).__name__}.groups / connection_groups(): must be a list of group "
                f"names, got the string {groups!r}"
            )
        return groups

    def raw_connect(self, message: Any, **kwargs: Any) -> None:
        for group in self.connection_groups(**kwargs):
            Group(group, channel_layer=message.channel_layer).add(message.reply_channel)
        self.connect(message, **kwargs)

    def connect(self, message: Any, **kwargs: Any) -> None:
        """Called on ``websocket.connect``: accepts the connection (override to refuse it with
        ``self.close()`` or ``message.reply_channel.send({"accept": False})``)."""
        self.message.reply_channel.send({"accept": True})

    def raw_receive(self, message: Any, **kwargs: Any) -> None:
        if "text" in message:
            self.receive(text=message["text"], **kwargs)
        else:
            self.receive(bytes=message.get("bytes"), **kwargs)

    def receive(self, text: str | None = None, bytes: bytes | None = None, **kwargs: Any) -> None:
        """Called with each frame: ``text`` or ``bytes``."""

    def raw_disconnect(self, message: Any, **kwargs: Any) -> None:
        for group in self.connection_groups(**kwargs):
            Group(group, channel_layer=message.channel_layer).discard(message.reply_channel)
        self.disconnect(message, **kwargs)

    def disconnect(self, message: Any, **kwargs: Any) -> None:
        """Called on ``websocket.disconnect``."""

    def send(
        self, text: str | None = None, bytes: bytes | None = None, close: bool = False
    ) -> None:
        """Send a frame to this connection (and close it if ``close``)."""
        if "multiplexer" in self.kwargs:
            raise SendNotAvailableOnDemultiplexer(
                f"{type(self).__name__} runs under a WebsocketDemultiplexer: use "
                "kwargs['multiplexer'].send(payload)"
            )
        self.message.reply_channel.send(websocket_frame(text, bytes, close))

    def close(self, status: bool | int = True) -> None:
        """Close this connection (``status``: True, or a WebSocket close code); from
        ``connect``, before accepting, it refuses the connection."""
        self.message.reply_channel.send({"close": status})

    @classmethod
    def group_send(
        cls,
        name: str,
        text: str | None = None,
        bytes: bytes | None = None,
        close: bool = False,
        *,
        channel_layer: Any = None,
    ) -> None:
        """Send a frame to every connection in group ``name`` (of the default layer, or
        ``channel_layer``)."""
        Group(name, channel_layer=channel_layer).send(websocket_frame(text, bytes, close))


class JsonWebsocketConsumer(WebsocketConsumer):
    """A WebSocket consumer whose frames are JSON text (see the module doc)."""

    def raw_receive(self, message: Any, **kwargs: Any) -> None:
        if "text" not in message:
            raise ValueError(
                f"{type(self).__name__}: a frame on {message.channel.name!r} has no text; "
                "JSON consumers take text frames only"
            )
        self.receive(self.decode_json(message["text"]), **kwargs)

    def receive(self, content: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Called with each frame's decoded JSON."""

    def send(self, content: Any, close: bool = False) -> None:  # type: ignore[override]
        """Send ``content`` as a JSON text frame."""
        super().send(text=self.encode_json(content), close=close)

    @classmethod
    def decode_json(cls, text: str) -> Any:
        return json.loads(text)

    @classmethod
    def encode_json(cls, content: Any) -> str:
        return json.dumps(content)

    @classmethod
    def group_send(  # type: ignore[override]
        cls, name: str, content: Any, close: bool = False, *, channel_layer: Any = None
    ) -> None:
        """Send ``content`` as a JSON text frame to every connection in group ``name``."""
        WebsocketConsumer.group_send(
            name, cls.encode_json(content), close=close, channel_layer=channel_layer
        )


class WebsocketMultiplexer:
    """Sends on one stream of a demultiplexed connection; consumers get it as ``multiplexer``."""

    def __init__(self, stream: str, reply_channel: Channel) -> None:
        self.stream = stream
        self.reply_channel = reply_channel

    def send(self, payload: Any) -> None:
        """Send ``payload`` on this stream."""
        self.reply_channel.send(self.encode(self.stream, payload))

    @classmethod
    def encode_json(cls, content: Any) -> str:
        return json.dumps(content, cls=json_encoder())

    @classmethod
    def encode(cls, stream: str, payload: Any) -> dict[str, Any]:
        """The text frame carrying ``payload`` on ``stream``."""
        return {"text": cls.encode_json({"stream": stream, "payload": payload})}

    @classmethod
    def group_send(
        cls,
        name: str,
        stream: str,
        payload: Any,
        close: bool = False,
        *,
        channel_layer: Any = None,
    ) -> None:
        """Send ``payload`` on ``stream`` to every connection in group ``name``."""
        message = cls.encode(stream, payload)
        if close:
            message["close"] = True
        Group(name, channel_layer=channel_layer).send(message)


class WebsocketDemultiplexer(JsonWebsocketConsumer):
    """Routes the JSON streams of one connection to the consumers of ``consumers``."""

    #: stream name -> consumer class (called with the message and ``multiplexer=``)
    consumers: ClassVar[Mapping[str, Any]] = {}
    multiplexer_class: ClassVar[type[WebsocketMultiplexer]] = WebsocketMultiplexer

    def _multiplexer(self, stream: str) -> WebsocketMultiplexer:
        return self.multiplexer_class(stream, self.message.reply_channel)

    def receive(self, content: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Forward a frame to the consumer of its stream, the payload as the frame's text."""
        if not isinstance(content, dict) or "stream" not in content or "payload" not in content:
            raise ValueError(
                f"{type(self).__name__}: a multiplexed frame must be a JSON object with "
                "'stream' and 'payload'"
            )
        stream = content["stream"]
        consumer = self.consumers.get(stream) if isinstance(stream, str) else None
        if consumer is None:
            raise ValueError(
                f"{type(self).__name__}: stream {stream!r:.60} is not in consumers "
                f"({', '.join(sorted(self.consumers))})"
            )
        payload = content["payload"]
        if not isinstance(payload, dict):
            raise ValueError(
                f"{type(self).__name__}: the payload of stream {stream!r} must be a JSON "
                f"object, got {type(payload).__name__}"
            )
        self.message.content["text"] = self.encode_json(payload)
        consumer(self.message, **{**kwargs, "multiplexer": self._multiplexer(stream)})

    def connect(self, message: Any, **kwargs: Any) -> None:
        """Accept, then forward the connect to every stream's consumer."""
        self.message.reply_channel.send({"accept": True})
        self._forward(message, kwargs)

    def disconnect(self, message: Any, **kwargs: Any) -> None:
        """Forward the disconnect to every stream's consumer."""
        self._forward(message, kwargs)

    def _forward(self, message: Any, kwargs: dict[str, Any]) -> None:
        for stream, consumer in self.consumers.items():
            consumer(message, **{**kwargs, "multiplexer": self._multiplexer(stream)})

    def send(self, *args: Any, **kwargs: Any) -> None:
        raise SendNotAvailableOnDemultiplexer(
            f"{type(self).__name__}: use the multiplexer= keyword argument's send(payload)"
        )

    @classmethod
    def group_send(cls, *args: Any, **kwargs: Any) -> None:
        raise SendNotAvailableOnDemultiplexer(
            f"{cls.__name__}: use WebsocketMultiplexer.group_send(name, stream, payload)"
        )

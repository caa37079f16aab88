"""Every error the core and the layers raise on purpose.

All of them derive from :class:`ChannelLayerError`, and each also derives from the builtin a
caller of the historical ASGI 1.0 API would catch (``TypeError`` for bad names and bad message
types, ``ValueError`` for out-of-range values), so code written for that contract keeps working.
"""

from __future__ import annotations

from typing import Any


class ChannelLayerError(Exception):
    """Base class of every error raised on purpose by channels_core and its layers."""


class ChannelFull(ChannelLayerError):
    """``send`` found the channel at its capacity; the message was not stored."""


class MessageTooLarge(ChannelLayerError, ValueError):
    """The encoded message is above the layer's ``message_size_limit``; nothing was sent."""


class InvalidChannelName(ChannelLayerError, TypeError):
    """A channel or group name broke one of the naming rules; the message says which."""


class InvalidMessage(ChannelLayerError, TypeError):
    """A message is not a dict of allowed types; the message names the offending key path."""


class MalformedMessage(ChannelLayerError, ValueError):
    """What the server held for a channel is not a message this project wrote (corrupt, or
    written by something else under the layer's prefix). It was taken off the channel."""


class MessageValueOutOfRange(ChannelLayerError, ValueError):
    """A message holds an integer outside the signed 64-bit range; names the key path."""


class MessageTooDeep(ChannelLayerError, ValueError):
    """A message nests dicts/lists deeper than the layers accept (or holds itself); names the
    key path where the limit was reached. Nothing was sent."""


class ImproperlyConfigured(ChannelLayerError, ValueError):
    """Settings or layer options are wrong; the message names the alias and/or the key."""


class LayerUnavailable(ChannelLayerError, ConnectionError):
    """The layer's server cannot be reached; the message names host and port."""


class OutcomeUnknown(LayerUnavailable):
    """A call reached the server but its reply did not come back (a timeout, or the connection
    was cut after the command was sent): the server may or may not have applied it. The layer
    never retries such a call itself (at most once); a caller that retries accepts that the
    message may arrive twice. Names host and port. A :class:`LayerUnavailable`, so code that
    treats "unreachable" as a failure keeps working."""


class LayerClosed(ChannelLayerError, RuntimeError):
    """The layer was closed; create a new one."""


class ConsumeLater(Exception):
    """Raised by a consumer to put its message back at the end of its channel (see the worker)."""


class ChannelSocketException(Exception):
    """Raised by a consumer to have the worker act on the message's connection: the worker
    calls ``run(message)`` (its sends go out like the consumer's) instead of logging an error.
    """

    def run(self, message: Any) -> None:
        raise NotImplementedError


class DenyConnection(ChannelSocketException):
    """Raised by a ``websocket.connect`` consumer to refuse the connection (the worker sends
    ``{"close": True}`` before any accept: the handshake fails with 403)."""

    def run(self, message: Any) -> None:
        if message.channel.name != "websocket.connect":
            raise ValueError(
                f"DenyConnection raised by a consumer of {message.channel.name!r}: only a "
                "websocket.connect consumer can refuse a connection"
            )
        message.reply_channel.send({"close": True})


class WebsocketCloseException(ChannelSocketException):
    """Raised by a WebSocket consumer to close its connection, with an optional close code
    (1000, or 3000 to 4999)."""

    def __init__(self, code: int | None = None) -> None:
        if code is not None and (
            isinstance(code, bool)
            or not isinstance(code, int)
            or (code != 1000 and not 3000 <= code <= 4999)
        ):
            raise ValueError(f"invalid WebSocket close code {code!r}: must be 1000 or 3000-4999")
        super().__init__(code)
        self.code = code

    def run(self, message: Any) -> None:
        reply_channel = message.reply_channel
        if reply_channel is None or not reply_channel.name.startswith("websocket."):
            raise ValueError(
                f"WebsocketCloseException raised by a consumer of {message.channel.name!r}: "
                "only a WebSocket consumer (reply channel websocket.*) can close its connection"
            )
        reply_channel.send({"close": self.code or True})


class SendNotAvailableOnDemultiplexer(ChannelLayerError):
    """A consumer running under a ``WebsocketDemultiplexer`` sent without its multiplexer."""


__all__ = [
    "ChannelFull",
    "ChannelLayerError",
    "ChannelSocketException",
    "ConsumeLater",
    "DenyConnection",
    "ImproperlyConfigured",
    "InvalidChannelName",
    "InvalidMessage",
    "LayerClosed",
    "LayerUnavailable",
    "MalformedMessage",
    "MessageTooDeep",
    "MessageTooLarge",
    "MessageValueOutOfRange",
    "OutcomeUnknown",
    "SendNotAvailableOnDemultiplexer",
    "WebsocketCloseException",
]

"""Every error the core and the layers raise on purpose.

All of them derive from :class:`ChannelLayerError`, and each also derives from the builtin a
caller of the historical ASGI 1.0 API would catch (``TypeError`` for bad names and bad message
types, ``ValueError`` for out-of-range values), so code written for that contract keeps working.
"""

from __future__ import annotations


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


class SendNotAvailableOnDemultiplexer(ChannelLayerError):
    """A consumer running under a ``WebsocketDemultiplexer`` sent without its multiplexer."""


__all__ = [
    "ChannelFull",
    "ChannelLayerError",
    "ConsumeLater",
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
]

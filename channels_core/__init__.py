"""channels_core: the channel-layer contract of Django Channels (ASGI 1.0), its routing
wrapper, and the pieces every backend shares.

The layer contract lives in :class:`channels_core.layer.BaseChannelLayer`; build any layer with
:func:`load_layer`.
"""

from .channel import Channel, Group
from .exceptions import (
    ChannelFull,
    ChannelLayerError,
    ConsumeLater,
    ImproperlyConfigured,
    InvalidChannelName,
    InvalidMessage,
    LayerClosed,
    LayerUnavailable,
    MalformedMessage,
    MessageTooDeep,
    MessageTooLarge,
    MessageValueOutOfRange,
    OutcomeUnknown,
)
from .layer import BaseChannelLayer
from .loading import load_layer
from .manager import DEFAULT_CHANNEL_LAYER, channel_layers
from .message import Message
from .routing import include, route, route_class
from .sessions import channel_session, enforce_ordering

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "BaseChannelLayer",
    "Channel",
    "ChannelFull",
    "ChannelLayerError",
    "ConsumeLater",
    "Group",
    "ImproperlyConfigured",
    "InvalidChannelName",
    "InvalidMessage",
    "LayerClosed",
    "LayerUnavailable",
    "MalformedMessage",
    "Message",
    "MessageTooDeep",
    "MessageTooLarge",
    "MessageValueOutOfRange",
    "OutcomeUnknown",
    "channel_layers",
    "channel_session",
    "enforce_ordering",
    "include",
    "load_layer",
    "route",
    "route_class",
]

"""Class-based consumers: :class:`BaseConsumer` and the generic WebSocket consumers of
Channels 1.x (:mod:`channels_core.generic.websockets`; see docs/generic.md)."""

from .base import BaseConsumer
from .websockets import (
    JsonWebsocketConsumer,
    WebsocketConsumer,
    WebsocketDemultiplexer,
    WebsocketMultiplexer,
)

__all__ = [
    "BaseConsumer",
    "JsonWebsocketConsumer",
    "WebsocketConsumer",
    "WebsocketDemultiplexer",
    "WebsocketMultiplexer",
]

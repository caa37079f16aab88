"""What the core's objects need from a channel layer, stated as ``Protocol`` classes.

Typing only: any object with these members fits, whether a :class:`~channels_core.layer.
BaseChannelLayer`, a :class:`~channels_core.manager.ChannelLayerWrapper` around one, or a
third-party layer.

* :class:`SendingLayer`: what :class:`~channels_core.channel.Channel` and
  :class:`~channels_core.channel.Group` call;
* :class:`ConsumingLayer`: what a :class:`~channels_core.message.Message` carries and the
  sessions use (sending, receiving, the session store);
* :class:`RoutedLayer`: what the :class:`~channels_core.worker.Worker` runs (a consuming layer
  with its router);
* :class:`EncodedSendingLayer`: the optional encoded-send API the worker's send buffer uses to
  encode each message once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .routing import Router
    from .session_store import SessionStore

Content = dict[str, Any]
Received = tuple[str, Content] | tuple[None, None]


class SendingLayer(Protocol):
    """Sends to channels and groups, and manages group membership."""

    def send(self, channel: str, message: Content) -> None: ...

    def send_group(self, group: str, message: Content) -> None: ...

    def group_add(self, group: str, channel: str) -> None: ...

    def group_discard(self, group: str, channel: str) -> None: ...


class ConsumingLayer(SendingLayer, Protocol):
    """A layer messages are received from: it also receives and keeps sessions."""

    def receive(self, channels: Iterable[str], block: bool = False) -> Received: ...

    def session_store(self) -> SessionStore: ...


class RoutedLayer(ConsumingLayer, Protocol):
    """A layer with the routing its worker serves (``channel_layers[alias]``)."""

    @property
    def router(self) -> Router: ...


@runtime_checkable
class EncodedSendingLayer(Protocol):
    """Encodes a message once now and sends those bytes later (``BaseChannelLayer``)."""

    def encode(self, message: Content) -> bytes: ...

    def send_encoded(self, channel: str, payload: bytes) -> None: ...

    def send_group_encoded(self, group: str, payload: bytes) -> None: ...

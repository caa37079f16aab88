"""``Channel`` and ``Group``: object wrappers around channel and group names, and send buffering.

``Channel(name, alias=DEFAULT_CHANNEL_LAYER, channel_layer=None)`` and
``Group(name, alias=DEFAULT_CHANNEL_LAYER, channel_layer=None)`` send on the layer given, or on
the one configured under ``alias`` (looked up on first use). Names are validated when the object
is built: a bad name raises :class:`~channels_core.exceptions.InvalidChannelName` at once.

Send interception
    While :data:`send_interceptor` is set in the current context, ``Channel.send`` and
    ``Group.send`` hand ``(layer, method, name, content)`` to it instead of calling the layer.
    The worker sets it around every consumer call to buffer the consumer's sends until it has
    finished (:func:`channels_core.worker.buffered_sends`). ``send(..., immediately=True)``
    always goes straight to the layer; ``Group.add`` and ``Group.discard`` are never
    intercepted.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from .names import check_channel_name, check_group_name
from .protocols import SendingLayer
from .settings import DEFAULT_CHANNEL_LAYER

#: Receives ``(layer, "send" or "send_group", name, content)`` instead of the layer while set.
SendInterceptor = Callable[[Any, str, str, dict[str, Any]], None]
send_interceptor: contextvars.ContextVar[SendInterceptor | None] = contextvars.ContextVar(
    "channels_core_send_interceptor", default=None
)


class _LayerBound:
    __slots__ = ("_alias", "_layer", "name")

    def __init__(self, name: str, alias: str, channel_layer: SendingLayer | None) -> None:
        self.name = name
        self._alias = alias
        self._layer = channel_layer

    @property
    def channel_layer(self) -> SendingLayer:
        """The layer this object sends on (resolved from its alias on first use)."""
        layer = self._layer
        if layer is None:
            from .manager import channel_layers

            layer = self._layer = channel_layers[self._alias]
        return layer

    def _send_or_buffer(self, method: str, content: dict[str, Any], immediately: bool) -> None:
        intercept = send_interceptor.get()
        if intercept is None or immediately:
            getattr(self.channel_layer, method)(self.name, content)
        else:
            intercept(self.channel_layer, method, self.name, content)

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.name == other.name and self.channel_layer is other.channel_layer

    def __hash__(self) -> int:
        return hash((type(self), self.name))


class Channel(_LayerBound):
    """A channel name bound to a layer. ``send(content)`` sends a dict on it."""

    __slots__ = ()

    def __init__(
        self,
        name: str,
        alias: str = DEFAULT_CHANNEL_LAYER,
        channel_layer: SendingLayer | None = None,
        *,
        validate: bool = True,
    ) -> None:
        # ``validate=False`` is for names a layer just returned from receive() (the worker's
        # hot path): those are valid by construction, and may be full ``!`` names.
        super().__init__(check_channel_name(name) if validate else name, alias, channel_layer)

    def send(self, content: dict[str, Any], immediately: bool = False) -> None:
        """Send ``content`` on this channel (inside a consumer run by the worker, when the
        consumer has finished; see the module doc)."""
        self._send_or_buffer("send", content, immediately)

    def __repr__(self) -> str:
        return f"Channel({self.name!r})"


class Group(_LayerBound):
    """A group name bound to a layer: ``add``/``discard`` members, ``send`` to all of them."""

    __slots__ = ()

    def __init__(
        self,
        name: str,
        alias: str = DEFAULT_CHANNEL_LAYER,
        channel_layer: SendingLayer | None = None,
    ) -> None:
        super().__init__(check_group_name(name), alias, channel_layer)

    def add(self, channel: Channel | str) -> None:
        """Add ``channel`` (a Channel or a name); does nothing if it is already a member."""
        self.channel_layer.group_add(self.name, _channel_name(channel))

    def discard(self, channel: Channel | str) -> None:
        """Remove ``channel`` (a Channel or a name) if it is a member; no error otherwise."""
        self.channel_layer.group_discard(self.name, _channel_name(channel))

    def send(self, content: dict[str, Any], immediately: bool = False) -> None:
        """Send ``content`` to every member (buffered inside a consumer)."""
        self._send_or_buffer("send_group", content, immediately)

    def __repr__(self) -> str:
        return f"Group({self.name!r})"


def _channel_name(channel: Channel | str) -> str:
    return channel.name if isinstance(channel, Channel) else channel

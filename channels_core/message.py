"""``Message``: what a consumer receives, an ASGI message plus where it came from.

Attributes (the seed's reference page):

``content``
    The message itself, a ``dict``.
``channel``
    A :class:`~channels_core.channel.Channel` for the channel the message was received on
    (for a process-specific channel, its full name).
``reply_channel``
    A :class:`~channels_core.channel.Channel` for ``content["reply_channel"]``, or ``None`` if
    the message has none.
``channel_layer``
    The channel layer (wrapper) it was received on; pass it to ``Channel``/``Group`` to send on
    the same layer in a project with several layers.

The worker also sets ``retries`` (how many times a consumer already asked to ``ConsumeLater``)
and ``max_retries``; ``channel_session`` sets ``channel_session``; a consumer that sets the
message aside to run later by itself (``enforce_ordering``) sets ``parked``, which the worker
reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .channel import Channel
from .protocols import ConsumingLayer
from .session_store import ChannelSession


class Message:
    """An ASGI message received on ``channel_name`` of ``channel_layer``.

    It reads like its content for convenience: ``message["path"]``, ``message.get("text")``,
    ``"order" in message``.
    """

    channel_session: ChannelSession
    #: Set aside by its consumer to run later (the worker counts it as parked, not consumed).
    parked: bool

    def __init__(
        self,
        content: dict[str, Any],
        channel_name: str,
        channel_layer: ConsumingLayer,
        retries: int = 0,
        max_retries: int = 10,
    ) -> None:
        self.content = content
        self.channel_layer = channel_layer
        self.channel = Channel(channel_name, channel_layer=channel_layer, validate=False)
        self.retries = retries
        self.max_retries = max_retries
        self.parked = False
        self._reply_channel: Channel | bool | None = False  # False: not computed yet

    @property
    def reply_channel(self) -> Channel | None:
        """The reply channel named by ``content["reply_channel"]`` (``None`` if absent)."""
        reply = self._reply_channel
        if reply is False:
            name = self.content.get("reply_channel")
            reply = None if not name else Channel(name, channel_layer=self.channel_layer)
            self._reply_channel = reply
        return reply  # type: ignore[return-value]

    @property
    def last_attempt(self) -> bool:
        """True when a ``ConsumeLater`` from this run would drop the message."""
        return self.retries >= self.max_retries

    def __getitem__(self, key: str) -> Any:
        return self.content[key]

    def __contains__(self, key: object) -> bool:
        return key in self.content

    def __iter__(self) -> Iterator[str]:
        return iter(self.content)

    def get(self, key: str, default: Any = None) -> Any:
        return self.content.get(key, default)

    def keys(self) -> Any:
        return self.content.keys()

    def __repr__(self) -> str:
        return f"<Message on {self.channel.name!r}: {sorted(self.content)!r}>"

"""Class-based consumers: :class:`BaseConsumer`, routed with ``route_class``.

A subclass maps channel names to method names in ``method_mapping``; the router instantiates
the class with the message and the routing keyword arguments, and the instance dispatches to
the method for the channel the message arrived on::

    class ChatConsumer(BaseConsumer):
        method_mapping = {"websocket.connect": "connect", "websocket.receive": "receive"}
        channel_session = True

        def connect(self, message, **kwargs): ...
        def receive(self, message, **kwargs): ...

    routing = [route_class(ChatConsumer, path=r"^/chat/(?P<room>\\w+)$")]

Set ``channel_session = True`` to wrap every handler in
:func:`channels_core.sessions.channel_session`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from .names import inbox_name


class BaseConsumer:
    """Dispatches a message to the method ``method_mapping`` names for its channel."""

    #: channel name (or ``!`` prefix) -> name of the method handling it
    method_mapping: ClassVar[dict[str, str]] = {}
    #: wrap handlers in ``channel_session``
    channel_session: ClassVar[bool] = False

    def __init__(self, message: Any, **kwargs: Any) -> None:
        self.message = message
        self.kwargs = kwargs
        self.dispatch(message, **kwargs)

    @classmethod
    def channel_names(cls) -> set[str]:
        """The channels this consumer handles (what ``route_class`` routes)."""
        return set(cls.method_mapping)

    def get_handler(self, message: Any, **kwargs: Any) -> Callable[..., Any]:
        """The bound method for ``message``'s channel, wrapped in the configured decorators."""
        name = message.channel.name
        method_name = self.method_mapping.get(name) or self.method_mapping.get(inbox_name(name))
        if method_name is None:
            raise LookupError(f"{type(self).__name__} has no method for channel {name!r}")
        handler: Callable[..., Any] = getattr(self, method_name)
        if self.channel_session:
            from .sessions import channel_session

            handler = channel_session(handler)
        return handler

    def dispatch(self, message: Any, **kwargs: Any) -> Any:
        return self.get_handler(message, **kwargs)(message, **kwargs)

"""Class-based consumers: :class:`BaseConsumer`, routed with ``route_class`` or ``as_route``.

A subclass maps channel names to method names in ``method_mapping``; the router instantiates
the class with the message and the routing keyword arguments, and the instance dispatches to
the method for the channel the message arrived on::

    class ChatConsumer(BaseConsumer):
        method_mapping = {"websocket.connect": "connect", "websocket.receive": "receive"}
        channel_session = True

        def connect(self, message, **kwargs): ...
        def receive(self, message, **kwargs): ...

    routing = [
        route_class(ChatConsumer, path=r"^/chat/(?P<room>\\w+)$"),
        ChatConsumer.as_route(path=r"^/lobby/$", attrs={"channel_session": False}),
    ]

Set ``channel_session = True`` to wrap every handler in
:func:`channels_core.sessions.channel_session`, or ``channel_session_user = True`` for
:func:`channels_core.django.auth.channel_session_user` (Django's ``message.user``, read from
the channel session; needs Django). :meth:`BaseConsumer.decorate` is where subclasses add
decorators of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar

from ..exceptions import ImproperlyConfigured
from ..names import inbox_name
from ..routing import RouteClass, route_class
from ..sessions import channel_session

Handler = Callable[..., Any]


def django_auth() -> ModuleType:
    """:mod:`channels_core.django.auth`, imported on first use (it needs Django)."""
    try:
        from ..django import auth
    except ImportError as error:
        raise ImproperlyConfigured(
            f"channel_session_user / http_user need Django (pip install "
            f"'channels-core[django]'): {error}"
        ) from None
    return auth


class BaseConsumer:
    """Dispatches a message to the method ``method_mapping`` names for its channel."""

    #: channel name (or ``!`` prefix) -> name of the method handling it
    method_mapping: ClassVar[Mapping[str, str]] = {}
    #: wrap handlers in ``channel_session``
    channel_session: ClassVar[bool] = False
    #: wrap handlers in ``channel_session_user`` (implies ``channel_session``; needs Django)
    channel_session_user: ClassVar[bool] = False

    def __init__(self, message: Any, **kwargs: Any) -> None:
        self.message = message
        self.kwargs = kwargs
        self.dispatch(message, **kwargs)

    @classmethod
    def channel_names(cls) -> set[str]:
        """The channels this consumer handles (what ``route_class`` routes)."""
        return set(cls.method_mapping)

    @classmethod
    def as_route(cls, attrs: Mapping[str, Any] | None = None, **filters: Any) -> RouteClass:
        """``route_class`` for this class, or for a subclass with the class attributes
        ``attrs`` (same name), with the given field filters."""
        consumer_class: type[BaseConsumer] = cls
        if attrs:
            if not isinstance(attrs, Mapping):
                raise ImproperlyConfigured(
                    f"{cls.__name__}.as_route(attrs=...): must be a dict of class attributes, "
                    f"got {type(attrs).__name__}"
                )
            consumer_class = type(cls.__name__, (cls,), dict(attrs))
        return route_class(consumer_class, **filters)

    def get_handler(self, message: Any, **kwargs: Any) -> Handler:
        """The bound method for ``message``'s channel, wrapped by :meth:`decorate`."""
        name = message.channel.name
        method_name = self.method_mapping.get(name) or self.method_mapping.get(inbox_name(name))
        if method_name is None:
            raise LookupError(f"{type(self).__name__} has no method for channel {name!r}")
        return self.decorate(getattr(self, method_name))

    def decorate(self, handler: Handler) -> Handler:
        """``handler`` wrapped in the decorators the class attributes ask for."""
        if self.channel_session_user:
            return django_auth().channel_session_user(handler)
        if self.channel_session:
            return channel_session(handler)
        return handler

    def dispatch(self, message: Any, **kwargs: Any) -> Any:
        """Call the handler with the message and the routing keyword arguments."""
        return self.get_handler(message, **kwargs)(message, **kwargs)

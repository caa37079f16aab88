"""Django's authentication for consumers: ``message.user``, as Channels 1.x gave it.

Needs ``django.contrib.auth`` (and ``django.contrib.sessions``) in ``INSTALLED_APPS``. Every
decorator takes consumer functions and methods (the message is the first ``Message``
argument; see :mod:`channels_core.decorators`).

``http_session_user``
    ``http_session`` plus ``message.user``: the user logged in to that HTTP session, or an
    ``AnonymousUser`` when there is no session (or nobody is logged in to it).
``channel_session_user``
    ``channel_session`` plus ``message.user``, read from the channel session (where
    ``channel_session_user_from_http`` put it on connect); ``AnonymousUser`` if there is none.
``channel_session_user_from_http``
    For ``websocket.connect``: ``http_session_user``, and the login (user id, backend, session
    hash) copied from the HTTP session into the channel session, so that the connection's
    later messages, which carry no cookies, know the user through ``channel_session_user``.
``channel_and_http_session_user_from_http``
    The same on top of ``channel_and_http_session`` (``message.http_session`` on every
    message of the connection too).

The user is checked the way Django's ``AuthenticationMiddleware`` does (``auth.get_user``): a
user whose password changed since the login (another session hash) is logged out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import auth

from ..decorators import Around, Proceed, compose, consumer_decorator
from ..sessions import channel_session_around
from .sessions import channel_and_http_session_around, http_session_around

__all__ = [
    "channel_and_http_session_user_from_http",
    "channel_session_user",
    "channel_session_user_from_http",
    "http_session_user",
    "transfer_user",
    "user_of_session",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The session keys of a login (``django.contrib.auth``).
LOGIN_KEYS = (auth.SESSION_KEY, auth.BACKEND_SESSION_KEY, auth.HASH_SESSION_KEY)


class _SessionRequest:
    """The one attribute ``auth.get_user`` reads from a request: ``session``."""

    def __init__(self, session: Any) -> None:
        self.session = session


def user_of_session(session: Any) -> Any:
    """The user logged in to ``session`` (a Django or channel session), else AnonymousUser."""
    if session is None:
        from django.contrib.auth.models import AnonymousUser

        return AnonymousUser()
    return auth.get_user(_SessionRequest(session))


def transfer_user(from_session: Any, to_session: Any) -> None:
    """Copy the login of ``from_session`` into ``to_session`` (nothing if not logged in)."""
    if all(key in from_session for key in LOGIN_KEYS):
        for key in LOGIN_KEYS:
            to_session[key] = from_session[key]


def _user_from_http_session(message: Any, proceed: Proceed) -> Any:
    message.user = user_of_session(message.http_session)
    return proceed()


def _user_from_channel_session(message: Any, proceed: Proceed) -> Any:
    message.user = user_of_session(message.channel_session)
    return proceed()


def _transfer_from_http(message: Any, proceed: Proceed) -> Any:
    if message.http_session is not None:
        transfer_user(message.http_session, message.channel_session)
    return proceed()


def _http_user_around(func: Any) -> Around:
    return compose(http_session_around(func), _user_from_http_session)


def http_session_user(func: F) -> F:
    """``http_session`` and ``message.user`` from it (see the module doc)."""
    return consumer_decorator("http_session_user", func, _http_user_around(func))


def channel_session_user(func: F) -> F:
    """``channel_session`` and ``message.user`` from it (see the module doc)."""
    return consumer_decorator(
        "channel_session_user",
        func,
        compose(channel_session_around(func), _user_from_channel_session),
    )


def channel_session_user_from_http(func: F) -> F:
    """Copy the HTTP session's login into the channel session; ``message.user`` too."""
    with_channel_session = compose(channel_session_around(func), _transfer_from_http)
    around = compose(_http_user_around(func), with_channel_session)
    return consumer_decorator("channel_session_user_from_http", func, around)


def channel_and_http_session_user_from_http(func: F) -> F:
    """``channel_session_user_from_http`` on ``channel_and_http_session``."""
    with_sessions = compose(channel_and_http_session_around(func), _transfer_from_http)
    around = compose(_http_user_around(func), with_sessions)
    return consumer_decorator("channel_and_http_session_user_from_http", func, around)

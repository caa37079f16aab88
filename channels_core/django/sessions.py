"""Django's sessions for consumers: ``http_session``, ``channel_and_http_session`` and
``DjangoSessionStore``.

The decorators take consumer functions and methods (the message is the first ``Message``
argument; see :mod:`channels_core.decorators`).

``http_session``
    Gives the consumer ``message.http_session``: the Django session (``SESSION_ENGINE``) whose
    key is in the ``session_key`` query-string parameter or, failing that, in the
    ``SESSION_COOKIE_NAME`` cookie of the message's ``cookie`` header (``http.request`` and
    ``websocket.connect`` messages carry both). It is only an accessor for a session that
    already exists: with no key, or a key the engine does not know (expired, forged), it is
    ``None``, and no session or cookie is ever created. Changes the consumer makes to an
    existing session are saved when the consumer returns normally.

``channel_and_http_session``
    ``channel_session`` plus ``http_session`` for connections whose later messages carry no
    headers (``websocket.receive``, ``websocket.disconnect``): on a message that has
    ``headers`` (``websocket.connect``) the http session is looked up as above and its key
    is kept in the channel session; on the following messages ``message.http_session`` is
    hydrated from that key (``None`` if the session has gone since).

``DjangoSessionStore``
    A :class:`~channels_core.session_store.SessionStore` on Django's session engine, so that
    ``channel_session`` persists where Django keeps its sessions::

        CHANNEL_SESSION_STORE = "channels_core.django.sessions.DjangoSessionStore"

    Values are msgpack-encoded by the store itself, so bytes survive any session serializer.
    The signed-cookies engine keeps data in the browser and cannot be used.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError

from .. import codec
from ..decorators import Around, Proceed, compose, consumer_decorator
from ..exceptions import ImproperlyConfigured
from ..session_store import SessionData, SessionStore
from ..sessions import channel_session_around
from .http_message import InvalidRequestMessage, cookies, query_params

__all__ = [
    "HTTP_SESSION_KEY",
    "DjangoSessionStore",
    "channel_and_http_session",
    "channel_and_http_session_around",
    "existing_session",
    "http_session",
    "http_session_around",
    "session_key_of",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Where ``channel_and_http_session`` keeps the http session key in the channel session.
HTTP_SESSION_KEY = "__http_session_key"
_SIGNED_COOKIES = "django.contrib.sessions.backends.signed_cookies"


def _engine(path: str | None = None) -> ModuleType:
    return import_module(path or settings.SESSION_ENGINE)


def session_key_of(message: Any) -> str | None:
    """The Django session key a message names (``session_key`` parameter, then cookie)."""
    content = message.content
    try:
        key = query_params(content).get("session_key") or cookies(content).get(
            settings.SESSION_COOKIE_NAME
        )
    except InvalidRequestMessage as error:
        raise InvalidRequestMessage(
            f"cannot read a session key from the message on {message.channel.name!r}: {error}"
        ) from None
    return key or None


def existing_session(session_key: str | None) -> Any:
    """The Django session stored under ``session_key``, or None; never creates one."""
    if not session_key:
        return None
    session = _engine().SessionStore(session_key=session_key)
    session.keys()  # loads it; every engine forgets a key it does not know while loading
    if session.session_key is None or session.modified:
        return None
    return session


def _save_if_modified(session: Any) -> None:
    if session is not None and session.modified:
        session.save()


def http_session_around(consumer: Any) -> Around:
    """What ``http_session`` does around ``consumer`` (other decorators compose it)."""

    def around(message: Any, proceed: Proceed) -> Any:
        if getattr(message, "http_session", None) is not None:
            return proceed()  # an outer decorator owns it
        session = existing_session(session_key_of(message))
        message.http_session = session
        result = proceed()
        _save_if_modified(session)
        return result

    return around


def http_session(func: F) -> F:
    """Give the consumer (function or method) ``message.http_session`` (see the module doc)."""
    return consumer_decorator("http_session", func, http_session_around(func))


def _hydrate_http_session(message: Any, proceed: Proceed) -> Any:
    """Inside a channel session: the http session from the headers on connect (its key kept
    in the channel session), from the kept key on the following messages."""
    store = message.channel_session
    if "headers" in message.content:
        session = existing_session(session_key_of(message))
        if session is not None:
            store[HTTP_SESSION_KEY] = session.session_key
        elif HTTP_SESSION_KEY in store:
            del store[HTTP_SESSION_KEY]
    else:
        session = existing_session(store.get(HTTP_SESSION_KEY))
    message.http_session = session
    result = proceed()
    _save_if_modified(session)
    return result


def channel_and_http_session_around(consumer: Any) -> Around:
    """What ``channel_and_http_session`` does around ``consumer``."""
    return compose(channel_session_around(consumer), _hydrate_http_session)


def channel_and_http_session(func: F) -> F:
    """``channel_session`` + ``http_session``, the http session key kept per connection."""
    return consumer_decorator(
        "channel_and_http_session", func, channel_and_http_session_around(func)
    )


class DjangoSessionStore(SessionStore):
    """``channel_session`` storage in Django's session engine (``engine`` or SESSION_ENGINE).

    Each channel-session key maps to a Django session key (a hash of it, in the engine's key
    format); the data expires with the session, ``ttl`` seconds after the last save.
    """

    DATA_FIELD = "channels_core"

    def __init__(self, engine: str | None = None) -> None:
        self.engine_path = engine or settings.SESSION_ENGINE
        if self.engine_path == _SIGNED_COOKIES:
            raise ImproperlyConfigured(
                f"CHANNEL_SESSION_STORE: DjangoSessionStore cannot use {_SIGNED_COOKIES!r} "
                "(its data lives in the browser's cookie); use a db, cache or file engine"
            )
        self.engine = _engine(self.engine_path)

    @staticmethod
    def django_key(key: str) -> str:
        """The Django session key of channel-session ``key`` (32 lower-case characters)."""
        return "chn" + hashlib.sha256(key.encode()).hexdigest()[:29]

    def load(self, key: str) -> SessionData | None:
        payload = self.engine.SessionStore(session_key=self.django_key(key)).get(self.DATA_FIELD)
        if not isinstance(payload, str):
            return None
        return codec.decode(base64.b64decode(payload))

    def save(self, key: str, data: SessionData, ttl: float) -> None:
        payload = base64.b64encode(codec.encode(data, size_limit=2**31)).decode("ascii")
        django_key = self.django_key(key)
        for _ in range(3):
            session = self.engine.SessionStore(session_key=django_key)
            if not session.exists(django_key):
                try:
                    # Inserts the row under OUR key; saving a session that does not exist
                    # yet would otherwise give it a fresh random key.
                    session.save(must_create=True)
                except CreateError:
                    pass  # another process created it first: update it below
                session = self.engine.SessionStore(session_key=django_key)
            session[self.DATA_FIELD] = payload
            if session.session_key != django_key:
                continue  # deleted between the two steps: create it again
            session.set_expiry(max(1, math.ceil(ttl)))
            session.save()
            return
        raise RuntimeError(f"could not save the channel session {key!r}: it keeps disappearing")

    def delete(self, key: str) -> None:
        self.engine.SessionStore().delete(self.django_key(key))

"""``allowed_hosts_only``: refuse WebSocket connections from pages of other sites.

Wrap a ``websocket.connect`` consumer with it. The message's ``Origin`` header must be an
``http``/``https`` (or ``ws``/``wss``) URL whose host is allowed by ``ALLOWED_HOSTS``, with
Django's rules (``validate_host``: exact names, ``.example.com`` for a domain and its
subdomains, ``*`` for any). As Django does for requests, an empty ``ALLOWED_HOSTS`` with
``DEBUG`` on allows ``localhost``, ``127.0.0.1`` and ``[::1]``. Settings are read per message.

A message whose origin is missing, repeated (two ``Origin`` headers, or two origins joined by
a comma), malformed (userinfo, a path, a host Django would refuse) or not allowed is rejected:
the consumer is not called and the ASGI 1.0 rejection ``{"accept": False}`` goes to the reply
channel (the protocol server answers the handshake with 403). It decorates consumer functions
and methods alike (see :mod:`channels_core.decorators`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from ..decorators import Proceed, consumer_decorator
from .http_message import InvalidRequestMessage, headers

__all__ = ["allowed_hosts_only", "origin_host", "origin_is_allowed"]

logger = logging.getLogger("channels_core.django")

F = TypeVar("F", bound=Callable[..., Any])

_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


def origin_host(origin: str | None) -> str | None:
    """The host of an ``Origin`` header value in ALLOWED_HOSTS form, or None if invalid.

    An origin is ``scheme://host[:port]``: userinfo (``user@``), a path other than ``/``, a
    query, a fragment, or a host Django would not accept in a ``Host`` header (a comma of two
    joined origins, spaces, ...) make it invalid."""
    if not origin:
        return None
    try:
        parts = urlsplit(origin.strip())
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _SCHEMES or "@" in parts.netloc:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host, _port = split_domain_port(parts.netloc)
    return host or None


def allowed_hosts() -> list[str]:
    """``ALLOWED_HOSTS``, or the local names when it is empty and DEBUG is on."""
    hosts = list(settings.ALLOWED_HOSTS)
    if not hosts and settings.DEBUG:
        return list(_DEBUG_HOSTS)
    return hosts


def _origins(message: Any) -> list[str]:
    try:
        return [value for name, value in headers(message.content) if name == "origin"]
    except InvalidRequestMessage:
        return []


def origin_is_allowed(message: Any) -> bool:
    """True if ``message`` has exactly one Origin header and it names a host in ALLOWED_HOSTS."""
    origins = _origins(message)
    if len(origins) != 1:
        return False
    host = origin_host(origins[0])
    return host is not None and bool(validate_host(host, allowed_hosts()))


def _reject_unless_allowed(message: Any, proceed: Proceed) -> Any:
    if origin_is_allowed(message):
        return proceed()
    logger.warning(
        "rejected a connection on %r from origin %r: not exactly one Origin in ALLOWED_HOSTS",
        message.channel.name,
        ",".join(_origins(message)) or None,
    )
    if message.reply_channel is not None:
        message.reply_channel.send({"accept": False})
    return None


def allowed_hosts_only(func: F) -> F:
    """Call the consumer (function or method) only for messages whose Origin is allowed;
    reject the others."""
    return consumer_decorator("allowed_hosts_only", func, _reject_unless_allowed)

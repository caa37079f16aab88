"""Consumer decorators that keep per-connection state: ``channel_session`` and
``enforce_ordering``.

Both decorate consumer functions and methods alike: the message is the first ``Message``
argument, and a call without one raises ``ValueError`` naming the decorator (see
:mod:`channels_core.decorators`).

``channel_session``
    Gives the consumer ``message.channel_session``, a dict persisted per ``reply_channel``:
    every message carrying the same reply channel sees the same session (for a WebSocket, the
    lifetime of the connection), and different reply channels never share one. It is loaded
    before the consumer runs and saved after it (also when it raises) if it was modified.
    Values must be message-compatible (str, bytes, int, float, bool, None, list, dict).

    Storage: the setting ``CHANNEL_SESSION_STORE`` (dotted path of a callable returning a
    :class:`~channels_core.session_store.SessionStore`; it receives ``channel_layer=`` if it
    accepts that keyword). Without it: Django's session engine when Django is configured with
    both ``channels_core.django`` and ``django.contrib.sessions`` in ``INSTALLED_APPS``
    (:class:`channels_core.django.sessions.DjangoSessionStore`), otherwise the layer's own
    ``session_store()`` (network backends keep it on their server, so every worker process
    sees it). Entries live
    ``CHANNEL_SESSION_TTL`` seconds (default 86400) after their last save.

    A message without ``reply_channel`` raises ``ValueError``, unless the decorator is used as
    ``@channel_session(allow_reply_less=True)``: then ``message.channel_session`` is ``None``.
    Stacked decorators share the one session (the outermost saves it).

    Like Channels 1.x, two messages of the same reply channel consumed at the same time by two
    threads or processes each load the session and the last save wins; ``enforce_ordering``
    serialises a connection's messages when that matters.

``enforce_ordering`` / ``enforce_ordering(slight=True)``
    ASGI 1.0 WebSocket messages carry ``order`` (connect 0, then 1, 2, ... for receive, and the
    next one for disconnect). Strict ordering runs a message only when its ``order`` is the
    next one expected for its reply channel (tracked in the channel session). Slight ordering
    only guarantees that the connect message (order 0) runs before any other; after it,
    messages run as they come. Don't mix strict and slight on one connection, and decorate
    every consumer of the connection's channels.

    Early messages wait on the connection's *wait channel* (:func:`wait_channel_name`, derived
    from the reply channel; no worker listens on it), tagged with the channel they came from.
    Once the expected message has been consumed and the session saved with the next expected
    order, everything waiting for that reply channel goes back onto its original channel, so
    a waiting message is retried when its turn may have come, never in a busy loop, and
    without using the worker's ``ConsumeLater`` retries (the worker counts it as ``parked``).
    The session is saved with what the consumer stored, then the consumer's own replies are
    sent, then the next expected order is saved: a client that got a reply finds the state
    behind it, and the replies go out before the connection's next message can run (on any
    worker); the re-sends are buffered after them.
    The wait channel is an ordinary channel of the layer: its capacity and ``expiry`` apply,
    so messages waiting for a gap that never fills expire with the layer's expiry. When the
    wait channel is full, the message falls back to ``ConsumeLater`` (and the worker's retry
    limit). A message whose order was already consumed (a duplicate) is dropped with a
    warning. A consumer that raises still moves the connection on (the worker does not retry
    a failed message); one that raises ``ConsumeLater`` does not.

    Two workers racing on one connection cannot strand a message: a worker that parks a
    message re-reads the next expected order afterwards, and releases the wait channel itself
    if it moved meanwhile (the consumer of the expected message saves the session before it
    looks at the wait channel, so one of the two always sees the other).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .channel import Channel
from .decorators import Around, Proceed, compose, consumer_decorator, consumer_name
from .exceptions import ChannelFull, ConsumeLater, ImproperlyConfigured
from .loading import import_object
from .names import MAX_NAME_LENGTH
from .protocols import ConsumingLayer
from .session_store import ChannelSession, SessionStore
from .settings import django_configured, read_setting
from .worker import buffered_sends

logger = logging.getLogger("channels_core.sessions")

F = TypeVar("F", bound=Callable[..., Any])
DJANGO_SESSION_STORE = "channels_core.django.sessions.DjangoSessionStore"
DEFAULT_SESSION_TTL = 86400.0
NEXT_ORDER_KEY = "__channels_next_order"
_KEY_PREFIX = "channel-session:"
WAIT_CHANNEL_PREFIX = "__wait__."
ORIGINAL_CHANNEL_KEY = "__wait_original_channel__"  # a waiting message's original channel
_DIGEST_LENGTH = 24


# -- which store ------------------------------------------------------------------------------

# (setting value, id(layer)) -> (layer, store); the layer is kept so its id is never reused
_stores: dict[tuple[str, int], tuple[Any, SessionStore]] = {}
_stores_lock = threading.Lock()


def session_store_for(channel_layer: ConsumingLayer) -> SessionStore:
    """The session store ``channel_session`` uses for messages of ``channel_layer``."""
    path = read_setting("CHANNEL_SESSION_STORE") or _django_default_store()
    if not path:
        return channel_layer.session_store()
    key = (str(path), id(channel_layer))
    cached = _stores.get(key)
    if cached is not None and cached[0] is channel_layer:
        return cached[1]
    with _stores_lock:
        factory = import_object(path) if isinstance(path, str) else path
        if not callable(factory):
            raise ImproperlyConfigured(f"CHANNEL_SESSION_STORE: {path!r} is not callable")
        try:
            accepts_layer = "channel_layer" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            accepts_layer = False
        store = factory(channel_layer=channel_layer) if accepts_layer else factory()
        if not isinstance(store, SessionStore):
            raise ImproperlyConfigured(
                f"CHANNEL_SESSION_STORE: {path!r} returned {type(store).__name__}, not a "
                "channels_core.session_store.SessionStore"
            )
        _stores[key] = (channel_layer, store)
        return store


def _django_default_store() -> str | None:
    """Django's session engine is the default store for a project using the Django app."""
    if not django_configured():
        return None
    apps = [str(app) for app in read_setting("INSTALLED_APPS", ())]
    uses_app = any(app.startswith("channels_core.django") for app in apps)
    if uses_app and "django.contrib.sessions" in apps:
        return DJANGO_SESSION_STORE
    return None


def _session_ttl() -> float:
    ttl = read_setting("CHANNEL_SESSION_TTL", DEFAULT_SESSION_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
        raise ImproperlyConfigured(f"CHANNEL_SESSION_TTL: must be a positive number, got {ttl!r}")
    return float(ttl)


def session_for_reply_channel(channel_layer: ConsumingLayer, reply_channel: str) -> ChannelSession:
    """Load the channel session of ``reply_channel`` (empty if there is none yet)."""
    store = session_store_for(channel_layer)
    key = _KEY_PREFIX + reply_channel
    return ChannelSession(store, key, store.load(key), _session_ttl())


# -- decorators -------------------------------------------------------------------------------


def channel_session_around(consumer: Any, allow_reply_less: bool = False) -> Around:
    """What ``channel_session`` does around ``consumer`` (other decorators compose it)."""

    def around(message: Any, proceed: Proceed) -> Any:
        if getattr(message, "channel_session", None) is not None:
            return proceed()  # an outer decorator owns it
        reply_channel = message.reply_channel
        if reply_channel is None:
            if allow_reply_less:
                message.channel_session = None
                return proceed()
            raise ValueError(
                f"{consumer_name(consumer)} uses @channel_session but the message on "
                f"{message.channel.name!r} has no reply_channel; use "
                "@channel_session(allow_reply_less=True) to accept such messages"
            )
        session = session_for_reply_channel(message.channel_layer, reply_channel.name)
        message.channel_session = session
        try:
            return proceed()
        finally:
            if session.modified:
                session.save()

    return around


@overload
def channel_session(func: F) -> F: ...
@overload
def channel_session(*, allow_reply_less: bool = False) -> Callable[[F], F]: ...


def channel_session(func: Any = None, *, allow_reply_less: bool = False) -> Any:
    """Give the consumer (function or method) ``message.channel_session``, persisted per reply
    channel."""

    def decorator(consumer: F) -> F:
        around = channel_session_around(consumer, allow_reply_less)
        return consumer_decorator("channel_session", consumer, around)

    return decorator(func) if func is not None else decorator


def ordering_around(consumer: Any, slight: bool = False) -> Around:
    """What ``enforce_ordering`` does around ``consumer``, the channel session included."""
    name = consumer_name(consumer)

    def in_order(message: Any, proceed: Proceed) -> Any:
        message.content.pop(ORIGINAL_CHANNEL_KEY, None)  # never shown to a consumer
        order = message.content.get("order")
        if isinstance(order, bool) or not isinstance(order, int):
            raise ValueError(
                f"{name} uses @enforce_ordering but the message on "
                f"{message.channel.name!r} has no integer 'order' (got {order!r})"
            )
        next_order = message.channel_session.get(NEXT_ORDER_KEY, 0)
        if slight and next_order > 0:
            return proceed()  # connected: run as they come
        if order == next_order:
            return _run_in_turn(proceed, message, order)
        if order < next_order:
            logger.warning(
                "message on %r with order %d was already consumed (next is %d): dropped",
                message.channel.name,
                order,
                next_order,
            )
            return None
        _park(message, order, next_order)
        return None

    return compose(channel_session_around(consumer), in_order)


@overload
def enforce_ordering(func: F) -> F: ...
@overload
def enforce_ordering(*, slight: bool = False) -> Callable[[F], F]: ...


def enforce_ordering(func: Any = None, *, slight: bool = False) -> Any:
    """Run a connection's messages in their ``order`` (strict) or connect-first (slight)."""

    def decorator(consumer: F) -> F:
        return consumer_decorator("enforce_ordering", consumer, ordering_around(consumer, slight))

    return decorator(func) if func is not None else decorator


# -- the wait channel -----------------------------------------------------------------------------


def wait_channel_name(reply_channel: str) -> str:
    """The channel where messages of ``reply_channel`` wait for their turn.

    ``__wait__.<reply channel>`` when that is a plain channel name of at most 100 characters;
    otherwise (a ``!`` or ``?`` reply channel, or a long one) the reply channel with its
    markers turned into ``.``, cut to fit, and followed by a hash (SHA-256, 96 bits) of the
    whole name: two reply channels share a wait channel only through a hash collision.
    """
    name = WAIT_CHANNEL_PREFIX + reply_channel
    if len(name) <= MAX_NAME_LENGTH and "!" not in name and "?" not in name:
        return name
    digest = hashlib.sha256(reply_channel.encode()).hexdigest()[:_DIGEST_LENGTH]
    readable = reply_channel.replace("!", ".").replace("?", ".")
    room = MAX_NAME_LENGTH - len(WAIT_CHANNEL_PREFIX) - _DIGEST_LENGTH - 1
    return f"{WAIT_CHANNEL_PREFIX}{readable[:room]}.{digest}"


def release_waiting(channel_layer: ConsumingLayer, reply_channel: str) -> int:
    """Send every message waiting for ``reply_channel`` back to its original channel.

    Inside a consumer (the worker's send buffering) the re-sends go out after the consumer's
    own sends; elsewhere at once. A message that cannot go back (its channel is full) is
    dropped with a warning. Returns how many messages were taken off the wait channel.
    """
    wait_channel = wait_channel_name(reply_channel)
    taken = 0
    while True:
        channel, content = channel_layer.receive([wait_channel], block=False)
        if channel is None or content is None:
            return taken
        taken += 1
        original = content.pop(ORIGINAL_CHANNEL_KEY, None)
        if not isinstance(original, str):
            logger.warning(
                "a message on %r has no %r naming its channel: dropped",
                wait_channel,
                ORIGINAL_CHANNEL_KEY,
            )
            continue
        try:
            Channel(original, channel_layer=channel_layer).send(content)
        except ChannelFull:
            logger.warning(
                "cannot move a message waiting for its turn on %r back to %r: the channel is "
                "full; dropped",
                wait_channel,
                original,
            )


def _run_in_turn(proceed: Proceed, message: Any, order: int) -> Any:
    """Run the expected message, then save the next order and release what waits for it."""
    moved_on = True
    try:
        return proceed()
    except ConsumeLater:
        moved_on = False  # it comes back with the same order: still the one expected
        raise
    finally:
        if moved_on:
            session = message.channel_session
            if session.modified:
                session.save()  # what the consumer stored is there before its replies go out
            with buffered_sends() as replies:  # the buffer of the worker's consumer call
                replies.flush()  # out before the next message of the connection can run
            session[NEXT_ORDER_KEY] = order + 1
            session.save()  # before looking at the wait channel: see _park
            release_waiting(message.channel_layer, message.reply_channel.name)


def _park(message: Any, order: int, next_order: int) -> None:
    """Put an early message on its wait channel (or ``ConsumeLater`` if that is full)."""
    layer = message.channel_layer
    reply_channel = message.reply_channel.name
    content = dict(message.content)
    content[ORIGINAL_CHANNEL_KEY] = message.channel.name
    try:
        layer.send(wait_channel_name(reply_channel), content)  # at once: never buffered
    except ChannelFull:
        logger.warning(
            "message on %r with order %d is early (waiting for %d) and the wait channel of %r "
            "is full: re-queued with ConsumeLater instead",
            message.channel.name,
            order,
            next_order,
            reply_channel,
        )
        if getattr(message, "last_attempt", False):
            logger.warning(
                "message on %r with order %d is still early (waiting for %d) after %d "
                "re-queues: it will be dropped; are all consumers of this connection "
                "decorated with @enforce_ordering?",
                message.channel.name,
                order,
                next_order,
                message.retries,
            )
        raise ConsumeLater() from None
    message.parked = True
    # The consumer of the expected message saves the session, then releases the wait channel.
    # If it released before this message was parked, it saved before: the next order read now
    # has moved, and this worker releases the wait channel itself.
    if session_for_reply_channel(layer, reply_channel).get(NEXT_ORDER_KEY, 0) != next_order:
        release_waiting(layer, reply_channel)

"""Routing: which consumer handles a message, chosen by channel name and message fields.

``route(channel, consumer, **filters)``
    Sends messages of ``channel`` to ``consumer`` (a callable or its dotted path). Each filter
    is a regular expression matched against the message field of that name, which must be a
    ``str`` or UTF-8 ``bytes`` (decoded first; undecodable bytes match no route). Matching is
    **anchored at the start** (``re.match`` semantics): ``path=r"/chat/"`` and
    ``path=r"^/chat/"`` mean the same thing, a leading ``^`` is allowed but not required.
    Add ``$`` to match the whole value. Named groups become keyword arguments of the consumer.
    Unnamed groups are rejected (their values would have no name): use ``(?P<name>...)`` or
    ``(?:...)``.
``route_class(consumer_class, **filters)``
    The same for a class-based consumer (see :mod:`channels_core.generic`): its channels come
    from ``consumer_class.channel_names()``.
``include(routing, **prefix_filters)``
    Nests another routing list (or its dotted path). Each prefix filter must match at the start
    of its field; the matched prefix is stripped before the inner routes see the field, and
    named groups of the prefix are passed on as consumer keyword arguments too.

A :class:`Router` holds a routing list: ``router.channels`` is the set of channel names it can
handle and ``router.match(message)`` returns ``(consumer, kwargs)`` for the first route that
matches, in list order, or ``None``; ``router.add_route(entry)`` appends one more entry. A
route for a process-specific prefix (``"ws.send!"``) matches messages received on any full name
under it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .exceptions import ImproperlyConfigured
from .loading import import_object
from .names import check_receive_name, inbox_name

Consumer = Callable[..., Any]
Kwargs = dict[str, Any]
Match = tuple[Consumer, Kwargs]


def _compile_filters(filters: Mapping[str, Any], what: str) -> list[tuple[str, re.Pattern[str]]]:
    compiled: list[tuple[str, re.Pattern[str]]] = []
    for field, pattern in filters.items():
        if isinstance(pattern, re.Pattern):
            regex = pattern
        elif isinstance(pattern, (str, bytes)):
            try:
                text = pattern.decode() if isinstance(pattern, bytes) else pattern
                regex = re.compile(text)
            except (re.error, UnicodeDecodeError) as error:
                raise ImproperlyConfigured(
                    f"{what}: filter {field}={pattern!r} is not a valid regex: {error}"
                ) from None
        else:
            raise ImproperlyConfigured(
                f"{what}: filter {field}= must be a regex string, got {type(pattern).__name__}"
            )
        if regex.groups > len(regex.groupindex):
            raise ImproperlyConfigured(
                f"{what}: filter {field}={regex.pattern!r} has an unnamed (positional) group; "
                "name it (?P<name>...) to get it as a keyword argument, or make it "
                "non-capturing (?:...)"
            )
        compiled.append((field, regex))
    return compiled


def _match_filters(
    filters: list[tuple[str, re.Pattern[str]]], content: Mapping[str, Any]
) -> tuple[Kwargs, dict[str, str]] | None:
    """The named groups of every filter (each anchored at the start of its field) and what
    follows each match; None if a field is missing, not text, or does not match."""
    kwargs: Kwargs = {}
    rests: dict[str, str] = {}
    for field, regex in filters:
        value = field_text(content.get(field))
        if value is None:
            return None
        found = regex.match(value)
        if found is None:
            return None
        kwargs.update(found.groupdict())
        rests[field] = value[found.end() :]
    return kwargs, rests


def field_text(value: Any) -> str | None:
    """A message field as text for the filters: a ``str``, or ``bytes`` decoded as UTF-8
    (servers and tests of the Channels 1.x era send ``path`` as bytes); None for anything
    else, undecodable bytes included (no route matches them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _resolve_consumer(consumer: Any, what: str) -> Consumer:
    if isinstance(consumer, str):
        consumer = import_object(consumer)
    if not callable(consumer):
        raise ImproperlyConfigured(f"{what}: the consumer {consumer!r} is not callable")
    return consumer


class Route:
    """One channel name (or ``!`` prefix) -> consumer, with optional field filters."""

    def __init__(self, channel: str, consumer: Consumer | str, **filters: Any) -> None:
        what = f"route({channel!r}, ...)"
        self.channel = check_receive_name(channel)
        self.consumer = _resolve_consumer(consumer, what)
        self.filters = _compile_filters(filters, what)

    def channel_names(self) -> set[str]:
        return {self.channel}

    def match(self, channel: str, content: Mapping[str, Any]) -> Match | None:
        """``(consumer, kwargs)`` if ``channel`` and the filters match ``content``."""
        if channel != self.channel:
            return None
        return self._apply_filters(content)

    def _apply_filters(self, content: Mapping[str, Any]) -> Match | None:
        if not self.filters:
            return self.consumer, {}
        matched = _match_filters(self.filters, content)
        return None if matched is None else (self.consumer, matched[0])

    def __repr__(self) -> str:
        filters = "".join(f", {field}={regex.pattern!r}" for field, regex in self.filters)
        return (
            f"route({self.channel!r}, {getattr(self.consumer, '__name__', self.consumer)}{filters})"
        )


class RouteClass(Route):
    """A class-based consumer: one route per channel in ``consumer_class.channel_names()``."""

    def __init__(self, consumer_class: Any, **filters: Any) -> None:
        what = f"route_class({getattr(consumer_class, '__name__', consumer_class)!r}, ...)"
        consumer_class = _resolve_consumer(consumer_class, what)
        names = getattr(consumer_class, "channel_names", None)
        if names is None:
            raise ImproperlyConfigured(
                f"{what}: the class has no channel_names(); subclass "
                "channels_core.generic.BaseConsumer"
            )
        self.channels = {check_receive_name(name) for name in names()}
        if not self.channels:
            raise ImproperlyConfigured(f"{what}: channel_names() is empty")
        self.channel = ""
        self.consumer = consumer_class
        self.filters = _compile_filters(filters, what)

    def channel_names(self) -> set[str]:
        return set(self.channels)

    def match(self, channel: str, content: Mapping[str, Any]) -> Match | None:
        if channel not in self.channels:
            return None
        return self._apply_filters(content)


class Include:
    """A nested routing list whose entries only see fields with the matched prefix stripped."""

    def __init__(self, routing: Any, **prefix_filters: Any) -> None:
        what = f"include({routing!r:.60}, ...)"
        self.prefix_filters = _compile_filters(prefix_filters, what)
        self.entries = _entries(routing, what)
        self._index = _index(self.entries)

    def channel_names(self) -> set[str]:
        return set(self._index)

    def match(self, channel: str, content: Mapping[str, Any]) -> Match | None:
        kwargs: Kwargs = {}
        if self.prefix_filters:
            matched = _match_filters(self.prefix_filters, content)
            if matched is None:
                return None
            kwargs, rests = matched
            content = {**content, **rests}  # the inner routes see the rest
        for entry in self._index.get(channel, ()):
            result = entry.match(channel, content)
            if result is not None:
                return result[0], {**kwargs, **result[1]}
        return None


Entry = Route | Include


def _entries(routing: Any, what: str) -> list[Entry]:
    """Normalise a routing list (or a dotted path to one, or a channel -> consumer dict)."""
    if isinstance(routing, str):
        routing = import_object(routing)
    if isinstance(routing, Mapping):
        return [Route(channel, consumer) for channel, consumer in routing.items()]
    if not isinstance(routing, (list, tuple)):
        raise ImproperlyConfigured(
            f"{what}: routing must be a list of route()/route_class()/include(), got "
            f"{type(routing).__name__}"
        )
    entries: list[Entry] = []
    for index, entry in enumerate(routing):
        if not isinstance(entry, (Route, Include)):
            raise ImproperlyConfigured(
                f"{what}: routing[{index}] is {entry!r:.60}, not a route(), route_class() or "
                "include()"
            )
        entries.append(entry)
    return entries


def _index(entries: list[Entry]) -> dict[str, tuple[Entry, ...]]:
    """channel -> the entries that can handle it, in routing order, so that matching a message
    costs one dict lookup plus the filters of those candidates only."""
    index: dict[str, list[Entry]] = {}
    for entry in entries:
        for name in sorted(entry.channel_names()):
            index.setdefault(name, []).append(entry)
    return {name: tuple(candidates) for name, candidates in index.items()}


def route(channel: str, consumer: Consumer | str, **filters: Any) -> Route:
    """Route ``channel`` to ``consumer``; ``filters`` are field=regex (see the module doc)."""
    return Route(channel, consumer, **filters)


def route_class(consumer_class: Any, **filters: Any) -> RouteClass:
    """Route every channel of a class-based consumer to it."""
    return RouteClass(consumer_class, **filters)


def include(routing: Any, **prefix_filters: Any) -> Include:
    """Nest ``routing`` (a list or a dotted path to one) under prefix filters."""
    return Include(routing, **prefix_filters)


class Router:
    """The routing of one layer: ``channels`` and ``match(message)`` (first match wins)."""

    def __init__(self, routing: Any) -> None:
        self.entries = _entries(routing, "ROUTING")
        self._reindex()

    def add_route(self, entry: Any) -> None:
        """Append ``entry`` (a ``route()``, ``route_class()`` or ``include()``) to the routing:
        it is tried after every existing entry."""
        self.entries.extend(_entries([entry], "Router.add_route"))
        self._reindex()

    def _reindex(self) -> None:
        self._index = _index(self.entries)
        self.channels: set[str] = set(self._index)

    def match(self, message: Any) -> Match | None:
        """``(consumer, kwargs)`` for ``message`` (a Message), or ``None`` if no route fits."""
        return self.match_content(message.channel.name, message.content)

    def match_content(self, channel: str, content: Mapping[str, Any]) -> Match | None:
        """Like :meth:`match`, from a channel name and a content dict."""
        candidates = self._index.get(channel)
        if candidates is None and "!" in channel:
            channel = inbox_name(channel)
            candidates = self._index.get(channel)
        if candidates is None:
            return None
        for entry in candidates:
            result = entry.match(channel, content)
            if result is not None:
                return result
        return None

    def __repr__(self) -> str:
        return f"<Router channels={sorted(self.channels)}>"


def describe_routing(entries: Iterable[Entry], indent: str = "") -> Iterator[str]:
    """One line per route, includes shown with their prefix filters and nested routes."""
    for entry in entries:
        if isinstance(entry, Include):
            filters = ", ".join(
                f"{field}={regex.pattern!r}" for field, regex in entry.prefix_filters
            )
            yield f"{indent}include([...], {filters}):"
            yield from describe_routing(entry.entries, indent + "    ")
        else:
            yield f"{indent}{entry!r}"

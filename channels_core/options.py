"""Layer options, declared once: name, default, check, and how to read it from a URL.

A layer class carries one :class:`OptionTable`: :data:`COMMON_OPTIONS` (every layer's) extended
with the backend's own. The same table serves the three ways options arrive:

* keyword arguments of the constructor (``RedisChannelLayer(capacity=500)``):
  :meth:`OptionTable.resolve` checks each value, fills in defaults and refuses unknown names;
* a URL's query string (``redis://host/0?capacity=500``): :meth:`OptionTable.split_url` parses
  the options the table declares, leaves those the client library understands in the URL, and
  refuses anything else;
* ``CHANNEL_LAYERS[...]['CONFIG']``: the settings check the common options with
  :meth:`OptionTable.check` so that an error names the setting path.

Every number is finite and within a range every engine can store (``expiry=nan``,
``blocking_timeout=inf``, ``capacity=2**31`` are refused when the layer is built, not at the
first send). Every error is an :class:`ImproperlyConfigured` whose message starts with the
option's name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .codec import DEFAULT_MESSAGE_SIZE_LIMIT
from .exceptions import ImproperlyConfigured
from .urls import redact

Check = Callable[[Any], Any]

#: Longest ``expiry`` / ``group_expiry``: ten years (deadlines stay exact in milliseconds).
MAX_SECONDS = 10 * 365 * 86400.0
#: Longest ``blocking_timeout``: an hour (a blocking receive is meant to return within seconds).
MAX_BLOCKING_TIMEOUT = 3600.0
#: Largest capacity: what every engine counts in a 32-bit signed integer (PostgreSQL's
#: ``integer``).
MAX_CAPACITY = 2**31 - 1
#: Largest ``message_size_limit``: 512 MiB (Redis' largest string).
MAX_MESSAGE_SIZE = 512 * 1024 * 1024


# -- checks: each returns the value to use, or raises ValueError("must be ..., got ...") -------


def number(minimum: float = 0.0, maximum: float = MAX_SECONDS, zero: bool = False) -> Check:
    """A finite real number > ``minimum`` (>= when ``zero``) and <= ``maximum``, as a float."""
    lower = ">=" if zero else ">"

    def check(value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not (value >= minimum if zero else value > minimum)
            or value > maximum
        ):
            raise ValueError(
                f"must be a finite number {lower} {minimum:g} and <= {maximum:g}, got {value!r}"
            )
        return float(value)

    return check


def integer(minimum: int = 1, maximum: int = MAX_CAPACITY) -> Check:
    """A whole number (not a bool) between ``minimum`` and ``maximum`` inclusive."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise ValueError(f"must be an int from {minimum} to {maximum}, got {value!r}")
        return value

    return check


def text(value: Any) -> str:
    """A non-empty str."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a non-empty str, got {value!r}")
    return value


def optional(check: Check) -> Check:
    """``check``, or None."""

    def checked(value: Any) -> Any:
        return None if value is None else check(value)

    return checked


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be a bool, got {value!r}")
    return value


def mapping(value: Any) -> dict[str, Any]:
    """A dict (of keyword options for a client library, say)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a dict, got {type(value).__name__}")
    return dict(value)


def anything(value: Any) -> Any:
    """No check here: the backend validates it where it uses it (e.g. a list of hosts)."""
    return value


def encryption_keys(value: Any) -> list[str | bytes] | None:
    """None, or a non-empty list of non-empty ``str``/``bytes`` keys (first encrypts)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(
            "must be a non-empty list of keys (str or bytes; the first encrypts, all decrypt), "
            f"got {value!r:.40}"
        )
    for index, key in enumerate(value):
        if not isinstance(key, (str, bytes)) or not key:
            raise ValueError(
                f"[{index}] must be a non-empty str or bytes, got {type(key).__name__}"
            )
    return list(value)


def parse_bool(value: str) -> bool:
    """URL text ``1/true/yes/on`` or ``0/false/no/off`` (any case)."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def capacity_map(value: Any) -> list[tuple[str | re.Pattern[str], int]] | None:
    """``channel_capacity``: a dict (or list of pairs) of glob strings or compiled regexes to
    capacities; returned as a list of pairs (first match wins)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(
            "must be a dict of glob strings or compiled regexes -> capacity, "
            f"got {type(value).__name__}"
        )
    size = integer()
    pairs: list[tuple[str | re.Pattern[str], int]] = []
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ValueError(f"must hold (pattern, capacity) pairs, got {item!r}")
        pattern, capacity = item
        if not isinstance(pattern, (str, re.Pattern)):
            raise ValueError(f"keys must be glob strings or compiled regexes, got {pattern!r}")
        try:
            pairs.append((pattern, size(capacity)))
        except ValueError as error:
            raise ValueError(f"[{pattern!r}] {error}") from None
    return pairs


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One option of a layer."""

    name: str
    default: Any
    check: Check
    #: Reads the option from a URL's query string; None: it cannot be given in a URL.
    parse: Callable[[str], Any] | None = None
    doc: str = ""


def _no_client_keys(key: str) -> bool:
    return False


class OptionTable(Mapping[str, Option]):
    """The options of a layer class, by name."""

    def __init__(
        self, *options: Option, client_url_keys: Callable[[str], bool] = _no_client_keys
    ) -> None:
        self._options: dict[str, Option] = {}
        for option in options:
            if option.name in self._options:
                raise ValueError(f"option {option.name!r} is declared twice")
            self._options[option.name] = option
        #: Which other URL query keys the backend's client library reads (left in the URL).
        self.client_url_keys = client_url_keys

    def extend(
        self, *options: Option, client_url_keys: Callable[[str], bool] | None = None
    ) -> OptionTable:
        """This table plus a backend's own options (a name may not be declared twice)."""
        return OptionTable(
            *self._options.values(),
            *options,
            client_url_keys=client_url_keys or self.client_url_keys,
        )

    def __getitem__(self, name: str) -> Option:
        return self._options[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def check(self, name: str, value: Any) -> Any:
        """The value to use for option ``name``; ImproperlyConfigured starting with the name."""
        try:
            return self._options[name].check(value)
        except ImproperlyConfigured:
            raise
        except ValueError as error:
            detail = str(error)  # "must be ..." or, about one entry, "[key] must be ..."
            raise ImproperlyConfigured(
                f"{name}{'' if detail[:1] == '[' else ' '}{detail}"
            ) from None

    def resolve(self, given: Mapping[str, Any], owner: str) -> dict[str, Any]:
        """Every option's value: ``given`` ones checked, the others their defaults."""
        for name in given:
            if name not in self._options:
                raise ImproperlyConfigured(
                    f"{name} is not an option of {owner} (its options: {', '.join(self)})"
                )
        return {
            name: self.check(name, given[name]) if name in given else option.default
            for name, option in self._options.items()
        }

    def split_url(self, url: str) -> tuple[str, dict[str, Any]]:
        """``url`` without the query options this table declares, and those options, parsed.

        Query keys the client library reads (``client_url_keys``) stay in the URL; any other
        key, a value that does not parse or check, or an option that cannot be given in a URL
        raises ImproperlyConfigured naming the key.
        """
        parts = urlsplit(url)
        kept: list[tuple[str, str]] = []
        options: dict[str, Any] = {}
        for key, raw in parse_qsl(parts.query, keep_blank_values=True):
            option = self._options.get(key)
            if option is None:
                if not self.client_url_keys(key):
                    raise ImproperlyConfigured(
                        f"unknown option {key!r} in URL {redact(url)!r}: expected one of "
                        f"{', '.join(name for name, o in self._options.items() if o.parse)}"
                    )
                kept.append((key, raw))
                continue
            if option.parse is None:
                raise ImproperlyConfigured(
                    f"option {key!r} cannot be given in a URL ({redact(url)!r}): pass it as a "
                    "keyword (CONFIG) instead"
                )
            try:
                options[key] = option.check(option.parse(raw))
            except (TypeError, ValueError) as error:
                raise ImproperlyConfigured(
                    f"option {key!r} in URL {redact(url)!r} is invalid: {error}"
                ) from None
        query = urlencode(kept, quote_via=quote)
        return urlunsplit(parts._replace(query=query)), options


COMMON_OPTIONS = OptionTable(
    Option("expiry", 60.0, number(), float, "seconds a message may wait unread"),
    Option("group_expiry", 86400.0, number(), float, "seconds a group membership lasts"),
    Option("capacity", 100, integer(), int, "pending messages per channel"),
    Option("channel_capacity", None, capacity_map, None, "per-channel capacities"),
    Option("prefix", "asgi", text, str, "namespace of the layer on its server"),
    Option(
        "message_size_limit",
        DEFAULT_MESSAGE_SIZE_LIMIT,
        integer(1, MAX_MESSAGE_SIZE),
        int,
        "largest encoded message",
    ),
    Option(
        "blocking_timeout",
        5.0,
        number(maximum=MAX_BLOCKING_TIMEOUT),
        float,
        "seconds a blocking receive waits",
    ),
    Option(
        "symmetric_encryption_keys",
        None,
        encryption_keys,
        None,
        "keys encrypting message bodies (the first encrypts, all decrypt)",
    ),
)

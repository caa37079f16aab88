"""Per-channel capacity lookup: ``channel_capacity`` maps globs or compiled regexes to sizes.

The first pattern that matches wins; a glob must match the whole name (``fnmatch`` rules), a
compiled regex is tried with ``.match`` (anchored at the start, like ``re.match``). Names
matching nothing get the default ``capacity``. Lookups are cached (bounded) because ``send``
asks on every message.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Union

from .exceptions import ImproperlyConfigured
from .names import requested_inbox
from .options import MAX_CAPACITY

Pattern = Union[str, "re.Pattern[str]"]
CapacityMap = Union[Mapping[Pattern, int], Iterable[tuple[Pattern, int]]]  # noqa: UP007

_CACHE_LIMIT = 4096


def _check_size(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CAPACITY:
        raise ImproperlyConfigured(f"{key} must be an int from 1 to {MAX_CAPACITY}, got {value!r}")
    return value


class CapacityLookup:
    """Resolves the capacity of a queue name from the default and ``channel_capacity``."""

    def __init__(self, default: int, channel_capacity: CapacityMap | None = None) -> None:
        self.default = _check_size(default, "capacity")
        items = (
            channel_capacity.items()
            if isinstance(channel_capacity, Mapping)
            else (channel_capacity or ())
        )
        self._rules: list[tuple[re.Pattern[str], int]] = []
        for pattern, size in items:
            if isinstance(pattern, str):
                compiled = re.compile(fnmatch.translate(pattern))
            elif isinstance(pattern, re.Pattern):
                compiled = pattern
            else:
                raise ImproperlyConfigured(
                    "channel_capacity keys must be glob strings or compiled regexes, "
                    f"got {pattern!r}"
                )
            self._rules.append((compiled, _check_size(size, f"channel_capacity[{pattern!r}]")))
        self._cache: dict[str, int] = {}
        #: The capacity of every name when no rule exists, else 0 (a shortcut for hot loops).
        self.uniform = 0 if self._rules else self.default

    def __call__(self, name: str) -> int:
        try:
            return self._cache[name]
        except KeyError:
            pass
        size = self.default
        # An inbox new_channel("ws.send!") made is "ws.send.<client_id>!": rules written for
        # the name asked for ("ws.send!*") size it too.
        requested = requested_inbox(name) if name.endswith("!") else None
        for pattern, rule_size in self._rules:
            if pattern.match(name) or (requested is not None and pattern.match(requested)):
                size = rule_size
                break
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[name] = size
        return size

    @property
    def largest(self) -> int:
        """The largest capacity any channel can have (useful to size buffers)."""
        return max([self.default, *(size for _, size in self._rules)])

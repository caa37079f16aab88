"""Where ``channel_session`` keeps its data: a small store interface and an in-memory store.

A store maps a session key (derived from a reply channel) to a dict of message-compatible
values (the same types a channel message may hold), each entry living ``ttl`` seconds after its
last save. Every layer offers a default store through
:meth:`~channels_core.layer.BaseChannelLayer.session_store`; network backends return one that
lives on their own server, so any worker process sees the same sessions.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from . import codec

if TYPE_CHECKING:
    from .crypto import SymmetricCipher

SessionData = dict[str, Any]


class SessionCodec:
    """How a network store turns a session dict into the bytes it keeps, and back: the
    message wire format (msgpack, never pickle), sealed with the layer's cipher when the layer
    has ``symmetric_encryption_keys`` (a stored session then reveals nothing without a key, and
    one no key opens raises :class:`~channels_core.crypto.DecryptionError`)."""

    def __init__(self, cipher: SymmetricCipher | None, size_limit: int) -> None:
        self._cipher = cipher
        self._size_limit = size_limit

    def dumps(self, data: SessionData) -> bytes:
        """The stored form of ``data``; MessageTooLarge above the store's size limit."""
        payload = codec.encode(data, self._size_limit)
        return payload if self._cipher is None else self._cipher.encrypt(payload)

    def loads(self, stored: bytes) -> SessionData:
        """The session dict :meth:`dumps` stored."""
        return codec.decode(stored if self._cipher is None else self._cipher.decrypt(stored))


class SessionStore(ABC):
    """Persists session dicts by key. Implementations must be thread-safe."""

    @abstractmethod
    def load(self, key: str) -> SessionData | None:
        """The saved dict for ``key``, or None if there is none (or it expired)."""

    @abstractmethod
    def save(self, key: str, data: SessionData, ttl: float) -> None:
        """Store ``data`` under ``key`` for ``ttl`` seconds (replacing what was there)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error if absent."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (default: nothing)."""


class InMemorySessionStore(SessionStore):
    """Sessions in this process's memory; expired entries are dropped as they are touched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, bytes]] = {}
        self._next_sweep = 0.0

    def load(self, key: str) -> SessionData | None:
        now = time.monotonic()
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._data[key]
                return None
            return codec.decode(entry[1])

    def save(self, key: str, data: SessionData, ttl: float) -> None:
        payload = codec.encode(data, size_limit=2**31)
        now = time.monotonic()
        with self._lock:
            self._data[key] = (now + ttl, payload)
            if now >= self._next_sweep:
                self._next_sweep = now + 60
                for stale in [k for k, (expires, _) in self._data.items() if expires <= now]:
                    del self._data[stale]

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class ChannelSession(dict):
    """A session dict that knows whether it was modified, bound to a store and a key."""

    def __init__(self, store: SessionStore, key: str, data: SessionData | None, ttl: float):
        super().__init__(data or {})
        self.store = store
        self.session_key = key
        self.ttl = ttl
        self.modified = False

    def save(self) -> None:
        """Persist now (the decorator does it after the consumer if modified)."""
        self.store.save(self.session_key, dict(self), self.ttl)
        self.modified = False

    def delete(self) -> None:
        """Forget this session in the store and empty it."""
        self.store.delete(self.session_key)
        super().clear()
        self.modified = False

    def _touch(self) -> None:
        self.modified = True

    def flush(self) -> None:
        """Empty the session (Django's session API: ``django.contrib.auth`` logs a user out
        of a session with it); saved as empty by the decorator."""
        self.clear()

    def cycle_key(self) -> None:
        """Django's session API; a channel session's key is its reply channel: nothing to do."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.modified = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.modified = True

    def pop(self, *args: Any) -> Any:
        self.modified = True
        return super().pop(*args)

    def popitem(self) -> Any:
        self.modified = True
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)

    def clear(self) -> None:
        self.modified = True
        super().clear()

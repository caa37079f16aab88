"""``channel_session`` data on Redis: one string key per session under the layer's prefix.

Keys are ``<prefix>:s:<session key>`` on the shard the session key hashes to, stored with a
TTL (``SET ... PX``), so every worker process sharing the layer sees the same sessions and
abandoned ones vanish by themselves. Values use the message wire format (msgpack; never
pickle), encrypted when the layer has ``symmetric_encryption_keys``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from channels_core.crypto import SymmetricCipher
from channels_core.session_store import SessionCodec, SessionData, SessionStore

from .connection import Shard

#: Largest session accepted (bytes of msgpack); a session is not a message but stays bounded.
SESSION_SIZE_LIMIT = 16 * 1024 * 1024


class RedisSessionStore(SessionStore):
    """Sessions in Redis; thread-safe (redis-py clients are)."""

    def __init__(
        self,
        shards: Sequence[Shard],
        ring: Callable[[str], int],
        namespace: str,
        cipher: SymmetricCipher | None = None,
    ) -> None:
        self._shards = shards
        self._ring = ring
        self._namespace = namespace
        self._codec = SessionCodec(cipher, SESSION_SIZE_LIMIT)

    def _where(self, key: str) -> tuple[Shard, str]:
        if not isinstance(key, str) or not key:
            raise TypeError(f"a session key must be a non-empty str, got {key!r}")
        shard = self._shards[0] if len(self._shards) == 1 else self._shards[self._ring(key)]
        return shard, self._namespace + key

    def load(self, key: str) -> SessionData | None:
        shard, name = self._where(key)
        raw = shard.command("GET", name)
        return None if raw is None else self._codec.loads(raw)

    def save(self, key: str, data: SessionData, ttl: float) -> None:
        shard, name = self._where(key)
        payload = self._codec.dumps(data)
        shard.command("SET", name, payload, "PX", max(1, int(ttl * 1000)))

    def delete(self, key: str) -> None:
        shard, name = self._where(key)
        shard.command("DEL", name)

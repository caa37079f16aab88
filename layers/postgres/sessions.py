"""Sessions for ``channel_session`` kept in the layer's own PostgreSQL schema.

Rows of the ``session`` table, keyed by the layer's ``prefix`` and the session key, each with
its own deadline (``ttl`` seconds after the last save); expired rows are never returned and are
deleted in small batches by the layer's housekeeping. The table is an ordinary (logged) one,
written with ``synchronous_commit = off``: sessions survive a server crash except for the last
fraction of a second of saves. Values use the message wire format, encrypted when the layer has
``symmetric_encryption_keys`` (:class:`~channels_core.session_store.SessionCodec`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from channels_core.crypto import SymmetricCipher
from channels_core.session_store import SessionCodec, SessionData, SessionStore

#: Sessions are not messages: they may be larger than ``message_size_limit``.
SESSION_SIZE_LIMIT = 2**30

#: Runs one statement on one of the layer's pooled connections and returns its first row
#: (None if it returned none): :meth:`PostgresChannelLayer.query_row`.
QueryRow = Callable[[str, Sequence[Any]], "tuple[Any, ...] | None"]


class PostgresSessionStore(SessionStore):
    """Session dicts in the ``session`` table, shared by every process using the layer."""

    def __init__(
        self, query_row: QueryRow, schema: str, prefix: str, cipher: SymmetricCipher | None
    ) -> None:
        self._query_row = query_row
        self._prefix = prefix
        self._codec = SessionCodec(cipher, SESSION_SIZE_LIMIT)
        s = f'"{schema}"'
        self._load = (
            f"SELECT data FROM {s}.session WHERE prefix = %s AND key = %s AND expires_at > now()"
        )
        self._save = f"SELECT {s}.session_save(%s, %s, %s, %s::float8)"
        self._delete = f"SELECT {s}.session_delete(%s, %s)"

    def load(self, key: str) -> SessionData | None:
        row = self._query_row(self._load, (self._prefix, key))
        return None if row is None else self._codec.loads(row[0])

    def save(self, key: str, data: SessionData, ttl: float) -> None:
        payload = self._codec.dumps(data)
        self._query_row(self._save, (self._prefix, key, payload, float(ttl)))

    def delete(self, key: str) -> None:
        self._query_row(self._delete, (self._prefix, key))

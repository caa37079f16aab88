"""``channel_session`` data on RabbitMQ: one queue per session, holding its latest value.

A session ``key`` lives in the queue ``<prefix>:#s.<key>``, declared with ``x-max-length=1``
(the default ``drop-head`` overflow keeps only the latest save) and ``x-expires`` set to the
session's TTL, so an abandoned session's queue is deleted by the broker itself. ``load``
takes the value with ``basic.get`` and returns it to the queue by closing its channel
unacknowledged (a concurrent ``load`` in that instant sees no session). Values use the
message wire format (msgpack; never pickle), encrypted when the layer has
``symmetric_encryption_keys``. Every session queue is recorded in the
prefix's ledger, so ``flush`` deletes them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels_core.session_store import SessionCodec, SessionData, SessionStore

from .connection import CHANNEL_ERRORS, NOT_FOUND, PRECONDITION_FAILED, Link, properties, reply_code

#: Largest session accepted (bytes of msgpack).
SESSION_SIZE_LIMIT = 16 * 1024 * 1024


class RabbitMQSessionStore(SessionStore):
    """Sessions in RabbitMQ queues; each thread uses its own link of the layer."""

    def __init__(
        self,
        link: Callable[[], Link],
        namespace: str,
        record: Callable[..., None],
        cipher: Any = None,
    ) -> None:
        self._link = link
        self._namespace = namespace
        self._record = record
        self._codec = SessionCodec(cipher, SESSION_SIZE_LIMIT)

    def _queue(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise TypeError(f"a session key must be a non-empty str, got {key!r}")
        return self._namespace + key

    def load(self, key: str) -> SessionData | None:
        queue = self._queue(key)
        link = self._link()
        channel = link.new_channel()
        try:
            method, _props, body = channel.basic_get(queue, auto_ack=False)
        except CHANNEL_ERRORS as error:
            if reply_code(error) == NOT_FOUND:
                return None
            raise
        finally:
            _close(channel)  # unacknowledged: the value goes back to its queue
        if method is None:
            return None
        return self._codec.loads(body)

    def save(self, key: str, data: SessionData, ttl: float) -> None:
        queue = self._queue(key)
        payload = self._codec.dumps(data)
        link = self._link()
        arguments = {"x-max-length": 1, "x-expires": max(1, int(ttl * 1000))}
        try:
            link.run(lambda ch: ch.queue_declare(queue, arguments=arguments))
        except CHANNEL_ERRORS as error:
            if reply_code(error) != PRECONDITION_FAILED:
                raise
            link.run(lambda ch: ch.queue_delete(queue))  # saved before with another TTL
            link.run(lambda ch: ch.queue_declare(queue, arguments=arguments))
        self._record(link, "q", queue, ttl + 60)
        link.run(lambda ch: ch.basic_publish("", queue, payload, properties(), mandatory=True))

    def delete(self, key: str) -> None:
        queue = self._queue(key)
        self._link().run(lambda ch: ch.queue_delete(queue))


def _close(channel: Any) -> None:
    try:
        if channel.is_open:
            channel.close()
    except Exception:
        pass

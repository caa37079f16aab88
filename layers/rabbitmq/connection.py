"""How the RabbitMQ layer reaches its broker: connection parameters, one link, error mapping.

* :func:`connection_parameters` turns the layer's URL (``amqp://`` or ``amqps://``, with
  credentials and vhost) into pika's parameters, with bounded socket and handshake timeouts.
* :class:`Link` is one pika ``BlockingConnection`` with one publisher-confirm channel, used by
  one thread at a time (pika is not thread-safe). It opens itself on demand, paces reconnects
  with a backoff (while waiting, calls fail at once instead of hammering a dead broker), and
  turns every connection failure into ``LayerUnavailable`` naming host and port.
* Each AMQP command leaves in one socket write, made at once: pika queues a publish as three
  frames (method, header, body) and writes them one by one once its poll reports the socket
  writable, which on a busy machine costs three wake-ups of the broker and an extra poll per
  message; :func:`_write_commands_whole` joins them and writes them when issued.

This is the only module that knows pika's exception classes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import pika
import pika.exceptions
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.adapters.blocking_connection import BlockingChannel
from pika.adapters.utils.io_services_utils import _AsyncPlaintextTransport as _PlainTransport

from channels_core.exceptions import ImproperlyConfigured, LayerUnavailable, OutcomeUnknown
from channels_core.retry import Backoff, unavailable
from channels_core.urls import redact

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

T = TypeVar("T")


class CallTimeout(pika.exceptions.AMQPConnectionError):
    """The broker did not answer within ``socket_timeout``: the connection is dropped."""


#: Errors that mean the connection is gone (the broker restarted, the network failed...).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ConnectionWrongStateError,
    pika.exceptions.StreamLostError,
    OSError,
    AssertionError,  # pika asserts on a connection it was using when the socket died
)
#: The broker closed a channel (404 NOT_FOUND, 406 PRECONDITION_FAILED, 403...).
ChannelClosed = pika.exceptions.ChannelClosedByBroker
#: A publisher confirm said the message was not stored (a full queue with reject-publish).
Nacked = pika.exceptions.NackError
#: A mandatory publish matched no queue (the queue does not exist, or no longer).
Unroutable = pika.exceptions.UnroutableError
CHANNEL_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.ChannelClosed,
    pika.exceptions.ChannelWrongStateError,
)

NOT_FOUND = 404
PRECONDITION_FAILED = 406
ACCESS_REFUSED = 403
RESOURCE_LOCKED = 405


def connection_parameters(
    url: str | None,
    *,
    socket_timeout: float,
    connect_timeout: float,
    heartbeat: int,
) -> pika.URLParameters:
    """pika's parameters for ``url`` (credentials, vhost, TLS from the URL), with bounded
    timeouts and a single connection attempt (the layer paces its own reconnects)."""
    url = url or DEFAULT_URL
    if not isinstance(url, str):
        raise ImproperlyConfigured(f"url must be a str, got {type(url).__name__}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("amqp", "amqps"):
        raise ImproperlyConfigured(
            f"{redact(url)!r} is not a RabbitMQ URL: expected amqp:// or amqps://"
        )
    try:
        params = pika.URLParameters(url)
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"bad RabbitMQ URL {redact(url)!r}: {error}") from None
    params.socket_timeout = socket_timeout
    params.stack_timeout = connect_timeout
    params.blocked_connection_timeout = socket_timeout
    params.connection_attempts = 1
    params.heartbeat = heartbeat
    params.client_properties = {"connection_name": "channels-core"}
    return params


def where(params: pika.ConnectionParameters) -> tuple[str, int]:
    return str(params.host), int(params.port)


def reply_code(error: BaseException) -> int | None:
    """The AMQP reply code of a channel closed by the broker, else None."""
    if isinstance(error, ChannelClosed):
        return int(error.reply_code)
    return None


class Link:
    """One connection and one confirm-mode channel; one thread at a time."""

    def __init__(
        self, params: pika.ConnectionParameters, *, confirm: bool = True, timeout: float = 5.0
    ) -> None:
        self.params = params
        self.timeout = timeout
        self.host, self.port = where(params)
        self._confirm = confirm
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._probe: BlockingChannel | None = None
        self._backoff = Backoff(0.1, 5.0)
        self._retry_at = 0.0
        self._last_error: BaseException | None = None
        #: Called with the new connection each time one opens (consumers re-subscribe).
        self.on_open: Callable[[pika.BlockingConnection], None] | None = None
        #: How many times a connection was opened (a change means consumers are gone).
        self.generation = 0

    # -- state ------------------------------------------------------------------------------

    @property
    def connection(self) -> pika.BlockingConnection:
        if self._connection is None or not self._connection.is_open:
            self._open()
        assert self._connection is not None
        return self._connection

    @property
    def channel(self) -> BlockingChannel:
        """The confirm channel, (re)opened if the broker closed it."""
        connection = self.connection
        if self._channel is None or not self._channel.is_open:
            try:
                self._channel = connection.channel()
                if self._confirm:
                    self._channel.confirm_delivery()
            except CONNECTION_ERRORS as error:
                raise self.failed(error) from None
        return self._channel

    def ready(self, queue: str) -> int:
        """Messages ready in ``queue`` (0 if it does not exist): a passive declare on this
        link's probe channel, kept open between calls (a 404 closes only that channel; it is
        reopened on the next probe)."""
        probe = self._probe
        if probe is None or not probe.is_open:
            probe = self._probe = self.new_channel()
        try:
            with self.deadline():
                reply = probe.queue_declare(queue, passive=True)
        except CHANNEL_ERRORS:
            return 0
        except CONNECTION_ERRORS as error:
            raise self.failed(error) from None
        return int(reply.method.message_count)

    def new_channel(self) -> BlockingChannel:
        """A further channel on this connection (the caller closes it)."""
        try:
            return self.connection.channel()
        except CONNECTION_ERRORS as error:
            raise self.failed(error) from None

    @property
    def is_open(self) -> bool:
        return self._connection is not None and self._connection.is_open

    def fileno(self) -> int | None:
        """The open connection's socket descriptor (for an event loop to watch whether the
        broker sent something), None if there is none. pika's transport internals."""
        connection = self._connection
        if connection is None or not connection.is_open:
            return None
        transport = connection._impl._transport
        sock = getattr(transport, "_sock", None)
        return None if sock is None else int(sock.fileno())

    def _open(self) -> None:
        now = time.monotonic()
        if now < self._retry_at:
            raise self.error(self._last_error or "reconnecting after a failure")
        self._drop()
        try:
            self._connection = pika.BlockingConnection(self.params)
        except CONNECTION_ERRORS as error:
            self._retry_at = time.monotonic() + self._backoff.delay()
            self._last_error = error
            raise self.error(error) from None
        except Exception as error:  # pika wraps TLS and auth failures in many classes
            self._retry_at = time.monotonic() + self._backoff.delay()
            self._last_error = error
            raise self.error(error) from None
        _write_commands_whole(self._connection._impl)
        self._backoff.reset()
        self.generation += 1
        if self.on_open is not None:
            self.on_open(self._connection)

    # -- errors -----------------------------------------------------------------------------

    def error(self, error: BaseException | str) -> LayerUnavailable:
        return unavailable("RabbitMQ", self.host, self.port, error)

    def failed(self, error: BaseException) -> LayerUnavailable:
        """Forget the broken connection and describe the failure."""
        self._drop()
        return self.error(error)

    def run(self, action: Callable[[BlockingChannel], T], *, applies: bool = False) -> T:
        """``action(channel)`` within ``timeout`` seconds. A lost connection or a broker that
        does not answer in time drops the connection and raises ``LayerUnavailable`` naming
        host and port; ``OutcomeUnknown`` instead when ``applies`` (the action sends a command
        the broker may have applied: a publish) and the connection was up. Channel errors
        propagate (the channel is reopened on next use)."""
        channel = self.channel
        try:
            with self.deadline():
                return action(channel)
        except CONNECTION_ERRORS as error:
            if applies:
                raise self.unknown(error) from None
            raise self.failed(error) from None

    @contextmanager
    def deadline(self, seconds: float | None = None) -> Iterator[None]:
        """Bound what runs inside to ``seconds`` (default ``timeout``): past it, the stream is
        terminated, so a blocked pika call raises instead of waiting forever (a stalled
        network, a hung broker). pika has no per-call timeout: this is the one place that
        uses its connection internals (the timer and stream termination its own heartbeat
        checker uses)."""
        connection = self._connection
        if connection is None:
            yield
            return
        impl = connection._impl
        limit = self.timeout if seconds is None else seconds

        def expire() -> None:
            impl._terminate_stream(CallTimeout(f"no answer within {limit:g} s"))

        handle = impl._adapter_call_later(limit, expire)
        try:
            yield
        finally:
            impl._adapter_remove_timeout(handle)

    def unknown(self, error: BaseException, *, drop: bool = True) -> OutcomeUnknown:
        """The connection failed after a command was sent: it may have been applied
        (``drop``: forget the connection, unless it was already replaced)."""
        if drop:
            self._drop()
        where = f"{self.host}:{self.port}"
        return OutcomeUnknown(
            f"RabbitMQ at {where}: the outcome is unknown, the connection failed after the "
            f"command was sent ({type(error).__name__}: {error})"
        )

    def check(self) -> None:
        """Notice a connection the broker closed while this link was idle (no blocking)."""
        if self._connection is not None:
            try:
                self._connection.process_data_events(0)
            except CONNECTION_ERRORS:
                self._drop()

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._probe = None
        if connection is not None:
            try:
                if connection.is_open:
                    connection.close()
            except Exception:
                pass

    def close(self) -> None:
        self._drop()


class AsyncLink:
    """One pika ``AsyncioConnection`` with one publisher-confirm channel, on the event loop
    that created it: publishes from any number of coroutines of that loop overlap, each
    awaiting its own confirm, and nothing ever blocks the loop (pika runs on the loop's
    reader and writer callbacks). Opened on demand, with the same reconnect backoff and the
    same errors as :class:`Link`.

    A returned (unroutable) publish is told from the others by its routing key: the broker
    returns the messages of one channel in publish order, each before its confirm."""

    def __init__(self, params: pika.ConnectionParameters, *, timeout: float = 5.0) -> None:
        self.params = params
        self.timeout = timeout
        self.host, self.port = where(params)
        self._connection: AsyncioConnection | None = None
        self._channel: Any = None
        self._lock: asyncio.Lock | None = None
        self._backoff = Backoff(0.1, 5.0)
        self._retry_at = 0.0
        self._last_error: BaseException | None = None
        self._published = 0  # delivery tag of the last publish on the channel
        #: delivery tag -> (routing key, future of the confirm) of each unconfirmed publish
        self._unconfirmed: dict[int, tuple[str, asyncio.Future[bool]]] = {}
        self._returned: set[int] = set()

    # -- opening ----------------------------------------------------------------------------

    async def _ready(self) -> Any:
        """The open confirm channel, opened first if needed."""
        channel = self._channel
        if channel is not None and channel.is_open:
            return channel
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._channel is None or not self._channel.is_open:
                await self._open()
        return self._channel

    async def _open(self) -> None:
        if time.monotonic() < self._retry_at:
            raise unavailable("RabbitMQ", self.host, self.port, self._last_error or "backoff")
        loop = asyncio.get_running_loop()
        connection = self._connection
        try:
            if connection is None or not connection.is_open:
                self._drop()
                connection = await self._connect(loop)
            opened: asyncio.Future[Any] = loop.create_future()
            channel = connection.channel(on_open_callback=lambda ch: _settle(opened, ch))
            channel.add_on_close_callback(self._channel_closed)
            await asyncio.wait_for(opened, self.timeout)
            selected: asyncio.Future[Any] = loop.create_future()
            channel.confirm_delivery(self._confirmed, lambda frame: _settle(selected, frame))
            channel.add_on_return_callback(self._returned_message)
            await asyncio.wait_for(selected, self.timeout)
        except asyncio.CancelledError:
            self._drop()
            raise
        except CONNECTION_ERRORS + CHANNEL_ERRORS as error:  # TimeoutError is an OSError
            self._drop()
            self._retry_at = time.monotonic() + self._backoff.delay()
            self._last_error = error
            raise unavailable("RabbitMQ", self.host, self.port, error) from None
        self._backoff.reset()
        self._channel, self._published = channel, 0

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> AsyncioConnection:
        opened: asyncio.Future[AsyncioConnection] = loop.create_future()

        def failed(_connection: Any, error: BaseException) -> None:
            if not opened.done():
                opened.set_exception(
                    error if isinstance(error, BaseException) else OSError(str(error))
                )

        connection = AsyncioConnection(
            self.params,
            on_open_callback=lambda conn: _settle(opened, conn),
            on_open_error_callback=failed,
            on_close_callback=self._connection_closed,
            custom_ioloop=loop,
        )
        self._connection = connection
        bound = self.params.stack_timeout or self.timeout
        await asyncio.wait_for(opened, bound + 1.0)
        _write_commands_whole(connection)
        return connection

    # -- publishing -------------------------------------------------------------------------

    async def publish(
        self, exchange: str, routing_key: str, body: bytes, props: pika.BasicProperties
    ) -> None:
        """Publish (mandatory) and wait for its confirm, at most ``timeout`` seconds.
        Raises :data:`Nacked` (not stored), :data:`Unroutable` (no such queue),
        ``LayerUnavailable`` (no connection), ``OutcomeUnknown`` (the connection failed or
        the confirm did not come after the publish left)."""
        channel = await self._ready()
        try:
            channel.basic_publish(exchange, routing_key, body, props, mandatory=True)
        except CONNECTION_ERRORS + CHANNEL_ERRORS as error:
            self._drop()
            raise unavailable("RabbitMQ", self.host, self.port, error) from None
        self._published += 1
        tag = self._published
        confirm: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._unconfirmed[tag] = (routing_key, confirm)
        try:
            async with asyncio.timeout(self.timeout):
                stored = await confirm
        except TimeoutError:
            self._drop()
            raise self._unknown(CallTimeout(f"no confirm within {self.timeout:g} s")) from None
        except CONNECTION_ERRORS as error:
            raise self._unknown(error) from None
        finally:
            self._unconfirmed.pop(tag, None)
        if not stored:
            raise Nacked([])
        if tag in self._returned:
            self._returned.discard(tag)
            raise Unroutable([])

    def _confirmed(self, frame: Any) -> None:
        method = frame.method
        stored = isinstance(method, pika.spec.Basic.Ack)
        last = method.delivery_tag
        tags = [t for t in self._unconfirmed if t <= last] if method.multiple else [last]
        for tag in tags:
            entry = self._unconfirmed.get(tag)
            if entry is not None and not entry[1].done():
                entry[1].set_result(stored)

    def _returned_message(self, _channel: Any, method: Any, _props: Any, _body: bytes) -> None:
        key = method.routing_key
        for tag, (routing_key, _) in sorted(self._unconfirmed.items()):
            if routing_key == key and tag not in self._returned:
                self._returned.add(tag)
                return

    # -- failures ---------------------------------------------------------------------------

    def _fail_unconfirmed(self, error: BaseException) -> None:
        for _, confirm in self._unconfirmed.values():
            if not confirm.done():
                confirm.set_exception(error)
        self._unconfirmed.clear()
        self._returned.clear()

    def _channel_closed(self, channel: Any, reason: BaseException) -> None:
        if channel is self._channel:
            self._channel = None
            self._fail_unconfirmed(
                reason
                if isinstance(reason, CONNECTION_ERRORS)
                else pika.exceptions.StreamLostError(f"channel closed: {reason}")
            )

    def _connection_closed(self, connection: Any, reason: BaseException) -> None:
        if connection is self._connection:
            self._connection = self._channel = None
            self._fail_unconfirmed(
                reason if isinstance(reason, CONNECTION_ERRORS) else OSError(str(reason))
            )

    def _unknown(self, error: BaseException) -> OutcomeUnknown:
        return OutcomeUnknown(
            f"RabbitMQ at {self.host}:{self.port}: the outcome is unknown, the connection "
            f"failed after the command was sent ({type(error).__name__}: {error})"
        )

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._fail_unconfirmed(pika.exceptions.StreamLostError("connection dropped"))
        if connection is not None:
            try:
                if connection.is_open or connection.is_opening:
                    connection.close()
            except Exception:
                pass

    def close(self) -> None:
        """Close the connection (call it on the link's event loop)."""
        self._drop()

    def abandon(self) -> None:
        """Close the socket of a link whose event loop is closed (no AMQP goodbye: the loop
        that would carry it is gone; the broker sees the connection end). pika's transport
        internals."""
        connection, self._connection, self._channel = self._connection, None, None
        transport = getattr(getattr(connection, "_transport", None), "_sock", None)
        if transport is not None:
            try:
                transport.close()
            except OSError:
                pass


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def ask_barrier(channel: BlockingChannel, prefetch: int, answered: Callable[[], None]) -> None:
    """Send a ``basic.qos`` restating ``prefetch`` (no effect) on a blocking channel without
    waiting for its answer: ``answered()`` runs when a later poll of the connection processes
    it (every method sent on the channel before it was then processed by the broker). Uses
    pika's channel internals (the blocking channel's own channel object)."""
    channel._impl.basic_qos(prefetch_count=prefetch, callback=lambda _frame: answered())


def _write_commands_whole(impl: pika.connection.Connection) -> None:
    """Make a connection (pika's own object, behind a blocking one) hand each command's
    frames to its socket as one buffer, at once.

    pika queues a command's frames (method, header, body) and writes them when its poll says
    the socket is writable: one poll and two watcher changes per publish or ack. Here the
    frames are joined and, when nothing is queued before them on a plain TCP socket, sent
    right away; what the socket does not take (or any error) goes through pika's own buffered
    path, which reports errors as usual. The bytes and their order are unchanged. Uses pika's
    connection internals (its frame output step and its transport)."""
    plain = _PlainTransport

    def output(frames: Sequence[bytes]) -> None:
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        impl.bytes_sent += len(data)
        impl.frames_sent += len(frames)
        transport = impl._transport
        if (
            type(transport) is plain
            and transport._state == plain._STATE_ACTIVE
            and not transport._tx_buffers
        ):
            try:
                sent = transport._sock.send(data)
            except OSError:
                sent = 0  # would block, or failed: pika's path retries and reports
            if sent == len(data):
                return
            data = data[sent:]
        impl._adapter_emit_data(data)

    impl._output_marshaled_frames = output


def properties(**fields: Any) -> pika.BasicProperties:
    return pika.BasicProperties(**fields)

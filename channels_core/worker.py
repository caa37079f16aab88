"""The worker: receives on the router's channels and runs the matching consumers.

For every message: build a :class:`~channels_core.message.Message`, ask the router for
``(consumer, kwargs)``, and call ``consumer(message, **kwargs)`` with send buffering on
(:func:`buffered_sends`): what the consumer sends through ``Channel``/``Group`` (and
``message.reply_channel.send``) is validated and encoded at once (errors surface in the
consumer; later changes to the dict change nothing) and goes out when it returns or raises, in
order, without being encoded again.

* ``ConsumeLater`` raised by the consumer discards its buffered sends (the consumer will run
  again and send them then) and re-sends the message at the back of its channel with
  ``__retries__`` incremented; after ``max_retries`` (10) re-queues the message is dropped with a
  warning. A re-queue that fails (the channel is full, ``__retries__`` pushes the message over
  ``message_size_limit``, the layer is unavailable, ...) drops it with a log entry too.
* Nothing raised outside a consumer ends a worker thread: an error while routing a message is
  logged and the message counted as ``dropped``; a failing ``on_message`` callback is logged.
* ``DenyConnection`` (from a ``websocket.connect`` consumer) refuses the connection and
  ``WebsocketCloseException(code)`` closes it: the worker runs the exception's ``run(message)``
  (any ``ChannelSocketException``); raised where it cannot apply, it is logged as failed.
* Any other exception is logged with its traceback; the buffered sends are flushed; the worker
  goes on with the next message.
* A consumer may set the message aside to run later by itself (``enforce_ordering`` parks an
  early message on its connection's wait channel and sets ``message.parked``): that counts as
  ``parked``, uses no retry, and its buffered sends go out as usual.
* A message no route matches is logged and dropped.
* ``stop()`` (or SIGTERM/SIGINT when ``run()`` is called in the main thread) lets every thread
  finish its current message, then ``run()`` returns. An idle thread notices within the layer's
  ``blocking_timeout``. A second signal exits at once (``SystemExit``).
"""

from __future__ import annotations

import fnmatch
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from . import codec
from .channel import send_interceptor
from .exceptions import (
    ChannelFull,
    ChannelSocketException,
    ConsumeLater,
    ImproperlyConfigured,
    LayerClosed,
)
from .message import Message
from .protocols import EncodedSendingLayer, RoutedLayer

logger = logging.getLogger("channels_core.worker")

DEFAULT_MAX_RETRIES = 10
RETRIES_KEY = "__retries__"

# Outcomes of handling one message (the keys of ``Worker.stats``).
CONSUMED = "consumed"
FAILED = "failed"
RETRIED = "retried"
DROPPED = "dropped"
UNROUTED = "unrouted"
PARKED = "parked"


class SendBuffer:
    """The sends of one consumer call, kept until it ends, then sent in order.

    A layer with the encoded-send API of :class:`~channels_core.layer.BaseChannelLayer`
    (``encode``, ``send_encoded``, ``send_group_encoded``) encodes each message once, here, and
    sends those bytes at flush time; another layer gets a snapshot of the dict (through the
    codec, which also validates it).
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Callable[[str, Any], None], str, Any]] = []

    def __call__(self, layer: Any, method: str, name: str, content: dict[str, Any]) -> None:
        if isinstance(layer, EncodedSendingLayer):
            send_encoded = layer.send_encoded if method == "send" else layer.send_group_encoded
            self._pending.append((send_encoded, name, layer.encode(content)))
            return
        limit = getattr(layer, "message_size_limit", codec.DEFAULT_MESSAGE_SIZE_LIMIT)
        snapshot = codec.decode(codec.encode(content, limit))
        self._pending.append((getattr(layer, method), name, snapshot))

    def __len__(self) -> int:
        return len(self._pending)

    def discard(self) -> int:
        """Drop everything buffered; returns how many sends were dropped."""
        count = len(self._pending)
        self._pending.clear()
        return count

    def flush(self) -> None:
        """Send everything buffered (and empty it); failures are logged, never raised."""
        for send, name, message in self._pending:
            try:
                send(name, message)
            except ChannelFull:
                logger.warning("dropped a buffered send to %r: the channel is full", name)
            except Exception:
                logger.exception("a buffered send to %r failed", name)
        self._pending.clear()


@contextmanager
def buffered_sends() -> Iterator[SendBuffer]:
    """Buffer ``Channel.send``/``Group.send`` made in this context; flush them on exit.

    The buffer is flushed whether the block returns or raises, in send order. A send that
    fails while flushing (``ChannelFull``, a layer error) is logged and the rest still go out.
    Call :func:`discard_buffered_sends` inside the block to drop what was buffered instead.
    Nested blocks share the outermost buffer.
    """
    current = send_interceptor.get()
    if isinstance(current, SendBuffer):
        yield current
        return
    buffer = SendBuffer()
    token = send_interceptor.set(buffer)
    try:
        yield buffer
    finally:
        send_interceptor.reset(token)
        buffer.flush()


def discard_buffered_sends() -> int:
    """Drop every send buffered so far in the current :func:`buffered_sends` block."""
    current = send_interceptor.get()
    return current.discard() if isinstance(current, SendBuffer) else 0


def select_channels(
    channels: Iterable[str],
    only_channels: Iterable[str] | None = None,
    exclude_channels: Iterable[str] | None = None,
) -> list[str]:
    """``channels`` kept by the ``only`` globs (if any) and not matched by ``exclude`` globs."""
    only = list(only_channels or ())
    exclude = list(exclude_channels or ())
    return sorted(
        name
        for name in channels
        if (not only or any(fnmatch.fnmatchcase(name, glob) for glob in only))
        and not any(fnmatch.fnmatchcase(name, glob) for glob in exclude)
    )


def _name(consumer: Any) -> str:
    return getattr(consumer, "__qualname__", None) or repr(consumer)


class Worker:
    """Runs the consumers of ``channel_layer.router`` (a layer from ``channel_layers``).

    ``threads`` threads receive and consume concurrently (the layer must be thread-safe, which
    every layer of this project is). ``stats`` counts outcomes: consumed, parked, failed,
    retried, dropped, unrouted.
    """

    def __init__(
        self,
        channel_layer: RoutedLayer,
        only_channels: Iterable[str] | None = None,
        exclude_channels: Iterable[str] | None = None,
        threads: int = 1,
        max_retries: int = DEFAULT_MAX_RETRIES,
        signal_handlers: bool = True,
        on_message: Callable[[str, str], None] | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        router = getattr(channel_layer, "router", None)
        if router is None:
            raise ImproperlyConfigured(
                f"{channel_layer!r} has no router: pass a layer from channel_layers[alias] or a "
                "ChannelLayerWrapper(layer, alias, routing)"
            )
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ImproperlyConfigured(f"threads must be a positive int, got {threads!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ImproperlyConfigured(f"max_retries must be an int >= 0, got {max_retries!r}")
        self.channel_layer = channel_layer
        self.router = router
        self.threads = threads
        self.max_retries = max_retries
        self.signal_handlers = signal_handlers
        self.on_message = on_message
        #: Called by :meth:`run` once it handles signals, before the first receive.
        self.on_start = on_start
        self.channels = select_channels(router.channels, only_channels, exclude_channels)
        if not self.channels:
            raise ImproperlyConfigured(
                f"no channels to listen on: the routing handles {sorted(router.channels)}, "
                f"only={list(only_channels or ())}, exclude={list(exclude_channels or ())}"
            )
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._signals_seen = 0

    # -- running ------------------------------------------------------------------------------

    def run(self) -> None:
        """Receive and consume until :meth:`stop` (or a signal); returns when all threads end."""
        self._stopping.clear()
        restore = self._install_signal_handlers()
        if self.on_start is not None:
            self.on_start()
        logger.info(
            "worker listening on %s (%d thread%s)",
            ", ".join(self.channels),
            self.threads,
            "" if self.threads == 1 else "s",
        )
        try:
            if self.threads == 1:
                self._loop()
                return
            workers = [
                threading.Thread(target=self._loop, name=f"channels-worker-{n}", daemon=True)
                for n in range(self.threads)
            ]
            for thread in workers:
                thread.start()
            while any(thread.is_alive() for thread in workers):
                for thread in workers:
                    thread.join(0.2)  # short joins keep the main thread responsive to signals
        finally:
            restore()
            logger.info("worker stopped: %s", dict(self.stats))

    def stop(self) -> None:
        """Ask every thread to finish its current message and return."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _loop(self) -> None:
        receive = self.channel_layer.receive
        channels = self.channels
        stopping = self._stopping.is_set
        failures = 0
        while not stopping():
            try:
                channel, content = receive(channels, block=True)
            except LayerClosed:
                logger.warning("the channel layer was closed; worker thread exits")
                return
            except Exception:
                failures += 1
                logger.exception("receive failed (attempt %d); retrying", failures)
                self._stopping.wait(min(0.1 * 2**failures, 5.0))
                continue
            failures = 0
            if channel is not None and content is not None:
                self._handle_safely(channel, content)

    def _handle_safely(self, channel: str, content: dict[str, Any]) -> None:
        """:meth:`handle`, with any exception raised outside the consumer (routing, building
        the message, a bug) logged and the message counted as dropped: it never ends the
        worker thread."""
        try:
            self.handle(channel, content)
        except Exception:
            logger.exception(
                "handling a message on %r failed outside its consumer: dropped", channel
            )
            with self._stats_lock:
                self.stats[DROPPED] += 1

    # -- one message --------------------------------------------------------------------------

    def handle(self, channel: str, content: dict[str, Any]) -> str:
        """Run the consumer of one received message; return the outcome (see ``stats``)."""
        retries = content.get(RETRIES_KEY, 0)
        if not isinstance(retries, int) or isinstance(retries, bool):
            retries = 0
        message = Message(content, channel, self.channel_layer, retries, self.max_retries)
        match = self.router.match(message)
        if match is None:
            logger.warning(
                "no route for a message on %r (fields %s): dropped", channel, sorted(content)
            )
            return self._count(UNROUTED, channel)
        consumer, kwargs = match
        with buffered_sends():
            try:
                consumer(message, **kwargs)
            except ConsumeLater:
                discard_buffered_sends()
                return self._count(self._consume_later(message, consumer), channel)
            except ChannelSocketException as action:  # DenyConnection, WebsocketCloseException
                return self._count(self._run_socket_action(action, message, consumer), channel)
            except Exception:
                logger.exception("consumer %s failed on a message on %r", _name(consumer), channel)
                return self._count(FAILED, channel)
        return self._count(PARKED if message.parked else CONSUMED, channel)

    def _run_socket_action(
        self, action: ChannelSocketException, message: Message, consumer: Any
    ) -> str:
        try:
            action.run(message)
        except Exception:
            logger.exception(
                "consumer %s raised %s on a message on %r",
                _name(consumer),
                type(action).__name__,
                message.channel.name,
            )
            return FAILED
        return CONSUMED

    def _consume_later(self, message: Message, consumer: Any) -> str:
        channel = message.channel.name
        if message.retries >= self.max_retries:
            logger.warning(
                "consumer %s asked to consume a message on %r later %d times: dropped",
                _name(consumer),
                channel,
                message.retries + 1,
            )
            return DROPPED
        content = dict(message.content)
        content[RETRIES_KEY] = message.retries + 1
        try:
            self.channel_layer.send(channel, content)
        except ChannelFull:
            logger.warning("cannot re-queue a message on %r: the channel is full; dropped", channel)
            return DROPPED
        except Exception as error:  # MessageTooLarge (the retry count), LayerUnavailable, ...
            logger.error(
                "cannot re-queue a message on %r for consumer %s: %s: %s; dropped",
                channel,
                _name(consumer),
                type(error).__name__,
                error,
            )
            return DROPPED
        return RETRIED

    def _count(self, outcome: str, channel: str) -> str:
        with self._stats_lock:
            self.stats[outcome] += 1
        if self.on_message is not None:
            try:
                self.on_message(outcome, channel)
            except Exception:
                logger.exception("the on_message callback failed for a message on %r", channel)
        return outcome

    # -- signals ------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> Callable[[], None]:
        if not self.signal_handlers or threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, self._on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals_seen += 1
        if self._signals_seen > 1:
            raise SystemExit(128 + signum)
        logger.warning(
            "received %s: finishing the current message, then exiting (again to force)",
            signal.Signals(signum).name,
        )
        self.stop()


def run_worker(channel_layer: RoutedLayer, **options: Any) -> Worker:
    """Build a :class:`Worker` for ``channel_layer`` and run it until stopped; return it."""
    worker = Worker(channel_layer, **options)
    started = time.monotonic()
    worker.run()
    logger.debug("worker ran for %.1f s", time.monotonic() - started)
    return worker

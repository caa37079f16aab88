"""Running the suite on a Channels 4 layer: the async API of Channels 2+ behind the suite's calls.

A Channels 4 layer (``channels.layers.InMemoryChannelLayer``, ``channels_redis``,
``channels_rabbitmq``, ``channels_postgres``, or yours) has coroutine methods ``send(channel,
message)``, ``receive(channel)``, ``new_channel(prefix)``, ``group_add``, ``group_discard``,
``group_send`` and ``flush``. :func:`open_layer` recognises such a class (its ``send`` and
``receive`` are coroutine functions) and wraps it in :class:`Channels4Adapter`, which gives the
clauses the synchronous calls they make and runs the layer's coroutines on an event loop of its
own, in a thread (one per layer object, as each Channels process has its own loop):

* ``receive([name], block)`` awaits ``receive(name)`` for at most ``blocking_timeout`` (block) or
  ``conformance_empty_wait`` seconds (0.3; a "non-blocking" receive, which Channels 4 lacks), then
  cancels it and returns ``(None, None)``, as a Channels consumer that stops waiting would;
* ``new_channel("prefix!")`` calls ``new_channel("prefix")`` (or ``new_channel()`` when the layer
  takes no prefix); ``send_group`` calls ``group_send``;
* every call is bounded (:data:`CALL_TIMEOUT`): a layer that hangs fails the clause, never the run.

What the Channels 4 API cannot express (a receive over several channels, a ``!`` prefix receive, a
non-blocking receive, statistics, ``group_channels``, a constructor option such as ``capacity``
that the layer does not take) makes the clause "not applicable" (:data:`NOT_APPLICABLE`, or
:class:`~conformance.registry.NotApplicable` raised during the run). The rules that differ on
purpose between the two APIs follow :data:`conformance.readings.CHANNELS4`.

Constructor options: the suite's per-clause options are passed when the class's ``__init__``
names them; where it does not, a ``capacity``, ``expiry`` or ``group_expiry`` at or above the
contract's default only asks for room and is dropped, and ``prefix`` is dropped (the layer
object is then its own namespace, or the layer has none); ``blocking_timeout`` is the
adapter's. Options starting with ``conformance_`` are the adapter's: ``conformance_empty_wait``
(seconds), ``conformance_deviations`` (clause id or family -> reason, for a layer that cannot
declare its own, e.g. Channels' one-process in-memory layer), ``conformance_accepts`` (suite
options a constructor takes through ``**kwargs``) and ``conformance_api: "channels4"`` (for a
class whose methods are only found on its instances, such as
``channels_redis.pubsub.RedisPubSubChannelLayer``).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine, Iterable
from typing import Any

from .registry import NotApplicable

#: The suite's per-clause options that only make sense if the layer's constructor takes them.
SUITE_OPTIONS = ("capacity", "channel_capacity", "expiry", "group_expiry", "message_size_limit")
#: The contract's defaults: a clause asking for at least this much only wants room (no early
#: ChannelFull, no early lapse), which a layer without the option gives; the option is dropped.
ROOM = {"capacity": 100, "expiry": 60, "group_expiry": 86400}
#: How long a "non-blocking" receive waits before it concludes the channel is empty.
EMPTY_WAIT = 0.3
#: No single call on the layer may take longer than this (seconds).
CALL_TIMEOUT = 60.0

_ONE_CHANNEL = "receive() takes one channel in Channels 4: no receive over several channels"
_PREFIX = "receive() takes a full channel name in Channels 4: no `!` prefix receive"

#: Clauses (ids or families) the Channels 4 API cannot express, with why.
NOT_APPLICABLE: dict[str, str] = {
    "names.receive-forms": "receive() takes one full channel name in Channels 4: no list, "
    "no `!` prefix, no `?` names",
    "receive.non-blocking": "Channels 4 has no non-blocking receive: receive() waits until a "
    "message arrives",
    "receive.block-timeout": "Channels 4's receive() has no timeout: it waits until a message "
    "arrives or its caller cancels it",
    "receive.fair": _ONE_CHANNEL,
    "receive.any-listed-channel": _ONE_CHANNEL,
    "new-channel.patterns": "Channels 4's new_channel(prefix) takes a prefix, not a `?`/`!` "
    "pattern, and has no single-reader names",
    "process.full-name": _PREFIX,
    "process.hand-built-name": _PREFIX,
    "process.creator-only": _PREFIX,
    "groups.channels": "Channels 4 has no group_channels(): membership is only visible through "
    "delivery (the other group clauses check it that way)",
    "groups.eviction-on-expiry": "the Channels 4 spec lets a layer keep a member whose message "
    "expired (it 'may drop' it): there is no rule to check",
    "groups.fan-out-per-inbox": "Channels 4 lets a group send drop what is over a member's "
    "capacity; reaching 1,000 members of one inbox is this project's rule (SPEC §5)",
    "twisted": "receive_twisted() is the ASGI 1.0 Twisted extension, not part of Channels 4",
    "statistics": "global_statistics() and channel_statistics() are not part of the Channels 4 API",
    "async": "the Channels 4 API is coroutines throughout, so every clause already drives it on "
    "an event loop; receive_async(channels) over a list is the ASGI 1.0 extension",
}


def is_channels4_class(candidate: Any) -> bool:
    """Whether ``candidate`` is a class with the Channels 4 API (coroutine send and receive)."""
    return isinstance(candidate, type) and all(
        inspect.iscoroutinefunction(getattr(candidate, member, None))
        for member in ("send", "receive")
    )


def channels4_class(spec: str) -> type | None:
    """The Channels 4 layer class ``spec`` names (``package.module:Class``), else None."""
    if not isinstance(spec, str) or "://" in spec or (":" not in spec and "." not in spec):
        return None
    from channels_core.loading import import_object

    candidate = import_object(spec)
    return candidate if is_channels4_class(candidate) else None


def open_layer(spec: str, options: dict[str, Any]) -> Any:
    """The layer under test: :class:`Channels4Adapter` for a Channels 4 class (or when
    ``options`` say ``"conformance_api": "channels4"``), else ``load_layer(spec, **options)``."""
    if options.get("conformance_api") == "channels4":
        from channels_core.loading import import_object

        options = {key: value for key, value in options.items() if key != "conformance_api"}
        return Channels4Adapter(import_object(spec), options)
    layer_class = channels4_class(spec)
    if layer_class is not None:
        return Channels4Adapter(layer_class, options)
    from channels_core.loading import load_layer

    return load_layer(spec, **options)


def _named_parameters(function: Any) -> set[str]:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return set()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in kinds}


def _takes_an_argument(function: Any) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return any(p.kind in positional for p in parameters)


class _NoSuchError(Exception):
    """Stands for an exception class the wrapped layer does not have (never raised)."""


class _EventLoopThread:
    """An event loop running forever in a daemon thread; coroutines are submitted to it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], what: str) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(CALL_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise AssertionError(f"{what} did not return within {CALL_TIMEOUT:.0f} s") from None

    def stop(self) -> None:
        """Cancel what still runs on the loop (the layer's background tasks), then stop it."""

        async def cancel_the_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)

        if self.loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(cancel_the_rest(), self.loop).result(10)
            except Exception:  # stopping anyway
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


class Channels4Adapter:
    """The suite's synchronous view of a Channels 4 layer (see the module docstring)."""

    conformance_reading = "channels4"
    conformance_not_applicable = NOT_APPLICABLE

    def __init__(self, layer_class: type, options: dict[str, Any]) -> None:
        options = dict(options)
        self.blocking_timeout = float(options.pop("blocking_timeout", 5))
        self.empty_wait = float(options.pop("conformance_empty_wait", EMPTY_WAIT))
        self.deviations = dict(options.pop("conformance_deviations", {}))
        accepted = _named_parameters(layer_class)
        accepted |= set(options.pop("conformance_accepts", ()))
        #: The suite options the layer's constructor takes.
        self.takes = {key for key in SUITE_OPTIONS if key in accepted}
        for key, room in ROOM.items():
            if key not in accepted and isinstance(options.get(key), (int, float)):
                if options[key] >= room:
                    del options[key]
        missing = [key for key in SUITE_OPTIONS if key in options and key not in accepted]
        if missing:
            raise NotApplicable(
                f"{layer_class.__qualname__}() takes no {missing[0]!r} option, which this "
                "clause needs"
            )
        if "prefix" not in accepted:
            options.pop("prefix", None)
        self._thread = _EventLoopThread(f"channels4-{layer_class.__name__}")
        self._closed = False

        async def construct() -> tuple[Any, dict[str, Any]]:
            # In the loop: some layers need a running loop in __init__, or to read attributes.
            layer = layer_class(**options)
            facts = {
                name: getattr(layer, name, None)
                for name in (
                    "extensions",
                    "ChannelFull",
                    "MessageTooLarge",
                    "group_expiry",
                    "message_size_limit",
                )
            }
            facts["prefixed_new_channel"] = _takes_an_argument(layer.new_channel)
            return layer, facts

        try:
            layer, facts = self._thread.run(construct(), f"{layer_class.__name__}()")
        except BaseException:
            self._thread.stop()
            raise
        #: The Channels 4 layer object being tested.
        self.wrapped_layer: Any = layer
        self.extensions = list(facts["extensions"] or [])
        self.ChannelFull: type[Exception] = facts["ChannelFull"] or _channel_full()
        self.MessageTooLarge: type[Exception] = facts["MessageTooLarge"] or _NoSuchError
        self.group_expiry = facts["group_expiry"]
        self.message_size_limit = facts["message_size_limit"]
        self._prefixed_new_channel = bool(facts.pop("prefixed_new_channel"))
        #: The layer's own attributes (read on its loop; ``None`` where absent).
        self.wrapped_attributes = facts

    def __repr__(self) -> str:
        return f"<Channels4Adapter {type(self.wrapped_layer).__qualname__}>"

    def _run(self, coroutine: Coroutine[Any, Any, Any], what: str) -> Any:
        if self._closed:
            coroutine.close()
            raise RuntimeError(f"{self!r} is closed")
        return self._thread.run(coroutine, what)

    # -- the attributes clauses read ----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the calls ------------------------------------------------------------------------------

    def send(self, channel: str, message: Any) -> None:
        self._run(self.wrapped_layer.send(channel, message), f"send({channel!r})")

    def receive(self, channels: Iterable[str], block: bool = False) -> tuple[Any, Any]:
        names = [channels] if isinstance(channels, str) else list(channels)
        if len(names) != 1:
            raise NotApplicable(_ONE_CHANNEL)
        (name,) = names
        if isinstance(name, str) and name.endswith("!"):
            raise NotApplicable(_PREFIX)
        wait = self.blocking_timeout if block else self.empty_wait
        nothing = object()

        async def attempt() -> Any:
            try:
                return await asyncio.wait_for(self.wrapped_layer.receive(name), wait)
            except TimeoutError:
                return nothing

        message = self._run(attempt(), f"receive({name!r})")
        return (None, None) if message is nothing else (name, message)

    def new_channel(self, pattern: str) -> str:
        prefix = pattern[:-1] if isinstance(pattern, str) and pattern[-1:] in "?!" else pattern
        if self._prefixed_new_channel and prefix:
            coroutine = self.wrapped_layer.new_channel(prefix)
        else:
            coroutine = self.wrapped_layer.new_channel()
        return str(self._run(coroutine, f"new_channel({prefix!r})"))

    def group_add(self, group: str, channel: str) -> None:
        self._run(self.wrapped_layer.group_add(group, channel), f"group_add({group!r})")

    def group_discard(self, group: str, channel: str) -> None:
        self._run(self.wrapped_layer.group_discard(group, channel), f"group_discard({group!r})")

    def send_group(self, group: str, message: Any) -> None:
        self._run(self.wrapped_layer.group_send(group, message), f"group_send({group!r})")

    def flush(self) -> None:
        self._run(self.wrapped_layer.flush(), "flush()")

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the layer (its ``close()`` or ``close_pools()``, if any) and stop the loop."""
        if self._closed:
            return
        layer = self.wrapped_layer

        async def close_layer() -> None:
            for name in ("close", "close_pools"):
                method = getattr(layer, name, None)
                if callable(method):
                    result = method()
                    if inspect.isawaitable(result):
                        await result
                    return

        try:
            self._thread.run(close_layer(), "close()")
        finally:
            self._closed = True
            self._thread.stop()

    def __enter__(self) -> Channels4Adapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _channel_full() -> type[Exception]:
    try:
        from channels.exceptions import ChannelFull
    except ImportError:  # a Channels 4 layer without Channels installed
        return _NoSuchError
    return ChannelFull

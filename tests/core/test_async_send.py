"""The coroutine API of every layer (``send_async``, ``send_group_async``, ``group_add_async``,
``group_discard_async``, ``new_channel_async``): the same checks and errors as the synchronous
methods, the same effect, and the event loop keeps running while they wait on a server.

Every registered backend takes part, each on its real server (its ``<name>_url`` fixture).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from channels_core import load_layer
from channels_core.exceptions import ChannelFull, LayerClosed
from channels_core.layer import BaseChannelLayer
from channels_core.registry import registry
from tests.factories import layer_factory

Factory = Callable[..., BaseChannelLayer]
BACKENDS = [backend.name for backend in registry()]
NETWORK_BACKENDS = [backend.name for backend in registry() if backend.url is not None]
#: Backends whose send_async needs no worker thread: it speaks to the server from the event
#: loop, or (Kafka) awaits the client's own I/O thread through a future.
NATIVE_ASYNC = {
    "redis": "redis://127.0.0.1:{port}/0",
    "postgres": "postgresql://x@127.0.0.1:{port}/x",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:{port}/%2F",
    "kafka": "kafka://127.0.0.1:{port}",
}

pytestmark = pytest.mark.timeout(120)


def _url(request: pytest.FixtureRequest, name: str) -> str:
    backend = registry().get(name)
    assert backend is not None
    if backend.url is None:
        return backend.spec
    return str(request.getfixturevalue(f"{name}_url"))


@pytest.fixture
def make(request: pytest.FixtureRequest, unique_prefix: str) -> Iterator[Factory]:
    url = _url(request, request.param)

    def build(**options: Any) -> BaseChannelLayer:
        return load_layer(url, **options)

    with layer_factory(build, unique_prefix) as factory:
        yield factory


Outcome = tuple[type[BaseException], str] | None


def _outcome(call: Callable[..., object], *args: Any) -> Outcome:
    """The type and text of the error ``call(*args)`` raises, None if it raises none."""
    try:
        call(*args)
    except Exception as error:
        return type(error), str(error)
    return None


def _async_outcome(call: Callable[..., Coroutine[Any, Any, object]], *args: Any) -> Outcome:
    """:func:`_outcome` of a coroutine function, run on an event loop of its own."""
    return _outcome(lambda: asyncio.run(call(*args)))


TOO_LONG = "c" * 101
BAD_CALLS: list[tuple[str, str, tuple[Any, ...]]] = [
    ("send", "empty name", ("", {"a": 1})),
    ("send", "space in name", ("a b", {"a": 1})),
    ("send", "name too long", (TOO_LONG, {"a": 1})),
    ("send", "name not a str", (7, {"a": 1})),
    ("send", "'!' with nothing after it", ("inbox!", {"a": 1})),
    ("send", "message not a dict", ("c", ["a"])),
    ("send", "key not a str", ("c", {1: "a"})),
    ("send", "value of no ASGI type", ("c", {"a": object()})),
    ("send", "message too large", ("c", {"a": "x" * 2000})),
    ("send_group", "bad group name", ("g g", {"a": 1})),
    ("send_group", "message too large", ("g", {"a": "x" * 2000})),
    ("group_add", "bad group name", ("", "c")),
    ("group_add", "bad channel name", ("g", "c c")),
    ("group_discard", "bad channel name", ("g", TOO_LONG)),
    ("new_channel", "pattern without '?' or '!'", ("plain",)),
]


@pytest.mark.parametrize("make", BACKENDS, indirect=True)
def test_async_calls_raise_what_the_sync_calls_raise(make: Factory) -> None:
    layer = make(message_size_limit=1000)
    for method, case, args in BAD_CALLS:
        sync = _outcome(getattr(layer, method), *args)
        as_coroutine = _async_outcome(getattr(layer, f"{method}_async"), *args)
        assert sync is not None, f"{method} accepted {case}"
        assert as_coroutine == sync, f"{method}_async on {case}"


@pytest.mark.parametrize("make", BACKENDS, indirect=True)
def test_async_send_is_refused_at_capacity_like_send(make: Factory) -> None:
    layer = make(capacity=2)
    layer.send("full", {"n": 1})
    asyncio.run(layer.send_async("full", {"n": 2}))
    sync = _outcome(layer.send, "full", {"n": 3})
    assert sync is not None and issubclass(sync[0], ChannelFull)
    assert _async_outcome(layer.send_async, "full", {"n": 3}) == sync
    assert [layer.receive(["full"])[1] for _ in range(2)] == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize("make", BACKENDS, indirect=True)
def test_a_closed_layer_refuses_async_calls(make: Factory) -> None:
    layer = make()
    layer.close()
    for method, args in [
        ("send_async", ("c", {"a": 1})),
        ("send_group_async", ("g", {"a": 1})),
        ("group_add_async", ("g", "c")),
        ("new_channel_async", ("reply?",)),
        ("flush_async", ()),
    ]:
        outcome = _async_outcome(getattr(layer, method), *args)
        assert outcome is not None and outcome[0] is LayerClosed, method


@pytest.mark.parametrize("make", BACKENDS, indirect=True)
def test_async_calls_do_what_the_sync_calls_do(make: Factory) -> None:
    layer = make()

    async def scenario() -> str:
        reply = await layer.new_channel_async("reply!")
        await layer.send_async("plain", {"n": 1})
        await layer.group_add_async("room", reply)
        await layer.group_add_async("room", "plain")
        await layer.send_group_async("room", {"n": 2})
        await layer.group_discard_async("room", "plain")
        await layer.send_group_async("room", {"n": 3})
        return reply

    reply = asyncio.run(scenario())
    assert reply.startswith("reply.") and "!" in reply
    assert layer.group_channels("room") == [reply]
    assert [layer.receive(["plain"], block=True)[1] for _ in range(2)] == [{"n": 1}, {"n": 2}]
    inbox = reply[: reply.index("!") + 1]
    assert [layer.receive([inbox], block=True) for _ in range(2)] == [
        (reply, {"n": 2}),
        (reply, {"n": 3}),
    ]
    asyncio.run(layer.flush_async())
    assert layer.receive(["plain"]) == (None, None)


@pytest.mark.parametrize("make", NETWORK_BACKENDS, indirect=True)
def test_async_sends_to_a_server_let_the_event_loop_run(make: Factory) -> None:
    """While a send waits for the server, the loop runs its other tasks."""
    layer = make()
    layer.send("warm", {"n": 0})  # connected, schema ready

    async def scenario() -> int:
        turns = 0

        async def ticker() -> None:
            nonlocal turns
            while True:
                await asyncio.sleep(0)
                turns += 1

        task = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        start = turns
        for n in range(10):
            await layer.send_async("ticks", {"n": n})
        task.cancel()
        return turns - start

    assert asyncio.run(scenario()) >= 10


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose server accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.mark.parametrize("engine", sorted(NATIVE_ASYNC))
def test_a_native_async_send_never_blocks_the_loop_on_a_silent_server(
    engine: str, silent_server: int
) -> None:
    layer = load_layer(NATIVE_ASYNC[engine].format(port=silent_server), prefix="silent")

    async def scenario() -> float:
        send = asyncio.ensure_future(layer.send_async("c", {"n": 1}))
        started = time.monotonic()
        await asyncio.sleep(0.2)
        late = time.monotonic() - started - 0.2
        assert not send.done()
        send.cancel()
        await asyncio.gather(send, return_exceptions=True)
        return late

    try:
        assert asyncio.run(scenario()) < 0.5
    finally:
        layer.close()

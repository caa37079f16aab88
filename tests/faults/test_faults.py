"""Every network backend through a TCP proxy that misbehaves: sends and receives during each
fault never duplicate, never lose what the layer did not report, raise only typed errors that
name the host and port, and the same layer objects carry on by themselves afterwards."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from channels_core.exceptions import ChannelFull, LayerUnavailable, OutcomeUnknown
from channels_core.layer import BaseChannelLayer
from tests.faults.backends import NetworkBackend, network_backends
from tests.faults.proxy import FaultProxy, fault_proxy

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(120)]

BACKENDS = network_backends()


@pytest.fixture(params=BACKENDS, ids=[backend.name for backend in BACKENDS])
def backend(request: pytest.FixtureRequest) -> NetworkBackend:
    chosen: NetworkBackend = request.param
    chosen.require()
    return chosen


@pytest.fixture
def proxy(backend: NetworkBackend) -> Iterator[FaultProxy]:
    with fault_proxy(backend.port, backend.host) as running, backend.serving(running.port):
        yield running


@dataclass
class Traffic:
    """What one producer and one consumer saw while a fault came and went."""

    sent: set[int] = field(default_factory=set)  # send returned
    unknown: set[int] = field(default_factory=set)  # OutcomeUnknown
    refused: set[int] = field(default_factory=set)  # LayerUnavailable: not stored
    received: list[int] = field(default_factory=list)
    receive_unknown: int = 0
    errors: list[BaseException] = field(default_factory=list)


def _run_traffic(
    producer: BaseChannelLayer,
    consumer: BaseChannelLayer,
    channel: str,
    fault: Callable[[], None],
    heal: Callable[[], None],
    fault_seconds: float,
) -> Traffic:
    traffic = Traffic()
    stop = threading.Event()

    def produce() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            try:
                producer.send(channel, {"n": number})
                traffic.sent.add(number)
            except OutcomeUnknown as error:
                traffic.unknown.add(number)
                traffic.errors.append(error)
            except ChannelFull:
                pass
            except LayerUnavailable as error:
                traffic.refused.add(number)
                traffic.errors.append(error)
                time.sleep(0.05)
            except Exception as error:  # any other type fails _check
                traffic.errors.append(error)
            time.sleep(0.005)

    def consume() -> None:
        while not stop.is_set():
            try:
                got, message = consumer.receive([channel], block=True)
            except OutcomeUnknown as error:
                traffic.receive_unknown += 1
                traffic.errors.append(error)
                continue
            except LayerUnavailable as error:
                traffic.errors.append(error)
                time.sleep(0.05)
                continue
            except Exception as error:
                traffic.errors.append(error)
                continue
            if got is not None:
                traffic.received.append(message["n"])

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        fault()
        time.sleep(fault_seconds)
        heal()
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    # what is still stored is received now, by the same objects (they recovered)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            got, message = consumer.receive([channel], block=True)
        except LayerUnavailable:
            continue
        if got is None:
            break
        traffic.received.append(message["n"])
    return traffic


def _check(traffic: Traffic, proxy: FaultProxy, *, errors_expected: bool) -> None:
    where = f"127.0.0.1:{proxy.port}"
    received = traffic.received
    kinds = sorted({type(error).__name__ for error in traffic.errors})
    print(  # the figures of the closing note (pytest -s)
        f"sent {len(traffic.sent)}, unknown {len(traffic.unknown)}, refused "
        f"{len(traffic.refused)}, received {len(received)} ({len(set(received))} distinct), "
        f"lost {len(traffic.sent - set(received))}, receive-unknown {traffic.receive_unknown}, "
        f"errors {len(traffic.errors)} {kinds}, proxy connections {proxy.connections}"
    )
    assert len(received) == len(set(received)), "a message was delivered twice"
    assert not set(received) & traffic.refused, "a send reported as failed was delivered"
    assert set(received) <= traffic.sent | traffic.unknown
    lost = traffic.sent - set(received)
    # each receive of a plain channel takes at most one message: only a receive that said
    # its outcome is unknown may have lost one
    assert len(lost) <= traffic.receive_unknown, f"lost without a report: {sorted(lost)[:20]}"
    for error in traffic.errors:
        assert isinstance(error, LayerUnavailable), f"untyped error: {error!r}"
        assert where in str(error), f"error does not name {where}: {error}"
    if not errors_expected:
        assert not traffic.errors, traffic.errors[:3]
    assert len(traffic.sent) > 20


def _layers(
    backend: NetworkBackend, proxy: FaultProxy
) -> tuple[BaseChannelLayer, BaseChannelLayer, str]:
    prefix = f"faults-{uuid.uuid4().hex[:10]}"
    url = backend.url_via(proxy.port)
    options = {"prefix": prefix, "blocking_timeout": 0.5, "capacity": 100_000}
    producer = backend.layer(url, **options)
    consumer = backend.layer(url, **options)
    return producer, consumer, f"faults.{uuid.uuid4().hex[:8]}"


def _after(producer: BaseChannelLayer, consumer: BaseChannelLayer, channel: str) -> None:
    """The same objects work again once the fault is gone (within a few seconds)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            producer.send(channel, {"n": -1})
            break
        except LayerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    got = None
    while got is None and time.monotonic() < deadline:
        try:
            got, message = consumer.receive([channel], block=True)
        except LayerUnavailable:
            continue
    assert got == channel and message == {"n": -1}
    for layer in (producer, consumer):
        layer.flush()
        layer.close()


def test_latency(backend: NetworkBackend, proxy: FaultProxy) -> None:
    producer, consumer, channel = _layers(backend, proxy)
    traffic = _run_traffic(
        producer, consumer, channel, lambda: proxy.add_latency(0.05), proxy.heal, 2.0
    )
    _check(traffic, proxy, errors_expected=False)
    assert not traffic.sent - set(traffic.received)
    _after(producer, consumer, channel)


def test_stalled_connections(backend: NetworkBackend, proxy: FaultProxy) -> None:
    producer, consumer, channel = _layers(backend, proxy)
    traffic = _run_traffic(producer, consumer, channel, proxy.stall, proxy.heal, 4.0)
    _check(traffic, proxy, errors_expected=True)
    assert traffic.errors, "a 4 s stall went unnoticed"
    _after(producer, consumer, channel)


def test_connections_cut(backend: NetworkBackend, proxy: FaultProxy) -> None:
    producer, consumer, channel = _layers(backend, proxy)

    def cut_repeatedly() -> None:
        proxy.cut()
        threading.Timer(0.5, proxy.cut).start()
        threading.Timer(1.0, proxy.cut).start()

    traffic = _run_traffic(producer, consumer, channel, cut_repeatedly, proxy.heal, 1.5)
    _check(traffic, proxy, errors_expected=True)
    _after(producer, consumer, channel)


def test_cut_after_the_server_applied_a_command(backend: NetworkBackend, proxy: FaultProxy) -> None:
    producer, consumer, channel = _layers(backend, proxy)

    def cut_mid_command() -> None:
        for delay in (0.0, 0.4, 0.8, 1.2):
            threading.Timer(delay, proxy.cut_next_request).start()

    traffic = _run_traffic(producer, consumer, channel, cut_mid_command, proxy.heal, 1.6)
    _check(traffic, proxy, errors_expected=True)
    assert traffic.errors and any(isinstance(e, OutcomeUnknown) for e in traffic.errors)
    _after(producer, consumer, channel)


def test_new_connections_refused(backend: NetworkBackend, proxy: FaultProxy) -> None:
    producer, consumer, channel = _layers(backend, proxy)

    def refuse_and_cut() -> None:
        proxy.refuse()
        proxy.cut()

    traffic = _run_traffic(producer, consumer, channel, refuse_and_cut, proxy.heal, 2.0)
    _check(traffic, proxy, errors_expected=True)
    assert any(not isinstance(e, OutcomeUnknown) for e in traffic.errors), traffic.errors[:3]
    _after(producer, consumer, channel)


@pytest.mark.parametrize("api", ["sync", "async"])
def test_receive_stalled_then_cut(backend: NetworkBackend, proxy: FaultProxy, api: str) -> None:
    """A receive while the network is silent, then the connection is reset: whatever it
    handed out is never delivered again (an acknowledgement that never reached the server
    must not let the server give the message to the next receive), and whatever it took
    without handing out is lost only if that receive said its outcome is unknown."""
    producer, consumer, channel = _layers(backend, proxy)
    loop = asyncio.new_event_loop()

    def receive() -> tuple[str | None, Any]:
        if api == "sync":
            return consumer.receive([channel], block=True)
        return loop.run_until_complete(consumer.receive_async([channel]))

    sent = set(range(1, 6))
    for number in sorted(sent):
        producer.send(channel, {"n": number})
    received: list[int] = []
    unknown = 0
    got, message = receive()
    assert got == channel
    received.append(message["n"])
    time.sleep(0.3)  # the rest reaches the consumer's side, where it can
    proxy.stall()
    try:
        got, message = receive()
        if got is not None:
            received.append(message["n"])
    except OutcomeUnknown:
        unknown += 1
    except LayerUnavailable:
        pass
    time.sleep(0.2)
    proxy.cut()
    proxy.heal()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            got, message = receive()
        except OutcomeUnknown:
            unknown += 1
            continue
        except LayerUnavailable:
            continue
        if got is None:
            break
        received.append(message["n"])
    loop.close()
    assert len(received) == len(set(received)), f"delivered twice: {received}"
    assert len(sent - set(received)) <= unknown, (received, unknown)
    _after(producer, consumer, channel)

"""A TCP proxy on 127.0.0.1 whose faults the tests switch on and off.

:class:`FaultProxy` forwards every connection it accepts to an upstream server, on its own
thread and event loop. While it runs, a test can:

* :meth:`~FaultProxy.add_latency`: delay every chunk, both ways;
* :meth:`~FaultProxy.stall`: hold every chunk, both ways, until :meth:`~FaultProxy.resume`
  (connections stay open: the peers see a silent network);
* :meth:`~FaultProxy.cut`: reset every open connection now;
* :meth:`~FaultProxy.cut_next_request`: forward the next chunk a client sends, give the
  server a moment to act on it, then reset that connection before any reply goes back (a
  command the server applied but whose reply the client never gets);
* :meth:`~FaultProxy.refuse`: stop listening (new connections are refused) until
  :meth:`~FaultProxy.accept`.

It is the project's own (no packaged proxy needed in CI) and backend-neutral: any test that
reaches a server through a ``host:port`` can put it in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

from tests.servers import free_port


class FaultProxy:
    """A controllable TCP proxy to ``upstream_host:upstream_port``; ``port`` is where it listens."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.connections = 0  # accepted so far
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._latency = 0.0
        self._flowing: asyncio.Event | None = None
        self._cut_next = False
        self._muted: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    # -- control (from any thread) --------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._run(self._setup())
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._run(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def add_latency(self, seconds: float) -> None:
        self._latency = seconds

    def stall(self) -> None:
        self._loop.call_soon_threadsafe(self._event().clear)

    def resume(self) -> None:
        self._loop.call_soon_threadsafe(self._event().set)

    def cut(self) -> None:
        self._run(self._cut_all())

    def cut_next_request(self) -> None:
        self._cut_next = True

    def refuse(self) -> None:
        self._run(self._stop_listening())

    def accept(self) -> None:
        self._run(self._listen())

    def heal(self) -> None:
        """Every fault off: no latency, flowing, listening."""
        self._latency = 0.0
        self._cut_next = False
        self.resume()
        self.accept()

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    # -- the event loop's side ------------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def _event(self) -> asyncio.Event:
        assert self._flowing is not None
        return self._flowing

    async def _setup(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, self.host, self.port, reuse_address=True
            )

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _shutdown(self) -> None:
        await self._stop_listening()
        await self._cut_all()

    async def _cut_all(self) -> None:
        for pair in list(self._pairs):
            self._abort(pair)

    def _abort(self, pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        self._pairs.discard(pair)
        self._muted.discard(pair)
        for writer in pair:
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, upstream_writer)
        self._pairs.add(pair)
        await asyncio.gather(
            self._pump(reader, upstream_writer, pair, request=True),
            self._pump(upstream_reader, writer, pair, request=False),
            return_exceptions=True,
        )
        self._abort(pair)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        target: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        request: bool,
    ) -> None:
        flowing = self._event()
        while pair in self._pairs:
            data = await source.read(65536)
            if not data:
                break
            await flowing.wait()
            if self._latency:
                await asyncio.sleep(self._latency)
            if pair not in self._pairs:
                break
            cutting = request and self._cut_next
            if cutting:
                self._cut_next = False
                self._muted.add(pair)  # the reply to this must not pass
            elif pair in self._muted:
                continue
            target.write(data)
            await target.drain()
            if cutting:
                await asyncio.sleep(0.2)  # the server acts on it
                self._abort(pair)
                break
        self._abort(pair)


@contextlib.contextmanager
def fault_proxy(upstream_port: int, upstream_host: str = "127.0.0.1") -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_port, upstream_host).start()
    try:
        yield proxy
    finally:
        proxy.close()

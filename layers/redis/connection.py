"""Where the Redis layer's servers are and how it talks to them: shards, Sentinel, TLS, errors.

* :func:`parse_shards` turns the layer's ``url``/``hosts``/``sentinels`` options into a list of
  :class:`ShardConfig` (one per server or Sentinel-managed master).
* :class:`Shard` holds the synchronous client of one shard, one lean connection per thread
  and, per event loop, a few lean async connections; it runs commands and cached scripts on
  them (EVALSHA, reloading them after a server restart answers NOSCRIPT) and turns connection
  failures into ``LayerUnavailable`` naming the host and port.
* :class:`HashRing` maps a queue name to its shard by consistent hashing, so adding a shard
  moves only about ``1/n`` of the channels.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from channels_core.exceptions import ImproperlyConfigured, LayerUnavailable, OutcomeUnknown
from channels_core.retry import outcome_unknown, unavailable
from channels_core.urls import redact

from . import adapter
from .adapter import CONNECTION_ERRORS

DEFAULT_URL = "redis://127.0.0.1:6379/0"
SENTINEL_SCHEME = "redis+sentinel"
_SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)


def _pack(args: tuple[Any, ...]) -> list[bytes]:
    """RESP encoding of a command; large arguments are sent as their own buffers (no copy)."""
    parts = [b"*%d\r\n" % len(args)]
    small: list[bytes] = []
    for arg in args:
        if arg.__class__ is not bytes:
            arg = arg.encode() if isinstance(arg, str) else str(arg).encode()
        if len(arg) < 16384:
            small.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
        else:
            parts.append(b"".join(small))
            small = []
            parts.append(b"$%d\r\n" % len(arg))
            parts.append(arg)
            small.append(b"\r\n")
    parts.append(b"".join(small))
    return [b"".join(parts)] if len(parts) == 2 else parts


@dataclass
class ShardConfig:
    """How to reach one shard: a URL for redis-py, or Sentinel addresses and a service name."""

    url: str | None = None
    sentinels: list[tuple[str, int]] = field(default_factory=list)
    service_name: str | None = None
    sentinel_kwargs: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> tuple[str, int | None]:
        """(host, port) for error messages (the Sentinel service for Sentinel shards)."""
        if self.sentinels:
            hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
            return f"sentinel service {self.service_name!r} via {hosts}", None
        parts = urlsplit(self.url or DEFAULT_URL)
        if parts.scheme == "unix":
            return parts.path, None
        return parts.hostname or "127.0.0.1", parts.port or 6379

    def describe(self) -> str:
        host, port = self.where
        return f"{host}:{port}" if port is not None else host

    def identity(self) -> str:
        """What the hash ring hashes for this shard: stable, unique per server and database."""
        if self.sentinels:
            return f"sentinel:{self.service_name}:{self.kwargs.get('db', 0)}"
        parts = urlsplit(self.url or DEFAULT_URL)
        host = parts.netloc.rpartition("@")[2]
        return f"{host}{parts.path or '/0'}"


def _host_port(item: object, default_port: int, what: str) -> tuple[str, int]:
    if isinstance(item, str):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", str(default_port))
        item = (host, port)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        try:
            return str(item[0]), int(item[1])
        except (TypeError, ValueError):
            pass
    raise ImproperlyConfigured(f"{what}: expected 'host:port' or (host, port), got {item!r}")


def _split_hosts(netloc_hosts: str, default_port: int) -> list[tuple[str, int]]:
    return [_host_port(part, default_port, "host") for part in netloc_hosts.split(",") if part]


def _parse_sentinel_url(url: str, options: dict[str, Any]) -> ShardConfig:
    """``redis+sentinel://[user:password@]h1:26379,h2:26379/service_name[/db]``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, _, hosts = netloc.rpartition("@")
    sentinels = _split_hosts(hosts, 26379)
    if not sentinels:
        raise ImproperlyConfigured(f"no Sentinel host in {redact(url)!r}")
    path = [p for p in parts.path.split("/") if p]
    service = options.pop("service_name", None) or (path[0] if path else None)
    if not service:
        raise ImproperlyConfigured(
            f"{redact(url)!r} names no Sentinel service: use "
            "redis+sentinel://host:26379/<service_name>[/db]"
        )
    kwargs: dict[str, Any] = {}
    if len(path) > 1:
        try:
            kwargs["db"] = int(path[1])
        except ValueError:
            raise ImproperlyConfigured(
                f"database {path[1]!r} in {redact(url)!r} is not an int"
            ) from None
    if userinfo:
        user, _, password = userinfo.partition(":")
        if user:
            kwargs["username"] = unquote(user)
        if password:
            kwargs["password"] = unquote(password)
    sentinel_kwargs = dict(options.pop("sentinel_kwargs", None) or {})
    for query in parts.query.split("&"):
        key, _, value = query.partition("=")
        if key == "sentinel_password":
            sentinel_kwargs["password"] = unquote(value)
        elif key == "ssl" and value.lower() in ("1", "true", "yes"):
            kwargs["ssl"] = True
    return ShardConfig(
        sentinels=sentinels,
        service_name=service,
        sentinel_kwargs=sentinel_kwargs,
        kwargs=kwargs,
    )


def _url_shards(url: str) -> list[str]:
    """Split ``redis://a:6379,b:6380/0`` into one URL per host (client-side sharding)."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return [url]
    return [
        parts._replace(netloc=f"{userinfo}{at}{host}").geturl() for host in hosts.split(",") if host
    ]


def parse_shards(
    url: str | None,
    hosts: Sequence[object] | None,
    sentinels: Sequence[object] | None,
    service_name: str | None,
    sentinel_kwargs: Mapping[str, Any] | None,
) -> list[ShardConfig]:
    """The shards a layer's options describe (validated; ImproperlyConfigured names the fault)."""
    shards: list[ShardConfig] = []
    if url is not None:
        if not isinstance(url, str):
            raise ImproperlyConfigured(f"url must be a str, got {type(url).__name__}")
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in _SCHEMES:
            raise ImproperlyConfigured(
                f"{redact(url)!r} is not a Redis URL: expected one of "
                f"{', '.join(s + '://' for s in _SCHEMES)}"
            )
        if scheme == SENTINEL_SCHEME:
            shards.append(
                _parse_sentinel_url(
                    url, {"service_name": service_name, "sentinel_kwargs": sentinel_kwargs}
                )
            )
        else:
            shards.extend(ShardConfig(url=part) for part in _url_shards(url))
    for index, host in enumerate(hosts or ()):
        if isinstance(host, str) and "://" in host:
            shards.extend(parse_shards(host, None, None, service_name, sentinel_kwargs))
        elif isinstance(host, Mapping):
            options = dict(host)
            address = options.pop("address", None)
            if isinstance(address, str) and "://" in address:
                shards.append(ShardConfig(url=address, kwargs=options))
            elif address is not None:
                h, p = _host_port(address, 6379, f"hosts[{index}]['address']")
                shards.append(ShardConfig(url=f"redis://{h}:{p}/0", kwargs=options))
            else:
                shards.append(ShardConfig(url=DEFAULT_URL, kwargs=options))
        else:
            h, p = _host_port(host, 6379, f"hosts[{index}]")
            shards.append(ShardConfig(url=f"redis://{h}:{p}/0"))
    if sentinels:
        if not service_name:
            raise ImproperlyConfigured("the sentinels option needs service_name (the master)")
        addresses = [_host_port(s, 26379, "sentinels entry") for s in sentinels]
        shards.append(
            ShardConfig(
                sentinels=addresses,
                service_name=service_name,
                sentinel_kwargs=dict(sentinel_kwargs or {}),
            )
        )
    if not shards:
        shards.append(ShardConfig(url=DEFAULT_URL))
    return shards


class HashRing:
    """Consistent hashing of names onto ``n`` shards (160 points per shard, SHA-1)."""

    POINTS = 160

    def __init__(self, keys: Sequence[str]) -> None:
        ring = sorted(
            (self._hash(f"{key}#{point}"), index)
            for index, key in enumerate(keys)
            for point in range(self.POINTS)
        )
        self._hashes = [h for h, _ in ring]
        self._owners = [index for _, index in ring]
        self._cache: dict[str, int] = {}

    @staticmethod
    def _hash(text: str) -> int:
        return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")

    def __call__(self, name: str) -> int:
        try:
            return self._cache[name]
        except KeyError:
            pass
        position = bisect.bisect(self._hashes, self._hash(name)) % len(self._hashes)
        if len(self._cache) >= 65536:
            self._cache.clear()
        owner = self._cache[name] = self._owners[position]
        return owner


class Shard:
    """One Redis server (or Sentinel-managed master): clients and script execution."""

    def __init__(self, config: ShardConfig, scripts: Mapping[str, str], **options: Any) -> None:
        self.config = config
        self.host, self.port = config.where
        self._options = {**options, **config.kwargs, "retry": Retry(NoBackoff(), 0)}
        if (config.url or "").startswith("unix:"):
            self._options.pop("socket_keepalive", None)  # TCP only
        self._sources = {name: source.encode() for name, source in scripts.items()}
        self.shas = {
            name: hashlib.sha1(source).hexdigest() for name, source in self._sources.items()
        }
        self._sha_bytes = {name: sha.encode() for name, sha in self.shas.items()}
        self._names = {sha: name for name, sha in self._sha_bytes.items()}
        self._sentinel: Any = None
        self.client: redis.Redis = self._make_sync()
        self._local = threading.local()
        self.closed = False
        # every live thread's connection, for close(); a thread's connection goes away with it
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._connections_lock = threading.Lock()
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncLane] = (
            weakref.WeakKeyDictionary()
        )
        self._recent_lane: _AsyncLane | None = None

    # -- clients --------------------------------------------------------------------------------

    def _make_sync(self) -> redis.Redis:
        config = self.config
        try:
            if config.sentinels:
                from redis.sentinel import Sentinel

                self._sentinel = Sentinel(
                    config.sentinels, sentinel_kwargs=self._sentinel_kwargs(), **self._options
                )
                client: redis.Redis = self._sentinel.master_for(str(config.service_name))
                return client
            return redis.Redis.from_url(config.url or DEFAULT_URL, **self._options)
        except (TypeError, ValueError) as error:
            raise ImproperlyConfigured(
                f"bad Redis connection options for {config.describe()}: {error}"
            ) from None

    def _sentinel_kwargs(self) -> dict[str, Any]:
        timeouts: dict[str, Any] = {
            key: self._options[key]
            for key in ("socket_timeout", "socket_connect_timeout")
            if key in self._options
        }
        return {**timeouts, **self.config.sentinel_kwargs}

    def _lane(self) -> _AsyncLane:
        """The running event loop's lean connections (made on first use, one lane per loop;
        the last one used is found without a lookup)."""
        loop = asyncio.get_running_loop()
        lane = self._recent_lane
        if lane is not None and lane.loop() is loop:
            return lane
        lane = self._async.get(loop)
        if lane is None:
            # forget lanes of closed loops (their connections are bound to their loop and
            # cannot be used or closed from another one)
            for dead in [other for other in self._async if other.is_closed()]:
                stale = self._async.pop(dead, None)
                if stale is not None:
                    stale.close()
            config = self.config
            if config.sentinels:
                from redis.asyncio.sentinel import Sentinel as AsyncSentinel

                sentinel = AsyncSentinel(
                    config.sentinels, sentinel_kwargs=self._sentinel_kwargs(), **self._options
                )
                client = sentinel.master_for(str(config.service_name))
            else:
                client = redis.asyncio.Redis.from_url(config.url or DEFAULT_URL, **self._options)
            lane = self._async[loop] = _AsyncLane(client, loop)
        self._recent_lane = lane
        return lane

    # -- running commands -----------------------------------------------------------------------

    def error(self, error: BaseException) -> LayerUnavailable:
        return unavailable("Redis", self.host, self.port, error)

    def _connection(self) -> Any:
        """This thread's own connection (made on first use; a forked child makes its own)."""
        local = self._local
        conn = getattr(local, "conn", None)
        pid = os.getpid()
        if conn is None or local.pid != pid:
            conn = adapter.new_connection(self.client)
            local.conn, local.pid = conn, pid
            with self._connections_lock:
                self._connections.add(conn)
        return conn

    def unknown(self, error: BaseException, args: Sequence[Any]) -> OutcomeUnknown:
        """The error of a call (``args``) that was sent whole but whose reply never came."""
        script = self._names.get(args[1]) if args[0] == b"EVALSHA" and len(args) > 1 else None
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        what = f"the {script!r} script" if script else name
        return outcome_unknown("Redis", self.host, self.port, error, what)

    def execute(self, *args: Any) -> Any:
        """One command on this thread's connection: the lean path of the hot operations.

        Each thread keeps one connection (:mod:`.adapter` speaks RESP on it). A connection
        the server closed (a restart) is noticed before sending and reopened. A failure
        before the command was sent whole raises :class:`LayerUnavailable` (nothing was
        applied); one after it raises :class:`OutcomeUnknown`. Neither is retried (a send
        could be stored twice); the next call reconnects.
        """
        conn = self._connection()
        sent = False
        try:
            adapter.ready(conn)
            adapter.send(conn, _pack(args))
            sent = True
            return adapter.read(conn)
        except adapter.ResponseError:
            raise  # the reply was read whole: the connection is fine
        except BaseException as error:
            failure = self._failed(conn, error, args if sent else None)
            if failure is error:
                raise
            raise failure from error

    def _failed(self, conn: Any, error: BaseException, sent: Sequence[Any] | None) -> BaseException:
        """The error to raise for a call that failed on ``conn`` (``sent``: the command, if
        it had been sent whole); the connection is dropped (it is out of step)."""
        adapter.drop(conn)
        if isinstance(error, CONNECTION_ERRORS) or (self.closed and isinstance(error, Exception)):
            # (closed: close() from another thread pulled the socket from under this call)
            if sent is None or _not_applied(error, sent):
                return self.error(error)
            return self.unknown(error, sent)
        return error

    def run(self, script: str, args: Iterable[Any]) -> Any:
        """EVALSHA one cached script (loading it if the server answers NOSCRIPT)."""
        sha = self._sha_bytes[script]
        try:
            return self.execute(b"EVALSHA", sha, b"0", *args)
        except adapter.NoScriptError:
            self.execute(b"SCRIPT", b"LOAD", self._sources[script])
            return self.execute(b"EVALSHA", sha, b"0", *args)

    def command(self, *args: Any) -> Any:
        return self.execute(*args)

    async def execute_async(
        self, *args: Any, on_cancel: Callable[[Awaitable[Any]], object] | None = None
    ) -> Any:
        """One command on an idle connection of the running event loop: the lean async path.

        Each event loop keeps its own connections (usually one; a second only while two
        tasks of the loop are in a call at once) and talks RESP on them directly
        (:mod:`.adapter`), without redis-py's pool and per-call wrappers. The guarantees
        are those of :meth:`execute`: a connection the server closed is noticed before
        sending and reopened; a failure after sending is never retried (the call may have
        taken a message) and raises :class:`OutcomeUnknown`. Reads and writes are bounded
        by ``socket_timeout`` and never block the event loop.

        Cancelled before the command was sent, the call has done nothing. Cancelled after,
        it drops its connection (which is out of step), or, given ``on_cancel``, hands it
        the rest of the call (an awaitable of the reply, read on the same connection) before
        the cancellation goes on, so that a reply which took a message is never lost.
        """
        lane = self._lane()
        idle = lane.idle
        conn = idle.pop() if idle else adapter.new_async_connection(lane.client)
        sent = False
        try:
            if not adapter.async_ready(conn):
                await adapter.ready_async(conn)
            adapter.async_send(conn, _pack(args))
            sent = True
            reply = await adapter.read_async(conn)
        except asyncio.CancelledError:
            if sent and on_cancel is not None:
                on_cancel(self._reply_async(conn, args))
            else:
                adapter.drop_async_connection(conn)
            raise
        except BaseException as error:
            failure = self._async_failure(conn, error, args if sent else None)
            if failure is error:
                raise
            raise failure from error
        return self._replied(conn, reply)

    async def _reply_async(self, conn: Any, args: tuple[Any, ...]) -> Any:
        """The rest of a call whose command ``args`` was sent on ``conn``: its reply. A
        BLPOP is unblocked first (``CLIENT UNBLOCK`` from another connection: it answers at
        once, with what it took if it already took something, else nil)."""
        client_id = adapter.async_client_id(conn) if args[0] in _BLOCKING else None
        if client_id is not None:
            try:
                await self.execute_async(b"CLIENT", b"UNBLOCK", client_id)
            except (LayerUnavailable, adapter.ResponseError):
                pass  # (refused, e.g. by an ACL): the BLPOP ends by its own timeout
        try:
            reply = await adapter.read_async(conn)
        except BaseException as error:
            failure = self._async_failure(conn, error, args)
            if failure is error:
                raise
            raise failure from error
        return self._replied(conn, reply)

    def _async_failure(
        self, conn: Any, error: BaseException, sent: tuple[Any, ...] | None
    ) -> BaseException:
        """The error to raise for an async call interrupted on ``conn`` (``sent``: the
        command, if it was sent), which is dropped: out of step."""
        adapter.drop_async_connection(conn)
        if isinstance(error, asyncio.TimeoutError):
            timeout = adapter.async_connection_timeout(conn)
            error = adapter.TimeoutError(f"no reply within {timeout} s")
        elif not isinstance(error, CONNECTION_ERRORS):
            if not (self.closed and isinstance(error, Exception)):
                return error  # (a cancellation among them)
        if sent is None or _not_applied(error, sent):
            return self.error(error)
        return self.unknown(error, sent)

    def _replied(self, conn: Any, reply: Any) -> Any:
        """``reply``, read whole on ``conn``, which is kept for the loop's next call."""
        idle = self._lane().idle
        if len(idle) < _MAX_IDLE and not self.closed:
            idle.append(conn)
        else:
            adapter.drop_async_connection(conn)
        if isinstance(reply, adapter.ResponseError):
            raise reply  # the reply was read whole: the connection is fine
        return reply

    async def run_async(
        self,
        script: str,
        args: Iterable[Any],
        on_cancel: Callable[[Awaitable[Any]], object] | None = None,
    ) -> Any:
        """EVALSHA one cached script on the async path (loading it on NOSCRIPT);
        ``on_cancel`` as for :meth:`execute_async`."""
        sha = self._sha_bytes[script]
        try:
            return await self.execute_async(b"EVALSHA", sha, b"0", *args, on_cancel=on_cancel)
        except adapter.NoScriptError:
            await self.execute_async(b"SCRIPT", b"LOAD", self._sources[script])
            return await self.execute_async(b"EVALSHA", sha, b"0", *args, on_cancel=on_cancel)

    def close(self) -> None:
        self.closed = True
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            try:
                adapter.drop(conn)
            except Exception:  # closing must not raise
                pass
        try:
            self.client.close()
            self.client.connection_pool.disconnect()
        except Exception:  # closing must not raise
            pass
        current = _running_loop()
        for loop, lane in list(self._async.items()):
            try:
                if loop.is_running() and loop is not current:
                    loop.call_soon_threadsafe(lane.close)  # its sockets belong to its thread
                else:
                    lane.close()
            except Exception:  # closing must not raise (the loop closed meanwhile)
                lane.close()
        self._async.clear()
        self._recent_lane = None


#: The blocking commands a cancelled call unblocks before it reads their reply.
_BLOCKING = frozenset((b"BLPOP", "BLPOP"))
#: Most idle connections an event loop keeps per shard (more only while calls overlap).
_MAX_IDLE = 8


class _AsyncLane:
    """One event loop's ``redis.asyncio`` client (the connection factory) and idle connections."""

    __slots__ = ("client", "idle", "loop")

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.idle: list[Any] = []
        #: its event loop (weakly: a lane never keeps a loop alive)
        self.loop = weakref.ref(loop)

    def close(self) -> None:
        """Close the idle connections' sockets (callable from any thread, never blocks)."""
        idle, self.idle = self.idle, []
        for conn in idle:
            adapter.drop_async_connection(conn)


def _not_applied(error: BaseException, sent: Sequence[Any] | None) -> bool:
    """Whether a failed call surely did not run: it was never sent whole, or the server
    answered that it is still loading its data (redis-py raises that reply as a
    ConnectionError, but it is a refusal: nothing was run)."""
    return sent is None or isinstance(error, adapter.BusyLoadingError)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

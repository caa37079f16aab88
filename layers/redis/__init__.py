"""Redis channel layer: the whole contract on Redis >= 6 through redis-py 8.x.

redis-py is pinned to ``>=8.0,<9`` (the ``redis`` extra): the hot paths talk to its connections
directly (socket, parser, stream writer; the asyncio ones' replies are read by a protocol of
the adapter once redis-py has set the connection up), which are internals. All of that lives in
``layers/redis/adapter.py``, whose contract test (``tests/layers/test_redis_adapter.py``)
checks each use against a real server: a new major version is that one file and that one test
away.

Features
    * Every extension: ``groups``, ``flush``, ``statistics``, ``asyncio`` (alias ``async``;
      native asyncio, cancelling ``receive_async`` never loses a message) and ``twisted``
      (``receive_twisted``, a Deferred on top of the native asyncio receive).
    * Every operation is one round trip: an atomic Lua script run with EVALSHA (cached;
      loaded again by itself when a restarted server answers NOSCRIPT), or a single atomic
      command (``LPOP``, ``BLPOP``). ``send`` checks capacity, stores the message
      with its deadline and updates statistics in one round trip; a non-blocking ``receive``
      over several channels is one round trip; ``send_group`` is one round trip per server
      whatever the group's size (1,000 members: one script, nothing lost).
    * A non-blocking receive on one plain channel is a bare ``LPOP`` (the deadline is checked
      on the client against its measurement of the server clock). Blocking receive: one
      non-blocking poll, then ``BLPOP`` over the channels' keys in short server-side waits
      (at most 1 s each) until ``blocking_timeout``.
    * Process-specific channels (``ws.send.<id>!<token>``): all ``!`` channels of a process
      share one Redis list, the inbox ``ws.send.<id>!`` whose capacity is counted; a receive
      drains up to ``drain`` messages of it in one round trip into local bounded, expiring
      per-channel buffers served round-robin (``channels_core.inbox.ProcessInbox``); a
      receiving process drains its inbox every 2 ms (up to 16 ms while it stays empty), so one
      busy ``!`` channel never makes its neighbours ``ChannelFull``; what a full buffer drops
      is counted in ``channel_full_count``. Group fan-out: ``send_group`` stores ONE entry
      per inbox for all the ``!`` members behind it, which the receiving process fans out
      (1,000 WebSockets of one interface server get every broadcast at the default capacity).
    * Expiry: a message stores its deadline (server clock) and is never delivered after it.
      A message that expires unread evicts its channel from all its groups (a per-channel
      reverse index, and an expiry index every script sweeps a little of). Group members
      lapse ``group_expiry`` after their last ``group_add``. Every key has a TTL, so an
      abandoned prefix vanishes from Redis by itself.
    * ``flush`` deletes only this layer's prefix, with ``SCAN MATCH`` + ``UNLINK`` (never
      ``KEYS``).
    * Statistics kept in Redis (shared by every process), updated inside the same scripts:
      ``messages_count``, ``messages_pending``, ``messages_max_age``,
      ``channel_full_count`` globally and per channel, plus ``messages_count_per_second`` and
      ``channel_full_count_per_second`` (last minute) globally.
    * Several servers: client-side consistent hashing (each channel lives on one shard; a
      group's data lives on the shards of its members), Redis Sentinel, TLS (``rediss://``),
      password and ACL user from the URL; optional AES-GCM encryption of message bodies.
    * Each thread that uses the layer keeps one connection of its own for the hot paths, and
      each event loop keeps its own for the coroutines (``receive_async``, ``send_async``,
      ``send_group_async``...: one, plus one per task of that loop that is in a call at the
      same time; at most 8 kept idle); both speak RESP directly (no pool lookup or wrapper
      per call) and never block the event loop. Connections closed by
      the server are noticed before use and reopened; a call that may have taken a message is
      never retried; a closed event loop's connections are dropped.
    * Unreachable server: calls fail within ``socket_connect_timeout`` / ``socket_timeout``
      with ``LayerUnavailable`` naming host and port, never hang, never pretend a send
      succeeded; the same layer object reconnects by itself when the server is back.
    * Bounded work per server call: a ``send_group`` reaches at most 1,000 members per
      script call (larger groups: one call per 1,000, in turn, over a snapshot of the
      members, so none is served twice and other clients run in between), and so does
      ``global_statistics`` per 1,000 queues; housekeeping expires at most 1,000 queues per
      call. A call sent whole whose reply never came (a timeout, a cut connection) raises
      ``OutcomeUnknown`` (a ``LayerUnavailable``), never retried; ``LayerUnavailable``
      alone means nothing reached the server.
    * Garbage under the prefix (entries another tool or version wrote) never wedges it: an
      unreadable entry is dropped and counted (``messages_malformed_count``), the rest is
      delivered, and the receiver gets ``MalformedMessage`` once.
    * ``channel_session`` data lives on Redis too (``session_store()``), under the prefix,
      with a TTL.

Connection string
    ``redis://[[user]:password@]host[:port][/db][?option=value...]``
    ``rediss://...`` (TLS; redis-py's ``ssl_cert_reqs``, ``ssl_ca_certs``... query options)
    ``unix:///path/to/redis.sock[?db=0]``
    ``redis://host1:6379,host2:6379/0``: several shards (consistent hashing)
    ``redis+sentinel://[[user]:password@]s1:26379,s2:26379/<service_name>[/db]``
    ``[?sentinel_password=...]``: the master a set of Sentinels names (failover-safe)
    The short name ``redis`` uses ``redis://127.0.0.1:6379/0`` (or ``hosts``). Query options
    override the config dict: every common option (``capacity``, ``expiry``, ``prefix``...)
    and ``socket_timeout``, ``socket_connect_timeout``, ``service_name``, ``drain``; other
    query options are passed to redis-py.

Options (besides the common ``expiry`` (60), ``group_expiry`` (86400), ``capacity`` (100),
``channel_capacity``, ``prefix`` ("asgi"), ``message_size_limit`` (1 MiB),
``blocking_timeout`` (5), ``symmetric_encryption_keys`` (None: message bodies and sessions
encrypted, the first key encrypts, all decrypt; needs the ``encryption`` extra))
    ``url`` (None): a connection string as above.
    ``hosts`` (None): shards, each a URL, ``(host, port)``, ``"host:port"`` or a dict of
        redis-py options (with ``address``), as in channels_redis.
    ``sentinels`` (None), ``service_name`` (None), ``sentinel_kwargs`` (None): Sentinel
        addresses (``(host, port)`` or ``"host:port"``), the master's name, and options for
        the connections to the Sentinels themselves (e.g. their ``password``).
    ``socket_timeout`` (3.0), ``socket_connect_timeout`` (2.0): seconds; bound how long a call
        to an unreachable server takes before ``LayerUnavailable``.
    ``connection_kwargs`` (None): extra redis-py connection options (e.g. ``ssl_ca_certs``).
    ``drain`` (1000): most ``!`` messages one receive moves from the inbox to local buffers.

Deviations
    * Redis Cluster is not supported (scripts compute key names); use ``hosts`` sharding.
    * With several shards, a receive over channels on different shards costs one round trip
      per shard, and a blocking one waits on the shards in turn (50 ms each).
    * If nothing at all touches a prefix for ``2 * expiry + 10`` s, its expired queues
      vanish by TTL before the sweep sees them: for ``!`` channels the group eviction then
      waits for ``group_expiry`` instead.
    * ``messages_max_age`` is computed with the reader's ``expiry`` (messages store their
      deadline, not their send time).
    * ``!`` messages drained into a process's buffers are only visible to that process (they
      are process-specific) and die with it (the contract allows loss on a crash).
    * Deadlines are computed by the sending client from its measurement of the server clock
      (refreshed every 30 s) and checked by the server in scripts and by the receiving client
      after a bare ``LPOP``/``BLPOP``: a client clock that jumps between two measurements
      shifts expiry by the jump until the next one. With several shards the clock of the
      first one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backend import BACKEND

if TYPE_CHECKING:
    from .layer import RedisChannelLayer

__all__ = ["RedisChannelLayer"]


#: The layer class, imported on first use: importing this package never imports redis-py.
__getattr__ = BACKEND.package_getattr(__name__)

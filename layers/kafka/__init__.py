"""Kafka channel layer: the whole contract on Apache Kafka (and Kafka-API brokers) via kafka-python.

kafka-python is pinned to ``>=3.0,<4`` (the ``kafka`` extra): 3.x runs consumer callbacks on
its own IO thread (rebalance hooks must be ``async``) and is what this layer is written for.

Features
    * All extensions: ``groups``, ``flush``, ``statistics``, ``asyncio`` (alias ``async``;
      a cancelled ``receive_async`` never loses a message).
    * Coroutines: ``send_async`` awaits the producer's acknowledgement on the event loop (no
      worker thread per send; concurrent sends share produce requests), except a send that
      needs a round trip first (a capacity recount, a topic not set up yet), which runs on a
      worker thread. ``receive_async`` on inboxes and normal channels this object already
      reads takes what its readers hold and waits for their arrivals on the loop; a first
      read, ``?`` channels and a recheck after a failed call use a worker thread.
    * Topics (names escaped so they never collide, see ``layers.kafka.naming``): one per
      normal channel (the application's few channel names), one per ``!`` inbox (its owner
      creates it on first use and deletes it on ``close()``), ONE keyed topic for every ``?``
      channel (no topic per reply channel: topic creation is slow and Kafka has no per-key
      lookup), and two compacted topics: control (groups, liveness, flush marks) and sessions.
    * Normal channels, at most once with consumer groups: each receiving process runs one
      member of the channel's group, polled by its own thread (two kafka-python 3.x group
      consumers polled from one thread keep rebalancing). Records are taken by committing
      their offsets *before* they are handed out, a few ahead of the callers (1, doubling
      while callers drain, at most ``commit_batch``). A rebalance neither duplicates nor drops:
      fetched-but-uncommitted records stay with the group; committed-but-not-handed-out ones
      are given back on revoke (the lower offset is committed again from the async rebalance
      hook), and likewise on ``close()`` and when a reader idles ``reader_idle`` seconds;
      after each join the owner reads from the group's committed offset.
    * ``!`` inboxes are read by assignment (no group, no rebalance) by the one instance that
      asks for them; every process receives everything addressed to its own ``!`` channels.
      Arrivals move into the core's bounded, expiring per-channel buffers
      (``channels_core.inbox.ProcessInbox``), and the inbox position is committed under the
      prefix's inbox group, so the inbox's capacity count is its lag.
    * ``?`` channels share one keyed topic (``single_reader_partitions`` partitions, the
      partition from a CRC32 of the name); the single reader reads by position: each channel
      asked for starts at its own group's committed offset (or at the first record younger
      than ``expiry``), and each hand-out commits the position first (one round trip), so a
      later reader, in any process, starts after it.
    * Group send: membership is a compacted control topic ``(group, channel) -> timestamp``,
      materialised in every instance (caught up with one ListOffsets round trip before each
      decision). ``send_group`` is one batched produce (one request per broker) with ONE
      record per inbox whatever the number of members behind it (its key lists the full
      names), one per normal channel and one per ``?`` member; full members are skipped and
      counted. Instances that made ``!`` channels announce liveness every
      ``liveness_interval`` seconds (and "closed" on ``close()``): ``!`` members of an
      instance silent for 3 intervals are dead, dropped from group sends and evicted.
      Memberships lapse ``group_expiry`` after their last ``group_add``; a channel whose
      message expired unread leaves all its groups (an eviction record).
    * Expiry by record timestamp (set by the sender) at hand-out: an expired record is never
      delivered (``retention.ms`` of the data topics is ``max(2 * expiry, 600 s)``).
    * Capacity from consumer lag: pending = end offset - committed offset of the reading
      group (never-read: the records younger than ``expiry``), plus what this process took
      and holds. Exact with one sending layer object; a sender re-counts (2 round trips) when
      its own running count reaches capacity and at least every ``capacity_refresh`` seconds,
      so with several senders a channel may exceed capacity by what the others sent within
      that window, and by at most ``commit_batch`` records taken ahead by each other reading
      process. ``?`` channels count, per sender, its own records past the reader's position
      (exact for the usual single replier; n senders may store up to n x capacity).
    * ``flush`` writes a flush mark (every partition's end offset) to the control topic:
      records before it are never delivered, memberships before it are gone, lag counts from
      it. A process that already took records (committed ahead) may still hand them out.
    * Faults: a broker restart is survived by the same layer object (clients reconnect;
      topics a memory broker lost are created again). Every call is bounded by
      ``request_timeout``: during an outage a send fails within it with ``LayerUnavailable``
      naming the bootstrap servers; a produce whose request was sent but not answered raises
      the core's ``OutcomeUnknown`` (a ``LayerUnavailable``) and is never resent (at most
      once).
    * ``channel_session`` data lives in the prefix's compacted session topic, sealed with
      ``symmetric_encryption_keys`` when set.
    * Records carry the core's msgpack encoding only; nothing is ever unpickled.

Connection string
    ``kafka://[user:password@]host:port[,host2:port...][?option=value...]``; ``kafka+ssl://``
    for TLS. Credentials select SASL (``SASL_PLAINTEXT``, or ``SASL_SSL`` with ``kafka+ssl``;
    mechanism ``PLAIN`` unless ``sasl_mechanism`` says ``SCRAM-SHA-256``/``SCRAM-SHA-512``).
    Query options override the config dict: every common option and the options below.
    The short name ``kafka`` uses ``bootstrap_servers`` (default ``127.0.0.1:9092``).

Options (besides the common ``expiry`` (60), ``group_expiry`` (86400), ``capacity`` (100),
``channel_capacity``, ``prefix`` ("asgi"), ``message_size_limit`` (1 MiB),
``blocking_timeout`` (5))
    ``bootstrap_servers`` (None): ``"host:port,host:port"`` or a list, instead of a URL.
    ``request_timeout`` (5.0): seconds any broker call may take.
    ``session_timeout_ms`` (10000), ``heartbeat_interval_ms`` (a third of it): consumer
        group timing of the normal-channel readers (Kafka's minimum is 6000 by default).
    ``join_timeout`` (3 x session timeout + request timeout): how long the first receive on a
        normal channel holding records waits for its group join.
    ``single_reader_partitions`` (8): partitions of the ``?`` topic (fixed at creation).
    ``replication_factor`` (-1: the broker's default) of the topics the layer creates.
    ``commit_batch`` (64): most records a reader commits ahead of its callers (also at most
        half the channel's capacity).
    ``capacity_refresh`` (1.0): seconds a sender trusts its running pending count.
    ``liveness_interval`` (10.0): seconds between liveness announcements.
    ``reader_idle`` (60.0): seconds after which a normal channel's reader nobody asks leaves
        its group (giving back what it took).
    ``sasl_mechanism``, ``ssl_cafile``, ``ssl_certfile``, ``ssl_keyfile``,
    ``ssl_check_hostname`` (true): TLS and SASL details.

Deviations
    None from the contract's clauses. Notes:

    * A normal channel is one partition: one process reads it at a time (others stand by and
      take over when it leaves or idles); scale with more channels, not more readers of one.
    * The first receive of a process on a normal channel that holds records waits for its
      group join (Apache Kafka: ``group.initial.rebalance.delay.ms``, 3 s by default, 0 in
      docker-compose.yml). On an empty channel it answers from the group's lag (two round
      trips) while the join goes on; a blocking receive that began during the join ends with
      the same check, so a record sent meanwhile is handed out once the join completes.
    * Expiry compares the sender's clock (record timestamp) with the reader's.
    * ``channel_full_count`` and ``messages_count`` of ``?`` channels are counted by this
      layer object; ``messages_count`` of other channels is their topic's end offset.
      ``messages_max_age`` covers the records this process holds.
    * Abandoned ``?`` read positions (one consumer group per ``?`` channel read) stay until
      the broker's ``offsets.retention.minutes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backend import BACKEND

if TYPE_CHECKING:
    from .layer import KafkaChannelLayer

__all__ = ["KafkaChannelLayer"]


#: The layer class, imported on first use: importing this package never imports kafka-python.
__getattr__ = BACKEND.package_getattr(__name__)

"""RabbitMQ channel layer: the whole contract on RabbitMQ >= 3.8 through pika.

Features
    * Every extension: ``groups``, ``flush``, ``statistics``, ``asyncio`` (alias ``async``)
      and ``twisted``. Normal, ``?`` and ``!`` channels all work (``runworker`` included).
    * One queue per normal or ``?`` channel, and one per ``!`` inbox (the part up to and
      including the ``!``: ``ws.send.<id>!``), all under ``<prefix>:``. Queues are declared
      with ``x-max-length`` = the channel's capacity and ``x-overflow=reject-publish``; every
      publish waits for its own publisher confirm before ``send`` returns, so a full queue is
      a ``ChannelFull`` for the very send that found it full and nothing is stored. A send
      never returns before its confirm (it could not report a full queue); each send is one
      publish written in one socket write as it is issued, then one wait for its confirm
      (a round trip to the broker: that wait, not the layer, bounds one sender's rate).
      Only concurrent ``send_async`` calls overlap their confirms. ``x-message-ttl`` =
      ``expiry`` (the broker drops what waited too long, never delivered) and
      ``x-expires`` (an unused queue is deleted by the broker; senders re-declare the
      queues they use, which keeps them alive).
    * Receiving uses consumers (``basic.consume``, never ``basic.get``) with a prefetch of
      ``prefetch`` messages. At most once: a message is acknowledged before ``receive``
      returns it, and handed out only once the broker answered a round trip sent after the
      ack (AMQP never answers an ack; an ack lost with its connection would let the broker
      requeue a message already handed out); a receive whose connection fails in between
      raises ``OutcomeUnknown`` and hands nothing out. That round trip bounds one receiver's
      rate, as the confirm bounds one sender's. Messages pushed to a process but not handed
      out go back to their queue, in place, when their consumer is cancelled (at the end of
      a non-blocking receive, when nobody asked for its channel for 0.5 s, close, lost
      connection), so no two receivers ever get one. A non-blocking receive that finds
      nothing local makes one round trip per queue (a passive declare on the consuming
      channel, answered after every delivery the broker made before it), so a message sent
      before is seen by any process.
    * Capacity bound: ``x-max-length`` counts the messages *ready* in a queue, not those
      pushed to a consumer and not yet acknowledged. Each consumer is started with a
      prefetch of ``min(prefetch, capacity)``, so a channel holds at most ``capacity + R *
      min(prefetch, capacity)`` messages, ``R`` being the number of layer objects receiving
      it with blocking receives at that moment (their consumers are cancelled 0.5 s after
      their last receive; a non-blocking receive cancels its consumers before it returns, so
      non-blocking readers leave the bound at ``capacity``). An inbox
      has one receiver (``R = 1``); what it drained sits in its process buffers, each bounded
      by its channel's capacity. Lower ``prefetch`` to tighten the bound.
    * ``!`` channels: a receiving process drains its inbox queue into bounded, expiring
      buffers per full channel name (``channels_core.inbox.ProcessInbox``), served
      round-robin; a process that does not receive does not drain, so its inbox fills on
      the broker and senders see ``ChannelFull``. A layer object's own inbox queues are
      deleted when it closes (nobody else can receive them).
    * Groups: one fanout exchange per group (``<prefix>:#g.<group>``) with a binding per
      member queue; ``send_group`` is one publish whatever the group's size, and an inbox
      gets one entry however many of its ``!`` channels are members (RabbitMQ routes a
      message once per queue). The inbox's owner fans the entry out to its members: those
      it added or discarded itself it knows at once (``layers.rabbitmq.rosters``); those
      other layer objects added or discarded it learns from the inbox's roster queue
      (``<prefix>:#roster.<inbox>``, records published by their
      ``group_add``/``group_discard``). An entry goes to the members at its send time (its
      ``timestamp``, microseconds): a channel added later gets nothing of it, one discarded
      later still gets it, as if ``send_group`` had stored a copy for each member then; the
      newest change of a membership at that time wins. A full member is skipped (the confirm
      says so) and counted; the others get the message.
    * The ledger: AMQP cannot list queues, exchanges or bindings, so each prefix has a
      ledger queue (``<prefix>:#ledger``) where every declaration and membership change is
      appended as a small msgpack record. A reader (``group_channels``, ``flush``,
      ``global_statistics``, and ``send_group`` when a membership may have lapsed) takes
      the ledger's lock (an exclusive consumer on ``<prefix>:#ledger.lock``; other readers
      wait), appends a marker, reads to it, deletes dead records and gives the rest back in
      place before it lets go of the lock: complete, serialized across processes, and
      self-compacting. ``flush`` deletes every queue and exchange the ledger names,
      whichever process declared them, then the ledger and its lock.
    * Expiry eviction: queues dead-letter expired messages to the prefix's
      ``<prefix>:#expired`` queue (through the ``<prefix>:#dlx`` exchange, declared once
      groups are used); the next ledger reader (at most a second later for ``send_group``)
      removes those channels from all their groups. ``!`` messages that expire in a
      process's buffers are reported the same way. Group memberships lapse
      ``group_expiry`` after their last ``group_add``: a reader unbinds them.
    * Threads and event loops: pika is not thread-safe. Each thread that sends has its own
      connection; receiving uses one connection per layer object, used under a lock, and a
      daemon thread services it whenever no receive does (heartbeats keep flowing while the
      application works between receives, idle consumers are cancelled). Each event loop
      that calls ``send_async`` has a connection of its own, driven by the loop (pika's
      asyncio adapter): the send awaits its confirm without blocking the loop, concurrent
      sends overlap their confirms, and only a queue declaration (once per
      ``queue_expires / 3`` per queue) goes to a worker thread. ``receive_async`` (and
      ``receive_twisted``, which runs it on a background loop) takes a message already
      pushed to the process on the loop: it sends the ack and the round trip after it
      without waiting, and hands the message out once the answer came, watching the
      receiving connection's socket from the loop (as it does for deliveries). A take
      that needs other round trips (the first one on a channel starts its consumer), or
      whose answer takes longer than ``socket_timeout``, runs the blocking receive on a
      worker thread. The loop or
      reactor never blocks; cancelling never loses a message. ``new_channel_async``
      notes the name on the loop (only an inbox's first name, which connects the receiver
      ahead, goes to a worker thread). The other coroutines (``group_add_async``...) run
      their blocking twins on a worker thread.
    * Faults: a dead connection is noticed before use and reopened; after a broker restart
      the same layer object reconnects by itself, with an exponential backoff (0.1 s to 5 s)
      during which calls fail at once. Every call to an unreachable broker fails within
      ``connect_timeout`` / ``socket_timeout`` with ``LayerUnavailable`` naming host and
      port. A publish whose confirm never came is not retried (at most once); nor is a
      receive whose acknowledgement went unanswered (``OutcomeUnknown``: the message is not
      handed out, and comes again only if the ack never reached the broker).
      ``tests/faults`` drives all of this through a misbehaving TCP proxy.
    * ``channel_session`` data lives on RabbitMQ too (``session_store()``): one
      ``x-max-length=1`` queue per session with ``x-expires`` = its TTL.
    * Never pickle: messages are msgpack (the core codec), ledger and roster records too.

Connection string
    ``amqp://[user[:password]@]host[:port][/vhost][?option=value...]``
    ``amqps://...`` (TLS; pika's ``ssl_options`` query option for certificates)
    Credentials and vhost come from the URL (the default vhost ``/`` is ``%2F``). The short
    name ``rabbitmq`` uses ``amqp://guest:guest@127.0.0.1:5672/%2F``. Query options
    override the config dict: every common option and ``prefetch``, ``heartbeat``,
    ``socket_timeout``, ``connect_timeout``, ``queue_expires``; pika's own (``channel_max``,
    ``frame_max``, ``ssl_options``, ...) are passed to pika; anything else is refused.

Options (besides the common ``expiry`` (60), ``group_expiry`` (86400), ``capacity`` (100),
``channel_capacity``, ``prefix`` ("asgi"), ``message_size_limit`` (1 MiB),
``blocking_timeout`` (5))
    ``url`` (None): a connection string as above.
    ``prefetch`` (100): messages one consumer may hold unacknowledged, 1 to 65535 (AMQP's
        prefetch-count is 16 bits; a larger value is refused naming ``prefetch``).
    ``heartbeat`` (30): AMQP heartbeat in seconds (0 disables).
    ``socket_timeout`` (5.0), ``connect_timeout`` (10.0): seconds; bound how long a call to an
        unreachable broker takes before ``LayerUnavailable``.
    ``queue_expires`` (``max(2 * expiry, group_expiry) + 60``): seconds an unused queue lives
        (``x-expires``); must exceed ``expiry``.

Deviations
    * A queue keeps the arguments (capacity, expiry) of the layer that declared it first
      until it is deleted: a layer with other options on the same prefix uses it as is.
    * ``messages_count`` and ``channel_full_count`` are counted by each layer object (the
      broker keeps no such counters); ``messages_pending`` is the broker's plus what this
      process holds; ``messages_max_age`` is not measured (0.0).
    * ``!`` messages drained into a process's buffers are only visible to that process and
      die with it (the contract allows loss on a crash); a ``flush`` by another process does
      not reach them.
    * Membership lapses and roster records are timed by the clocks of the processes that
      wrote them, and group entries by the sender's: with clocks apart, an ``!`` member
      added or discarded close to a group send may be judged by the wrong side of it.
    * An inbox stays bound to a group after its ``!`` members left it (the owner drops
      such entries) until the inbox is deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backend import BACKEND

if TYPE_CHECKING:
    from .layer import RabbitMQChannelLayer

__all__ = ["RabbitMQChannelLayer"]


#: The layer class, imported on first use: importing this package never imports pika.
__getattr__ = BACKEND.package_getattr(__name__)

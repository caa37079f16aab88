"""PostgreSQL channel layer: messages in tables, LISTEN/NOTIFY only to wake waiting receivers.

Features
    The whole contract and every extension (``groups``, ``flush``, ``statistics``,
    ``asyncio`` alias ``async``, ``twisted``) on PostgreSQL >= 13 through psycopg 3, across
    any number of processes:

    * messages are rows (a 1 MiB message is fine); NOTIFY carries only queue names, and only
      when a receiver is waiting on that queue (one NOTIFY per waiting process per send, not
      one per message: later sends find no waiter until it asks again);
    * at most once with any number of receivers: a receive deletes and returns its row in one
      statement (``DELETE ... WHERE ctid = ANY (SELECT ... FOR UPDATE SKIP LOCKED)``);
    * ``send`` is one round trip to a server-side function that locks the queue's counter row,
      checks capacity and inserts, so concurrent senders cannot race past capacity;
      ``send_group`` is one round trip whatever the group's size;
    * expiry without a long sweep: expired rows are never returned, and are deleted in batches
      of 500 (indexed by deadline) by whichever process is due for housekeeping (about once a
      second); an expired unread message removes its channel from all its groups; group
      memberships lapse ``group_expiry`` seconds after the last ``group_add``;
    * process-specific channels (``ws.send.<id>!<token>``) share one inbox per ``!`` prefix,
      on which capacity is counted; a receiver drains its inbox in batches into local,
      bounded, expiring per-channel buffers (:class:`channels_core.inbox.ProcessInbox`);
      group fan-out: ``send_group`` stores one row per inbox for all the ``!`` members
      behind it, fanned out by the receiving process (1,000 WebSockets of one interface
      server get every broadcast at the default capacity);
    * server restart or network loss: calls fail within ``connect_timeout`` with a
      :class:`~channels_core.exceptions.LayerUnavailable` naming host and port; pooled
      connections the server dropped are replaced before use; the listener reconnects with
      backoff and LISTENs again, and every waiting receiver then polls the tables, so nothing
      sent meanwhile is missed;
    * faults: a statement that hangs (a stalled network, a silent server) fails after
      ``command_timeout``; a connection that breaks under a call raises
      :class:`~channels_core.exceptions.OutcomeUnknown` (the server may have applied it) and
      is never retried, so a lost reply is always reported; a flush NOTIFY is checked
      against the database before local buffers are dropped (a forged one drops nothing);
      rows that name a channel outside what was asked for are dropped, counted
      (``messages_malformed_count``) and reported once as ``MalformedMessage``; the queue
      row of a drained ``?`` channel is deleted by the take that drained it (counters kept),
      so request/reply traffic leaves no rows behind; a prefix PostgreSQL cannot store (NUL,
      not Unicode, over 1,000 bytes) is refused when the layer is built;
    * the layer VACUUMs its own busy tables about once a second (one process at a time), so
      the heads of busy queues stay fast whatever autovacuum does;
    * its own versioned schema, created or upgraded on first use under an advisory lock (safe
      when many processes start at once); no Django needed;
    * statistics from counters kept in the same statements and from indexed tables;
    * a session store for ``channel_session`` in the same schema.

Connection string
    ``postgresql://user:password@host:port/dbname?options`` (also ``postgres://``); any libpq
    parameter (``sslmode``, ``sslrootcert``, ``application_name``, ``options``...) may be
    given in the query string or as a keyword connection string in ``url=``. Without a URL,
    libpq's defaults and ``PG*`` environment variables apply. TLS and credentials come from
    there. The layer adds TCP keepalives (10 s idle, 5 s interval, 3 probes) and
    ``tcp_user_timeout=15000`` unless the connection string sets them.

Options (constructor keywords or URL query parameters)
    The common ones: ``expiry`` (60), ``group_expiry`` (86400), ``capacity`` (100),
    ``channel_capacity``, ``prefix`` ("asgi"), ``message_size_limit`` (1 MiB),
    ``blocking_timeout`` (5), ``symmetric_encryption_keys`` (None: message bodies encrypted,
    the first key encrypts, all decrypt; needs the ``encryption`` extra). And:

    ``schema`` ("channels_core")
        Schema holding the layer's tables and functions (created if missing; the role needs
        CREATE on the database the first time). Every prefix shares it; rows carry their
        prefix.
    ``pool_size`` (4)
        Most pooled connections per process for sends and receives (and, separately, per
        event loop for the coroutines: ``receive_async``, ``send_async``...).
    ``connect_timeout`` (3)
        Seconds to wait for a connection (libpq counts whole seconds, at least 2).
    ``prepared_statements`` (true)
        Prepare statements on pooled connections (after 5 uses from threads, at the first
        from coroutines). Set false behind a
        PgBouncer in transaction mode older than 1.21 (or without ``max_prepared_statements``).
    ``listen_url`` (the main URL)
        Where the LISTEN connection goes. Behind PgBouncer in transaction mode, point it
        straight at PostgreSQL (LISTEN needs a session); everything else goes through the
        pool.
    ``inbox_batch`` (1000)
        Most messages one receive moves from a ``!`` inbox into the local buffers (it moves
        at most the inbox's capacity: no more than the server was holding for it).
    ``poll_interval`` (1.0)
        A blocked receive polls the tables at least this often, even without a NOTIFY.
    ``sweep_interval`` (1.0)
        Seconds between this process's housekeeping passes (one statement each, skipped if
        another session is sweeping).
    ``command_timeout`` (10.0)
        Seconds one call (a statement or two on a pooled connection) may take; past it a
        watchdog shuts the connection's socket and the call raises ``OutcomeUnknown``.
    ``vacuum_interval`` (1.0)
        Seconds between VACUUMs of the layer's busy tables, run by one process at a time
        (elected through a row) on a pooled connection off the caller's thread; 0 leaves it
        to autovacuum. A queue table's deleted rows stay in its indexes until VACUUM, and
        every look at a queue's head walks over them; autovacuum may be off, and otherwise
        wakes only once a minute.

Durability: UNLOGGED tables and ``synchronous_commit = off``
    A committed INSERT into an ordinary table waits for a WAL flush to disk (about 1,300 per
    second on a plain disk). Messages are ephemeral by contract, so the ``message``,
    ``queue``, ``waiter`` and ``prefix_totals`` tables are UNLOGGED: no WAL, no flush; they
    survive a clean restart but PostgreSQL empties them after a crash (allowed: the contract
    permits losing messages on a crash). Group memberships and sessions live in ordinary
    tables. Every write function sets ``synchronous_commit = off`` for its own transaction
    (``set_config(..., true)``): a crash may forget the last fraction of a second of
    ``group_add`` calls and session saves, never corrupt them.

Connection budget (per process, per layer object)
    One LISTEN connection (opened by the first blocking receive, on its own thread), plus at
    most ``pool_size`` pooled connections opened on demand, plus at most ``pool_size`` per
    event loop that calls the coroutines (``receive_async``, ``send_async``...; their
    statements go straight through libpq, see :mod:`.wire`). Pooled
    connections are autocommit and keep no session state (no SET, no LISTEN, no temporary
    tables; prepared statements only if ``prepared_statements``), so they may go through
    PgBouncer in transaction mode; only the LISTEN connection needs a real session
    (``listen_url``).

NOTIFY
    NOTIFY takes a database-wide lock while its transaction commits. The layer only NOTIFYs
    from a send that finds a receiver registered as waiting on that queue (the ``waiter``
    table), deletes that registration in the same transaction, and sends one NOTIFY per
    waiting process (``send_group``: one per process, listing the queues, or ``*``). Under
    load receivers rarely wait, so most sends NOTIFY nothing.

Deviations
    None from the contract. Notes:

    * ``send_group`` sizes each member by the capacity computed (from ``capacity`` and
      ``channel_capacity``) when it was last added with ``group_add``;
    * ``flush`` reaches other processes' local ``!`` buffers through a NOTIFY (and a flush
      counter their listener reads when it connects; a process that buffers starts its
      listener), so for the few milliseconds that NOTIFY takes another process may still
      serve a message it had already moved into its own buffers;
    * a receive over many plain channels probes each queue in turn (one index probe each):
      fine for the tens of channels a worker listens to; thousands of members belong on
      ``!`` channels, which share one inbox;
    * per-channel counters of a queue idle for an hour (or ``2 * expiry``) are folded into
      the prefix totals (the global statistics keep them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backend import BACKEND

if TYPE_CHECKING:
    from .layer import PostgresChannelLayer

__all__ = ["PostgresChannelLayer"]


#: The layer class, imported on first use: importing this package never imports psycopg.
__getattr__ = BACKEND.package_getattr(__name__)

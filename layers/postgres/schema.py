"""The PostgreSQL layer's schema: tables, server-side functions and their versioned migration.

Everything lives in one schema (option ``schema``, default ``channels_core``) shared by every
layer prefix on the database; each row carries its layer's ``prefix``, so a flush or a
statistic touches only its own prefix and nothing else in the database.

Tables
    ``message`` (UNLOGGED): one row per pending message: ``queue`` is the name capacity is
    counted on (the inbox ``a.b!`` for a process-specific ``a.b!xyz``), ``channel`` the full
    name (for an inbox, a ``channels_core.inbox`` address: a group send stores one row for all
    the ``!`` members behind an inbox, ``a.b!x,y,z``), ``payload`` the msgpack bytes
    (``bytea``, stored uncompressed out of line when large).
    Indexed by ``(prefix, queue, id)`` (the head of each queue) and by ``expires_at`` (expiry).
    ``queue`` (UNLOGGED): one row per queue: its lock (senders, and receivers registering a
    wake-up, serialize on it) and its counters (sent, refused as full, last activity).
    ``waiter`` (UNLOGGED): "listener L waits on queue Q"; a sender that finds one deletes it and
    NOTIFYs L, so NOTIFY runs only when a receiver is waiting.
    ``prefix_totals`` (UNLOGGED): counters of idle queue rows that were garbage-collected.
    ``group_member`` and ``session``: ordinary (logged) tables, written with
    ``synchronous_commit = off``.

UNLOGGED tables skip the write-ahead log: no disk flush per commit, but their content is
emptied by PostgreSQL after a crash (not after a clean restart). Messages are ephemeral by
contract, so that loss is allowed; group memberships and sessions are kept in logged tables.

Every write function sets ``synchronous_commit = off`` for its own transaction only
(``set_config(..., true)``), which leaves no session state behind (safe behind PgBouncer).

Migrations are numbered; :func:`ensure_schema` applies the missing ones in one transaction
under an advisory lock, so several processes starting at once are safe and idempotent.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from channels_core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

#: First key of every advisory lock the layer takes (two-key form), to stay out of the way of
#: the application's own advisory locks.
LOCK_CLASS = 0x63636F72  # "ccor"

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,40}\Z")

#: Longest prefix (UTF-8 bytes) the tables can hold: it is part of every index entry (at
#: most about 2,700 bytes, with a 100-character queue name) and of the flush NOTIFY payload
#: (under 8,000 bytes).
MAX_PREFIX_BYTES = 1000


def check_prefix(prefix: str) -> str:
    """``prefix`` if PostgreSQL can store and index it; ImproperlyConfigured naming it if not
    (a NUL, text that is not valid Unicode, or more than :data:`MAX_PREFIX_BYTES` bytes)."""
    try:
        size = len(prefix.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise ImproperlyConfigured(
            f"prefix {prefix[:40]!r}... is not valid Unicode text ({error.reason})"
        ) from None
    if "\x00" in prefix:
        raise ImproperlyConfigured(
            f"prefix {prefix[:40]!r} holds a NUL character, which PostgreSQL text cannot store"
        )
    if size > MAX_PREFIX_BYTES:
        raise ImproperlyConfigured(
            f"prefix {prefix[:40]!r}... is {size} bytes in UTF-8; PostgreSQL's indexes and "
            f"NOTIFY payloads allow at most {MAX_PREFIX_BYTES}"
        )
    return prefix


def check_schema_name(name: object) -> str:
    """A valid schema name (lowercase letters, digits, ``_``; at most 41 characters)."""
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name):
        raise ImproperlyConfigured(
            f"schema must be a lowercase SQL identifier ([a-z_][a-z0-9_]*, at most 41 "
            f"characters), got {name!r}"
        )
    return name


_V1 = r"""
CREATE UNLOGGED TABLE __S__.message (
    id bigserial NOT NULL,
    prefix text NOT NULL,
    queue text NOT NULL,
    channel text NOT NULL,
    seq bigint NOT NULL,
    sent_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    payload bytea NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);
ALTER TABLE __S__.message ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE INDEX message_queue_idx ON __S__.message (prefix, queue, id);
CREATE INDEX message_expiry_idx ON __S__.message (expires_at);

CREATE UNLOGGED TABLE __S__.queue (
    prefix text NOT NULL,
    name text NOT NULL,
    sent bigint NOT NULL DEFAULT 0,
    full_count bigint NOT NULL DEFAULT 0,
    touched timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prefix, name)
) WITH (fillfactor = 50);

CREATE UNLOGGED TABLE __S__.prefix_totals (
    prefix text PRIMARY KEY,
    sent bigint NOT NULL DEFAULT 0,
    full_count bigint NOT NULL DEFAULT 0,
    flushes bigint NOT NULL DEFAULT 0
);

CREATE UNLOGGED TABLE __S__.waiter (
    prefix text NOT NULL,
    queue text NOT NULL,
    listener text NOT NULL,
    registered_at timestamptz NOT NULL,
    PRIMARY KEY (prefix, queue, listener)
);

CREATE TABLE __S__.group_member (
    prefix text NOT NULL,
    group_name text NOT NULL,
    channel text NOT NULL,
    queue text NOT NULL,
    capacity integer NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (prefix, group_name, channel)
);
CREATE INDEX group_member_channel_idx ON __S__.group_member (prefix, channel);
CREATE INDEX group_member_expiry_idx ON __S__.group_member (expires_at);

CREATE TABLE __S__.session (
    prefix text NOT NULL,
    key text NOT NULL,
    data bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (prefix, key)
);
CREATE INDEX session_expiry_idx ON __S__.session (expires_at);

-- Wake the listeners waiting on queues qs: delete their waiter rows and NOTIFY each listener
-- once, with the queue names (or '*' for "all") as payload.
CREATE FUNCTION __S__.wake(p text, qs text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    woken integer;
BEGIN
    WITH gone AS (
        DELETE FROM __S__.waiter w WHERE w.prefix = p AND w.queue = ANY (qs)
        RETURNING w.listener, w.queue)
    SELECT count(pg_notify(x.listener, x.body)) INTO woken
    FROM (SELECT gone.listener,
                 CASE WHEN count(*) > 16 THEN '*' ELSE string_agg(gone.queue, ' ') END AS body
          FROM gone GROUP BY gone.listener) x;
    RETURN woken;
END $$;

-- Store one message unless its queue is at capacity (false then). The queue row is locked
-- first, so concurrent senders to one queue cannot race past its capacity. Its "sent" counter
-- numbers the queue's messages (seq), so the pending count is the distance from the oldest
-- live message's number: one index probe, whatever the capacity. (A message taken out of
-- order by a concurrent receiver counts until the head passes it: the check errs on the full
-- side, never lets a queue grow past capacity.)
CREATE FUNCTION __S__.send(p text, q text, ch text, body bytea, ttl float8, cap integer)
RETURNS boolean
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    number bigint;
    head bigint;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO __S__.queue AS t (prefix, name, sent) VALUES (p, q, 1)
    ON CONFLICT (prefix, name) DO UPDATE SET sent = t.sent + 1, touched = now()
    RETURNING t.sent INTO number;
    SELECT m.seq INTO head FROM __S__.message m
    WHERE m.prefix = p AND m.queue = q AND m.expires_at > now() ORDER BY m.id LIMIT 1;
    IF number - head >= cap THEN
        UPDATE __S__.queue SET sent = sent - 1, full_count = full_count + 1
        WHERE prefix = p AND name = q;
        RETURN false;
    END IF;
    INSERT INTO __S__.message (prefix, queue, channel, seq, sent_at, expires_at, payload)
    VALUES (p, q, ch, number, now(), now() + make_interval(secs => ttl), body);
    IF EXISTS (SELECT 1 FROM __S__.waiter w WHERE w.prefix = p AND w.queue = q) THEN
        PERFORM __S__.wake(p, ARRAY[q]);
    END IF;
    RETURN true;
END $$;

-- Take (delete and return) the next message of the first non-empty queue of qs, in order;
-- from an inbox ('...!') up to batch messages at once, with the prefix's flush count (the
-- receiver buffers them locally and drops its buffers when that count moves). When nothing
-- is found and a listener name lsn is given, lock the queues' rows (so no send can slip in
-- between), look once more, and register lsn as waiting on every queue of qs.
CREATE FUNCTION __S__.take(p text, qs text[], batch integer, lsn text)
RETURNS TABLE (r_channel text, r_payload bytea, r_ttl float8, r_epoch bigint)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    q text;
    attempt integer;
BEGIN
    FOR attempt IN 1..2 LOOP
        FOREACH q IN ARRAY qs LOOP
            RETURN QUERY
            WITH taken AS (
                DELETE FROM __S__.message m WHERE m.ctid = ANY (ARRAY(
                    SELECT c.ctid FROM __S__.message c
                    WHERE c.prefix = p AND c.queue = q AND c.expires_at > now()
                    ORDER BY c.id
                    LIMIT CASE WHEN right(q, 1) = '!' THEN batch ELSE 1 END
                    FOR UPDATE SKIP LOCKED))
                RETURNING m.id, m.channel, m.payload, m.expires_at)
            SELECT taken.channel, taken.payload,
                   extract(epoch FROM taken.expires_at - now())::float8,
                   CASE WHEN right(q, 1) = '!' THEN coalesce(
                       (SELECT x.flushes FROM __S__.prefix_totals x WHERE x.prefix = p), 0)
                   END
            FROM taken ORDER BY taken.id;
            IF FOUND THEN
                RETURN;
            END IF;
        END LOOP;
        IF lsn IS NULL OR attempt = 2 THEN
            EXIT;
        END IF;
        INSERT INTO __S__.queue AS t (prefix, name)
        SELECT p, x FROM unnest(qs) x ORDER BY x
        ON CONFLICT (prefix, name) DO UPDATE SET touched = now();
    END LOOP;
    IF lsn IS NOT NULL THEN
        INSERT INTO __S__.waiter AS w (prefix, queue, listener, registered_at)
        SELECT p, x, lsn, now() FROM unnest(qs) x
        ON CONFLICT (prefix, queue, listener) DO UPDATE SET registered_at = now();
    END IF;
END $$;

-- Drop the expired messages of queues qs whose head has expired, and remove their channels
-- from every group (an expired unread message evicts its channel).
CREATE FUNCTION __S__.evict(p text, qs text[]) RETURNS integer
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    evicted integer;
BEGIN
    WITH heads AS (
        SELECT u.q FROM unnest(qs) u(q)
        CROSS JOIN LATERAL (
            SELECT c.expires_at FROM __S__.message c
            WHERE c.prefix = p AND c.queue = u.q ORDER BY c.id LIMIT 1) h
        WHERE h.expires_at <= now()),
    dropped AS (
        DELETE FROM __S__.message m WHERE m.ctid = ANY (ARRAY(
            SELECT c.ctid FROM __S__.message c JOIN heads ON c.prefix = p AND c.queue = heads.q
            WHERE c.expires_at <= now()
            FOR UPDATE OF c SKIP LOCKED))
        RETURNING m.channel),
    gone AS (
        DELETE FROM __S__.group_member g
        WHERE g.prefix = p AND g.channel IN (SELECT DISTINCT channel FROM dropped)
        RETURNING 1)
    SELECT count(*) INTO evicted FROM gone;
    RETURN evicted;
END $$;

CREATE FUNCTION __S__.group_add(
    p text, g text, ch text, q text, cap integer, ttl float8) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM __S__.evict(p, ARRAY[q]);
    INSERT INTO __S__.group_member AS gm (prefix, group_name, channel, queue, capacity, expires_at)
    VALUES (p, g, ch, q, cap, now() + make_interval(secs => ttl))
    ON CONFLICT (prefix, group_name, channel) DO UPDATE
    SET expires_at = excluded.expires_at, capacity = excluded.capacity, queue = excluded.queue;
END $$;

CREATE FUNCTION __S__.group_discard(p text, g text, ch text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM __S__.group_member WHERE prefix = p AND group_name = g AND channel = ch;
END $$;

-- The live members of group g, after lapsing old memberships and evicting channels whose
-- messages expired unread.
CREATE FUNCTION __S__.group_channels(p text, g text) RETURNS text[]
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    qs text[];
    members text[];
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM __S__.group_member
    WHERE prefix = p AND group_name = g AND expires_at <= now();
    SELECT array_agg(DISTINCT queue) INTO qs
    FROM __S__.group_member WHERE prefix = p AND group_name = g;
    IF qs IS NULL THEN
        RETURN ARRAY[]::text[];
    END IF;
    PERFORM __S__.evict(p, qs);
    SELECT coalesce(array_agg(channel ORDER BY channel), ARRAY[]::text[]) INTO members
    FROM __S__.group_member WHERE prefix = p AND group_name = g;
    RETURN members;
END $$;

-- Send one payload to every live member of group g in one transaction: members whose queue
-- is at capacity are skipped and counted. Returns {delivered, skipped}.
CREATE FUNCTION __S__.send_group(p text, g text, body bytea, ttl float8)
RETURNS integer[]
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    qs text[];
    woken text[];
    delivered integer;
    skipped integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM __S__.group_member
    WHERE prefix = p AND group_name = g AND expires_at <= now();
    SELECT array_agg(DISTINCT queue ORDER BY queue) INTO qs
    FROM __S__.group_member WHERE prefix = p AND group_name = g;
    IF qs IS NULL THEN
        RETURN ARRAY[0, 0];
    END IF;
    PERFORM __S__.evict(p, qs);
    -- Lock the members' queue rows, always in name order (receivers lock in the same order);
    -- the next statement's snapshot then sees every send that held one of these locks before.
    INSERT INTO __S__.queue AS t (prefix, name)
    SELECT p, x FROM unnest(qs) x ORDER BY x
    ON CONFLICT (prefix, name) DO UPDATE SET touched = now();
    WITH locked AS (
        SELECT t.name, t.sent FROM __S__.queue t WHERE t.prefix = p AND t.name = ANY (qs)),
    members AS (
        SELECT gm.channel, gm.queue, gm.capacity,
               row_number() OVER (PARTITION BY gm.queue ORDER BY gm.channel) AS rank
        FROM __S__.group_member gm
        WHERE gm.prefix = p AND gm.group_name = g AND gm.queue = ANY (qs)),
    pending AS MATERIALIZED (  -- once per queue, not once per member
        SELECT locked.name AS queue, locked.sent,
               coalesce(locked.sent - h.seq + 1, 0) AS n
        FROM locked LEFT JOIN LATERAL (
            SELECT m.seq FROM __S__.message m
            WHERE m.prefix = p AND m.queue = locked.name AND m.expires_at > now()
            ORDER BY m.id LIMIT 1) h ON true),
    decided AS (
        SELECT members.channel, members.queue, pending.sent + members.rank AS number,
               pending.n + members.rank <= members.capacity AS fits
        FROM members JOIN pending ON pending.queue = members.queue),
    stored AS (
        INSERT INTO __S__.message (prefix, queue, channel, seq, sent_at, expires_at, payload)
        SELECT p, d.queue, d.channel, d.number, now(), now() + make_interval(secs => ttl), body
        FROM decided d WHERE d.fits ORDER BY d.queue, d.number
        RETURNING 1),
    counted AS (
        UPDATE __S__.queue t
        SET sent = t.sent + c.ok, full_count = t.full_count + c.nok
        FROM (SELECT d.queue, count(*) FILTER (WHERE d.fits) AS ok,
                     count(*) FILTER (WHERE NOT d.fits) AS nok
              FROM decided d GROUP BY d.queue) c
        WHERE t.prefix = p AND t.name = c.queue
        RETURNING 1)
    SELECT count(*) FILTER (WHERE d.fits), count(*) FILTER (WHERE NOT d.fits),
           array_agg(DISTINCT d.queue) FILTER (WHERE d.fits)
    INTO delivered, skipped, woken
    FROM decided d;
    IF woken IS NOT NULL
       AND EXISTS (SELECT 1 FROM __S__.waiter w WHERE w.prefix = p AND w.queue = ANY (woken)) THEN
        PERFORM __S__.wake(p, woken);
    END IF;
    RETURN ARRAY[delivered, skipped];
END $$;

-- Remove every message, membership and wake-up registration of prefix p (counters stay),
-- count the flush, and tell every listener of the schema to drop its local buffers. The
-- payload says which flush it was ("<count> <prefix>"), so a process drops only buffers
-- filled before that flush, never messages it took after it.
CREATE FUNCTION __S__.flush(p text, flush_channel text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    counted bigint;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO __S__.prefix_totals AS x (prefix, flushes) VALUES (p, 1)
    ON CONFLICT (prefix) DO UPDATE SET flushes = x.flushes + 1
    RETURNING x.flushes INTO counted;
    DELETE FROM __S__.message WHERE prefix = p;
    DELETE FROM __S__.group_member WHERE prefix = p;
    DELETE FROM __S__.waiter WHERE prefix = p;
    PERFORM pg_notify(flush_channel, counted::text || ' ' || p);
END $$;

-- Counters and pending figures of prefix p: of queue q, or of the whole prefix if q is null.
CREATE FUNCTION __S__.statistics(p text, q text)
RETURNS TABLE (sent bigint, full_count bigint, pending bigint, max_age float8)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
    IF q IS NULL THEN
        RETURN QUERY SELECT
            (SELECT coalesce(sum(t.sent), 0) FROM __S__.queue t WHERE t.prefix = p)::bigint
                + coalesce((SELECT x.sent FROM __S__.prefix_totals x WHERE x.prefix = p), 0),
            (SELECT coalesce(sum(t.full_count), 0) FROM __S__.queue t WHERE t.prefix = p)::bigint
                + coalesce((SELECT x.full_count FROM __S__.prefix_totals x WHERE x.prefix = p), 0),
            m.n, coalesce(extract(epoch FROM now() - m.oldest)::float8, 0.0)
        FROM (SELECT count(*) AS n, min(c.sent_at) AS oldest FROM __S__.message c
              WHERE c.prefix = p AND c.expires_at > now()) m;
    ELSE
        RETURN QUERY SELECT
            coalesce((SELECT t.sent FROM __S__.queue t WHERE t.prefix = p AND t.name = q), 0),
            coalesce((SELECT t.full_count FROM __S__.queue t
                      WHERE t.prefix = p AND t.name = q), 0),
            (SELECT count(*) FROM __S__.message c
             WHERE c.prefix = p AND c.queue = q AND c.expires_at > now()),
            coalesce((SELECT extract(epoch FROM now() - c.sent_at)::float8
                      FROM __S__.message c
                      WHERE c.prefix = p AND c.queue = q AND c.expires_at > now()
                      ORDER BY c.id LIMIT 1), 0.0);
    END IF;
END $$;

-- Housekeeping in small batches, by at most one session at a time: expired messages (their
-- channels leave their groups), lapsed memberships, expired sessions, stale waiter rows; and,
-- when gc_idle is given, queue rows idle that long with nothing pending (their counters are
-- folded into prefix_totals). Returns how many rows it removed.
CREATE FUNCTION __S__.sweep(batch integer, gc_idle float8) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    removed integer := 0;
    n integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(1667460978, hashtext('__S__.sweep')) THEN
        RETURN 0;
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    WITH dropped AS (
        DELETE FROM __S__.message m WHERE m.ctid = ANY (ARRAY(
            SELECT c.ctid FROM __S__.message c WHERE c.expires_at <= now()
            ORDER BY c.expires_at LIMIT batch FOR UPDATE SKIP LOCKED))
        RETURNING m.prefix, m.channel),
    gone AS (
        DELETE FROM __S__.group_member g
        USING (SELECT DISTINCT dropped.prefix, dropped.channel FROM dropped) e
        WHERE g.prefix = e.prefix AND g.channel = e.channel
        RETURNING 1)
    SELECT (SELECT count(*) FROM dropped) + (SELECT count(*) FROM gone) INTO n;
    removed := removed + n;
    DELETE FROM __S__.group_member g WHERE g.ctid = ANY (ARRAY(
        SELECT c.ctid FROM __S__.group_member c WHERE c.expires_at <= now()
        LIMIT batch FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS n = ROW_COUNT;
    removed := removed + n;
    DELETE FROM __S__.session s WHERE s.ctid = ANY (ARRAY(
        SELECT c.ctid FROM __S__.session c WHERE c.expires_at <= now()
        LIMIT batch FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS n = ROW_COUNT;
    removed := removed + n;
    DELETE FROM __S__.waiter w WHERE w.registered_at < now() - interval '10 minutes';
    GET DIAGNOSTICS n = ROW_COUNT;
    removed := removed + n;
    IF gc_idle IS NOT NULL THEN
        WITH idle AS (
            DELETE FROM __S__.queue t WHERE t.ctid = ANY (ARRAY(
                SELECT c.ctid FROM __S__.queue c
                WHERE c.touched < now() - make_interval(secs => gc_idle)
                  AND NOT EXISTS (SELECT 1 FROM __S__.message m
                                  WHERE m.prefix = c.prefix AND m.queue = c.name)
                LIMIT batch FOR UPDATE SKIP LOCKED))
            RETURNING t.prefix, t.sent, t.full_count),
        folded AS (
            INSERT INTO __S__.prefix_totals AS x (prefix, sent, full_count)
            SELECT idle.prefix, sum(idle.sent), sum(idle.full_count) FROM idle
            GROUP BY idle.prefix
            ON CONFLICT (prefix) DO UPDATE
            SET sent = x.sent + excluded.sent, full_count = x.full_count + excluded.full_count
            RETURNING 1)
        SELECT count(*) INTO n FROM idle;
        removed := removed + n;
    END IF;
    RETURN removed;
END $$;

CREATE FUNCTION __S__.session_save(p text, k text, body bytea, ttl float8) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO __S__.session AS s (prefix, key, data, expires_at)
    VALUES (p, k, body, now() + make_interval(secs => ttl))
    ON CONFLICT (prefix, key) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at;
END $$;

CREATE FUNCTION __S__.session_delete(p text, k text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM __S__.session WHERE prefix = p AND key = k;
END $$;

-- The layer vacuums its own busy tables. A queue table's head is where rows are
-- deleted; until VACUUM removes them, every look at the head walks over the dead entries (and
-- autovacuum may be off, or wake only once a minute). One process at a time, elected here.
CREATE UNLOGGED TABLE __S__.maintenance (
    task text PRIMARY KEY,
    last_run timestamptz NOT NULL
);
"""

_V2 = r"""
-- Group fan-out (SPEC §5): a group send stores ONE row per inbox for all its '!' members,
-- whose channel column holds the channels_core.inbox address "<inbox><token>,<token>,...".
-- queue.copies counts the members such rows reached beyond one per row, so messages_count
-- counts members while queue.sent keeps numbering rows (the capacity check needs that).
ALTER TABLE __S__.queue ADD COLUMN copies bigint NOT NULL DEFAULT 0;

-- The full channel names an address (a message row's channel column) is for.
CREATE FUNCTION __S__.address_channels(a text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN strpos(a, ',') = 0 THEN ARRAY[a]
           ELSE ARRAY(SELECT left(a, strpos(a, '!')) || t
                      FROM unnest(string_to_array(substr(a, strpos(a, '!') + 1), ',')) t)
           END
$$;

CREATE OR REPLACE FUNCTION __S__.evict(p text, qs text[]) RETURNS integer
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    evicted integer;
BEGIN
    WITH heads AS (
        SELECT u.q FROM unnest(qs) u(q)
        CROSS JOIN LATERAL (
            SELECT c.expires_at FROM __S__.message c
            WHERE c.prefix = p AND c.queue = u.q ORDER BY c.id LIMIT 1) h
        WHERE h.expires_at <= now()),
    dropped AS (
        DELETE FROM __S__.message m WHERE m.ctid = ANY (ARRAY(
            SELECT c.ctid FROM __S__.message c JOIN heads ON c.prefix = p AND c.queue = heads.q
            WHERE c.expires_at <= now()
            FOR UPDATE OF c SKIP LOCKED))
        RETURNING m.channel),
    gone AS (
        DELETE FROM __S__.group_member g
        WHERE g.prefix = p AND g.channel IN (
            SELECT DISTINCT unnest(__S__.address_channels(dropped.channel)) FROM dropped)
        RETURNING 1)
    SELECT count(*) INTO evicted FROM gone;
    RETURN evicted;
END $$;

-- Send one payload to every live member of group g in one transaction: one row per queue (a
-- plain member's, or one addressed to all the '!' members behind an inbox); members whose
-- queue is at capacity are skipped and counted. Returns {delivered, skipped} in members.
CREATE OR REPLACE FUNCTION __S__.send_group(p text, g text, body bytea, ttl float8)
RETURNS integer[]
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    qs text[];
    woken text[];
    delivered integer;
    skipped integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM __S__.group_member
    WHERE prefix = p AND group_name = g AND expires_at <= now();
    SELECT array_agg(DISTINCT queue ORDER BY queue) INTO qs
    FROM __S__.group_member WHERE prefix = p AND group_name = g;
    IF qs IS NULL THEN
        RETURN ARRAY[0, 0];
    END IF;
    PERFORM __S__.evict(p, qs);
    -- Lock the members' queue rows, always in name order (receivers lock in the same order);
    -- the next statement's snapshot then sees every send that held one of these locks before.
    INSERT INTO __S__.queue AS t (prefix, name)
    SELECT p, x FROM unnest(qs) x ORDER BY x
    ON CONFLICT (prefix, name) DO UPDATE SET touched = now();
    WITH locked AS (
        SELECT t.name, t.sent FROM __S__.queue t WHERE t.prefix = p AND t.name = ANY (qs)),
    entries AS (
        SELECT gm.queue,
               CASE WHEN right(gm.queue, 1) = '!'
                    THEN gm.queue || string_agg(substr(gm.channel, length(gm.queue) + 1), ','
                                                ORDER BY gm.channel)
                    ELSE min(gm.channel) END AS address,
               max(gm.capacity) AS capacity, count(*) AS size
        FROM __S__.group_member gm
        WHERE gm.prefix = p AND gm.group_name = g AND gm.queue = ANY (qs)
        GROUP BY gm.queue),
    pending AS MATERIALIZED (
        SELECT locked.name AS queue, locked.sent,
               coalesce(locked.sent - h.seq + 1, 0) AS n
        FROM locked LEFT JOIN LATERAL (
            SELECT m.seq FROM __S__.message m
            WHERE m.prefix = p AND m.queue = locked.name AND m.expires_at > now()
            ORDER BY m.id LIMIT 1) h ON true),
    decided AS (
        SELECT entries.address, entries.queue, entries.size, pending.sent + 1 AS number,
               pending.n + 1 <= entries.capacity AS fits
        FROM entries JOIN pending ON pending.queue = entries.queue),
    stored AS (
        INSERT INTO __S__.message (prefix, queue, channel, seq, sent_at, expires_at, payload)
        SELECT p, d.queue, d.address, d.number, now(), now() + make_interval(secs => ttl), body
        FROM decided d WHERE d.fits ORDER BY d.queue
        RETURNING 1),
    counted AS (
        UPDATE __S__.queue t
        SET sent = t.sent + CASE WHEN d.fits THEN 1 ELSE 0 END,
            copies = t.copies + CASE WHEN d.fits THEN d.size - 1 ELSE 0 END,
            full_count = t.full_count + CASE WHEN d.fits THEN 0 ELSE d.size END
        FROM decided d
        WHERE t.prefix = p AND t.name = d.queue
        RETURNING 1)
    SELECT coalesce(sum(d.size) FILTER (WHERE d.fits), 0)::integer,
           coalesce(sum(d.size) FILTER (WHERE NOT d.fits), 0)::integer,
           array_agg(d.queue) FILTER (WHERE d.fits)
    INTO delivered, skipped, woken
    FROM decided d;
    IF woken IS NOT NULL
       AND EXISTS (SELECT 1 FROM __S__.waiter w WHERE w.prefix = p AND w.queue = ANY (woken)) THEN
        PERFORM __S__.wake(p, woken);
    END IF;
    RETURN ARRAY[delivered, skipped];
END $$;

CREATE OR REPLACE FUNCTION __S__.statistics(p text, q text)
RETURNS TABLE (sent bigint, full_count bigint, pending bigint, max_age float8)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
    IF q IS NULL THEN
        RETURN QUERY SELECT
            (SELECT coalesce(sum(t.sent + t.copies), 0) FROM __S__.queue t
             WHERE t.prefix = p)::bigint
                + coalesce((SELECT x.sent FROM __S__.prefix_totals x WHERE x.prefix = p), 0),
            (SELECT coalesce(sum(t.full_count), 0) FROM __S__.queue t WHERE t.prefix = p)::bigint
                + coalesce((SELECT x.full_count FROM __S__.prefix_totals x WHERE x.prefix = p), 0),
            m.n, coalesce(extract(epoch FROM now() - m.oldest)::float8, 0.0)
        FROM (SELECT count(*) AS n, min(c.sent_at) AS oldest FROM __S__.message c
              WHERE c.prefix = p AND c.expires_at > now()) m;
    ELSE
        RETURN QUERY SELECT
            coalesce((SELECT t.sent + t.copies FROM __S__.queue t
                      WHERE t.prefix = p AND t.name = q), 0),
            coalesce((SELECT t.full_count FROM __S__.queue t
                      WHERE t.prefix = p AND t.name = q), 0),
            (SELECT count(*) FROM __S__.message c
             WHERE c.prefix = p AND c.queue = q AND c.expires_at > now()),
            coalesce((SELECT extract(epoch FROM now() - c.sent_at)::float8
                      FROM __S__.message c
                      WHERE c.prefix = p AND c.queue = q AND c.expires_at > now()
                      ORDER BY c.id LIMIT 1), 0.0);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION __S__.sweep(batch integer, gc_idle float8) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    removed integer := 0;
    n integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(1667460978, hashtext('__S__.sweep')) THEN
        RETURN 0;
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    WITH dropped AS (
        DELETE FROM __S__.message m WHERE m.ctid = ANY (ARRAY(
            SELECT c.ctid FROM __S__.message c WHERE c.expires_at <= now()
            ORDER BY c.expires_at LIMIT batch FOR UPDATE SKIP LOCKED))
        RETURNING m.prefix, m.channel),
    gone AS (
        DELETE FROM __S__.group_member g
        USING (SELECT DISTINCT dropped.prefix,
                      unnest(__S__.address_channels(dropped.channel)) AS channel
               FROM dropped) e
        WHERE g.prefix = e.prefix AND g.channel = e.channel
        RETURNING 1)
    SELECT (SELECT count(*) FROM dropped) + (SELECT count(*) FROM gone) INTO n;
    removed := removed + n;
    DELETE FROM __S__.group_member g WHERE g.ctid = ANY (ARRAY(
        SELECT c.ctid FROM __S__.group_member c WHERE c.expires_at <= now()
        LIMIT batch FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS n = ROW_COUNT;
    removed := removed + n;
    DELETE FROM __S__.session s WHERE s.ctid = ANY (ARRAY(
        SELECT c.ctid FROM __S__.session c WHERE c.expires_at <= now()
        LIMIT batch FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS n = ROW_COUNT;
    removed := removed + n;
    DELETE FROM __S__.waiter w WHERE w.registered_at < now() - interval '10 minutes';
    GET DIAGNOSTICS n = ROW_COUNT;
    removed := removed + n;
    IF gc_idle IS NOT NULL THEN
        WITH idle AS (
            DELETE FROM __S__.queue t WHERE t.ctid = ANY (ARRAY(
                SELECT c.ctid FROM __S__.queue c
                WHERE c.touched < now() - make_interval(secs => gc_idle)
                  AND NOT EXISTS (SELECT 1 FROM __S__.message m
                                  WHERE m.prefix = c.prefix AND m.queue = c.name)
                LIMIT batch FOR UPDATE SKIP LOCKED))
            RETURNING t.prefix, t.sent + t.copies AS sent, t.full_count),
        folded AS (
            INSERT INTO __S__.prefix_totals AS x (prefix, sent, full_count)
            SELECT idle.prefix, sum(idle.sent), sum(idle.full_count) FROM idle
            GROUP BY idle.prefix
            ON CONFLICT (prefix) DO UPDATE
            SET sent = x.sent + excluded.sent, full_count = x.full_count + excluded.full_count
            RETURNING 1)
        SELECT count(*) INTO n FROM idle;
        removed := removed + n;
    END IF;
    RETURN removed;
END $$;
"""

# Version 3: the queue row of a one-off ('?') channel goes away when a take drains it (its
# counters move to retired_queue, an append-only table the sweep folds into prefix_totals),
# so request/reply traffic no longer piles up queue rows. statistics and sweep are wrapped
# (renamed, and called by the new ones), not rewritten.
_V3 = r"""
CREATE UNLOGGED TABLE __S__.retired_queue (
    prefix text NOT NULL,
    sent bigint NOT NULL,
    full_count bigint NOT NULL
);
CREATE INDEX retired_queue_prefix_idx ON __S__.retired_queue (prefix);

-- Drop the queue row of q if nothing is pending on it and no one holds its lock (a sender
-- that does keeps it: the sweep's idle collection gets it later); keep its counters.
CREATE FUNCTION __S__.retire(p text, q text) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
    WITH gone AS (
        DELETE FROM __S__.queue t WHERE t.ctid = ANY (ARRAY(
            SELECT c.ctid FROM __S__.queue c
            WHERE c.prefix = p AND c.name = q
              AND NOT EXISTS (SELECT 1 FROM __S__.message m WHERE m.prefix = p AND m.queue = q)
              AND NOT EXISTS (SELECT 1 FROM __S__.waiter w WHERE w.prefix = p AND w.queue = q)
            FOR UPDATE SKIP LOCKED))
        RETURNING t.sent + t.copies AS sent, t.full_count)
    INSERT INTO __S__.retired_queue (prefix, sent, full_count)
    SELECT p, gone.sent, gone.full_count FROM gone WHERE gone.sent > 0 OR gone.full_count > 0;
END $$;

CREATE OR REPLACE FUNCTION __S__.take(p text, qs text[], batch integer, lsn text)
RETURNS TABLE (r_channel text, r_payload bytea, r_ttl float8, r_epoch bigint)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
    q text;
    attempt integer;
BEGIN
    FOR attempt IN 1..2 LOOP
        FOREACH q IN ARRAY qs LOOP
            RETURN QUERY
            WITH taken AS (
                DELETE FROM __S__.message m WHERE m.ctid = ANY (ARRAY(
                    SELECT c.ctid FROM __S__.message c
                    WHERE c.prefix = p AND c.queue = q AND c.expires_at > now()
                    ORDER BY c.id
                    LIMIT CASE WHEN right(q, 1) = '!' THEN batch ELSE 1 END
                    FOR UPDATE SKIP LOCKED))
                RETURNING m.id, m.channel, m.payload, m.expires_at)
            SELECT taken.channel, taken.payload,
                   extract(epoch FROM taken.expires_at - now())::float8,
                   CASE WHEN right(q, 1) = '!' THEN coalesce(
                       (SELECT x.flushes FROM __S__.prefix_totals x WHERE x.prefix = p), 0)
                   END
            FROM taken ORDER BY taken.id;
            IF FOUND THEN
                IF strpos(q, '?') > 0 THEN
                    PERFORM __S__.retire(p, q);  -- a one-off channel, usually read once
                END IF;
                RETURN;
            END IF;
        END LOOP;
        IF lsn IS NULL OR attempt = 2 THEN
            EXIT;
        END IF;
        INSERT INTO __S__.queue AS t (prefix, name)
        SELECT p, x FROM unnest(qs) x ORDER BY x
        ON CONFLICT (prefix, name) DO UPDATE SET touched = now();
    END LOOP;
    IF lsn IS NOT NULL THEN
        INSERT INTO __S__.waiter AS w (prefix, queue, listener, registered_at)
        SELECT p, x, lsn, now() FROM unnest(qs) x
        ON CONFLICT (prefix, queue, listener) DO UPDATE SET registered_at = now();
    END IF;
END $$;

-- The statistics of before, plus the counters of retired queues not yet folded.
ALTER FUNCTION __S__.statistics(text, text) RENAME TO statistics_before_retire;
CREATE FUNCTION __S__.statistics(p text, q text)
RETURNS TABLE (sent bigint, full_count bigint, pending bigint, max_age float8)
LANGUAGE sql AS $$
    SELECT s.sent + coalesce(r.sent, 0), s.full_count + coalesce(r.full_count, 0),
           s.pending, s.max_age
    FROM __S__.statistics_before_retire(p, q) s
    LEFT JOIN (SELECT sum(x.sent)::bigint AS sent, sum(x.full_count)::bigint AS full_count
               FROM __S__.retired_queue x WHERE x.prefix = p AND q IS NULL) r ON true
$$;

-- Fold retired queues' counters into prefix_totals (at most batch rows).
CREATE FUNCTION __S__.fold_retired(batch integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH gone AS (
        DELETE FROM __S__.retired_queue r WHERE r.ctid = ANY (ARRAY(
            SELECT c.ctid FROM __S__.retired_queue c LIMIT batch FOR UPDATE SKIP LOCKED))
        RETURNING r.prefix, r.sent, r.full_count),
    folded AS (
        INSERT INTO __S__.prefix_totals AS x (prefix, sent, full_count)
        SELECT gone.prefix, sum(gone.sent), sum(gone.full_count) FROM gone GROUP BY gone.prefix
        ON CONFLICT (prefix) DO UPDATE
        SET sent = x.sent + excluded.sent, full_count = x.full_count + excluded.full_count
        RETURNING 1)
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END $$;

-- The sweep of before, then the folding of retired counters.
ALTER FUNCTION __S__.sweep(integer, float8) RENAME TO sweep_before_retire;
CREATE FUNCTION __S__.sweep(batch integer, gc_idle float8) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    RETURN __S__.sweep_before_retire(batch, gc_idle) + __S__.fold_retired(batch * 10);
END $$;
"""

#: Migrations in order; the schema's version is how many of them were applied. Never edit an
#: applied one: append a new step (``CREATE OR REPLACE FUNCTION`` for changed functions).
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
VERSION = len(MIGRATIONS)

_ready: set[tuple[str, str]] = set()
_ready_lock = threading.Lock()


def _render(sql: str, schema: str) -> str:
    return sql.replace("__S__", f'"{schema}"')


def migrate(conn: Any, schema: str) -> int:
    """Create or upgrade ``schema`` on a psycopg connection; returns the version found before.

    Runs in one transaction holding an advisory lock on the schema's name, so concurrent
    callers wait for each other and every migration is applied exactly once.
    """
    check_schema_name(schema)
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, f"schema:{schema}")
        )
        conn.execute(_render("CREATE SCHEMA IF NOT EXISTS __S__", schema))
        conn.execute(
            _render(
                "CREATE TABLE IF NOT EXISTS __S__.schema_version "
                "(version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                schema,
            )
        )
        row = conn.execute(
            _render("SELECT coalesce(max(version), 0) FROM __S__.schema_version", schema)
        ).fetchone()
        found = int(row[0]) if row else 0
        if found > VERSION:
            logger.warning(
                "schema %r is at version %d, newer than this code's %d; using it as it is",
                schema,
                found,
                VERSION,
            )
        for number in range(found + 1, VERSION + 1):
            conn.execute(_render(MIGRATIONS[number - 1], schema))
            conn.execute(
                _render("INSERT INTO __S__.schema_version (version) VALUES (%s)", schema),
                (number,),
            )
            logger.info("channel layer schema %r migrated to version %d", schema, number)
    return found


def ensure_schema(conn: Any, key: str, schema: str) -> None:
    """:func:`migrate` once per process for each (server, schema) ``key``."""
    with _ready_lock:
        if (key, schema) in _ready:
            return
        migrate(conn, schema)
        _ready.add((key, schema))

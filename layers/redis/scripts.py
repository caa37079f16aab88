"""The Lua scripts of the Redis layer: every operation is one atomic script, one round trip.

Key layout under a namespace ``ns`` (the escaped prefix followed by ``:``):

``ns q:<queue>``    LIST of envelopes ``<deadline ms>:<address or empty>:<payload>``; a queue
                    is a channel name, or the inbox (``a.b!``) of process-specific channels,
                    whose envelopes carry a ``channels_core.inbox`` address (one full name,
                    or ``a.b!t1,t2,...`` for a group send to several of them).
                    TTL ``2 * expiry + 10 s``, refreshed by every send, so abandoned queues vanish.
``ns x``            ZSET queue -> deadline of (at most) its oldest message: the expiry index
                    the sweep walks to find expired unread messages (a score may be older than
                    the real head: the sweep then just corrects it). Every non-empty queue is
                    in it.
``ns g:<group>``    ZSET channel -> server time (ms) of its last ``group_add``.
``ns gc:<group>``   HASH channel -> capacity of its queue (the adder's ``capacity_for``).
``ns m:<channel>``  SET of the groups a channel belongs to (reverse index, for eviction).
``ns st``           HASH of counters: ``c:<queue>`` / ``f:<queue>`` (messages stored / refused
                    because full, per queue), and ``count`` / ``full``: the totals of queues
                    whose counters were retired (the sweep retires them when it finds the queue
                    empty, i.e. about ``expiry`` after it went idle). Global = retired + live.
``ns rs``           HASH second -> ``"<count> <full>"``: global totals sampled by statistics
                    calls, for the per-second rates.
``ns s:<key>``      session data of ``channel_session`` (STRING with TTL).

``st``, ``rs`` and ``x`` get a one-day TTL, refreshed while the prefix is in use.

Time is the server's (``TIME``), so clients with skewed clocks agree on expiry: a sending
client computes a message's deadline from its measurement of the server clock (refreshed every
30 s), which saves the send script a ``TIME`` call. Scripts build
key names from the namespace (the layer shards on the client side and does not use Redis
Cluster, which would need every key declared in ``KEYS``). The hot paths (send, poll) create
no helper closures unless they need them: the helpers live in ``lib()``, built on first use.
"""

from __future__ import annotations

_LIB = r"""
local ns = ARGV[1]
local DAY = 86400000
local SWEEP = 1000  -- most due queues one script expires (bounded work per call)
local L = nil
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function lib()
  if L then return L end
  L = {}
  -- the deadline of an envelope, or nil if it is not one of this layer's envelopes
  function L.deadline_of(env)
    local d = string.match(env, '^(%d+):')
    if d then return tonumber(d) end
    return nil
  end
  function L.channel_of(env, queue)
    local i = string.find(env, ':', 1, true)
    if not i then return queue end
    local j = string.find(env, ':', i + 1, true)
    if not j or j == i + 1 then return queue end
    return string.sub(env, i + 1, j - 1)
  end
  -- count entries dropped because they are not this layer's envelopes
  function L.malformed(n)
    if n > 0 then redis.call('HINCRBY', ns .. 'st', 'bad', n) end
  end
  -- evict every channel an envelope's address names (one, or the ``!`` members of a group
  -- fan-out entry: "<inbox>tok1,tok2,...")
  function L.evict_address(addr)
    if not string.find(addr, ',', 1, true) then return L.evict(addr) end
    local bang = string.find(addr, '!', 1, true)
    local inbox = string.sub(addr, 1, bang)
    for token in string.gmatch(string.sub(addr, bang + 1), '[^,]+') do L.evict(inbox .. token) end
  end
  -- remove a channel from every group it belongs to (a message of it expired unread)
  function L.evict(channel)
    local mkey = ns .. 'm:' .. channel
    local groups = redis.call('SMEMBERS', mkey)
    for _, g in ipairs(groups) do
      redis.call('ZREM', ns .. 'g:' .. g, channel)
      redis.call('HDEL', ns .. 'gc:' .. g, channel)
    end
    if #groups > 0 then redis.call('DEL', mkey) end
  end
  -- fold a queue's counters into the retired totals
  function L.retire(queue)
    local skey = ns .. 'st'
    local c = redis.call('HMGET', skey, 'c:' .. queue, 'f:' .. queue)
    if c[1] then redis.call('HINCRBY', skey, 'count', c[1]) end
    if c[2] then redis.call('HINCRBY', skey, 'full', c[2]) end
    if c[1] or c[2] then redis.call('HDEL', skey, 'c:' .. queue, 'f:' .. queue) end
  end
  -- drop the expired messages at the head of a queue, evicting their channels, and entries
  -- that are not envelopes (counted); fix its index. At most ``budget`` pops (then the queue
  -- stays due for the next sweep). Returns how many entries it popped.
  function L.expire_head(queue, now, budget)
    local qkey = ns .. 'q:' .. queue
    local seen = {}
    local popped, bad = 0, 0
    while true do
      local head = redis.call('LINDEX', qkey, 0)
      if not head then
        redis.call('ZREM', ns .. 'x', queue)
        L.retire(queue)
        break
      end
      local d = L.deadline_of(head)
      if d and d > now then
        redis.call('ZADD', ns .. 'x', d, queue)
        break
      end
      if budget and popped >= budget then break end
      redis.call('LPOP', qkey)
      popped = popped + 1
      if d then
        local ch = L.channel_of(head, queue)
        if not seen[ch] then
          seen[ch] = true
          L.evict_address(ch)
        end
      else
        bad = bad + 1
      end
    end
    L.malformed(bad)
    return popped
  end
  -- expire the heads of due queues: at most ``limit`` queues and ``limit * 10`` entries
  function L.sweep(now, limit)
    local xkey = ns .. 'x'
    local due = redis.call('ZRANGEBYSCORE', xkey, '-inf', now, 'LIMIT', 0, limit)
    local budget = limit * 10
    for _, queue in ipairs(due) do
      if budget <= 0 then break end
      local kind = redis.call('TYPE', ns .. 'q:' .. queue)['ok']
      if kind == 'list' or kind == 'none' then
        budget = budget - L.expire_head(queue, now, budget)
      else  -- not a queue of this layer: leave the key alone, forget it in the index
        redis.call('ZREM', xkey, queue)
        L.malformed(1)
      end
    end
    return #due
  end
  -- periodic upkeep (each client asks for it at most every 100 ms)
  function L.housekeeping(now, limit)
    L.sweep(now, limit)
    redis.call('PEXPIRE', ns .. 'st', DAY)
    redis.call('PEXPIRE', ns .. 'x', DAY)
  end
  -- remove (at most ``limit``) memberships of a group older than the group expiry
  function L.lapse(group, now, group_expiry, limit)
    local gkey = ns .. 'g:' .. group
    local old = redis.call('ZRANGEBYSCORE', gkey, '-inf', now - group_expiry, 'LIMIT', 0, limit)
    for _, ch in ipairs(old) do
      redis.call('ZREM', gkey, ch)
      redis.call('HDEL', ns .. 'gc:' .. group, ch)
      redis.call('SREM', ns .. 'm:' .. ch, group)
    end
  end
  return L
end
"""

#: ARGV: ns, queue, envelope (built by the client, whose deadline is in the server's clock),
#: ``"<capacity>:<expiry ms>:<housekeeping: 0 or how many due queues to sweep>"``.
#: Returns 1 when stored, 0 when the queue is full. The common case costs three commands
#: (RPUSH, whose answer is the length the capacity check needs; PEXPIRE; HINCRBY).
SEND = (
    _LIB
    + r"""
local queue, envelope = ARGV[2], ARGV[3]
local cap, expiry, upkeep = string.match(ARGV[4], '(%d+):(%d+):(%d+)')
cap = tonumber(cap)
local qkey = ns .. 'q:' .. queue
local len = redis.call('RPUSH', qkey, envelope)
if len > cap then
  redis.call('RPOP', qkey)
  lib().expire_head(queue, now_ms(), cap + 1)
  if redis.call('LLEN', qkey) >= cap then
    redis.call('HINCRBY', ns .. 'st', 'f:' .. queue, 1)
    return 0
  end
  len = redis.call('RPUSH', qkey, envelope)
end
redis.call('PEXPIRE', qkey, tonumber(expiry) * 2 + 10000)
if len == 1 then
  redis.call('ZADD', ns .. 'x', 'NX', string.match(envelope, '^(%d+):'), queue)
end
redis.call('HINCRBY', ns .. 'st', 'c:' .. queue, 1)
if upkeep ~= '0' then lib().housekeeping(now_ms(), tonumber(upkeep)) end
return 1
"""
)

#: ARGV: ns, ``"<drain count>:<drain byte budget>:<housekeeping>"``, queue names (inboxes end
#: with '!', or '!+' when the client holds buffered messages for it, or '!=' when its buffers
#: are full as a whole: counted as having messages, not drained). Returns, for the first
#: queue with a live message: ``"<index>:<envelope>"`` for a plain queue, or {index, now,
#: comma-separated lengths, the envelopes concatenated} for an inbox (up to ``drain``
#: envelopes: two strings the client splits far faster than a reply of many; expired ones at
#: the head are dropped and their channels evicted here, any other the client drops when it
#: meets it; an inbox marked '+' counts as having messages); 0 if none.
POLL = (
    _LIB
    + r"""
local drain, budget, upkeep = string.match(ARGV[2], '(%d+):(%d+):(%d+)')
drain, budget = tonumber(drain), tonumber(budget)
local now = now_ms()
if upkeep ~= '0' then lib().housekeeping(now, tonumber(upkeep)) end
for i = 3, #ARGV do
  local queue = ARGV[i]
  local mark = string.sub(queue, -1)
  local buffered = mark == '+' or mark == '='
  if buffered then queue = string.sub(queue, 1, -2) end
  local qkey = ns .. 'q:' .. queue
  if mark == '=' then
    return {i - 2, now, '', '', 0}
  elseif string.sub(queue, -1) == '!' then
    local envs, lengths = {}, {}
    local taken, bytes, seen, checking, bad = 0, 0, {}, true, 0
    while taken < drain and bytes < budget do
      local chunk = redis.call('LRANGE', qkey, taken, taken + 255)
      for _, env in ipairs(chunk) do
        taken = taken + 1
        bytes = bytes + #env
        local live = true
        local d = nil
        if checking then  -- expired messages are at the head: check until a live one
          d = lib().deadline_of(env)
          live = d ~= nil and d > now
          checking = not live
        end
        if live then
          envs[#envs + 1] = env
          lengths[#lengths + 1] = #env
        elseif d == nil then
          bad = bad + 1
        else
          local ch = lib().channel_of(env, queue)
          if not seen[ch] then
            seen[ch] = true
            lib().evict_address(ch)
          end
        end
        if taken >= drain or bytes >= budget then break end
      end
      if #chunk < 256 then break end
    end
    if taken > 0 then redis.call('LTRIM', qkey, taken, -1) end
    lib().malformed(bad)
    if #envs > 0 or buffered or bad > 0 then
      return {i - 2, now, table.concat(lengths, ','), table.concat(envs), bad}
    end
  else
    while true do
      local env = redis.call('LPOP', qkey)
      if not env then break end
      local d = lib().deadline_of(env)
      -- a malformed entry goes to the client, which counts it and reports it
      if d == nil or d > now then return (i - 2) .. ':' .. env end
      lib().evict(lib().channel_of(env, queue))
    end
  end
end
return 0
"""
)

#: ARGV: ns, channel names whose messages expired unread (seen by a client). Returns now.
EVICT = (
    _LIB
    + r"""
for i = 2, #ARGV do lib().evict(ARGV[i]) end
return now_ms()
"""
)

#: ARGV: ns, group, channel, capacity of its queue, group expiry ms.
GROUP_ADD = (
    _LIB
    + r"""
local group, channel, gexp = ARGV[2], ARGV[3], tonumber(ARGV[5])
local now = now_ms()
local gkey, ckey, mkey = ns .. 'g:' .. group, ns .. 'gc:' .. group, ns .. 'm:' .. channel
redis.call('ZADD', gkey, now, channel)
redis.call('HSET', ckey, channel, ARGV[4])
redis.call('SADD', mkey, group)
redis.call('PEXPIRE', gkey, gexp)
redis.call('PEXPIRE', ckey, gexp)
redis.call('PEXPIRE', mkey, gexp)
return now
"""
)

#: ARGV: ns, group, channel.
GROUP_DISCARD = (
    _LIB
    + r"""
local group, channel = ARGV[2], ARGV[3]
redis.call('ZREM', ns .. 'g:' .. group, channel)
redis.call('HDEL', ns .. 'gc:' .. group, channel)
redis.call('SREM', ns .. 'm:' .. channel, group)
return 1
"""
)

#: ARGV: ns, group, group expiry ms. Returns the live members (expired ones evicted first).
GROUP_CHANNELS = (
    _LIB
    + r"""
local now = now_ms()
lib().housekeeping(now, SWEEP)
lib().lapse(ARGV[2], now, tonumber(ARGV[3]), SWEEP)
return redis.call('ZRANGEBYSCORE', ns .. 'g:' .. ARGV[2], '(' .. (now - tonumber(ARGV[3])), '+inf')
"""
)

#: ARGV: ns, group, payload, default capacity, expiry ms, group expiry ms, chunk, token, part.
#: Bounded work per call: part ``0`` lapses old memberships and delivers to the first
#: ``chunk`` live members; if there are more, it first copies the live members into a
#: snapshot (``gs:<token>``, one minute TTL; ZRANGESTORE, native code), and part ``k``
#: delivers to the ``k``-th chunk of that snapshot; the last part deletes it. A member is in
#: exactly one part, whatever group_add/discard run meanwhile: never twice. Returns
#: {delivered, skipped because full, now, live members}. One envelope per queue and part: a
#: plain member's own, or ONE for all the ``!`` members behind an inbox, addressed
#: ``<inbox><token>,<token>,...`` (``channels_core.inbox`` fan-out entry); it takes one slot
#: of the inbox's capacity, and the members count one message each in the statistics.
SEND_GROUP = (
    _LIB
    + r"""
local group, payload = ARGV[2], ARGV[3]
local default_cap, expiry, gexp = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local chunk, part = tonumber(ARGV[7]), tonumber(ARGV[9])
local snapshot = ns .. 'gs:' .. ARGV[8]
local now = now_ms()
local members, total
if part == 0 then
  lib().housekeeping(now, SWEEP)
  lib().lapse(group, now, gexp, chunk)
  local gkey = ns .. 'g:' .. group
  local live = '(' .. (now - gexp)
  total = redis.call('ZCOUNT', gkey, live, '+inf')
  if total > chunk then
    redis.call('ZRANGESTORE', snapshot, gkey, live, '+inf', 'BYSCORE')
    redis.call('PEXPIRE', snapshot, 60000)
    members = redis.call('ZRANGE', snapshot, 0, chunk - 1)
  else
    members = redis.call('ZRANGEBYSCORE', gkey, live, '+inf')
  end
else
  local start = part * chunk
  members = redis.call('ZRANGE', snapshot, start, start + chunk - 1)
  total = redis.call('ZCARD', snapshot)
  if start + chunk >= total then redis.call('DEL', snapshot) end
end
if #members == 0 then return {0, 0, now, total} end
local caps = {}
for first = 1, #members, 4000 do
  local last = math.min(first + 3999, #members)
  local got = redis.call('HMGET', ns .. 'gc:' .. group, unpack(members, first, last))
  for k = 1, #got do caps[first + k - 1] = got[k] end
end
local queues, order = {}, {}
for i, ch in ipairs(members) do
  local bang = string.find(ch, '!', 1, true)
  local queue = ch
  if bang then queue = string.sub(ch, 1, bang) end
  local q = queues[queue]
  if not q then
    q = {cap = tonumber(caps[i]) or default_cap, tokens = {}, n = 0}
    queues[queue] = q
    order[#order + 1] = queue
  end
  q.n = q.n + 1
  if bang then q.tokens[q.n] = string.sub(ch, bang + 1) end
end
local deadline = now + expiry
local delivered, full = 0, 0
local skey = ns .. 'st'
for _, queue in ipairs(order) do
  local q = queues[queue]
  local qkey = ns .. 'q:' .. queue
  local len = redis.call('LLEN', qkey)
  if len >= q.cap then
    redis.call('HINCRBY', skey, 'f:' .. queue, q.n)
    full = full + q.n
  else
    local address = ''
    if #q.tokens > 0 then address = queue .. table.concat(q.tokens, ',') end
    redis.call('RPUSH', qkey, deadline .. ':' .. address .. ':' .. payload)
    redis.call('PEXPIRE', qkey, expiry * 2 + 10000)
    if len == 0 then redis.call('ZADD', ns .. 'x', 'NX', deadline, queue) end
    redis.call('HINCRBY', skey, 'c:' .. queue, q.n)
    delivered = delivered + q.n
  end
end
return {delivered, full, now, total}
"""
)

#: ARGV: ns, chunk, token, part. Returns {pending, oldest deadline or 0, count, full, sent
#: over the sampled window, refused over it, window seconds, now, entries dropped as
#: malformed, queues}. Bounded work per call: part ``0`` looks at the first ``chunk`` queues
#: of the expiry index (with more, it copies the index into a snapshot ``gs:<token>`` first,
#: as SEND_GROUP does); part ``k`` (pending and oldest only) at the ``k``-th chunk of it.
GLOBAL_STATS = (
    _LIB
    + r"""
local chunk, part = tonumber(ARGV[2]), tonumber(ARGV[4])
local snapshot = ns .. 'gs:' .. ARGV[3]
local now = now_ms()
local queues, total
if part == 0 then
  lib().housekeeping(now, SWEEP)
  total = redis.call('ZCARD', ns .. 'x')
  if total > chunk then
    redis.call('ZRANGESTORE', snapshot, ns .. 'x', 0, -1)
    redis.call('PEXPIRE', snapshot, 60000)
    queues = redis.call('ZRANGE', snapshot, 0, chunk - 1)
  else
    queues = redis.call('ZRANGE', ns .. 'x', 0, -1)
  end
else
  local start = part * chunk
  queues = redis.call('ZRANGE', snapshot, start, start + chunk - 1)
  total = redis.call('ZCARD', snapshot)
  if start + chunk >= total then redis.call('DEL', snapshot) end
end
local pending, oldest = 0, 0
for _, queue in ipairs(queues) do
  local qkey = ns .. 'q:' .. queue
  local len = redis.call('LLEN', qkey)
  if len > 0 then
    pending = pending + len
    local d = lib().deadline_of(redis.call('LINDEX', qkey, 0))
    if d and (oldest == 0 or d < oldest) then oldest = d end
  end
end
if part > 0 then return {pending, oldest, 0, 0, 0, 0, 0, now, 0, total} end
local count, full, bad = 0, 0, 0
local fields = redis.call('HGETALL', ns .. 'st')
for k = 1, #fields, 2 do
  local name = fields[k]
  local first = string.sub(name, 1, 1)
  local n = tonumber(fields[k + 1]) or 0
  if name == 'bad' then bad = n
  elseif name == 'count' or first == 'c' then count = count + n
  elseif name == 'full' or first == 'f' then full = full + n end
end
-- rates: from the oldest sample of the last minute (taken by earlier statistics calls)
local rkey = ns .. 'rs'
local sec = math.floor(now / 1000)
local best, sample = nil, nil
local samples = redis.call('HGETALL', rkey)
for k = 1, #samples, 2 do
  local s = tonumber(samples[k]) or 0
  if s < sec - 120 or not string.match(samples[k + 1], '^%d+ %d+$') then
    redis.call('HDEL', rkey, samples[k])
  elseif s >= sec - 60 and s < sec and (best == nil or s < best) then
    best, sample = s, samples[k + 1]
  end
end
redis.call('HSETNX', rkey, sec, count .. ' ' .. full)
redis.call('PEXPIRE', rkey, DAY)
local sent, refused, window = 0, 0, 0
if best ~= nil then
  local space = string.find(sample, ' ', 1, true)
  sent = count - tonumber(string.sub(sample, 1, space - 1))
  refused = full - tonumber(string.sub(sample, space + 1))
  window = sec - best
end
return {pending, oldest, count, full, sent, refused, window, now, bad, total}
"""
)

#: ARGV: ns, queue. Returns {pending, oldest deadline or 0, count, full, now}.
CHANNEL_STATS = (
    _LIB
    + r"""
local queue = ARGV[2]
local now = now_ms()
local qkey = ns .. 'q:' .. queue
local head = redis.call('LINDEX', qkey, 0)
if head and (lib().deadline_of(head) or 0) <= now then lib().expire_head(queue, now, 10000) end
local len = redis.call('LLEN', qkey)
local oldest = 0
if len > 0 then oldest = lib().deadline_of(redis.call('LINDEX', qkey, 0)) or 0 end
local c = redis.call('HMGET', ns .. 'st', 'c:' .. queue, 'f:' .. queue)
return {len, oldest, tonumber(c[1]) or 0, tonumber(c[2]) or 0, now}
"""
)

#: ARGV: ns, name. Whether a channel holds messages or group memberships (for new_channel).
IN_USE = (
    _LIB
    + r"""
local name = ARGV[2]
if redis.call('EXISTS', ns .. 'm:' .. name) == 1 then return 1 end
if not string.find(name, '!', 1, true) and redis.call('EXISTS', ns .. 'q:' .. name) == 1 then
  return 1
end
return 0
"""
)

ALL = {
    "send": SEND,
    "poll": POLL,
    "evict": EVICT,
    "group_add": GROUP_ADD,
    "group_discard": GROUP_DISCARD,
    "group_channels": GROUP_CHANNELS,
    "send_group": SEND_GROUP,
    "global_stats": GLOBAL_STATS,
    "channel_stats": CHANNEL_STATS,
    "in_use": IN_USE,
}

"""The working-memory scripts: a session's write (with its quotas), delete, check-and-set,
the listing of sessions (a read) and its bounded prune (a write). The key layout they write is
documented in `memory.redis_keys`."""

from memory.redis_keys import LuaScript

# Working memory: keeping a session in (or out of) its listing scopes and their expiry
# companions, the namespace's byte count, and dropping expired sessions.
# Expiry scores are compared as Redis expires keys: a session is gone once its score < now.
_WM_LISTING = """
local function list_in(scope, member, score, expires)
  redis.call('ZADD', scope, score, member)
  if expires > 0 then
    redis.call('ZADD', scope .. EXPIRY_SUFFIX, expires, member)
  else
    redis.call('ZREM', scope .. EXPIRY_SUFFIX, member)
  end
end
local function unlist_from(scope, member)
  redis.call('ZREM', scope, member)
  redis.call('ZREM', scope .. EXPIRY_SUFFIX, member)
end
-- The bytes of each session's doc in its namespace, and their sum.
local function record_size(ens, sid, size)
  local old = tonumber(redis.call('HGET', SIZES_PREFIX .. ens, sid)) or 0
  redis.call('HSET', SIZES_PREFIX .. ens, sid, size)
  redis.call('INCRBY', BYTES_PREFIX .. ens, size - old)
end
local function forget_size(ens, sid)
  local size = redis.call('HGET', SIZES_PREFIX .. ens, sid)
  if not size then return end
  redis.call('HDEL', SIZES_PREFIX .. ens, sid)
  if redis.call('HLEN', SIZES_PREFIX .. ens) == 0 then
    redis.call('DEL', BYTES_PREFIX .. ens)
  else
    redis.call('DECRBY', BYTES_PREFIX .. ens, size)
  end
end
local function list_session(ens, sid, score, expires)
  list_in(INDEX_ALL, ens .. ':' .. sid, score, expires)
  list_in(ns_scope(ens), sid, score, expires)
end
local function list_owner(ens, eu, sid, score, expires)
  list_in(user_scope(eu), ens .. ':' .. sid, score, expires)
  list_in(ns_user_scope(ens, eu), sid, score, expires)
end
local function unlist_session(ens, sid)
  unlist_from(INDEX_ALL, ens .. ':' .. sid)
  unlist_from(ns_scope(ens), sid)
  forget_size(ens, sid)
end
local function unlist_owner(ens, eu, sid)
  unlist_from(user_scope(eu), ens .. ':' .. sid)
  unlist_from(ns_user_scope(ens, eu), sid)
end
local function expiry_member(ens, eu, sid) return ens .. ':' .. eu .. ':' .. sid end
-- At most `batch` expired sessions, oldest expiry first, out of every index they are in.
local function prune_expired(now, batch)
  local expired = redis.call('ZRANGE', EXPIRIES, '-inf', '(' .. now, 'BYSCORE', 'LIMIT', 0, batch)
  for _, member in ipairs(expired) do
    local ns_end = string.find(member, ':', 1, true)
    local user_end = string.find(member, ':', ns_end + 1, true)
    local ns = string.sub(member, 1, ns_end - 1)
    local user = string.sub(member, ns_end + 1, user_end - 1)
    local sid = string.sub(member, user_end + 1)
    -- The session may have been written again since (possibly by a new owner).
    local owner = redis.call('HGET', session_key(ns, sid), 'user')
    if owner == false then unlist_session(ns, sid) end
    if user ~= '' and (owner == false or esc(owner) ~= user) then unlist_owner(ns, user, sid) end
    redis.call('ZREM', EXPIRIES, member)
  end
  return #expired
end
-- At most `batch` expired members out of one scope (and its companion), oldest expiry
-- first; in a namespace's scope (`sizes_ens` given) their bytes are freed too. Their
-- entries in other indexes are left to prune_expired, which then finds nothing to free.
local function prune_scope(scope, now, batch, sizes_ens)
  local expired = redis.call('ZRANGE', scope .. EXPIRY_SUFFIX, '-inf', '(' .. now, 'BYSCORE', 'LIMIT', 0, batch)
  for _, member in ipairs(expired) do
    unlist_from(scope, member)
    if sizes_ens then forget_size(sizes_ens, member) end
  end
  return #expired
end
-- Members of the scope whose session has expired but is still listed.
local function expired_count(scope, now)
  return redis.call('ZCOUNT', scope .. EXPIRY_SUFFIX, '-inf', '(' .. now)
end
"""

# KEYS[1] = a listing scope; ARGV = prune batch, and "1" plus the escaped namespace when
# the scope is that namespace's. Drops at most `batch` expired sessions: the scope's own
# first, then any (oldest expiry first, from every index). Returns how many it dropped.
WM_PRUNE = LuaScript(
    _WM_LISTING
    + """
local scope, batch = KEYS[1], tonumber(ARGV[1])
local _, now = clock()
local dropped = prune_scope(scope, now, batch, ARGV[2] == '1' and ARGV[3] or nil)
if dropped < batch then dropped = dropped + prune_expired(now, batch - dropped) end
return dropped
"""
)

# KEYS[1] = a listing scope; ARGV = first rank, last rank, skip bound. Reads only.
# Returns {total, page} of the scope, newest write first, neither counting nor listing
# an expired session still there (WM_PRUNE drops them). When expired members remain, the
# page reads at most `skip bound` ranks further to skip them.
WM_LIST = LuaScript(
    _WM_LISTING
    + """
local scope, first, last, batch = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local _, now = clock()
local stale = expired_count(scope, now)
local total = redis.call('ZCARD', scope) - stale
if stale == 0 then return {total, redis.call('ZRANGE', scope, first, last, 'REV')} end
local page = {}
for _, member in ipairs(redis.call('ZRANGE', scope, first, last + math.min(stale, batch), 'REV')) do
  if #page > last - first then break end
  local expires = redis.call('ZSCORE', scope .. EXPIRY_SUFFIX, member)
  if not expires or tonumber(expires) >= now then page[#page + 1] = member end
end
return {total, page}
"""
)

# The quotas of one PUT: nil when the write fits, else {limit, used, requested, quota}.
# Sessions: the namespace's live ones (expired ones not yet pruned do not count), +1 when
# this session is not one of them. Bytes: the namespace's docs with this one replaced; a
# write that does not grow its session is always let through.
_WM_QUOTAS = """
local function quota_excess(ens, sid, size, now, max_sessions, max_bytes)
  local scope = ns_scope(ens)
  if max_sessions > 0 then
    local live = redis.call('ZCARD', scope) - expired_count(scope, now)
    local expires = redis.call('ZSCORE', scope .. EXPIRY_SUFFIX, sid)
    local counted = redis.call('ZSCORE', scope, sid) and not (expires and tonumber(expires) < now)
    if not counted and live >= max_sessions then return {'sessions', live, live + 1, max_sessions} end
  end
  if max_bytes > 0 then
    local old = tonumber(redis.call('HGET', SIZES_PREFIX .. ens, sid)) or 0
    local used = tonumber(redis.call('GET', BYTES_PREFIX .. ens)) or 0
    if size > old and used - old + size > max_bytes then return {'bytes', used, used - old + size, max_bytes} end
  end
  return nil
end
"""

# KEYS[1] = session hash; ARGV = escaped ns, session id, user ("" for none), doc, mtok,
# rev, ttl_ms (0: none), summary-pending key ("" for no summary), its PX ms, how many
# expired sessions to prune, the namespace's session quota and byte quota (0: none), how
# many of the namespace's expired sessions to prune before refusing on bytes.
# Replaces the session and its index entries atomically, or writes nothing.
# Returns {1 existed / 0 new, owner, 1 if the summary guard was set}, {-1, the owner}
# when another user owns it, or {-2, limit, {used, requested, quota}} over a quota.
WM_PUT = LuaScript(
    _WM_LISTING
    + _WM_QUOTAS
    + """
local key = KEYS[1]
local ens, sid, user, doc, mtok, rev, ttl_ms, guard_key, guard_ms =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9]
local max_sessions, max_bytes, quota_prune = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local old = redis.call('HMGET', key, 'doc', 'user')
local existed = old[1] ~= false
local old_user = old[2] or ''
if existed and old_user ~= '' and user ~= '' and old_user ~= user then
  return {-1, old_user, 0}
end
-- A PUT that names no user keeps the session's owner.
if user == '' then user = old_user end
local t, now = clock()
-- Listing order is by write time in microseconds, so back-to-back writes never tie.
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
prune_expired(now, tonumber(ARGV[10]))
local excess = quota_excess(ens, sid, #doc, now, max_sessions, max_bytes)
if excess and excess[1] == 'bytes' then
  -- Expired sessions still hold bytes until pruned: free some of this namespace's first.
  prune_scope(ns_scope(ens), now, quota_prune, ens)
  excess = quota_excess(ens, sid, #doc, now, max_sessions, max_bytes)
end
if excess then return {-2, excess[1], {excess[2], excess[3], excess[4]}} end
redis.call('DEL', key)
redis.call('HSET', key, 'doc', doc, 'user', user, 'rev', rev, 'mtok', mtok, 'written', now)
record_size(ens, sid, #doc)
local eu = esc(user)
if existed then redis.call('ZREM', EXPIRIES, expiry_member(ens, esc(old_user), sid)) end
local expires = 0
if ttl_ms > 0 then
  expires = now + ttl_ms
  redis.call('PEXPIREAT', key, expires)
  redis.call('ZADD', EXPIRIES, expires, expiry_member(ens, eu, sid))
end
list_session(ens, sid, now_us, expires)
if user ~= '' then list_owner(ens, eu, sid, now_us, expires) end
local guard = 0
if guard_key ~= '' and redis.call('SET', guard_key, '1', 'PX', guard_ms, 'NX') then guard = 1 end
return {existed and 1 or 0, user, guard}
"""
)

# KEYS[1] = session hash; ARGV = escaped ns, session id, user ("" for none).
# Returns 1 deleted, 0 missing, -1 owned by another user.
WM_DELETE = LuaScript(
    _WM_LISTING
    + """
local key = KEYS[1]
local ens, sid, user = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HMGET', key, 'doc', 'user')
if old[1] == false then return 0 end
local owner = old[2] or ''
if user ~= '' and owner ~= '' and owner ~= user then return -1 end
redis.call('DEL', key)
local eu = esc(owner)
redis.call('ZREM', EXPIRIES, expiry_member(ens, eu, sid))
unlist_session(ens, sid)
if owner ~= '' then unlist_owner(ens, eu, sid) end
return 1
"""
)

# KEYS[1] = session hash; ARGV = the rev read, doc, mtok, new rev, escaped ns, session
# id. Writes the summarised session only if no PUT landed since it was read; keeps the
# TTL; the namespace's bytes follow the new doc. Returns 1 written, 0 not.
WM_CHECK_AND_SET = LuaScript(
    _WM_LISTING
    + """
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'mtok', ARGV[3], 'rev', ARGV[4])
record_size(ARGV[5], ARGV[6], #ARGV[2])
return 1
"""
)

# The promotion debounce (memory.services.debounce). A write: KEYS[1] = window hash;
# ARGV = window_ms, max_wait_ms, grace_ms, ttl_ms.
# Returns {token or "", delay_ms}: a token means "send a message with this token".

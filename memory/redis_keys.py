"""The Redis key layout and every Lua script the server runs: the one module that owns them.

Key families the server writes (namespace and user parts written `{ns}`/`{user}` are
escaped by `escape`: `%` -> `%25`, `:` -> `%3A`, None -> ""):

- `wm:s:{ns}:{session_id}` (hash; TTL = the session's `ttl_seconds`, else
  WORKING_MEMORY_TTL_SECONDS, else none): one session's working memory. Fields `doc`
  (the session as JSON, without `user_id`), `user` (the owner, "" for none), `rev` (a
  new ULID on every write, for check-and-set), `mtok` (JSON list: tokens of each
  message) and `written` (ms). The key holds namespace and session id, not the user, so
  a session is found whether or not the reader names its user (the reference server's
  issue #235).
- `wm:idx`, `wm:idx:ns:{ns}`, `wm:idx:user:{user}`, `wm:idx:ns:{ns}:user:{user}` (sorted
  sets; no TTL): the sessions of each listing scope, scored by last write in
  microseconds. Scopes across namespaces (`wm:idx`, `wm:idx:user:*`) hold
  "{ns}:{session_id}", a namespace's scopes hold the session id. Only owned sessions
  are in the user scopes.
- `wm:expiries` (sorted set; no TTL): "{ns}:{user}:{session_id}" of each session that
  has a TTL, scored by when it expires (ms), so expired sessions are dropped from the
  scope sets before counting: `total` is a true count.
- `wm:summary-pending:{ns}:{session_id}` (string "1"; PX SUMMARY_PENDING_MS of
  memory.services.working_memory, 10 min): at most one running-summary job per session;
  set NX by the PUT that queues the job, deleted when the job ends.
- `promotion:debounce:{ns}:{user}:{session_id}` (hash; PEXPIRE until due plus
  ABANDONED_WINDOW_TTL_MS of memory.services.debounce, 24 h): a session's pending
  promotion window, fields `first`, `due`, `token`, `armed` (ms, Redis clock; the
  protocol is described in memory.services.debounce). Here the three parts are
  percent-encoded (`urllib.parse.quote`, nothing safe), not `escape`d.
- `embcache:{EMBEDDING_MODEL}:{sha256 of the text}` (string: float32 bytes; EX
  EMBEDDING_CACHE_TTL_SECONDS, 7 days): the query-embedding cache.
- `{MEMORY_INDEX_PREFIX}:{record_id}` (hash, written by memory.index, indexed by
  RediSearch as MEMORY_INDEX_NAME; no TTL): one long-term record's RedisVL document
  (vector, text, tag and numeric fields). Rebuildable from the database.
- `{MEMORY_INDEX_NAME}:schema` (string: sha256 hex of the index schema; no TTL): a
  changed schema is detected and the index recreated over its documents.
- `memory:index-sweep:lock` (string: ISO time of the claim; PX 0.9 x
  MEMORY_INDEX_SWEEP_SECONDS, SET NX): keeps one chain of the periodic index sweep.
- `memory:access:counts` (hash record id -> hits not yet in the DB; no TTL) and
  `memory:access:last` (hash record id -> ISO time of its latest hit): search hits
  waiting for the worker's `memories_access_flush`, which takes both at once.
- `memory:access:flush-gate` (string "1"; PX MEMORY_ACCESS_FLUSH_SECONDS, SET NX by
  the hit that schedules the flush, deleted by the flush): at most one scheduled flush
  at a time.
- `health:index-drift` (string: the count; EX HEALTH_DRIFT_MAX_AGE_SECONDS of
  memory.selectors.metrics, 5 s): the index drift the health check reports, shared by
  every API process.

Owned by libraries, named by settings, not built here:
- `dramatiq:*` (Dramatiq's RedisBroker, namespace "dramatiq"): `dramatiq:{queue}` (list
  of message ids) and `dramatiq:{queue}.msgs` (hash id -> message), the same with `.DQ`
  for delayed messages and `.XQ` (sorted set by time) for dead letters, which the
  broker's maintenance drops after 7 days; `dramatiq:__acks__.{worker}.{queue}` (sets)
  and `dramatiq:__heartbeats__` (sorted set). No key TTLs. The queue is `default`.
- `cache:*`: Django's cache (django-redis, KEY_PREFIX "cache"), configured but not
  written by the server today.

Scripts build some keys themselves (prune, listing indexes). That is fine on a single
Redis; a cluster would need hash tags so that all of a script's keys share one slot.
The Lua key builders are formatted from the Python constants below, so no key name is
typed twice.
"""

import hashlib
import re
from urllib.parse import quote

from django.conf import settings
from redis.commands.core import Script

from memory.redis_client import get_redis

SESSION_PREFIX = "wm:s:"
INDEX_ALL = "wm:idx"
INDEX_NS_PREFIX = "wm:idx:ns:"
INDEX_USER_PREFIX = "wm:idx:user:"
USER_INFIX = ":user:"
EXPIRIES = "wm:expiries"
SUMMARY_PENDING_PREFIX = "wm:summary-pending:"
DEBOUNCE_PREFIX = "promotion:debounce"
EMBEDDING_CACHE_PREFIX = "embcache:"
INDEX_SCHEMA_SUFFIX = ":schema"
SWEEP_LOCK_KEY = "memory:index-sweep:lock"
ACCESS_COUNTS_KEY = "memory:access:counts"
ACCESS_LAST_KEY = "memory:access:last"
ACCESS_FLUSH_GATE_KEY = "memory:access:flush-gate"
HEALTH_INDEX_DRIFT_KEY = "health:index-drift"


def escape(part: str | None) -> str:
    """Key-safe form of a namespace or user id: None is "", and ':' can never appear,
    so no two scopes share a key. The Lua `esc` of PRELUDE does the same."""
    return "" if part is None else part.replace("%", "%25").replace(":", "%3A")


def session_key(namespace: str | None, session_id: str) -> str:
    return f"{SESSION_PREFIX}{escape(namespace)}:{session_id}"


def summary_pending_key(namespace: str | None, session_id: str) -> str:
    return f"{SUMMARY_PENDING_PREFIX}{escape(namespace)}:{session_id}"


def listing_scope_key(*, namespace: str | None, user_id: str | None) -> str:
    """The sorted set listing the sessions of this namespace and/or user (None: any)."""
    if namespace is None and user_id is None:
        return INDEX_ALL
    if user_id is None:
        return f"{INDEX_NS_PREFIX}{escape(namespace)}"
    if namespace is None:
        return f"{INDEX_USER_PREFIX}{escape(user_id)}"
    return f"{INDEX_NS_PREFIX}{escape(namespace)}{USER_INFIX}{escape(user_id)}"


def listed_session_ids(members: list[str], *, namespace: str | None) -> list[str]:
    """Session ids of members of the scope `listing_scope_key` named for `namespace`."""
    if namespace is not None:
        return members
    # Cross-namespace scopes hold "{ns}:{session_id}"; ns is escaped, so the first ':' ends it.
    return [member.split(":", 1)[1] for member in members]


def window_key(*, namespace: str | None, user_id: str | None, session_id: str) -> str:
    """A session's promotion debounce window. Scoped to the tenant: the same session id
    under two namespaces or users never collides."""
    parts = (namespace or "", user_id or "", session_id)
    return ":".join([DEBOUNCE_PREFIX, *(quote(part, safe="") for part in parts)])


def query_embedding_key(*, model: str, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{EMBEDDING_CACHE_PREFIX}{model}:{digest}"


def index_document_prefix() -> str:
    """What every index document's key starts with (the RedisVL schema's prefix and ':')."""
    return f"{settings.MEMORY_INDEX_PREFIX}:"


def index_document_key(record_id: str) -> str:
    return f"{index_document_prefix()}{record_id}"


def index_schema_key() -> str:
    return f"{settings.MEMORY_INDEX_NAME}{INDEX_SCHEMA_SUFFIX}"


# --- Lua ---------------------------------------------------------------------------------


def _lua_literal(text: str) -> str:
    # Key names are plain ASCII; refusing anything else keeps the quoting trivial.
    if not re.fullmatch(r"[\w:.\-]*", text):
        raise ValueError(f"not a plain key name: {text!r}")
    return f"'{text}'"


# Every script starts with this: the key builders (from the constants above), `esc`
# (the Lua `escape`) and the server's clock.
PRELUDE = f"""
local SESSION_PREFIX = {_lua_literal(SESSION_PREFIX)}
local INDEX_ALL = {_lua_literal(INDEX_ALL)}
local INDEX_NS_PREFIX = {_lua_literal(INDEX_NS_PREFIX)}
local INDEX_USER_PREFIX = {_lua_literal(INDEX_USER_PREFIX)}
local USER_INFIX = {_lua_literal(USER_INFIX)}
local EXPIRIES = {_lua_literal(EXPIRIES)}
local function esc(s) return (string.gsub(string.gsub(s, '%%', '%%25'), ':', '%%3A')) end
-- Namespace and user arguments (ens, eu) are already escaped.
local function session_key(ens, sid) return SESSION_PREFIX .. ens .. ':' .. sid end
local function ns_scope(ens) return INDEX_NS_PREFIX .. ens end
local function user_scope(eu) return INDEX_USER_PREFIX .. eu end
local function ns_user_scope(ens, eu) return INDEX_NS_PREFIX .. ens .. USER_INFIX .. eu end
-- TIME as the server gives it ({{seconds, microseconds}}) and the same instant in ms.
local function clock()
  local t = redis.call('TIME')
  return t, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""


class LuaScript:
    """One server script (PRELUDE + body), registered once per process on first use.

    redis-py's Script runs EVALSHA and loads the source on NOSCRIPT (a restarted or
    flushed Redis). Registering only hashes the source (UTF-8 for both clients), and
    the client is named at each call (the text client by default, or the bytes client
    or a pipeline), so one registration serves every client of the process.
    """

    def __init__(self, body: str):
        self.source = PRELUDE + body
        self._script: Script | None = None

    def __call__(self, *, keys: list, args: list, client=None):
        if self._script is None:
            self._script = get_redis().register_script(self.source)
        return self._script(keys=keys, args=args, client=get_redis() if client is None else client)


# Working memory: keeping a session in (or out of) its listing scopes, and dropping
# every expired session from the expiry set and from each scope set it is in.
_WM_LISTING = """
local function list_session(ens, sid, score)
  redis.call('ZADD', INDEX_ALL, score, ens .. ':' .. sid)
  redis.call('ZADD', ns_scope(ens), score, sid)
end
local function list_owner(ens, eu, sid, score)
  redis.call('ZADD', user_scope(eu), score, ens .. ':' .. sid)
  redis.call('ZADD', ns_user_scope(ens, eu), score, sid)
end
local function unlist_session(ens, sid)
  redis.call('ZREM', INDEX_ALL, ens .. ':' .. sid)
  redis.call('ZREM', ns_scope(ens), sid)
end
local function unlist_owner(ens, eu, sid)
  redis.call('ZREM', user_scope(eu), ens .. ':' .. sid)
  redis.call('ZREM', ns_user_scope(ens, eu), sid)
end
local function expiry_member(ens, eu, sid) return ens .. ':' .. eu .. ':' .. sid end
local function prune_expired(now, batch)
  local expired = redis.call('ZRANGE', EXPIRIES, '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
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
"""

# KEYS[1] = a listing scope; ARGV = first, last rank. Prunes everything expired, then
# returns {total, page} of the scope, newest write first.
WM_LIST = LuaScript(
    _WM_LISTING
    + """
local _, now = clock()
while prune_expired(now, 1000) == 1000 do end
local total = redis.call('ZCARD', KEYS[1])
local page = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'REV')
return {total, page}
"""
)

# KEYS[1] = session hash; ARGV = escaped ns, session id, user ("" for none), doc, mtok,
# rev, ttl_ms (0: none), summary-pending key ("" for no summary), its PX ms, how many
# expired sessions to prune. Replaces the session and its index entries atomically.
# Returns {1 existed / 0 new / -1 owned by another user, owner, 1 if the summary guard was set}.
WM_PUT = LuaScript(
    _WM_LISTING
    + """
local key = KEYS[1]
local ens, sid, user, doc, mtok, rev, ttl_ms, guard_key, guard_ms =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9]
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
redis.call('DEL', key)
redis.call('HSET', key, 'doc', doc, 'user', user, 'rev', rev, 'mtok', mtok, 'written', now)
local eu = esc(user)
if existed then redis.call('ZREM', EXPIRIES, expiry_member(ens, esc(old_user), sid)) end
if ttl_ms > 0 then
  redis.call('PEXPIREAT', key, now + ttl_ms)
  redis.call('ZADD', EXPIRIES, now + ttl_ms, expiry_member(ens, eu, sid))
end
list_session(ens, sid, now_us)
if user ~= '' then list_owner(ens, eu, sid, now_us) end
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

# KEYS[1] = session hash; ARGV = the rev read, doc, mtok, new rev. Writes the summarised
# session only if no PUT landed since it was read; keeps the TTL. Returns 1 written, 0 not.
WM_CHECK_AND_SET = LuaScript("""
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'mtok', ARGV[3], 'rev', ARGV[4])
return 1
""")

# The promotion debounce (memory.services.debounce). A write: KEYS[1] = window hash;
# ARGV = window_ms, max_wait_ms, grace_ms, ttl_ms.
# Returns {token or "", delay_ms}: a token means "send a message with this token".
DEBOUNCE_WRITE = LuaScript("""
local t, now = clock()
local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
if not first then
  first = now
  redis.call('HSET', KEYS[1], 'first', first)
end
local due = math.min(now + tonumber(ARGV[1]), first + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'due', due)
local armed = tonumber(redis.call('HGET', KEYS[1], 'armed'))
local token = ''
if not armed or armed + tonumber(ARGV[3]) < now then
  token = t[1] .. '.' .. t[2]
  redis.call('HSET', KEYS[1], 'token', token, 'armed', due)
end
redis.call('PEXPIRE', KEYS[1], due - now + tonumber(ARGV[4]))
return {token, due - now}
""")

# A fired message: KEYS[1] = window hash; ARGV[1] = the message's token.
# Returns {"run" | "superseded" | "rearm", delay_ms}.
DEBOUNCE_CLAIM = LuaScript("""
local _, now = clock()
local state = redis.call('HMGET', KEYS[1], 'token', 'due')
if not state[1] then
  return {'run', 0}
end
if state[1] ~= ARGV[1] then
  return {'superseded', 0}
end
local due = tonumber(state[2])
if due > now then
  redis.call('HSET', KEYS[1], 'armed', due)
  return {'rearm', due - now}
end
redis.call('DEL', KEYS[1])
return {'run', 0}
""")

# Search hits, counted in Redis until the worker's flush writes them to the DB (one
# message per window instead of one per search). KEYS: counts, last, gate. ARGV: the
# hit time, the gate's PX, then the record ids. Returns 1 when this call opened the
# window, so its caller schedules the flush.
ACCESS_RECORD = LuaScript("""
for i = 3, #ARGV do
  redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then return 1 end
return 0
""")

# Takes every pending hit at once: KEYS counts, last, gate. Returns {counts, last} as
# flat field/value lists and deletes all three, so a hit lands in exactly one flush and
# the first hit after this one schedules the next (the gate's PX only matters when a
# scheduled flush was lost).
ACCESS_TAKE = LuaScript("""
local taken = {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return taken
""")

# KEYS[1] = an index document; ARGV = the new last_accessed (micros), the resolution
# (micros). Writes it only to a document that exists and whose value is older by the
# resolution or more: any field write re-indexes the whole document, vector included.
# Returns 1 when written.
INDEX_TOUCH_IF_STALE = LuaScript("""
local stored = redis.call('HGET', KEYS[1], 'last_accessed')
if not stored then return 0 end
if tonumber(ARGV[1]) - tonumber(stored) < tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'last_accessed', ARGV[1])
return 1
""")

# Keyword search's candidates in one reply. ARGV: index, depth, the filter clause, the
# full-text clause, then one clause per term. Returns {documents in the filter, documents
# matching the text, {matches per term}, {memory_id, text, context of each distinct
# candidate}}: parsing a reply per term, with every candidate's fields in each, was most
# of keyword search's CPU, and a candidate that matches several terms now comes once.
KEYWORD_CANDIDATES = LuaScript("""
local index, depth = ARGV[1], ARGV[2]
local function total(query)
  return redis.call('FT.SEARCH', index, query, 'LIMIT', 0, 0, 'DIALECT', 2)[1]
end
local frequencies, seen, rows = {}, {}, {}
for i = 5, #ARGV do
  local reply = redis.call('FT.SEARCH', index, ARGV[i], 'NOCONTENT', 'LIMIT', 0, depth, 'DIALECT', 2)
  frequencies[#frequencies + 1] = reply[1]
  for j = 2, #reply do
    local key = reply[j]
    if not seen[key] then
      seen[key] = true
      local fields = redis.call('HMGET', key, 'memory_id', 'text', 'context')
      if fields[1] then
        rows[#rows + 1] = fields[1]
        rows[#rows + 1] = fields[2] or ''
        rows[#rows + 1] = fields[3] or ''
      end
    end
  end
end
return {total(ARGV[3]), total(ARGV[4]), frequencies, rows}
""")

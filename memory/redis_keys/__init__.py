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
- `{scope}:exp` for each of those four (sorted set; no TTL): the members of the scope
  whose session has a TTL, scored by when it expires (ms). A listing counts and skips
  the expired ones still there (`total` is a true count); the session quota counts a
  namespace's live sessions the same way.
- `wm:expiries` (sorted set; no TTL): "{ns}:{user}:{session_id}" of each session that
  has a TTL, scored by when it expires (ms): each PUT drops PRUNE_PER_WRITE (20) expired
  sessions from every index they are in; the list operation drops
  WORKING_MEMORY_PRUNE_BATCH in all (WM_PRUNE, before the listing reads), the listed
  scope's first.
- `wm:sizes:{ns}` (hash session id -> bytes of its stored `doc`; no TTL) and
  `wm:bytes:{ns}` (string: their sum; deleted when the namespace holds none): the
  working-memory bytes a namespace holds, for QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE.
  Written by the same scripts as the session, so they never disagree with it; an expired
  session's size is freed when its index entries are pruned.
- `wm:summary-pending:{ns}:{session_id}` (string "1"; PX SUMMARY_PENDING_MS of
  memory.services.working_memory, 10 min): at most one running-summary job per session;
  set NX by the PUT that queues the job, deleted when the job ends.
- `promotion:debounce:{ns}:{user}:{session_id}` (hash; PEXPIRE until due plus
  ABANDONED_WINDOW_TTL_MS of memory.services.debounce, 24 h): a session's pending
  promotion window, fields `first`, `due`, `token`, `armed` (ms, Redis clock; the
  protocol is described in memory.services.debounce). Here the three parts are
  percent-encoded (`urllib.parse.quote`, nothing safe), not `escape`d. Found by SCAN
  for the metrics (`promotion_windows_pattern`) and for an erasure
  (`owner_promotion_windows_pattern`).
- `embcache:{EMBEDDING_MODEL}:{sha256 of the text}:tenants` (hash: tenant -> float32
  bytes; EX EMBEDDING_CACHE_TTL_SECONDS, 7 days, restarted by each tenant's write): the
  query-embedding cache. One field per tenant (`Scope.tenant`; "" for a caller without
  one): a search finds only its own tenant's entry, so its latency never tells whether
  another tenant searched the same text, and within a tenant repeated searches hit.
  One key per text, so erasing a text drops every tenant's entry at once. (Keys
  without `:tenants`, text alone, are the layout before issue 20; they expire.)
- `{MEMORY_INDEX_PREFIX}:{record_id}` (hash, written by memory.index, indexed by
  RediSearch as MEMORY_INDEX_NAME; no TTL): one long-term record's RedisVL document
  (vector, text, tag and numeric fields). Rebuildable from the database.
- `{MEMORY_INDEX_NAME}:schema` (string: sha256 hex of the index schema; no TTL): a
  changed schema is detected and the index recreated over its documents.
- `memory:index-sweep:lock` (string: ISO time of the claim; PX 0.9 x
  MEMORY_INDEX_SWEEP_SECONDS, SET NX): keeps one chain of the periodic index sweep.
- `memory:summary-refresh:lock` (string: ISO time of the claim; PX
  SUMMARY_VIEW_REFRESH_SECONDS, SET NX): the sweep refreshes continuous summary views'
  stale partitions at most once per interval.
- `memory:access:counts` (hash record id -> hits not yet in the DB; no TTL) and
  `memory:access:last` (hash record id -> ISO time of its latest hit): search hits
  waiting for the worker's `memories_access_flush`, which takes both at once.
- `memory:access:flush-gate` (string "1"; PX MEMORY_ACCESS_FLUSH_SECONDS, SET NX by
  the hit that schedules the flush, deleted by the flush): at most one scheduled flush
  at a time.
- `health:index-drift` (string: the count; EX HEALTH_DRIFT_MAX_AGE_SECONDS of
  memory.services.health, 5 s): the index drift the health check reports, shared by
  every API process.
- `auth:throttle:{kind}:{credential}:{window}` (string: the count; EXPIRE one period
  and a second), in the Redis of the cache THROTTLE_CACHE names (the auth cache's
  database, apart from the data), written directly, not through the cache: a
  credential's calls of one kind (`writes`, `searches`) in one fixed window of its rate
  limit, counted by REST and MCP alike (memory.api.auth.rate_limit_wait).
- `auth:1:apikey:{prefix}` (a pickled `KnownKey`; KEY_CACHE_SECONDS of
  memory.services.api_keys, 5 min), in the auth cache (django-redis, KEY_PREFIX "auth",
  version 1, which add the `auth:1:`; the builder gives the cache key
  `apikey:{prefix}`): what authenticating needs of an API key's row, so a request makes
  no database query. Deleted when the key is revoked.
- `auth:1:apikey-used:{prefix}` (string "1"; LAST_USED_EVERY_SECONDS of
  memory.api.auth, 60 s, cache `add`), in the auth cache as above: the key's
  `last_used_at` was written within the minute, so one process of all writes it.

Owned by libraries, named by settings, written by them:
- `dramatiq:*` (Dramatiq's RedisBroker, namespace "dramatiq"): `dramatiq:{queue}` (list
  of message ids) and `dramatiq:{queue}.msgs` (hash id -> message), the same with `.DQ`
  for delayed messages and `.XQ` (sorted set by time) for dead letters, which the
  broker's maintenance drops after 7 days; `dramatiq:__acks__.{worker}.{queue}` (sets)
  and `dramatiq:__heartbeats__` (sorted set). No key TTLs. The queue is `default`.
  The server only reads the `.msgs` hashes (`dramatiq_messages_key`, for
  workers.queue.queue_depths) and the heartbeats (`dramatiq_heartbeats_key`, for the
  admin home page's worker health); its messages are sent by the functions of workers.queue.
- `dramatiq:consumers` (set of broker ids; ours, `dramatiq_consumers_key`): the worker
  processes' brokers, added at each worker's boot, which also drops the ids whose
  heartbeat Dramatiq dropped (workers.middleware.WorkerRegistryMiddleware), so worker
  health reads the heartbeats of consumers only (a web process heartbeats whenever it
  enqueues).
- `auth:1:axes-{sha256}`: django-axes' admin login failures (AXES_CACHE "auth").
- `cache:*`: Django's cache (django-redis, KEY_PREFIX "cache"), configured but not
  written by the server today.

Scripts build some keys themselves (prune, listing indexes). That is fine on a single
Redis; a cluster would need hash tags so that all of a script's keys share one slot.
The Lua key builders are formatted from the Python constants below, so no key name is
typed twice. The working-memory scripts (a session's write, delete, check-and-set, the
listing and its prune) are in `memory.redis_keys.working_memory`; every other script is
here.
"""

import hashlib
import re
from typing import Any
from urllib.parse import quote

import redis
from django.conf import settings
from redis.client import Pipeline
from redis.commands.core import Script

from memory.redis_client import get_redis

SESSION_PREFIX = "wm:s:"
INDEX_ALL = "wm:idx"
INDEX_NS_PREFIX = "wm:idx:ns:"
INDEX_USER_PREFIX = "wm:idx:user:"
USER_INFIX = ":user:"
EXPIRIES = "wm:expiries"
EXPIRY_SUFFIX = ":exp"
SIZES_PREFIX = "wm:sizes:"
BYTES_PREFIX = "wm:bytes:"
SUMMARY_PENDING_PREFIX = "wm:summary-pending:"
DEBOUNCE_PREFIX = "promotion:debounce"
EMBEDDING_CACHE_PREFIX = "embcache:"
EMBEDDING_CACHE_SUFFIX = ":tenants"
INDEX_SCHEMA_SUFFIX = ":schema"
SWEEP_LOCK_KEY = "memory:index-sweep:lock"
SUMMARY_REFRESH_LOCK_KEY = "memory:summary-refresh:lock"
ACCESS_COUNTS_KEY = "memory:access:counts"
ACCESS_LAST_KEY = "memory:access:last"
ACCESS_FLUSH_GATE_KEY = "memory:access:flush-gate"
HEALTH_INDEX_DRIFT_KEY = "health:index-drift"
THROTTLE_PREFIX = "auth:throttle:"
API_KEY_CACHE_PREFIX = "apikey:"
API_KEY_USED_PREFIX = "apikey-used:"


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


def namespace_bytes_key(namespace: str | None) -> str:
    """The working-memory bytes a namespace holds (the byte quota's counter)."""
    return f"{BYTES_PREFIX}{escape(namespace)}"


def listed_session_ids(members: list[str], *, namespace: str | None) -> list[str]:
    """Session ids of members of the scope `listing_scope_key` named for `namespace`."""
    if namespace is not None:
        return members
    # Cross-namespace scopes hold "{ns}:{session_id}"; ns is escaped, so the first ':' ends it.
    return [member.split(":", 1)[1] for member in members]


def window_key(*, namespace: str | None, user_id: str | None, session_id: str) -> str:
    """A session's promotion debounce window. Scoped to its owner: the same session id
    under two namespaces or users never collides."""
    parts = (namespace or "", user_id or "", session_id)
    return ":".join([DEBOUNCE_PREFIX, *(quote(part, safe="") for part in parts)])


def promotion_windows_pattern() -> str:
    """SCAN pattern matching every session's promotion debounce window."""
    return f"{DEBOUNCE_PREFIX}:*"


def owner_promotion_windows_pattern(*, namespace: str | None, user_id: str | None) -> str:
    """SCAN pattern matching the promotion windows of one owner's sessions. Every part
    of a window key is percent-encoded, so the owner's prefix has no glob characters."""
    return window_key(namespace=namespace, user_id=user_id, session_id="") + "*"


def throttle_key(*, kind: str, credential: str, window: int) -> str:
    """A credential's counter of `kind` calls in window number `window` of its rate limit."""
    return f"{THROTTLE_PREFIX}{kind}:{credential}:{window}"


def api_key_cache_key(prefix: str) -> str:
    """The auth cache's copy of an API key's row (a Django cache key: see the docstring)."""
    return f"{API_KEY_CACHE_PREFIX}{prefix}"


def api_key_used_key(prefix: str) -> str:
    """The auth cache's mark that an API key's last use was written within the minute."""
    return f"{API_KEY_USED_PREFIX}{prefix}"


def dramatiq_messages_key(*, namespace: str, queue: str) -> str:
    """Dramatiq's RedisBroker hash of a queue's unacknowledged messages (its layout, not ours)."""
    return f"{namespace}:{queue}.msgs"


def dramatiq_heartbeats_key(*, namespace: str) -> str:
    """Dramatiq's RedisBroker sorted set of broker ids by their last heartbeat in ms (its
    layout, not ours): every fetch of a worker, and every enqueue of a producer, writes one."""
    return f"{namespace}:__heartbeats__"


def dramatiq_consumers_key(*, namespace: str) -> str:
    """Our set of the broker ids of worker processes (see the key layout above)."""
    return f"{namespace}:consumers"


def query_embedding_key(*, model: str, text: str) -> str:
    """The hash of one text's cached query vectors, a field per tenant (`query_embedding_field`)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{EMBEDDING_CACHE_PREFIX}{model}:{digest}{EMBEDDING_CACHE_SUFFIX}"


def query_embedding_field(*, tenant: str) -> str:
    """A tenant's entry in a text's hash: only that tenant's searches read or write it."""
    return tenant


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
local EXPIRY_SUFFIX = {_lua_literal(EXPIRY_SUFFIX)}
local SIZES_PREFIX = {_lua_literal(SIZES_PREFIX)}
local BYTES_PREFIX = {_lua_literal(BYTES_PREFIX)}
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

    def __call__(self, *, keys: list[str], args: list[Any], client: redis.Redis | Pipeline | None = None) -> Any:
        if self._script is None:
            self._script = get_redis().register_script(self.source)
        return self._script(keys=keys, args=args, client=get_redis() if client is None else client)


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

# Keyword search's candidates in one reply. ARGV: index, matches asked of each term, most
# candidates in all, bytes kept of each field, the filter clause, the full-text clause,
# then one clause per term. Returns {documents in the filter, documents matching the text,
# {matches per term}, {memory_id, text prefix, text bytes, context prefix, context bytes,
# {terms} of each distinct candidate}}: one reply instead of one per term, each candidate
# once. {terms}: which terms' matches hold the candidate (1-based), named only for a
# candidate with a field cut to its prefix (a term found past the cut still counts);
# empty otherwise. The documents matching the text are the union of the terms' matches
# when every term's matches were all read (no query of their own); else counted.
# Bounded (issue 20): the candidates are shared out, each term first bringing its fair
# share of new ones (best first, so terms whose matches overlap still bring different
# records), then the rest filled in term order; and only the first bytes of a field
# travel, its full size beside them, never a whole long text.
KEYWORD_CANDIDATES = LuaScript("""
local index, per_term = ARGV[1], tonumber(ARGV[2])
local budget, prefix = tonumber(ARGV[3]), tonumber(ARGV[4])
local function total(query)
  return redis.call('FT.SEARCH', index, query, 'LIMIT', 0, 0, 'DIALECT', 2)[1]
end
local frequencies, matches, next_match, all_read = {}, {}, {}, true
for i = 7, #ARGV do
  local reply = redis.call('FT.SEARCH', index, ARGV[i], 'NOCONTENT', 'LIMIT', 0, per_term, 'DIALECT', 2)
  frequencies[#frequencies + 1] = reply[1]
  matches[#matches + 1] = reply
  next_match[#next_match + 1] = 2
  all_read = all_read and reply[1] == #reply - 1
end
local seen, chosen = {}, {}
local function take(term, wanted)
  local reply, j, taken = matches[term], next_match[term], 0
  while j <= #reply and taken < wanted and #chosen < budget do
    local key = reply[j]
    if not seen[key] then
      seen[key] = true
      chosen[#chosen + 1] = key
      taken = taken + 1
    end
    j = j + 1
  end
  next_match[term] = j
end
local share = math.max(1, math.floor(budget / math.max(#matches, 1)))
for term = 1, #matches do take(term, share) end
for term = 1, #matches do take(term, budget) end
local rows, cut = {}, {}
for _, key in ipairs(chosen) do
  local fields = redis.call('HMGET', key, 'memory_id', 'text', 'context')
  if fields[1] then
    local text, context, terms = fields[2] or '', fields[3] or '', {}
    rows[#rows + 1] = fields[1]
    rows[#rows + 1] = string.sub(text, 1, prefix)
    rows[#rows + 1] = #text
    rows[#rows + 1] = string.sub(context, 1, prefix)
    rows[#rows + 1] = #context
    rows[#rows + 1] = terms
    if #text > prefix or #context > prefix then cut[key] = terms end
  end
end
local union, matching = {}, 0
for term = 1, #matches do
  local reply = matches[term]
  for j = 2, #reply do
    local key = reply[j]
    if cut[key] then table.insert(cut[key], term) end
    if all_read and not union[key] then
      union[key] = true
      matching = matching + 1
    end
  end
end
if not all_read then matching = total(ARGV[6]) end
return {total(ARGV[5]), matching, frequencies, rows}
""")

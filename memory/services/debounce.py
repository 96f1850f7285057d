"""Debounced scheduling of promotion (working memory -> long-term memory).

`promotion_schedule` is the one call point the working-memory write path uses. It
touches Redis only (no DB write, no LLM call, no embedding): one script call, plus
one Dramatiq enqueue when the session has no promotion message out yet.

The debounce is trailing-edge and keyed by namespace, user and session. Each session
with unpromoted writes has one Redis hash:

    first   when the first write of the pending window arrived (ms, Redis clock)
    due     when promotion should run: min(last write + window, first + max wait)
    token   identifies the one scheduled message that is responsible for the session
    armed   when that message is due to fire

A write moves `due` forward (up to the max-wait cap) but sends no new message while
one is already out. When the message fires early it re-arms itself for the new `due`;
a message whose token is no longer the session's is superseded and does nothing.
Once `due` has passed, the message claims the window (deletes the hash) and runs the
promotion. Writes during the run open a new window with its own message.

A message that fires after its window was claimed still runs the promotion: that is
a redelivery after a worker crash mid-run, and promotion is idempotent (a per-session
watermark), so a redelivery of finished work creates nothing.
"""

import logging
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from django.conf import settings

from memory.redis_client import get_redis
from memory.services.promotion import session_promote
from workers.queue import send_now

logger = logging.getLogger(__name__)

KEY_PREFIX = "promotion:debounce"
# An armed message this late is presumed lost (e.g. a broker flush): the next write
# arms a new one. A late original is then superseded, so at worst a no-op runs.
LOST_MESSAGE_GRACE_MS = 60_000
# A window nobody claims (its message lost and no further writes) is garbage after this.
ABANDONED_WINDOW_TTL_MS = 24 * 3600 * 1000

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] = window hash; ARGV = window_ms, max_wait_ms, grace_ms, ttl_ms.
# Returns {token or "", delay_ms}: a token means "send a message with this token".
_WRITE_SCRIPT = _NOW_MS + """
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
"""

# KEYS[1] = window hash; ARGV[1] = the message's token.
# Returns {"run" | "superseded" | "rearm", delay_ms}.
_CLAIM_SCRIPT = _NOW_MS + """
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
"""


@dataclass(frozen=True)
class Claim:
    action: str  # "run", "superseded" or "rearm"
    delay_seconds: float = 0.0


@lru_cache(maxsize=1)
def _scripts():
    client = get_redis()
    return client.register_script(_WRITE_SCRIPT), client.register_script(_CLAIM_SCRIPT)


def window_key(*, namespace: str | None, user_id: str | None, session_id: str) -> str:
    """Scoped to the tenant: the same session id under two namespaces or users never collides."""
    parts = (namespace or "", user_id or "", session_id)
    return ":".join([KEY_PREFIX, *(quote(part, safe="") for part in parts)])


def promotion_schedule(*, namespace: str | None, user_id: str | None, session_id: str) -> None:
    """Schedule promotion of this session after the debounce window (trailing edge)."""
    if settings.WORKERS_INLINE:
        _promote_inline(namespace=namespace, user_id=user_id, session_id=session_id)
        return
    write, _ = _scripts()
    token, delay_ms = write(
        keys=[window_key(namespace=namespace, user_id=user_id, session_id=session_id)],
        args=[settings.PROMOTION_DEBOUNCE_SECONDS * 1000, settings.PROMOTION_MAX_WAIT_SECONDS * 1000,
              LOST_MESSAGE_GRACE_MS, ABANDONED_WINDOW_TTL_MS],
    )
    if token:
        send_now("promote_session", namespace, user_id, session_id, token, delay_seconds=int(delay_ms) / 1000)


def promotion_claim(*, namespace: str | None, user_id: str | None, session_id: str, token: str) -> Claim:
    """What a fired promotion message should do: run now, re-arm for later, or nothing."""
    _, claim = _scripts()
    action, delay_ms = claim(keys=[window_key(namespace=namespace, user_id=user_id, session_id=session_id)],
                             args=[token])
    return Claim(action=action, delay_seconds=int(delay_ms) / 1000)


def _promote_inline(*, namespace, user_id, session_id) -> None:
    """Inline mode is one local process with no worker: nothing to coalesce, so promote
    now, once. A failure is on the run (and the log), never raised into the write that
    triggered it; the session's next write tries again."""
    try:
        session_promote(namespace=namespace, user_id=user_id, session_id=session_id)
    except Exception:
        logger.exception("inline promotion of session %r failed; its next write retries", session_id)

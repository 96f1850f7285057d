"""Writing working memory: whole-session replace, delete, and the running summary.

The write path touches Redis only (no DB, no LLM, no embedding): one Lua script
replaces the session hash, sets its TTL and updates the listing indexes atomically, so
two racing PUTs leave exactly one writer's session, never a mix. The layout is
described in `memory.selectors.working_memory`.
"""

import json
import logging
import re
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from ulid import ULID

from memory import llm, tokens
from memory.redis_client import get_redis
from memory.selectors.working_memory import (
    PRUNE_EXPIRED_LUA,
    escape,
    newest_fitting,
    response_document,
    session_key,
    summary_pending_key,
)
from memory.services.debounce import promotion_schedule
from memory.services.promotion import session_promote
from workers.queue import send_now

logger = logging.getLogger(__name__)

# Long enough to outlast the summary job and its retries; cleared when the job ends.
SUMMARY_PENDING_MS = 10 * 60 * 1000
# Expired sessions dropped from the listing indexes per PUT (the listing drops the rest).
PRUNE_PER_WRITE = 20
# After a summary the session keeps its newest turns up to half the trigger level, so
# the next summary is as many tokens away as the session had grown before this one.
KEEP_SHARE_OF_THRESHOLD = 0.5
# Most characters of trimmed turns sent to the LLM in one summary (~15k tokens); older
# ones beyond it are left to long-term memory, where promotion has already put them.
SUMMARY_INPUT_MAX_CHARS = 60_000
# Attempts when PUTs keep landing while a summary is being written.
SUMMARY_WRITE_ATTEMPTS = 3

_PUT_LUA = PRUNE_EXPIRED_LUA + """
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
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Listing order is by write time in microseconds, so back-to-back writes never tie.
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
prune_expired(now, tonumber(ARGV[10]))
redis.call('DEL', key)
redis.call('HSET', key, 'doc', doc, 'user', user, 'rev', rev, 'mtok', mtok, 'written', now)
local eu = esc(user)
if existed then redis.call('ZREM', 'wm:expiries', ens .. ':' .. esc(old_user) .. ':' .. sid) end
if ttl_ms > 0 then
  redis.call('PEXPIREAT', key, now + ttl_ms)
  redis.call('ZADD', 'wm:expiries', now + ttl_ms, ens .. ':' .. eu .. ':' .. sid)
end
redis.call('ZADD', 'wm:idx', now_us, ens .. ':' .. sid)
redis.call('ZADD', 'wm:idx:ns:' .. ens, now_us, sid)
if user ~= '' then
  redis.call('ZADD', 'wm:idx:user:' .. eu, now_us, ens .. ':' .. sid)
  redis.call('ZADD', 'wm:idx:ns:' .. ens .. ':user:' .. eu, now_us, sid)
end
local guard = 0
if guard_key ~= '' and redis.call('SET', guard_key, '1', 'PX', guard_ms, 'NX') then guard = 1 end
return {existed and 1 or 0, user, guard}
"""

_DELETE_LUA = """
local function esc(s) return (string.gsub(string.gsub(s, '%%', '%%25'), ':', '%%3A')) end
local key = KEYS[1]
local ens, sid, user = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HMGET', key, 'doc', 'user')
if old[1] == false then return 0 end
local owner = old[2] or ''
if user ~= '' and owner ~= '' and owner ~= user then return -1 end
redis.call('DEL', key)
local eu = esc(owner)
redis.call('ZREM', 'wm:expiries', ens .. ':' .. eu .. ':' .. sid)
redis.call('ZREM', 'wm:idx', ens .. ':' .. sid)
redis.call('ZREM', 'wm:idx:ns:' .. ens, sid)
if owner ~= '' then
  redis.call('ZREM', 'wm:idx:user:' .. eu, ens .. ':' .. sid)
  redis.call('ZREM', 'wm:idx:ns:' .. ens .. ':user:' .. eu, sid)
end
return 1
"""

# Write the summarised session only if no PUT landed since it was read; keeps the TTL.
_CHECK_AND_SET_LUA = """
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'mtok', ARGV[3], 'rev', ARGV[4])
return 1
"""

_TRIM_NOTE = re.compile(r"(?:^|\n\n)(\d+) older messages? (?:was|were) moved to long-term memory\.$")

SUMMARY_PROMPT = (
    "You keep the running summary of a conversation between a user and an AI agent. "
    "Merge the earlier summary and the turns below into one updated summary. Keep names, "
    "facts, preferences, decisions, commitments and open questions; drop small talk. "
    "Write plain prose in the third person. Reply with the summary only."
)


class SessionOwnedByAnotherUser(Exception):
    """The session exists and belongs to a different user_id."""


@cache
def _script(source: str):
    return get_redis().register_script(source)


def _run(source: str, key: str, args: list):
    return _script(source)(keys=[key], args=args, client=get_redis())


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def working_memory_put(
    *,
    session_id: str,
    namespace: str | None,
    user_id: str | None,
    messages: list[dict],
    memories: list[dict],
    data: dict | None,
    context: str | None,
    ttl_seconds: int | None,
    long_term_memory_strategy: dict,
    window: int | None,
) -> dict:
    """Replace the session with this one and return it as the API shows it.

    Redis only. Schedules promotion on every write, and the running summary when the
    messages pass SUMMARIZATION_THRESHOLD of `window`. A PUT that names no user keeps the
    session's owner; one naming another user raises SessionOwnedByAnotherUser.
    """
    ttl_seconds = ttl_seconds or settings.WORKING_MEMORY_TTL_SECONDS
    message_tokens = [tokens.count_message(m["role"], m["content"]) for m in messages]
    doc = {
        "session_id": session_id,
        "namespace": namespace,
        "messages": messages,
        "memories": memories,
        "data": data,
        "context": context,
        "long_term_memory_strategy": long_term_memory_strategy,
        "ttl_seconds": ttl_seconds,
        "last_accessed": now_iso(),
    }
    wants_summary = (
        settings.SUMMARIZATION_ENABLED
        and window is not None
        and sum(message_tokens) > int(window * settings.SUMMARIZATION_THRESHOLD)
    )
    existed, owner, summary_claimed = _run(_PUT_LUA, session_key(namespace, session_id), [
        escape(namespace), session_id, user_id or "", json.dumps(doc, separators=(",", ":")),
        json.dumps(message_tokens, separators=(",", ":")), str(ULID()), (ttl_seconds or 0) * 1000,
        summary_pending_key(namespace, session_id) if wants_summary else "", SUMMARY_PENDING_MS,
        PRUNE_PER_WRITE,
    ])
    if existed == -1:
        raise SessionOwnedByAnotherUser(owner)
    owner = owner or None
    promotion_schedule(namespace=namespace, user_id=owner, session_id=session_id)
    if summary_claimed:
        send_now("working_memory_summarize", namespace, session_id, window)
    return response_document(doc=doc, user_id=owner, message_tokens=message_tokens, window=window,
                             new_session=not existed)


def working_memory_delete(*, session_id: str, namespace: str | None, user_id: str | None) -> None:
    """Delete the session (a missing one is fine); raises SessionOwnedByAnotherUser."""
    deleted = _run(_DELETE_LUA, session_key(namespace, session_id),
                   [escape(namespace), session_id, user_id or ""])
    if deleted == -1:
        raise SessionOwnedByAnotherUser(user_id)


def working_memory_summarize(*, namespace: str | None, session_id: str, window: int, use_llm: bool = True) -> None:
    """Fold the oldest turns into `context` and trim them, once the session passes the threshold.

    Idempotent: a session under the threshold is left alone. Trimmed turns are handed to
    promotion first, so nothing is lost. The LLM writes the summary when one is
    configured and `use_llm`; otherwise `context` says how many older turns moved to
    long-term memory. The result is written only if no PUT landed meanwhile; when one
    did, the summary is re-applied to the new session if it still starts with the
    trimmed turns and kept the same context, and the job starts over otherwise.
    LLM outages propagate (the actor retries them).
    """
    key = session_key(namespace, session_id)
    client = get_redis()
    threshold = int(window * settings.SUMMARIZATION_THRESHOLD)
    for _ in range(SUMMARY_WRITE_ATTEMPTS):
        stored = client.hmget(key, "doc", "user", "rev", "mtok")
        if stored[0] is None or not settings.SUMMARIZATION_ENABLED:
            break
        doc, message_tokens = json.loads(stored[0]), json.loads(stored[3])
        if sum(message_tokens) <= threshold:
            break
        keep = max(1, newest_fitting(message_tokens, int(threshold * KEEP_SHARE_OF_THRESHOLD)))
        trimmed = doc["messages"][:-keep]
        if not trimmed:
            break
        session_promote(namespace=namespace, user_id=stored[1] or None, session_id=session_id)
        context = _summary(doc["context"], trimmed, window=window, use_llm=use_llm)
        if _write_summary(key, stored[2], doc, message_tokens, trimmed, context):
            logger.info("working memory %s/%s: %d turns folded into context, %d kept",
                        namespace, session_id, len(trimmed), keep)
            break
    else:
        logger.info("working memory %s/%s: summary abandoned, the session kept changing", namespace, session_id)
    client.delete(summary_pending_key(namespace, session_id))


def _write_summary(key: str, rev: str, doc: dict, message_tokens: list[int], trimmed: list[dict], context: str) -> bool:
    """Check-and-set the summarised session; on a lost race, rebase onto the newer PUT
    when that PUT still starts with the trimmed turns and carries the same context."""
    client = get_redis()
    base_context, trimmed_ids = doc["context"], [m["id"] for m in trimmed]
    while True:
        new_doc = {**doc, "messages": doc["messages"][len(trimmed):], "context": context}
        if _run(_CHECK_AND_SET_LUA, key, [rev, json.dumps(new_doc, separators=(",", ":")),
                                          json.dumps(message_tokens[len(trimmed):]), str(ULID())]):
            return True
        stored = client.hmget(key, "doc", "rev", "mtok")
        if stored[0] is None:
            return False
        doc, rev, message_tokens = json.loads(stored[0]), stored[1], json.loads(stored[2])
        head = [m["id"] for m in doc["messages"][:len(trimmed)]]
        if doc["context"] != base_context or head != trimmed_ids:
            return False


def _summary(context: str | None, trimmed: list[dict], *, window: int, use_llm: bool) -> str:
    if not (use_llm and llm.is_configured()):
        if llm.is_configured():
            logger.warning("no LLM summary (its retries ran out): %d turns trimmed with a note", len(trimmed))
        return _with_trim_note(context, len(trimmed))
    lines, size = [], 0
    for message in reversed(trimmed):
        line = f"{message['role']}: {message['content']}"
        size += len(line) + 1
        if size > SUMMARY_INPUT_MAX_CHARS and lines:
            lines.append(f"({len(trimmed) - len(lines)} earlier turns omitted; they are in long-term memory)")
            break
        lines.append(line[:SUMMARY_INPUT_MAX_CHARS])
    prompt = f"Earlier summary:\n{context or '(none)'}\n\nTurns to fold in:\n" + "\n".join(reversed(lines))
    result = llm.chat(
        messages=[{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": prompt}],
        max_tokens=min(max(window // 8, 256), 2048),
    )
    return result.text.strip() or _with_trim_note(context, len(trimmed))


def _with_trim_note(context: str | None, moved: int) -> str:
    """`context` ending in a note of how many older turns moved to long-term memory."""
    context = context or ""
    match = _TRIM_NOTE.search(context)
    if match:
        moved += int(match.group(1))
        context = context[:match.start()]
    note = f"{moved} older {'message was' if moved == 1 else 'messages were'} moved to long-term memory."
    return f"{context}\n\n{note}" if context else note

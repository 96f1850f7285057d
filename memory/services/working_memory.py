"""Writing working memory: whole-session replace, delete, pruning expired sessions, and
the running summary.

The write path touches Redis only (no DB, no LLM, no embedding): one Lua script
replaces the session hash, sets its TTL and updates the listing indexes atomically, so
two racing PUTs leave exactly one writer's session, never a mix. The layout and the
scripts are in `memory.redis_keys`.
"""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from ulid import ULID

from memory import llm, redis_keys, tokens
from memory.datetimes import datetime_encode
from memory.redis_client import get_redis, text_fields
from memory.redis_keys.working_memory import WM_CHECK_AND_SET, WM_DELETE, WM_PRUNE, WM_PUT
from memory.selectors.working_memory import newest_fitting, response_document
from memory.services.debounce import promotion_schedule
from memory.services.promotion import promotion_run_now
from memory.services.quotas import QuotaExceeded
from workers.queue import enqueue_summary

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

_TRIM_NOTE = re.compile(r"(?:^|\n\n)(\d+) older messages? (?:was|were) moved to long-term memory\.$")

SUMMARY_PROMPT = (
    "You keep the running summary of a conversation between a user and an AI agent. "
    "Merge the earlier summary and the turns below into one updated summary. Keep names, "
    "facts, preferences, decisions, commitments and open questions; drop small talk. "
    "Write plain prose in the third person. Reply with the summary only."
)


# The WM_PUT script names a quota it refused by what it counts.
QUOTA_SETTINGS = {"sessions": "QUOTA_SESSIONS_PER_NAMESPACE", "bytes": "QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE"}


class SessionOwnedByAnotherUser(Exception):
    """The session exists and belongs to a different user_id."""


def working_memory_put(
    *,
    session_id: str,
    namespace: str | None,
    user_id: str | None,
    messages: list[dict[str, Any]],
    memories: list[dict[str, Any]],
    data: dict[str, Any] | None,
    context: str | None,
    ttl_seconds: int | None,
    long_term_memory_strategy: dict[str, Any],
    window: int | None,
) -> dict[str, Any]:
    """Replace the session with this one and return it as the API shows it.

    Redis only. Schedules promotion on every write, and the running summary when the
    messages pass SUMMARIZATION_THRESHOLD of `window`. A PUT that names no user keeps the
    session's owner; one naming another user raises SessionOwnedByAnotherUser. One that
    would take the namespace past QUOTA_SESSIONS_PER_NAMESPACE or
    QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE raises QuotaExceeded; the script checked it
    and wrote nothing.
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
        "last_accessed": datetime_encode(datetime.now(UTC)),
    }
    wants_summary = _past_summary_threshold(message_tokens, window)
    existed, owner, outcome = WM_PUT(
        keys=[redis_keys.session_key(namespace, session_id)],
        args=[
            redis_keys.escape(namespace),
            session_id,
            user_id or "",
            json.dumps(doc, separators=(",", ":")),
            json.dumps(message_tokens, separators=(",", ":")),
            str(ULID()),
            (ttl_seconds or 0) * 1000,
            redis_keys.summary_pending_key(namespace, session_id) if wants_summary else "",
            SUMMARY_PENDING_MS,
            PRUNE_PER_WRITE,
            settings.QUOTA_SESSIONS_PER_NAMESPACE,
            settings.QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE,
            settings.WORKING_MEMORY_PRUNE_BATCH,
        ],
    )
    if existed == -1:
        raise SessionOwnedByAnotherUser(owner)
    if existed == -2:  # then `owner` names the quota and `outcome` holds its figures
        used, requested, quota = outcome
        raise QuotaExceeded(
            limit=QUOTA_SETTINGS[owner], namespace=namespace, used=used, requested=requested, quota=quota
        )
    summary_claimed = outcome == 1
    owner = owner or None
    promotion_schedule(namespace=namespace, user_id=owner, session_id=session_id)
    if summary_claimed and window is not None:  # a claim needs a window past its threshold
        enqueue_summary(namespace=namespace, session_id=session_id, window=window)
    return response_document(
        doc=doc, user_id=owner, message_tokens=message_tokens, window=window, new_session=not existed
    )


def _past_summary_threshold(message_tokens: list[int], window: int | None) -> bool:
    return (
        settings.SUMMARIZATION_ENABLED
        and window is not None
        and sum(message_tokens) > int(window * settings.SUMMARIZATION_THRESHOLD)
    )


def working_memory_delete(*, session_id: str, namespace: str | None, user_id: str | None) -> None:
    """Delete the session (a missing one is fine); raises SessionOwnedByAnotherUser."""
    deleted = WM_DELETE(
        keys=[redis_keys.session_key(namespace, session_id)],
        args=[redis_keys.escape(namespace), session_id, user_id or ""],
    )
    if deleted == -1:
        raise SessionOwnedByAnotherUser(user_id)


def working_memory_prune(*, namespace: str | None, user_id: str | None) -> int:
    """Drop at most WORKING_MEMORY_PRUNE_BATCH expired sessions from the listing indexes,
    those of this listing scope first (a backlog is left to later calls, so one call's
    work is bounded); a namespace's scope frees their bytes too. Returns how many went.
    A listing calls it before it reads (`working_memory_list`)."""
    scope = redis_keys.listing_scope_key(namespace=namespace, user_id=user_id)
    namespace_scope = namespace is not None and user_id is None
    args = [settings.WORKING_MEMORY_PRUNE_BATCH, "1" if namespace_scope else "", redis_keys.escape(namespace)]
    return int(WM_PRUNE(keys=[scope], args=args))


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
    key = redis_keys.session_key(namespace, session_id)
    client = get_redis()
    threshold = int(window * settings.SUMMARIZATION_THRESHOLD)
    for _ in range(SUMMARY_WRITE_ATTEMPTS):
        doc_json, owner, rev, tokens_json = text_fields(client, key, "doc", "user", "rev", "mtok")
        if doc_json is None or not settings.SUMMARIZATION_ENABLED:
            break
        doc, message_tokens = json.loads(doc_json), json.loads(tokens_json or "[]")  # written with the doc
        if sum(message_tokens) <= threshold:
            break
        keep = max(1, newest_fitting(message_tokens, int(threshold * KEEP_SHARE_OF_THRESHOLD)))
        trimmed = doc["messages"][:-keep]
        if not trimmed:
            break
        promotion_run_now(namespace=namespace, user_id=owner or None, session_id=session_id)
        context = _summary(doc["context"], trimmed, window=window, use_llm=use_llm)
        if _write_summary(key, rev or "", doc, message_tokens, trimmed, context):
            logger.info(
                "working memory %s/%s: %d turns folded into context, %d kept", namespace, session_id, len(trimmed), keep
            )
            break
    else:
        logger.info("working memory %s/%s: summary abandoned, the session kept changing", namespace, session_id)
    client.delete(redis_keys.summary_pending_key(namespace, session_id))


def _write_summary(
    key: str, rev: str, doc: dict[str, Any], message_tokens: list[int], trimmed: list[dict[str, Any]], context: str
) -> bool:
    """Check-and-set the summarised session; on a lost race, rebase onto the newer PUT
    when that PUT still starts with the trimmed turns and carries the same context."""
    client = get_redis()
    base_context, trimmed_ids = doc["context"], [m["id"] for m in trimmed]
    while True:
        new_doc = {**doc, "messages": doc["messages"][len(trimmed) :], "context": context}
        if WM_CHECK_AND_SET(
            keys=[key],
            args=[
                rev,
                json.dumps(new_doc, separators=(",", ":")),
                json.dumps(message_tokens[len(trimmed) :]),
                str(ULID()),
                redis_keys.escape(doc["namespace"]),
                doc["session_id"],
            ],
        ):
            return True
        doc_json, new_rev, tokens_json = text_fields(client, key, "doc", "rev", "mtok")
        if doc_json is None:
            return False
        doc, rev, message_tokens = json.loads(doc_json), new_rev or "", json.loads(tokens_json or "[]")
        head = [m["id"] for m in doc["messages"][: len(trimmed)]]
        if doc["context"] != base_context or head != trimmed_ids:
            return False


def _summary(context: str | None, trimmed: list[dict[str, Any]], *, window: int, use_llm: bool) -> str:
    if not (use_llm and llm.is_configured()):
        if llm.is_configured():
            logger.warning("no LLM summary (its retries ran out): %d turns trimmed with a note", len(trimmed))
        return _with_trim_note(context, len(trimmed))
    lines: list[str] = []
    size = 0
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
        context = context[: match.start()]
    note = f"{moved} older {'message was' if moved == 1 else 'messages were'} moved to long-term memory."
    return f"{context}\n\n{note}" if context else note

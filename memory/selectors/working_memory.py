"""Reading working memory: one Redis hash per session, plus sorted-set indexes for listing.

The services module writes them (and prunes expired ones), atomically, with Lua; the
layout and the scripts are in `memory.redis_keys`. Nothing here writes.
"""

import json
from typing import Any

from django.conf import settings

from memory import redis_keys
from memory.redis_client import get_redis, text_fields
from memory.redis_keys.working_memory import WM_LIST

# Context windows (tokens) of the model names agent-memory-client knows.
MODEL_CONTEXT_WINDOWS = {
    "gpt-3.5-turbo": 16385,
    "gpt-3.5-turbo-16k": 16385,
    "gpt-4": 8192,
    "gpt-4-32k": 32768,
    "gpt-4o": 128000,
    "gpt-4o-mini": 128000,
    "gpt-5": 400000,
    "o1": 200000,
    "o1-mini": 128000,
    "o3-mini": 200000,
    "gpt-5-mini": 400000,
    "gpt-5-nano": 400000,
    "gpt-5.1-chat-latest": 128000,
    "gpt-5.2-chat-latest": 128000,
    "text-embedding-ada-002": 8191,
    "text-embedding-3-small": 8191,
    "text-embedding-3-large": 8191,
    "claude-3-opus-20240229": 200000,
    "claude-3-sonnet-20240229": 200000,
    "claude-3-haiku-20240307": 200000,
    "claude-3-5-sonnet-20240620": 200000,
    "claude-3-7-sonnet-20250219": 200000,
    "claude-3-5-sonnet-20241022": 200000,
    "claude-3-5-haiku-20241022": 200000,
    "claude-3-7-sonnet-latest": 200000,
    "claude-3-5-sonnet-latest": 200000,
    "claude-3-5-haiku-latest": 200000,
    "claude-3-opus-latest": 200000,
}


def context_window(*, model_name: str | None, context_window_max: int | None) -> int | None:
    """The window the client works with: `context_window_max` wins over `model_name`."""
    if context_window_max is not None:
        return context_window_max
    if model_name is not None:
        return MODEL_CONTEXT_WINDOWS[model_name]
    return None


def context_usage(*, tokens: int, window: int | None) -> tuple[float | None, float | None]:
    """(% of the window used, % of the way to the summarisation threshold), both capped at 100."""
    if window is None:
        return None, None
    until_threshold = int(window * settings.SUMMARIZATION_THRESHOLD)
    used = min(tokens / window * 100.0, 100.0)
    toward_summary = min(tokens / until_threshold * 100.0, 100.0) if until_threshold > 0 else 100.0
    return used, toward_summary


def owner_matches(owner: str | None, user_id: str | None) -> bool:
    """A reader naming no user sees any session; one naming a user never sees another user's
    session. A session with no owner is visible to every user."""
    return user_id is None or owner is None or owner == user_id


def working_memory_get(
    *,
    session_id: str,
    namespace: str | None,
    user_id: str | None,
    window: int | None = None,
    recent_messages_limit: int | None = None,
) -> dict[str, Any] | None:
    """The session as the API returns it, or None when it does not exist for this reader.

    `recent_messages_limit` keeps the newest N messages; with a `window`, the newest
    messages that fit in it are returned (always at least one), as the reference does.
    """
    doc_json, owner_field, tokens_json = text_fields(
        get_redis(), redis_keys.session_key(namespace, session_id), "doc", "user", "mtok"
    )
    if doc_json is None:
        return None
    owner = owner_field or None
    if not owner_matches(owner, user_id):
        return None
    doc = json.loads(doc_json)
    message_tokens = json.loads(tokens_json or "[]")  # written with the doc, by the same script
    keep = len(message_tokens)
    if recent_messages_limit is not None:
        keep = min(keep, recent_messages_limit)
    if window is not None:
        keep = min(keep, max(1, newest_fitting(message_tokens, window)))
    if keep < len(message_tokens):
        doc["messages"] = doc["messages"][len(message_tokens) - keep :] if keep else []
        message_tokens = message_tokens[len(message_tokens) - keep :] if keep else []
    return response_document(doc=doc, user_id=owner, message_tokens=message_tokens, window=window)


def response_document(
    *,
    doc: dict[str, Any],
    user_id: str | None,
    message_tokens: list[int],
    window: int | None,
    new_session: bool | None = None,
) -> dict[str, Any]:
    tokens = sum(message_tokens)
    used, toward_summary = context_usage(tokens=tokens, window=window)
    return {
        **doc,
        "user_id": user_id,
        "tokens": tokens,
        "context_percentage_total_used": used,
        "context_percentage_until_summarization": toward_summary,
        "new_session": new_session,
        "unsaved": None,
    }


def newest_fitting(message_tokens: list[int], budget: int) -> int:
    """How many of the newest messages fit in `budget` tokens together."""
    spent = 0
    for count, tokens in enumerate(reversed(message_tokens)):
        spent += tokens
        if spent > budget:
            return count
    return len(message_tokens)


def working_memory_list(
    *, namespace: str | None, user_id: str | None, limit: int, offset: int
) -> tuple[int, list[str]]:
    """(total, session ids on this page), most recently written first. Reads only: an
    expired session still listed is neither counted nor listed, so `total` counts exactly
    the live sessions; `working_memory_prune` (a service) drops them.
    """
    scope = redis_keys.listing_scope_key(namespace=namespace, user_id=user_id)
    total, page = WM_LIST(keys=[scope], args=[offset, offset + limit - 1, settings.WORKING_MEMORY_PRUNE_BATCH])
    return total, redis_keys.listed_session_ids(page, namespace=namespace)

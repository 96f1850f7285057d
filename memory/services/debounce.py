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
promotion. Writes during the run open a new window with its own message. The key
and the two scripts (DEBOUNCE_WRITE, DEBOUNCE_CLAIM) are in `memory.redis_keys`.

A message that fires after its window was claimed still runs the promotion: that is
a redelivery after a worker crash mid-run, and promotion is idempotent (a per-session
watermark), so a redelivery of finished work creates nothing.
"""

import logging
from dataclasses import dataclass

from django.conf import settings

from memory import redis_keys
from memory.services.promotion import promotion_run_now
from workers.queue import enqueue_promotion

logger = logging.getLogger(__name__)

# An armed message this late is presumed lost (e.g. a broker flush): the next write
# arms a new one. A late original is then superseded, so at worst a no-op runs.
LOST_MESSAGE_GRACE_MS = 60_000
# A window nobody claims (its message lost and no further writes) is garbage after this.
ABANDONED_WINDOW_TTL_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Claim:
    action: str  # "run", "superseded" or "rearm"
    delay_seconds: float = 0.0


def promotion_schedule(*, namespace: str | None, user_id: str | None, session_id: str) -> None:
    """Schedule promotion of this session after the debounce window (trailing edge)."""
    if settings.WORKERS_INLINE:
        _promote_inline(namespace=namespace, user_id=user_id, session_id=session_id)
        return
    token, delay_ms = redis_keys.DEBOUNCE_WRITE(
        keys=[redis_keys.window_key(namespace=namespace, user_id=user_id, session_id=session_id)],
        args=[
            settings.PROMOTION_DEBOUNCE_SECONDS * 1000,
            settings.PROMOTION_MAX_WAIT_SECONDS * 1000,
            LOST_MESSAGE_GRACE_MS,
            ABANDONED_WINDOW_TTL_MS,
        ],
    )
    if token:
        enqueue_promotion(
            namespace=namespace,
            user_id=user_id,
            session_id=session_id,
            token=token,
            delay_seconds=int(delay_ms) / 1000,
        )


def promotion_claim(*, namespace: str | None, user_id: str | None, session_id: str, token: str) -> Claim:
    """What a fired promotion message should do: run now, re-arm for later, or nothing."""
    action, delay_ms = redis_keys.DEBOUNCE_CLAIM(
        keys=[redis_keys.window_key(namespace=namespace, user_id=user_id, session_id=session_id)], args=[token]
    )
    return Claim(action=action, delay_seconds=int(delay_ms) / 1000)


def _promote_inline(*, namespace: str | None, user_id: str | None, session_id: str) -> None:
    """Inline mode is one local process with no worker: nothing to coalesce, so promote
    now, once. A failure is on the run (and the log), never raised into the write that
    triggered it; the session's next write tries again."""
    try:
        promotion_run_now(namespace=namespace, user_id=user_id, session_id=session_id)
    except Exception:
        logger.exception("inline promotion of session %r failed; its next write retries", session_id)

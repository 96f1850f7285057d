"""Dramatiq actors: thin, idempotent, take ids; each one calls a service.

Imports run one way: this module imports services, and services (and these actors'
own follow-ups) send to these actors through the typed functions of `workers.queue`,
the one module that names them. `manage.py rundramatiq` discovers this module
(DRAMATIQ_AUTODISCOVER_MODULES), and `WorkersConfig.ready` registers it in every process.
"""

from typing import Any

import dramatiq
from django.conf import settings

from memory.services import long_term
from memory.services.debounce import promotion_claim
from memory.services.policy_evaluation import policy_evaluation_run
from memory.services.promotion import PromotionRetry, promotion_run
from memory.services.promotion_retry import promotion_failed_rearm
from memory.services.summary_views import runs as summary_view_runs
from memory.services.working_memory import working_memory_summarize as summarize
from workers.queue import enqueue_index_sweep, enqueue_promotion, enqueue_summary_views_refresh

# --- Long-term memory index -------------------------------------------------------------
# If retries run out, the rows stay marked `index_pending` (visible in the admin) and
# the periodic sweep picks them up again.


@dramatiq.actor(max_retries=5, min_backoff=1_000, time_limit=5 * 60_000)
def memories_index(memory_ids: list[str]) -> None:
    """Make the index documents of these records match their rows (idempotent)."""
    long_term.memories_index(memory_ids=memory_ids)


@dramatiq.actor(max_retries=3, min_backoff=1_000, time_limit=60_000)
def memories_access_flush() -> None:
    """Write the search hits counted in Redis to the DB, off the response path. Takes no
    ids: whatever is pending when it runs. Best effort: counts the DB refused are put
    back for the retry; when retries run out the next flush (or the sweep) takes them."""
    long_term.memories_access_flush()


@dramatiq.actor(max_retries=0, time_limit=10 * 60_000)
def memories_index_sweep() -> None:
    """Periodic: re-index rows still marked, drop delete snapshots past their retention,
    re-arm failed promotion runs once the provider answers again, then schedule the next run.

    Dramatiq has no scheduler, so the actor reschedules itself; a Redis lock keeps
    one chain alive however many were started (`seed_defaults` starts one per deploy).
    No retries: a failed sweep still schedules the next one.
    """
    if not long_term.memories_index_sweep_claim():
        return  # another chain ran within this interval: let this duplicate end
    try:
        long_term.memories_index_sweep()
        long_term.history_snapshots_purge()
        long_term.memories_access_flush()  # hits whose scheduled flush was lost (a Redis restart)
        if summary_view_runs.continuous_views_refresh_claim():
            enqueue_summary_views_refresh()  # its own message: a slow summarizer must not hold the sweep
        promotion_failed_rearm()  # last: it may wait on the provider's probe
    finally:
        if not settings.WORKERS_INLINE:
            enqueue_index_sweep(delay_seconds=settings.MEMORY_INDEX_SWEEP_SECONDS)


# --- Working memory: the running summary ------------------------------------------------
# LLM outages are retried with backoff; when retries run out (or the LLM refuses the
# request outright), the session is trimmed anyway without an LLM summary, so it never
# stays over its context window: `context` then says how many turns moved to long-term
# memory, and the failure is in the worker log.
SUMMARY_MAX_RETRIES = 3


def _summary_retry_when(retries: int, exception: BaseException) -> bool:
    return getattr(exception, "retryable", False) and retries < SUMMARY_MAX_RETRIES


@dramatiq.actor(
    max_retries=SUMMARY_MAX_RETRIES,
    retry_when=_summary_retry_when,
    min_backoff=1_000,
    max_backoff=30_000,
    time_limit=5 * 60_000,
    on_retry_exhausted="working_memory_trim",
)
def working_memory_summarize(namespace: str | None, session_id: str, window: int) -> None:
    """Fold a session's oldest turns into its `context` once it passes the threshold (idempotent)."""
    summarize(namespace=namespace, session_id=session_id, window=window)


@dramatiq.actor(max_retries=3, time_limit=5 * 60_000)
def working_memory_trim(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Retries of `working_memory_summarize` ran out: trim without the LLM (idempotent)."""
    namespace, session_id, window = message["args"]
    summarize(namespace=namespace, session_id=session_id, window=window, use_llm=False)


# --- Promotion ----------------------------------------------------------------------------
# The promotion service bounds its own retries: it counts attempts on the ExtractionRun
# row (so a worker killed mid-run counts too), asks for the next attempt with its
# backoff by raising PromotionRetry, and marks the run `failed`, with the reason, when
# they run out; once the provider answers again the sweep re-arms the failed run
# (`promotion_failed_rearm`), or an admin retries it. Dramatiq's own retries below only
# cover failures before a run exists (DB or Redis down); if those run out, the turns
# wait for the session's next write.
PROMOTION_MAX_RETRIES = 20


# The actor keeps its first name on the wire ("promote_session"): messages queued before
# the function's rename (promotion_* family) still find it after an upgrade.
@dramatiq.actor(
    actor_name="promote_session",
    max_retries=PROMOTION_MAX_RETRIES,
    min_backoff=5_000,
    max_backoff=3_600_000,
    time_limit=10 * 60_000,
)
def promotion_due(namespace: str | None, user_id: str | None, session_id: str, token: str) -> None:
    """A debounced promotion message came due: run it, re-arm it for a later write, or, if a
    newer message has taken over the session, do nothing (idempotent)."""
    claim = promotion_claim(namespace=namespace, user_id=user_id, session_id=session_id, token=token)
    if claim.action == "superseded":
        return
    if claim.action == "rearm":
        enqueue_promotion(
            namespace=namespace,
            user_id=user_id,
            session_id=session_id,
            token=token,
            delay_seconds=claim.delay_seconds,
        )
        return
    try:
        promotion_run(namespace=namespace, user_id=user_id, session_id=session_id)
    except PromotionRetry as retry:
        raise dramatiq.Retry(str(retry), delay=int(retry.delay_seconds * 1000)) from retry


# --- Offline evaluation -------------------------------------------------------------------
# The service records every failure on the evaluation row (the admin page shows it) and
# resumes where it stopped: examples already scored are skipped on a retry. A run that
# cannot start (no LLM) ends `failed` at once, without retries.


@dramatiq.actor(max_retries=3, min_backoff=10_000, time_limit=60 * 60_000)
def policy_evaluate(evaluation_id: int) -> None:
    """Replay an evaluation's data set through its policy version and score it (idempotent)."""
    policy_evaluation_run(evaluation_id=evaluation_id)


# --- Summary views ----------------------------------------------------------------------
# A full run is a Task whose chunks each send the next (`summary_view_run`); the service
# records any failure on the task, so a message never retries (a redelivered chunk
# recomputes the same partitions, never duplicates them).


@dramatiq.actor(max_retries=0, time_limit=10 * 60_000)
def summary_view_run(task_id: str, offset: int, force: bool) -> None:
    """Compute one chunk of a summary view's full run (idempotent)."""
    summary_view_runs.task_chunk_run(task_id=task_id, offset=offset, force=force)


@dramatiq.actor(max_retries=0, time_limit=10 * 60_000)
def summary_views_refresh() -> None:
    """Start a chunked run of each continuous view with stale partitions (the sweep sends
    it once per interval; the runs do the summarizing)."""
    summary_view_runs.continuous_views_refresh()

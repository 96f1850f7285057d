"""After a failed promotion run: retry it (an admin) or re-arm it (the sweep, once the
provider answers again). The failed run itself goes back to running, so its turns are
extracted once, under the watermark check every run makes (`promotion`)."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from memory import llm
from memory.actor_names import SYSTEM_SWEEP
from memory.models import SessionPromotion
from memory.selectors.promotion import promotion_runs_retryable, promotion_runs_to_rearm
from policies.models import ExtractionRun, ExtractionRunRetry
from workers.queue import enqueue_promotion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromotionRetried:
    retried: int  # runs set running again, their sessions sent to the worker
    not_retried: int  # asked for, but not (or no longer) retryable: left as they were


@transaction.atomic
def promotion_runs_retry(*, run_ids: list[int], actor: str) -> PromotionRetried:
    """Try these failed runs again, each with a fresh attempt budget, and send their
    sessions to the worker once this commits.

    Only a retryable run (`promotion_runs_retryable`: its session's latest, turns still
    past the watermark) is touched; the others are counted and left as they are. The run
    itself goes back to running, so it ends succeeded (or failed again) and its turns
    are extracted once, under the same watermark check as any run. Idempotent: a run
    retried already is running, so no longer retryable. Each retry leaves an
    ExtractionRunRetry row naming `actor` and how the run had ended.
    """
    wanted = set(run_ids)
    sessions = list(promotion_runs_retryable().filter(pk__in=wanted).values_list("namespace", "session_id"))
    if sessions:
        # Lock the sessions' state rows first, as a run start does (`_run_begin`), so no
        # run starts for them meanwhile; then choose the runs again under the lock.
        pairs = Q()
        for ns, session_id in sessions:
            pairs |= Q(namespace=ns, session_id=session_id)
        list(SessionPromotion.objects.select_for_update().filter(pairs).order_by("pk").values_list("pk"))
    runs = list(promotion_runs_retryable().filter(pk__in=wanted).select_for_update(of=("self",)))
    for run in runs:
        _run_rearm(run, actor)
    return PromotionRetried(retried=len(runs), not_retried=len(wanted) - len(runs))


def _run_rearm(run: ExtractionRun, actor: str) -> None:
    ExtractionRunRetry.objects.create(run=run, actor=actor, failure=run.failure, attempts=run.attempt, error=run.error)
    run.rearms += 1
    run.status, run.finished_at, run.failure, run.error = ExtractionRun.Status.RUNNING, None, "", ""
    run.attempt = run.malformed_replies = 0  # `_run_begin` counts the next attempt as 1
    run.save(update_fields=["rearms", "status", "finished_at", "failure", "error", "attempt", "malformed_replies"])
    logger.info("promotion run %s for session %s/%s retried by %s", run.pk, run.namespace, run.session_id, actor)
    # No debounce token: it runs now, unless a newer debounce window is pending (whose run continues this one).
    enqueue_promotion(
        namespace=run.namespace or None,
        user_id=run.user_id or None,
        session_id=run.session_id,
        token="",
        on_commit=True,
    )


def promotion_failed_rearm() -> int:
    """The sweep's step after an outage: re-arm a batch of failed runs whose provider
    answers again. Returns how many were re-armed.

    Nothing is asked of the provider while no run waits. Otherwise each model of the
    batch is probed once (`llm.probe`: one request of a few tokens; a deployment with
    one model makes one), and the batch's runs of the models that answered are retried
    by `system:sweep`. Runs of the `messages` strategy use no model: the sweep running
    at all says the DB and Redis are back. The batch is PROMOTION_REARM_BATCH runs,
    oldest first; a run that failed on something other than an outage is re-armed at
    most PROMOTION_MAX_REARMS times (`promotion_runs_to_rearm`).
    """
    waiting = promotion_runs_to_rearm(limit=settings.PROMOTION_REARM_BATCH, max_rearms=settings.PROMOTION_MAX_REARMS)
    if not waiting:
        return 0
    answering = {model: not model or llm.probe(model=model) for model in {run.model for run in waiting}}
    run_ids = [run.pk for run in waiting if answering[run.model]]
    if not run_ids:
        logger.info("%d failed promotion runs wait: the provider does not answer yet", len(waiting))
        return 0
    return promotion_runs_retry(run_ids=run_ids, actor=SYSTEM_SWEEP).retried

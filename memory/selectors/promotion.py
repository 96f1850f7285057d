"""Reads of promotion's failed runs: which can be tried again, and which the sweep re-arms.

A failed run can be tried again only while it is still what stands between its session
and extracted turns: it is the session's latest run and none of the session's runs is
running (no other run has taken the turns on), its session still has turns past the watermark, and it ran a
policy version (a run that found no published policy has nothing to re-run).
"""

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from memory.models import SessionPromotion
from policies.models import ExtractionRun


def promotion_runs_retryable() -> QuerySet[ExtractionRun]:
    """Failed runs that trying again would finish: their session's latest run, with turns
    still to extract. Oldest first."""
    later_run = ExtractionRun.objects.filter(
        namespace=OuterRef("namespace"), session_id=OuterRef("session_id"), pk__gt=OuterRef("pk")
    )
    turns_waiting = SessionPromotion.objects.filter(
        namespace=OuterRef("namespace"), session_id=OuterRef("session_id"), extracted_seq__lt=F("persisted_seq")
    )
    running = ExtractionRun.objects.filter(
        namespace=OuterRef("namespace"), session_id=OuterRef("session_id"), status=ExtractionRun.Status.RUNNING
    )
    return (
        ExtractionRun.objects.filter(status=ExtractionRun.Status.FAILED, policy_version__isnull=False)
        .filter(Exists(turns_waiting), ~Exists(later_run), ~Exists(running))
        .order_by("pk")
    )


def promotion_runs_to_rearm(*, limit: int, max_rearms: int) -> list[ExtractionRun]:
    """The sweep's next batch: retryable runs that failed on an outage (no cap: the probe
    has just said the provider answers again), or on anything else fewer than
    `max_rearms` times (a reply the model keeps getting wrong must not cost an
    extraction every sweep forever)."""
    capped = Q(failure=ExtractionRun.Failure.OUTAGE) | Q(rearms__lt=max_rearms)
    return list(promotion_runs_retryable().filter(capped).only("pk", "model")[:limit])

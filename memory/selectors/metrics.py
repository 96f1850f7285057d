"""The figures GET /metrics reads from the DB and Redis at scrape time.

Each is computed from the truth on every scrape, not counted in a process, so every
API process answers the same and a restart loses nothing: extraction runs by status,
the extraction lag, the Dramatiq queues, the index drift, tokens and cost per policy
version.
"""

from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, Sum
from django.utils import timezone

from memory import index
from memory.models import MemoryRecord, SessionPromotion, SourceMessage
from memory.redis_client import get_redis
from memory.redis_keys import promotion_windows_pattern
from policies.models import ExtractionRun


def extraction_runs_by_status() -> dict[str, int]:
    counts = dict(ExtractionRun.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in ExtractionRun.Status.values}


def extraction_lag_seconds(*, now: datetime | None = None) -> float:
    """Age of the oldest turn not yet extracted: persisted turns past their session's
    watermark, and turns still waiting in a debounce window (its first write). 0 when
    every turn is extracted."""
    now = now or timezone.now()
    waiting = SessionPromotion.objects.filter(
        namespace=OuterRef("namespace"), session_id=OuterRef("session_id"), extracted_seq__lt=OuterRef("seq")
    )
    oldest = SourceMessage.objects.filter(Exists(waiting)).aggregate(oldest=Min("persisted_at"))["oldest"]
    ages: list[float] = [(now - oldest).total_seconds()] if oldest else []  # an aggregate is Any
    first_ms = _oldest_window_first_ms()
    if first_ms is not None:
        ages.append(now.timestamp() - first_ms / 1000)
    return max([0.0, *ages])


def _oldest_window_first_ms() -> int | None:
    client = get_redis()
    keys = list(client.scan_iter(match=promotion_windows_pattern(), count=1000))
    if not keys:
        return None
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hget(key, "first")
    firsts = [int(value) for value in pipe.execute() if value]
    return min(firsts) if firsts else None


def index_drift() -> int:
    """Records in the DB whose index document is missing: search cannot find them. A
    row written a moment ago counts until its commit hook (or the sweep) indexes it."""
    documents = index.document_ids()
    rows = MemoryRecord.objects.values_list("id", flat=True).iterator()
    return sum(1 for record_id in rows if record_id not in documents)


def usage_by_policy_version() -> list[dict[str, Any]]:
    """Tokens in and out and cost of every run, per policy version (`policy`, `version`)."""
    rows = (
        ExtractionRun.objects.values("policy_version__policy__name", "policy_version__number")
        .annotate(tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost_usd"))
        .order_by("policy_version__policy__name", "policy_version__number")
    )
    return [
        {
            "policy": row["policy_version__policy__name"] or "",
            "version": str(row["policy_version__number"] or ""),
            "tokens_in": row["tokens_in"] or 0,
            "tokens_out": row["tokens_out"] or 0,
            "cost_usd": float(row["cost"] or 0),
        }
        for row in rows
    ]

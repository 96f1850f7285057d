"""The figures GET /metrics reads from the DB and Redis at scrape time.

Each is computed from the truth on every scrape, not counted in a process, so every
API process answers the same and a restart loses nothing: extraction runs by status,
the extraction lag, the Dramatiq queues, the index drift, tokens and cost per policy
version.
"""

from datetime import datetime
from typing import Any

from django.db.models import Count, F, Min, OuterRef, Subquery, Sum
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
    every turn is extracted.

    It reads the sessions behind their watermark (a partial index holds only those) and,
    for each, its first turn past it (one seek of the (namespace, session_id, seq) unique
    index): turns persist in seq order, so that turn is the session's oldest waiting one.
    Reading every turn instead took 0.9 s at a million turns (benchmarks/admin_home.py)."""
    now = now or timezone.now()
    first_waiting = SourceMessage.objects.filter(
        namespace=OuterRef("namespace"), session_id=OuterRef("session_id"), seq__gt=OuterRef("extracted_seq")
    ).order_by("seq")
    behind = SessionPromotion.objects.filter(extracted_seq__lt=F("persisted_seq"))
    oldest = behind.annotate(first=Subquery(first_waiting.values("persisted_at")[:1])).aggregate(oldest=Min("first"))
    ages: list[float] = [(now - oldest["oldest"]).total_seconds()] if oldest["oldest"] else []
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

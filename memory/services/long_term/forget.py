"""Forgetting: delete records by age, inactivity or a budget, inside a scope."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from memory.models import MemoryRecord
from memory.selectors.long_term import Recency, recency_score, records_in_scope
from memory.services.long_term.edit import delete_rows


@dataclass(frozen=True)
class ForgetResult:
    scanned: int
    deleted_ids: list[str]
    dry_run: bool
    # How many records the policy picked before `limit` cut them: the rest remain for a later call.
    matched: int = 0

    @property
    def remaining(self) -> int:
        return self.matched - len(self.deleted_ids)


@transaction.atomic
def memories_forget(
    *,
    actor: str,
    namespace: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    max_age_days: float | None = None,
    max_inactive_days: float | None = None,
    budget: int | None = None,
    memory_types: list[str] | None = None,
    pinned_ids: Sequence[str] = (),
    limit: int | None = None,
    dry_run: bool = False,
) -> ForgetResult:
    """Apply a forgetting policy within a scope. Pinned records (the `pinned` flag or
    `pinned_ids`) are never forgotten.

    - max_age_days: forget records created longer ago than this;
    - max_inactive_days: forget records not accessed for longer than this
      (with both set, a record must be both old and inactive);
    - budget: of the records left, keep the `budget` with the best recency score
      (the search formula, default weights) and forget the rest;
    - memory_types: only these types are candidates; limit: forget at most this many.
    Deleted records keep a snapshot in their history.
    """
    now = timezone.now()
    rows = records_in_scope(namespace=namespace, user_id=user_id, session_id=session_id)
    if memory_types:
        rows = rows.filter(memory_type__in=memory_types)
    scanned = rows.count()
    candidates = list(
        rows.exclude(pinned=True)
        .exclude(id__in=list(pinned_ids))
        .only("id", "created_at", "last_accessed")
        .order_by("created_at", "id")
    )
    old, idle = _days_before(now, max_age_days), _days_before(now, max_inactive_days)
    doomed: list[MemoryRecord] = []
    keep: list[MemoryRecord] = []
    for row in candidates:
        (doomed if _expired(row, old=old, idle=idle) else keep).append(row)
    if budget is not None and len(keep) > budget:
        recency = Recency()
        keep.sort(
            key=lambda r: (
                -recency_score(last_accessed=r.last_accessed, created_at=r.created_at, now=now, recency=recency),
                r.id,
            )
        )
        doomed += keep[budget:]
    matched = len(doomed)
    if limit is not None:
        doomed = doomed[:limit]
    deleted_ids = [r.id for r in doomed]
    if not dry_run and deleted_ids:
        delete_rows(list(MemoryRecord.objects.filter(id__in=deleted_ids)), reason="forgotten by policy", actor=actor)
    return ForgetResult(scanned=scanned, deleted_ids=deleted_ids, dry_run=dry_run, matched=matched)


def _days_before(now: datetime, days: float | None) -> datetime | None:
    """`days` before `now`. An age reaching past year 1 (the API allows ~2,700 years) is
    the earliest datetime, which nothing precedes: it overflowed, a 500 (found by schema
    fuzzing once forget's required namespace was declared)."""
    if days is None:
        return None
    try:
        return now - timedelta(days=days)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def _expired(row: MemoryRecord, *, old: datetime | None, idle: datetime | None) -> bool:
    """Past the age or inactivity limit; with both limits set, past both."""
    too_old = old is not None and row.created_at < old
    too_idle = idle is not None and row.last_accessed < idle
    if old is not None and idle is not None:
        return too_old and too_idle
    return too_old or too_idle

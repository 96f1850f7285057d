"""The online figures of any set of extraction runs: a policy version's, or an experiment
variant's. What the runs read and wrote, what reviewers made of it, what it cost.

Definitions (the results page and the evaluation page show the same ones):
- messages and memories count succeeded runs only: a failed run's turns are read again by
  the run after it, so counting both would count them twice;
- reviewed = the runs' memories a reviewer decided on (an approve or reject in history,
  not undone), counted by their status now; approval rate = approved / reviewed. A memory
  that started approved and nobody looked at is not a review. A deleted memory leaves
  the figures with its row;
- duplicate rate = merges / candidates = memories_deduplicated / (created + deduplicated);
- latency percentiles are over succeeded runs (a failed one stops early or times out).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from memory.models import MemoryHistory, MemoryRecord, MemoryStatus
from policies.models import ExtractionRun
from policies.stats import Interval, percentile, wilson_interval

DECISIONS = (MemoryHistory.Action.APPROVED, MemoryHistory.Action.REJECTED)


@dataclass(frozen=True)
class RunFigures:
    runs: int = 0
    failed_runs: int = 0
    sessions: int = 0
    messages: int = 0
    memories_created: int = 0
    memories_deduplicated: int = 0
    approved: int = 0
    rejected: int = 0
    rejection_reasons: list[tuple[str, int]] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None

    @property
    def reviewed(self) -> int:
        return self.approved + self.rejected

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.reviewed if self.reviewed else None

    @property
    def approval_interval(self) -> Interval | None:
        return wilson_interval(self.approved, self.reviewed)

    @property
    def memories_per_100_messages(self) -> float | None:
        return 100 * self.memories_created / self.messages if self.messages else None

    @property
    def duplicate_rate(self) -> float | None:
        candidates = self.memories_created + self.memories_deduplicated
        return self.memories_deduplicated / candidates if candidates else None

    @property
    def tokens_per_run(self) -> float | None:
        return (self.tokens_in + self.tokens_out) / self.runs if self.runs else None

    @property
    def cost_per_run(self) -> Decimal | None:
        return self.cost_usd / self.runs if self.runs else None

    @property
    def cost_per_100_messages(self) -> Decimal | None:
        return 100 * self.cost_usd / self.messages if self.messages else None


@dataclass(frozen=True)
class DailyApproval:
    """Cumulative review decisions up to and including `day`."""

    day: date
    approved: int
    reviewed: int

    @property
    def interval(self) -> Interval | None:
        return wilson_interval(self.approved, self.reviewed)


def run_figures(*, runs: QuerySet[ExtractionRun]) -> RunFigures:
    """The figures of these runs (any queryset of ExtractionRun: a version's, a variant's)."""
    totals = runs.aggregate(
        runs=Count("id"),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cost_usd=Sum("cost_usd"),
    )
    succeeded = runs.filter(status=ExtractionRun.Status.SUCCEEDED)
    written = succeeded.aggregate(
        messages=Sum("message_count"), created=Sum("memories_created"), deduplicated=Sum("memories_deduplicated")
    )
    latencies = list(succeeded.values_list("latency_ms", flat=True))
    decisions = _decisions(runs)
    statuses = Counter(status for _, status, _ in decisions.values())
    return RunFigures(
        runs=totals["runs"],
        failed_runs=runs.filter(status=ExtractionRun.Status.FAILED).count(),
        sessions=runs.values("namespace", "session_id").distinct().count(),
        messages=written["messages"] or 0,
        memories_created=written["created"] or 0,
        memories_deduplicated=written["deduplicated"] or 0,
        approved=statuses[MemoryStatus.APPROVED],
        rejected=statuses[MemoryStatus.REJECTED],
        rejection_reasons=_rejection_reasons(decisions),
        tokens_in=totals["tokens_in"] or 0,
        tokens_out=totals["tokens_out"] or 0,
        cost_usd=totals["cost_usd"] or Decimal(0),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
    )


def approval_by_day(*, runs: QuerySet[ExtractionRun]) -> list[DailyApproval]:
    """Approval so far, day by day (a memory counts on the day of its last decision)."""
    per_day: dict[date, Counter[str]] = {}
    for decided_at, status, _ in _decisions(runs).values():
        per_day.setdefault(decided_at.date(), Counter())[status] += 1
    days, approved, reviewed = [], 0, 0
    for day in sorted(per_day):
        approved += per_day[day][MemoryStatus.APPROVED]
        reviewed += per_day[day][MemoryStatus.APPROVED] + per_day[day][MemoryStatus.REJECTED]
        days.append(DailyApproval(day=day, approved=approved, reviewed=reviewed))
    return days


def _decisions(runs: QuerySet[ExtractionRun]) -> dict[str, tuple[datetime, str, str]]:
    """memory id -> (when last decided, status now, last rejection reason) for every
    reviewed memory of the runs."""
    statuses = dict(
        MemoryRecord.objects.filter(
            extraction_run__in=runs, status__in=(MemoryStatus.APPROVED, MemoryStatus.REJECTED)
        ).values_list("id", "status")
    )
    history = (
        MemoryHistory.objects.filter(memory_id__in=list(statuses), action__in=DECISIONS, undone_at=None)
        .order_by("created_at", "id")
        .values_list("memory_id", "action", "created_at", "reason")
    )
    decided: dict[str, tuple[datetime, str, str]] = {}
    for memory_id, action, created_at, reason in history:
        earlier_reason = decided[memory_id][2] if memory_id in decided else ""
        last_reason = reason if action == MemoryHistory.Action.REJECTED else earlier_reason
        decided[memory_id] = (created_at, statuses[memory_id], last_reason)
    return decided


def _rejection_reasons(decisions: dict[str, tuple[datetime, str, str]]) -> list[tuple[str, int]]:
    """Why the rejected memories were rejected (their last reason), most common first."""
    reasons = Counter(
        reason or "(no reason)" for _, status, reason in decisions.values() if status == MemoryStatus.REJECTED
    )
    return sorted(reasons.items(), key=lambda pair: (-pair[1], pair[0]))

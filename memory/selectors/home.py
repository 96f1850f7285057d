"""Figures of the admin's home page that read memory (or Redis): pending memories by
namespace, conflicts waiting, index drift, worker health, running experiments' verdicts
and stale summary views. Each figure is one aggregate query or a constant few (per summary
view or running experiment, which are few), never a Python loop over records; policies'
own figures are in `policies.selectors.home`."""

from dataclasses import dataclass
from datetime import datetime

import dramatiq
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from dramatiq.brokers.redis import RedisBroker

from memory import index, redis_keys
from memory.models import MemoryConflict, MemoryHistory, MemoryRecord, MemoryStatus, SummaryView
from memory.selectors.policy_figures import DECISIONS
from memory.selectors.summary_views import view_is_stale
from policies.models import Experiment, ExtractionRun
from policies.selectors.experiments import experiment_variants
from policies.stats import approval_verdict


@dataclass(frozen=True)
class PendingNamespace:
    namespace: str  # "" for records without a namespace
    count: int
    oldest: datetime


def pending_by_namespace() -> list[PendingNamespace]:
    """Pending memories per namespace, most first then by name: one GROUP BY over the
    pending rows (the status index; benchmarks/admin_home.py has its plan at 1M records)."""
    rows = (
        MemoryRecord.objects.filter(status=MemoryStatus.PENDING)
        .order_by()
        .values("namespace")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    found = [PendingNamespace(row["namespace"] or "", row["n"], row["oldest"]) for row in rows]
    return sorted(found, key=lambda row: (-row.count, row.namespace))


def pending_with_conflicts() -> QuerySet[MemoryRecord]:
    """Pending memories with a possible conflict linked from them (dedup links the newer
    record): the changelist's `status=pending&conflicts__isnull=False`."""
    return MemoryRecord.objects.filter(status=MemoryStatus.PENDING).filter(
        Exists(MemoryConflict.objects.filter(memory=OuterRef("pk")))
    )


def memories_exist() -> bool:
    return MemoryRecord.objects.exists()


def index_drift() -> int:
    """DB records minus index documents: a COUNT and FT.INFO, whatever the size. Positive:
    records search cannot find yet; negative: documents of deleted records."""
    return MemoryRecord.objects.count() - index.document_count()


def worker_last_heartbeat(*, now: datetime) -> float | None:
    """Seconds since the latest Dramatiq heartbeat of a worker process (the consumers set
    of workers.middleware); None when no worker has a heartbeat on record."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, RedisBroker):
        return None
    consumers = list(broker.client.smembers(redis_keys.dramatiq_consumers_key(namespace=broker.namespace)))
    if not consumers:
        return None
    scores = broker.client.zmscore(redis_keys.dramatiq_heartbeats_key(namespace=broker.namespace), consumers)
    beats = [float(score) for score in scores if score is not None]
    return max(0.0, now.timestamp() - max(beats) / 1000) if beats else None


@dataclass(frozen=True)
class RunningExperiment:
    experiment: Experiment
    verdict: str


def running_experiments() -> list[RunningExperiment]:
    """Running experiments with each variant's verdict against the control, in words: the
    results page's verdict (`memory.selectors.experiment_results`) from one aggregate of
    review decisions per experiment, instead of loading every decision of its runs."""
    found = []
    for experiment in Experiment.objects.filter(status=Experiment.Status.RUNNING).order_by("key"):
        found.append(RunningExperiment(experiment, experiment_verdict(experiment=experiment)))
    return found


def experiment_verdict(*, experiment: Experiment) -> str:
    """Each variant against the control ("; " between them). Reviewed and approved are
    `policy_figures`' definitions: memories of the variant's runs, approved or rejected now,
    with a decision in history that was not undone."""
    variants = experiment_variants(experiment=experiment)
    control = next((v for v in variants if v.is_control), variants[0] if variants else None)
    decided = Exists(MemoryHistory.objects.filter(memory_id=OuterRef("pk"), action__in=DECISIONS, undone_at=None))
    runs = ExtractionRun.objects.filter(experiment=experiment).values("pk")
    reviewed = Q(status__in=(MemoryStatus.APPROVED, MemoryStatus.REJECTED))
    # Only the run condition in WHERE, so the planner walks the runs' memories by their
    # extraction_run index instead of every approved memory by status (148 ms -> 9 ms at
    # 100,000 records on SQLite); the statuses are the counts' filters.
    rows = (
        MemoryRecord.objects.filter(extraction_run_id__in=runs)
        .filter(decided)
        .order_by()
        .values("extraction_run__variant")
        .annotate(approved=Count("id", filter=Q(status=MemoryStatus.APPROVED)), reviewed=Count("id", filter=reviewed))
    )
    counts = {row["extraction_run__variant"]: (row["approved"], row["reviewed"]) for row in rows}
    if control is None:
        return "no variant to compare with the control"
    control_approved, control_reviewed = counts.get(control.pk, (0, 0))
    verdicts = [
        approval_verdict(
            control=control.name,
            control_approved=control_approved,
            control_reviewed=control_reviewed,
            name=variant.name,
            approved=counts.get(variant.pk, (0, 0))[0],
            reviewed=counts.get(variant.pk, (0, 0))[1],
        ).text
        for variant in variants
        if variant.pk != control.pk
    ]
    return "; ".join(verdicts) or "no variant to compare with the control"


def stale_summary_view_ids(*, now: datetime) -> list[str]:
    """Ids of the summary views with a stale or missing partition (`view_is_stale`: two
    queries per view, and views are few), which the summary views changelist's "stale"
    filter lists too."""
    return [view.pk for view in SummaryView.objects.order_by("pk") if view_is_stale(view=view, now=now)]

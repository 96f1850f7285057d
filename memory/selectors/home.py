"""Figures of the admin's home page that read memory (or Redis): pending memories by
namespace, conflicts waiting, index drift, worker health, running experiments' verdicts
and stale summary views. Each figure is one aggregate query or a constant few (per summary
view or running experiment, which are few), never a Python loop over records; policies'
own figures are in `policies.selectors.home`."""

from dataclasses import dataclass
from datetime import datetime

import dramatiq
from django.db.models import CharField, Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from dramatiq.brokers.redis import RedisBroker

from memory import index, redis_keys
from memory.models import MemoryConflict, MemoryHistory, MemoryRecord, MemoryStatus, SummaryPartition, SummaryView
from memory.selectors.policy_figures import DECISIONS
from memory.selectors.summary_views import view_records
from policies.models import Experiment, ExtractionRun
from policies.selectors.experiments import experiment_variants
from policies.stats import approval_verdict


@dataclass(frozen=True)
class PendingNamespace:
    namespace: str  # "" for records without a namespace
    count: int
    oldest: datetime


def pending_by_namespace() -> list[PendingNamespace]:
    """Pending memories per namespace, most first then by name: one GROUP BY (served by
    the status, namespace, created_at index at a million records)."""
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


def stale_summary_views(*, now: datetime) -> int:
    """Summary views with a stale or missing partition: two queries per view (views are
    few), none per partition. Stale is `partition_is_stale`'s comparison."""
    return sum(1 for view in SummaryView.objects.order_by("pk") if _view_is_stale(view, now=now))


def _view_is_stale(view: SummaryView, *, now: datetime) -> bool:
    """One GROUP BY over the view's records (what a refresh reads anyway: `view_groups`)
    against its stored partitions' (source_count, source_updated_at). The comparison runs
    over those two short lists, one row per partition; a correlated subquery per partition
    instead took seconds at 100,000 records (benchmarks/admin_home.py)."""
    fields = list(view.group_by or [])
    # A group's "" stands for NULL or "" alike (`view_groups`, `_owner_value_q`).
    keys = {f"_g_{f}": Coalesce(F(f), Value(""), output_field=CharField()) for f in fields}
    records = view_records(view=view, now=now).order_by()
    if not fields:  # one partition, the empty group, whether or not records match
        seen = records.aggregate(n=Count("id"), latest=Max("updated_at"))
        current = {(): (seen["n"], seen["latest"])}
    else:
        grouped = records.annotate(**keys).values(*keys).annotate(n=Count("id"), latest=Max("updated_at"))
        current = {tuple(row[key] for key in keys): (row["n"], row["latest"]) for row in grouped}
    stored = {
        tuple(group.get(f) or "" for f in fields): (n, latest)
        for group, n, latest in SummaryPartition.objects.filter(view=view).values_list(
            "group", "source_count", "source_updated_at"
        )
    }
    if any(stored.get(key) != seen for key, seen in current.items()):
        return True  # a group changed, or no partition summarises it yet
    # A stored partition whose memories all went is stale until a run empties it.
    return any(n and key not in current for key, (n, _) in stored.items())

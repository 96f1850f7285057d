"""Figures of the admin's home page that read memory (or Redis): pending memories by
namespace, conflicts waiting, index drift, worker health, running experiments' verdicts
and stale summary views. Each figure is one aggregate query or a constant few (per summary
view or running experiment, which are few), never a Python loop over records; policies'
own figures are in `policies.selectors.home`."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dramatiq
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    Field,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from dramatiq.brokers.redis import RedisBroker

from memory import index, redis_keys
from memory.models import MemoryConflict, MemoryHistory, MemoryRecord, MemoryStatus, SummaryPartition, SummaryView
from memory.selectors.policy_figures import DECISIONS
from memory.selectors.summary_views import view_records
from policies.models import Experiment
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
    """Seconds since the latest Dramatiq heartbeat of another broker than this process's
    own (a producer heartbeats when it enqueues); None when none is recorded."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, RedisBroker):
        return None
    key = redis_keys.dramatiq_heartbeats_key(namespace=broker.namespace)
    own = broker.broker_id
    # The newest two: this process's own may be one of them.
    newest: list[Any] = broker.client.zrevrange(key, 0, 1, withscores=True)  # (member, score) pairs
    beats = [float(pair[1]) for pair in newest if _text(pair[0]) != own]
    return max(0.0, now.timestamp() - beats[0] / 1000) if beats else None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
    rows = (
        MemoryRecord.objects.filter(
            extraction_run__experiment=experiment, status__in=(MemoryStatus.APPROVED, MemoryStatus.REJECTED)
        )
        .filter(decided)
        .order_by()
        .values("extraction_run__variant")
        .annotate(approved=Count("id", filter=Q(status=MemoryStatus.APPROVED)), reviewed=Count("id"))
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
    few), none per partition. Stale is `partition_is_stale`'s comparison, made in SQL."""
    return sum(1 for view in SummaryView.objects.order_by("pk") if _view_is_stale(view, now=now))


def _aggregate(function: str, name: str, output: Field[Any, Any]) -> Func:
    """An aggregate over a whole correlated subquery (no GROUP BY, unlike Django's own)."""
    return Func(F(name), function=function, output_field=output)


def _view_is_stale(view: SummaryView, *, now: datetime) -> bool:
    fields = list(view.group_by or [])
    records = view_records(view=view, now=now).order_by()
    # A group's "" stands for NULL or "" alike (`view_groups`, `_owner_value_q`).
    record_keys = {f"_g_{f}": Coalesce(F(f), Value(""), output_field=CharField()) for f in fields}
    partitions = SummaryPartition.objects.filter(view=view).annotate(
        **{f"_p_{f}": Coalesce(KeyTextTransform(f, "group"), Value(""), output_field=CharField()) for f in fields}
    )
    stored = partitions.filter(**{f"_p_{f}": OuterRef(f"_g_{f}") for f in fields})
    if records.annotate(**record_keys).filter(~Exists(stored)).exists():
        return True  # a group of records no partition summarises yet
    members = records.annotate(**record_keys).filter(**{f"_g_{f}": OuterRef(f"_p_{f}") for f in fields})
    counted = partitions.annotate(
        now_count=Coalesce(Subquery(members.annotate(n=_aggregate("COUNT", "id", IntegerField())).values("n")), 0),
        now_latest=Subquery(members.annotate(m=_aggregate("MAX", "updated_at", DateTimeField())).values("m")),
    )
    changed = (
        Q(now_count__lt=F("source_count"))
        | Q(now_count__gt=F("source_count"))
        | Q(now_latest__isnull=True, source_updated_at__isnull=False)
        | Q(now_latest__isnull=False, source_updated_at__isnull=True)
        | Q(now_latest__lt=F("source_updated_at"))
        | Q(now_latest__gt=F("source_updated_at"))
    )
    return counted.filter(changed).exists()

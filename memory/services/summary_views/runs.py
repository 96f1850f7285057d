"""Computing summary views' partitions: one partition now, a whole view as a Task, and the
periodic refresh of continuous views.

A partition's summary is an upsert on (view, group_key), so a redelivered message or a
second run recomputes the same row, never a duplicate. The row keeps what the
partition's records looked like (their count and latest updated_at) so staleness is a
comparison (`memory.selectors.summary_views.partition_is_stale`); an edit bumps a
record's updated_at and a delete changes the count, so neither needs a hook here.

A full run is chunked: each message computes SUMMARY_VIEW_RUN_CHUNK partitions and sends
the next chunk, so no message holds a worker for long. A view with more partitions than
SUMMARY_VIEW_MAX_PARTITIONS fails its task with a message naming the setting (nothing is
computed): a partial run would leave a view that looks complete and is not. The periodic
refresh of continuous views starts such tasks too.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from memory import redis_keys
from memory.models import SummaryPartition, SummaryView, Task
from memory.redis_client import get_redis
from memory.selectors.summary_views import (
    continuous_views,
    encode_group_key,
    partition_get,
    partition_is_stale,
    partition_records,
    records_seen,
    view_groups,
)
from memory.services.summary_views.summarize import SummarizeError, partition_summarize
from workers.queue import enqueue_summary_view_run

logger = logging.getLogger(__name__)

EMPTY_REASON = "no_matching_memories"


@dataclass(frozen=True)
class TooManyPartitions(Exception):
    view_id: str
    cap: int

    def __str__(self) -> str:
        return (
            f"Summary view {self.view_id} has more than {self.cap} partitions (SUMMARY_VIEW_MAX_PARTITIONS); "
            "narrow its filters, group_by or time_window_days, or raise the setting."
        )


def partition_run(*, view: SummaryView, group: dict[str, str], task_id: str = "", actor: str) -> SummaryPartition:
    """Summarise one partition now and store it. The summarizer runs outside the row's
    transaction, so its SummaryRun (a failed one too) stays recorded; its SummarizeError
    reaches the caller."""
    now = timezone.now()
    records = partition_records(view=view, group=group, now=now)
    count, latest = records_seen(records)
    group_key = encode_group_key(group)
    summary = partition_summarize(
        view=view, records=records, memory_count=count, group_key=group_key, task_id=task_id, actor=actor
    )
    return _partition_store(
        view=view,
        group=group,
        group_key=group_key,
        summary=summary.text,
        kind=summary.kind,
        covered_ids=summary.covered_ids,
        source=(count, latest),
        run_id=summary.run.pk if summary.run is not None else None,
    )


@transaction.atomic
def _partition_store(
    *,
    view: SummaryView,
    group: dict[str, str],
    group_key: str,
    summary: str,
    kind: str,
    covered_ids: list[str],
    source: tuple[int, datetime | None],
    run_id: int | None,
) -> SummaryPartition:
    filters = view.filters or {}
    owner = {
        name: group.get(name) or (filters[name] if isinstance(filters.get(name), str) else None)
        for name in ("namespace", "user_id")
    }
    partition, _ = SummaryPartition.objects.update_or_create(
        view=view,
        group_key=group_key,
        defaults={
            "group": group,
            **owner,
            "summary": summary,
            "kind": kind,
            "memory_count": source[0],
            "covered_count": len(covered_ids),
            "source_count": source[0],
            "source_updated_at": source[1],
            "run_id": run_id,
            "computed_at": timezone.now(),
        },
    )
    partition.memories.set(covered_ids)  # type: ignore[arg-type]  # string primary keys; the stubs say int
    return partition


# --- A full run, as a Task ------------------------------------------------------------------------


@transaction.atomic
def task_create(*, view: SummaryView, task_id: str | None, force: bool, actor: str) -> Task:
    """A pending task for a full run of `view`; its first chunk is sent once this commits."""
    task = Task(tenant=view.tenant, view_id=view.id, created_by=actor)
    if task_id:
        task.id = task_id
    task.save(force_insert=True)
    enqueue_summary_view_run(task_id=task.id, offset=0, force=force)
    return task


def task_chunk_run(*, task_id: str, offset: int, force: bool) -> None:
    """Run one chunk of a task: partitions [offset, offset + SUMMARY_VIEW_RUN_CHUNK) of its
    view (recomputing only stale or missing ones unless `force`), then send the next chunk
    or end the task. Any failure ends the task `failed` with the error's message."""
    task = Task.objects.filter(id=task_id).first()
    if task is None or task.status in (Task.Status.COMPLETED, Task.Status.FAILED):
        return  # a redelivered message of a finished task
    try:
        _chunk(task, offset=offset, force=force)
    except (TooManyPartitions, SummarizeError, SummaryView.DoesNotExist) as exc:
        _task_end(task, error=str(exc))
    except Exception as exc:
        logger.exception("summary view task %s failed", task_id)
        _task_end(task, error=f"{type(exc).__name__}: {exc}")


def _chunk(task: Task, *, offset: int, force: bool) -> None:
    view = SummaryView.objects.filter(id=task.view_id).first()
    if view is None:
        raise SummaryView.DoesNotExist(f"SummaryView {task.view_id} not found")
    now = timezone.now()
    groups = _run_groups(view, now)
    if task.status == Task.Status.PENDING:
        task.status, task.started_at = Task.Status.RUNNING, now
    task.partitions_total = len(groups)
    if not _task_update(task, "status", "started_at", "partitions_total"):
        return  # another delivery of this task finished it meanwhile
    chunk = groups[offset : offset + settings.SUMMARY_VIEW_RUN_CHUNK]
    for group in chunk:
        if force or _needs_run(view, group, now):
            partition_run(view=view, group=group, task_id=task.id, actor=f"task:{task.id}")
    task.partitions_done = min(offset + len(chunk), len(groups))
    if task.partitions_done >= len(groups):
        _task_end(task, error=None)
    elif _task_update(task, "partitions_done"):
        enqueue_summary_view_run(task_id=task.id, offset=offset + len(chunk), force=force)


def _run_groups(view: SummaryView, now: datetime) -> list[dict[str, str]]:
    """What a run visits, in an order every chunk sees alike: the view's partitions (the
    distinct group values of its memories), then stored partitions whose memories all went
    (deleted, aged out), which a run empties rather than leave summarising what is gone."""
    cap = settings.SUMMARY_VIEW_MAX_PARTITIONS
    groups = view_groups(view=view, now=now, cap=cap)
    if len(groups) > cap:
        raise TooManyPartitions(view.id, cap)
    keys = {encode_group_key(g) for g in groups}
    gone = view.partitions.exclude(group_key__in=keys).order_by("group_key").values_list("group", flat=True)
    return [*groups, *gone]


def _needs_run(view: SummaryView, group: dict[str, str], now: datetime) -> bool:
    partition = partition_get(view=view, group=group)
    return partition is None or partition_is_stale(partition=partition, now=now)


def _task_update(task: Task, *fields: str) -> bool:
    """Write these fields of a task that has not ended; False when it has (a duplicate
    delivery ended it first): an ended task never goes back to running."""
    unfinished = Task.objects.filter(pk=task.pk, status__in=[Task.Status.PENDING, Task.Status.RUNNING])
    return unfinished.update(**{name: getattr(task, name) for name in fields}) > 0


def _task_end(task: Task, *, error: str | None) -> None:
    task.status = Task.Status.FAILED if error else Task.Status.COMPLETED
    task.error_message = error
    task.started_at = task.started_at or timezone.now()
    task.completed_at = timezone.now()
    _task_update(task, "status", "error_message", "started_at", "completed_at", "partitions_done", "partitions_total")


# --- Continuous views -----------------------------------------------------------------------------


def continuous_views_refresh_claim() -> bool:
    """Claim this SUMMARY_VIEW_REFRESH_SECONDS interval's refresh (the index sweep asks on
    each of its runs); False when it was already claimed, or no view is continuous."""
    if not continuous_views().exists():
        return False
    ttl_ms = max(int(settings.SUMMARY_VIEW_REFRESH_SECONDS * 1000), 1)
    return bool(get_redis().set(redis_keys.SUMMARY_REFRESH_LOCK_KEY, timezone.now().isoformat(), nx=True, px=ttl_ms))


def continuous_views_refresh(*, actor: str = "system:summary-refresh") -> list[Task]:
    """Start a full run (a Task, without `force`, so chunked and visible like any other)
    of each continuous view that has a stale or missing partition and no run under way.
    Returns the tasks started. A view past SUMMARY_VIEW_MAX_PARTITIONS is logged and skipped."""
    started = []
    for view in continuous_views():
        if Task.objects.filter(view_id=view.id, status__in=[Task.Status.PENDING, Task.Status.RUNNING]).exists():
            continue
        now = timezone.now()
        try:
            groups = _run_groups(view, now)
        except TooManyPartitions as exc:
            logger.warning("%s", exc)
            continue
        if any(_needs_run(view, group, now) for group in groups):
            started.append(task_create(view=view, task_id=None, force=False, actor=actor))
    return started

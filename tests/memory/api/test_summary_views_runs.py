"""Summary views' runs: staleness after an edit and a delete, a full run as a Task on the
real Dramatiq worker (pending, running, completed; failed with its error), chunking and
idempotence, the continuous refresh, and erasure of a user's partitions."""

import dramatiq
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from memory.models import SummaryPartition, SummaryView, Task
from memory.selectors.summary_views import partition_is_stale
from memory.services.erasure import user_erase
from memory.services.long_term import memories_delete, memory_edit
from memory.services.summary_views import runs
from policies.models import SummaryRun
from tests.factories import memory_records_create
from tests.helpers import queued_messages, wait_until
from workers import actors

pytestmark = pytest.mark.django_db(transaction=True)  # tasks are sent once the write commits

VIEWS = "/v1/summary-views"


def _seed() -> None:
    memory_records_create(
        {"id": "al-1", "text": "Alice likes tea", "user_id": "alice"},
        {"id": "al-2", "text": "Alice rides a bike", "user_id": "alice"},
        {"id": "bo-1", "text": "Bob likes coffee", "user_id": "bob"},
        {"id": "ca-1", "text": "Carol plays chess", "user_id": "carol"},
        namespace="ns",
    )


def _view(api: APIClient, **body: object) -> SummaryView:
    response = api.post(VIEWS, {"source": "long_term", "group_by": ["user_id"], **body}, format="json")
    assert response.status_code == 200, response.json()
    return SummaryView.objects.get(id=response.json()["id"])


def _partition(view: SummaryView, user_id: str) -> SummaryPartition:
    return SummaryPartition.objects.get(view=view, group_key=f"user_id={user_id}")


def test_an_edit_and_a_delete_each_make_a_partition_stale(api):
    _seed()
    view = _view(api)
    runs.partition_run(view=view, group={"user_id": "alice"}, actor="test")
    partition = _partition(view, "alice")
    assert (partition.source_count, partition_is_stale(partition=partition, now=timezone.now())) == (2, False)
    memory_edit(memory_id="al-1", changes={"text": "Alice likes green tea"}, actor="test", may_review=False)
    assert partition_is_stale(partition=partition, now=timezone.now()) is True
    runs.partition_run(view=view, group={"user_id": "alice"}, actor="test")
    partition = _partition(view, "alice")
    assert partition_is_stale(partition=partition, now=timezone.now()) is False
    memories_delete(memory_ids=["al-2"], actor="test")
    assert partition_is_stale(partition=partition, now=timezone.now()) is True
    # Another user's edit leaves it fresh.
    runs.partition_run(view=view, group={"user_id": "alice"}, actor="test")
    memory_edit(memory_id="bo-1", changes={"text": "Bob likes espresso"}, actor="test", may_review=False)
    assert partition_is_stale(partition=_partition(view, "alice"), now=timezone.now()) is False


def test_a_full_run_goes_pending_running_completed_on_the_worker_in_chunks(api, settings, redis_client):
    settings.SUMMARY_VIEW_RUN_CHUNK = 2
    _seed()
    view = _view(api)
    answer = api.post(f"{VIEWS}/{view.id}/run", {}, format="json").json()
    assert (answer["status"], answer["view_id"], answer["type"], answer["started_at"]) == (
        "pending",
        view.id,
        "summary_view_full_run",
        None,
    )
    [message] = queued_messages(redis_client, "summary_view_run")
    assert message["args"] == [answer["id"], 0, False]

    # The first chunk, as the worker would run it: running, 2 of 3 done, the next chunk sent.
    actors.summary_view_run.fn(answer["id"], 0, False)
    task = Task.objects.get(id=answer["id"])
    assert (task.status, task.partitions_done, task.partitions_total) == ("running", 2, 3)
    assert task.started_at is not None and task.completed_at is None
    assert sorted(m["args"][1] for m in queued_messages(redis_client, "summary_view_run")) == [0, 2]

    worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        # The queued first message is a redelivery of chunk 0: it recomputes nothing (fresh).
        done = wait_until(lambda: Task.objects.filter(id=answer["id"], status="completed").first(), what="task done")
        wait_until(lambda: not queued_messages(redis_client, "summary_view_run"), what="no chunk left")
    finally:
        worker.stop(timeout=30_000)
    assert (done.partitions_done, done.partitions_total, done.error_message) == (3, 3, None)
    assert done.started_at <= done.completed_at
    got = api.get(f"/v1/tasks/{done.id}").json()
    assert (got["status"], got["completed_at"] is not None, got["partitions_done"]) == ("completed", True, 3)
    assert sorted(view.partitions.values_list("group_key", "memory_count")) == [
        ("user_id=alice", 2),
        ("user_id=bob", 1),
        ("user_id=carol", 1),
    ]
    # Each partition was summarised once (the redelivered chunk found them fresh).
    assert SummaryRun.objects.filter(task_id=done.id).count() == 3


def test_force_recomputes_fresh_partitions_and_without_it_they_are_skipped(api):
    _seed()
    view = _view(api)
    first = runs.task_create(view=view, task_id="t-first", force=False, actor="test")
    runs.task_chunk_run(task_id=first.id, offset=0, force=False)
    assert SummaryRun.objects.filter(task_id="t-first").count() == 3
    runs.task_chunk_run(task_id=first.id, offset=0, force=True)  # a late duplicate of an ended task
    assert (Task.objects.get(id="t-first").status, SummaryRun.objects.filter(task_id="t-first").count()) == (
        "completed",
        3,
    )
    runs.task_create(view=view, task_id="t-again", force=False, actor="test")
    runs.task_chunk_run(task_id="t-again", offset=0, force=False)
    assert (Task.objects.get(id="t-again").status, SummaryRun.objects.filter(task_id="t-again").count()) == (
        "completed",
        0,
    )
    runs.task_create(view=view, task_id="t-force", force=True, actor="test")
    runs.task_chunk_run(task_id="t-force", offset=0, force=True)
    assert SummaryRun.objects.filter(task_id="t-force").count() == 3
    assert SummaryPartition.objects.filter(view=view).count() == 3


def test_a_task_whose_view_is_gone_fails_with_its_error_and_a_client_given_id(api, dramatiq_worker, redis_client):
    _seed()
    view = _view(api)
    answer = api.post(f"{VIEWS}/{view.id}/run", {"task_id": "my-task"}, format="json").json()
    assert (answer["id"], answer["status"]) == ("my-task", "pending")
    SummaryView.objects.filter(id=view.id).delete()  # before the worker takes it
    failed = wait_until(lambda: Task.objects.filter(id="my-task", status="failed").first(), what="task failed")
    assert failed.error_message == f"SummaryView {view.id} not found"
    got = api.get("/v1/tasks/my-task").json()
    assert (got["status"], got["error_message"], got["completed_at"] is not None) == (
        "failed",
        f"SummaryView {view.id} not found",
        True,
    )
    again = api.post(f"{VIEWS}/{_view(api).id}/run", {"task_id": "my-task"}, format="json")
    assert again.status_code == 409 and again.json()["detail"][0]["loc"] == ["body", "task_id"]


def test_a_view_over_the_partition_cap_fails_its_task_naming_the_setting(api, settings):
    settings.SUMMARY_VIEW_MAX_PARTITIONS = 2
    _seed()
    view = _view(api)
    task = runs.task_create(view=view, task_id=None, force=False, actor="test")
    runs.task_chunk_run(task_id=task.id, offset=0, force=False)
    task.refresh_from_db()
    assert task.status == "failed" and "more than 2 partitions (SUMMARY_VIEW_MAX_PARTITIONS)" in task.error_message
    assert SummaryPartition.objects.count() == 0


def _refresh() -> list[str]:
    """The continuous refresh, its tasks then run as the worker would (one chunk holds these
    few partitions); answers the views it started a run of."""
    tasks = runs.continuous_views_refresh()
    for task in tasks:
        runs.task_chunk_run(task_id=task.id, offset=0, force=False)
        task.refresh_from_db()
        assert (task.status, task.created_by) == ("completed", "system:summary-refresh")
    return [task.view_id for task in tasks]


def test_the_continuous_refresh_recomputes_only_stale_partitions_of_continuous_views(api, redis_client):
    _seed()
    continuous = _view(api, continuous=True)
    static = _view(api)
    runs.partition_run(view=static, group={"user_id": "alice"}, actor="test")
    assert _refresh() == [continuous.id]  # each partition was missing
    assert SummaryRun.objects.filter(view_id=continuous.id).count() == 3
    assert _refresh() == []  # all fresh: no task started
    memory_edit(memory_id="al-1", changes={"text": "Alice likes green tea"}, actor="test", may_review=False)
    memories_delete(memory_ids=["ca-1"], actor="test")
    assert _refresh() == [continuous.id]
    # Alice's (edited) and carol's (now empty: the empty one runs no summarizer) were recomputed, bob's was not.
    assert SummaryRun.objects.filter(view_id=continuous.id).count() == 4
    carol = _partition(continuous, "carol")
    assert (carol.memory_count, carol.summary, carol.kind) == (0, "", "empty")
    # The non-continuous view is left stale.
    assert SummaryRun.objects.filter(view_id=static.id).count() == 1
    assert partition_is_stale(partition=_partition(static, "alice"), now=timezone.now()) is True
    # A view whose run is still under way gets no second one.
    memory_edit(memory_id="bo-1", changes={"text": "Bob likes espresso"}, actor="test", may_review=False)
    [pending] = runs.continuous_views_refresh()
    assert runs.continuous_views_refresh() == []
    runs.task_chunk_run(task_id=pending.id, offset=0, force=False)
    assert SummaryRun.objects.filter(view_id=continuous.id).count() == 5

    # The sweep sends the refresh once per SUMMARY_VIEW_REFRESH_SECONDS.
    actors.memories_index_sweep.fn()
    assert len(queued_messages(redis_client, "summary_views_refresh")) == 1
    assert runs.continuous_views_refresh_claim() is False


def test_erasing_a_user_removes_their_partitions_and_those_that_summarised_their_memories(api):
    _seed()
    per_user = _view(api)
    per_namespace = _view(api, group_by=["namespace"])
    for user in ("alice", "bob"):
        runs.partition_run(view=per_user, group={"user_id": user}, actor="test")
    runs.partition_run(view=per_namespace, group={"namespace": "ns"}, actor="test")
    assert _partition(per_user, "alice").memories.count() == 2

    receipt = user_erase(namespace="ns", user_id="alice", actor="test")

    assert (receipt.counts["summary_partitions"], receipt.counts["summary_runs"]) == (2, 2)
    assert sorted(SummaryPartition.objects.values_list("group_key", flat=True)) == ["user_id=bob"]
    assert sorted(SummaryRun.objects.values_list("group_key", flat=True)) == ["user_id=bob"]

"""The summary views' admin: the view list (partitions, stale ones, last computed), a view's
page with its partitions (the extractive summary labelled so, counts, staleness) and Run
now (a task the real worker completes), a partition's page leading to its memories, and
the runs' and tasks' lists."""

import re
from html import unescape

import pytest

from memory.models import SummaryView, Task
from memory.services.long_term import memory_edit
from memory.services.summary_views.runs import partition_run
from memory.services.summary_views.views import summary_view_create
from policies.models import SummaryRun
from tests.factories import memory_records_create
from tests.helpers import wait_until
from tests.memory.admin.conftest import staff_client

pytestmark = pytest.mark.django_db(transaction=True)


def cell_texts(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("</thead>")[-1], re.S)
    return [
        [" ".join(unescape(re.sub(r"<[^>]+>", "", c)).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]


@pytest.fixture
def view(settings) -> SummaryView:
    """A view by user over alice's three memories and bob's one, computed extractively."""
    settings.LLM_MODEL = ""
    memory_records_create(
        {"id": "a1", "text": "Alice drinks green tea.", "user_id": "alice"},
        {"id": "a2", "text": "Alice prefers green tea to coffee.", "user_id": "alice"},
        {"id": "b1", "text": "Bob rides a red bicycle.", "user_id": "bob"},
    )
    view = summary_view_create(
        tenant="", namespaces=None, user_ids=None, fields={"name": "by user", "group_by": ["user_id"]}, actor="test"
    )
    for user in ("alice", "bob"):
        partition_run(view=view, group={"user_id": user}, actor="test")
    return view


def test_the_view_list_counts_partitions_and_stale_ones(superuser_client, view):
    memory_edit(memory_id="b1", changes={"text": "Bob rides a blue bicycle."}, actor="test", may_review=True)
    html = superuser_client.get("/admin/memory/summaryview/").content.decode()
    shown = {
        column: unescape(re.search(rf'<td class="field-{column}">(.*?)</td>', html, re.S).group(1))
        for column in ("tenant", "group_by_text", "partition_count", "stale_count")
    }
    assert shown == {"tenant": "-", "group_by_text": "user_id", "partition_count": "2", "stale_count": "1"}
    assert ">by user</a>" in html


def test_a_views_page_shows_its_partitions_with_the_extractive_summary_labelled(superuser_client, view):
    memory_edit(memory_id="b1", changes={"text": "Bob rides a blue bicycle."}, actor="test", may_review=True)
    html = superuser_client.get(f"/admin/memory/summaryview/{view.pk}/change/").content.decode()
    rows = cell_texts(html, "view-partitions")
    assert [row[:5] for row in rows] == [
        ["user_id=alice", "Extractive (no model configured)", "2", "2", "no"],
        ["user_id=bob", "Extractive (no model configured)", "1", "1", "yes"],
    ]
    assert rows[0][6].startswith("Extractive summary (no LLM configured): 2 of 2 memories, in time order. - [")
    assert 'id="run-now"' in html


def test_run_now_starts_a_task_the_worker_completes(superuser_client, view, dramatiq_worker):
    response = superuser_client.post(f"/admin/memory/summaryview/{view.pk}/run/")
    task = Task.objects.get()
    assert response.status_code == 302 and response.url == f"/admin/memory/task/{task.pk}/change/"
    assert task.created_by == "admin:root"
    task = wait_until(lambda: Task.objects.filter(pk=task.pk, status="completed").first(), what="task done")
    assert (task.status, task.partitions_done, task.partitions_total, task.error_message) == ("completed", 2, 2, None)
    assert SummaryRun.objects.filter(task_id=task.pk).count() == 2
    page = superuser_client.get(f"/admin/memory/summaryview/{view.pk}/change/").content.decode()
    assert cell_texts(page, "view-tasks")[0][:3] == [task.pk, "completed", "2 / 2"]
    tasks = superuser_client.get("/admin/memory/task/").content.decode()
    assert task.pk in tasks


def test_run_now_needs_a_post_and_the_permission(client, view):
    no_role = staff_client(client, "nobody")
    assert no_role.get(f"/admin/memory/summaryview/{view.pk}/run/").status_code == 405
    assert no_role.post(f"/admin/memory/summaryview/{view.pk}/run/").status_code == 403
    assert Task.objects.count() == 0


def test_a_partition_leads_to_the_memories_it_summarised(superuser_client, view):
    partition = view.partitions.get(group_key="user_id=alice")
    html = superuser_client.get(f"/admin/memory/summarypartition/{partition.pk}/change/").content.decode()
    assert cell_texts(html, "partition-memories") == [
        ["a1", cell_texts(html, "partition-memories")[0][1], "Alice drinks green tea."],
        ["a2", cell_texts(html, "partition-memories")[1][1], "Alice prefers green tea to coffee."],
    ]
    assert 'href="/admin/memory/memoryrecord/a1/change/"' in html
    assert "Up to date with its memories." in html
    assert f'href="/admin/policies/summaryrun/{partition.run_id}/change/" id="partition-run"' in html
    assert "Extractive (no model configured)" in html


def test_the_runs_list_and_a_runs_page(superuser_client, view):
    run = SummaryRun.objects.get(group_key="user_id=bob")
    listing = superuser_client.get("/admin/policies/summaryrun/").content.decode()
    assert re.findall(r'<td class="field-group_key">(.*?)</td>', listing) == ["user_id=bob", "user_id=alice"]
    page = superuser_client.get(f"/admin/policies/summaryrun/{run.pk}/change/").content.decode()
    raw = unescape(re.search(r"<pre id='run-raw-output'[^>]*>(.*?)</pre>", page, re.S).group(1))
    assert raw.splitlines()[0] == "Extractive summary (no LLM configured): 1 of 1 memory, in time order."
    assert raw.splitlines()[1].endswith("] Bob rides a red bicycle.")

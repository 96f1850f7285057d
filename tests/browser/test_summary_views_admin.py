"""The summary views' admin in Chromium against a gunicorn + worker deployment with no LLM:
a view's page shows its partition's extractive summary, labelled so, and Run now starts a
task the worker completes."""

from datetime import datetime

import pytest
from django.contrib.auth.models import User
from selenium.webdriver.common.by import By

from memory.models import Task
from memory.services.summary_views.runs import partition_run
from memory.services.summary_views.views import summary_view_create
from tests.browser.pages import PASSWORD, admin_login, element, wait_for
from tests.factories import memory_records_create

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess]


def test_a_views_extractive_summary_and_run_now(deployment, browser, screenshot, settings):
    settings.LLM_MODEL = ""  # the deployment's processes have none either: the embedded default
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    memory_records_create(
        {"text": "Alice drinks green tea every morning.", "created_at": datetime.fromisoformat("2026-03-01T09:00Z")},
        {"text": "Alice prefers green tea to coffee.", "created_at": datetime.fromisoformat("2026-03-02T09:00Z")},
        user_id="alice",
    )
    view = summary_view_create(
        tenant="", namespaces=None, user_ids=None, fields={"name": "by user", "group_by": ["user_id"]}, actor="test"
    )
    partition_run(view=view, group={"user_id": "alice"}, actor="test")

    admin_login(browser, deployment.url, "admin", next_path=f"/admin/memory/summaryview/{view.pk}/change/")
    row = element(browser, "#view-partitions tr[data-group-key='user_id=alice']")
    assert row.find_element(By.CSS_SELECTOR, ".kind").text == "Extractive (no model configured)"
    assert row.find_element(By.CSS_SELECTOR, ".stale").text == "no"
    assert row.find_element(By.CSS_SELECTOR, ".summary").text.splitlines() == [
        "Extractive summary (no LLM configured): 2 of 2 memories, in time order.",
        "- [2026-03-01] Alice drinks green tea every morning.",
        "- [2026-03-02] Alice prefers green tea to coffee.",
    ]
    screenshot("summary-view")

    element(browser, "#run-now").click()
    task = wait_for(browser, lambda d: Task.objects.first(), what="the task")
    task_page = f"/admin/memory/task/{task.pk}/change/"
    wait_for(browser, lambda d: d.current_url.endswith(task_page), what="the task's page")
    done = wait_for(browser, lambda d: Task.objects.filter(pk=task.pk, status="completed").first(), what="the run")
    assert (done.partitions_done, done.partitions_total, done.created_by) == (1, 1, "admin:admin")

    browser.get(f"{deployment.url}/admin/memory/summaryview/{view.pk}/change/")
    task_row = element(browser, f"#view-tasks tr[data-task='{task.pk}']")
    assert task_row.find_element(By.CSS_SELECTOR, ".status").text == "completed"
    screenshot("summary-view-after-run")

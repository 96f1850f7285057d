"""One summary-view partition summarised: extractive with no LLM, by the scripted model
with one, bounded whatever the partition's size, and recorded as a SummaryRun."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from memory import tokens
from memory.models import MemoryRecord, SummaryView
from memory.services.summary_views.summarize import SummarizeError, partition_summarize
from policies.models import SummaryRun
from policies.selectors.summary import summary_version_published
from tests.factories import memory_records_create
from tests.llm_server import Fault

pytestmark = pytest.mark.django_db

GROUP_KEY = "user_id=alice"
# Three memories about Alice's tea, two far from them: the tea ones are the partition's centre.
TEA = [
    ("t1", "Alice drinks green tea every morning.", "2026-03-01"),
    ("x1", "The invoice number for the roof repair is 4471.", "2026-03-02"),
    ("t2", "Alice prefers green tea to coffee.", "2026-03-03"),
    ("x2", "The rocket launch window opens at dawn on Tuesday.", "2026-03-04"),
    ("t3", "Alice keeps a tin of green tea on her desk.", "2026-03-05"),
]


def view(**fields) -> SummaryView:
    return SummaryView.objects.create(name="by user", group_by=["user_id"], **fields)


def tea_records() -> None:
    memory_records_create(
        *({"id": pk, "text": text, "created_at": datetime.fromisoformat(f"{day}T12:00Z")} for pk, text, day in TEA),
        user_id="alice",
    )


def summarize(summary_view: SummaryView, **kwargs):
    records = MemoryRecord.objects.filter(user_id="alice")
    return partition_summarize(
        view=summary_view, records=records, memory_count=records.count(), group_key=GROUP_KEY, actor="test", **kwargs
    )


def test_an_empty_partition_has_no_summary_and_no_run():
    summary = partition_summarize(
        view=view(), records=MemoryRecord.objects.none(), memory_count=0, group_key=GROUP_KEY, actor="test"
    )
    assert (summary.text, summary.kind, summary.covered_ids, summary.run) == ("", "empty", [], None)
    assert SummaryRun.objects.count() == 0


def test_without_an_llm_the_summary_is_the_most_central_memories_in_time_order(settings):
    settings.LLM_MODEL = ""
    # Room for three lines of these (53 + 50 + 59 characters, each with its newline), not four.
    settings.SUMMARY_EXTRACTIVE_MAX_CHARS = 170
    tea_records()
    summary = summarize(view(), task_id="task-1")
    assert summary.text == (
        "Extractive summary (no LLM configured): 3 of 5 memories, the most central, in time order.\n"
        "- [2026-03-01] Alice drinks green tea every morning.\n"
        "- [2026-03-03] Alice prefers green tea to coffee.\n"
        "- [2026-03-05] Alice keeps a tin of green tea on her desk."
    )
    assert (summary.kind, summary.covered_ids) == ("extractive", ["t1", "t2", "t3"])
    run = SummaryRun.objects.get()
    assert summary.run == run
    assert (run.kind, run.status, run.tokens_in, run.tokens_out, run.memory_count, run.covered_count) == (
        "extractive",
        "succeeded",
        0,
        0,
        5,
        3,
    )
    assert (run.view_id, run.group_key, run.task_id, run.actor, run.model) == (
        summary.run.view_id,
        GROUP_KEY,
        "task-1",
        "test",
        "",
    )
    # The view names no version: the summary policy's published v1, seeded on first use.
    assert run.policy_version == summary_version_published()
    assert run.policy_version.number == 1


def test_an_extractive_summary_of_every_memory_says_all(settings):
    settings.LLM_MODEL = ""
    tea_records()
    summary = summarize(view())
    assert summary.text.splitlines()[0] == "Extractive summary (no LLM configured): 5 of 5 memories, in time order."
    assert summary.covered_ids == ["t1", "x1", "t2", "x2", "t3"]


def test_the_model_summarises_the_memories_in_time_order_and_the_run_records_it(llm_settings, llm_server):
    tea_records()
    llm_server.script("Alice loves green tea.")
    summary = summarize(view())
    assert (summary.text, summary.kind) == ("Alice loves green tea.", "llm")
    assert summary.covered_ids == ["t1", "x1", "t2", "x2", "t3"]
    (request,) = llm_server.requests
    (message,) = request["messages"]
    assert message["content"] == (
        "You are a summarization assistant. Given a set of long-term memories, produce a concise summary that "
        "highlights key facts, stable preferences, and important events relevant to the group.\n\n"
        'GROUP: {"user_id": "alice"}\n\nMEMORIES:\n'
        "- [2026-03-01] Alice drinks green tea every morning.\n"
        "- [2026-03-02] The invoice number for the roof repair is 4471.\n"
        "- [2026-03-03] Alice prefers green tea to coffee.\n"
        "- [2026-03-04] The rocket launch window opens at dawn on Tuesday.\n"
        "- [2026-03-05] Alice keeps a tin of green tea on her desk.\n\nSUMMARY:"
    )
    run = SummaryRun.objects.get()
    assert summary.run == run
    # The scripted server counts words as tokens.
    assert (run.kind, run.status, run.model, run.raw_output) == ("llm", "succeeded", "openai/scripted", summary.text)
    assert (run.tokens_in, run.tokens_out, run.memory_count, run.covered_count) == (
        len(message["content"].split()),
        4,
        5,
        5,
    )
    assert run.cost_usd == Decimal("0")  # an unknown model has no price
    assert run.latency_ms >= 0 and run.finished_at is not None


def test_a_view_with_its_own_prompt_sends_it(llm_settings, llm_server):
    from policies.services.summary import summary_version_for_view

    tea_records()
    version = summary_version_for_view(prompt="List Alice's drinks.", model_name=None, actor="test")
    llm_server.script("Green tea.")
    summary = summarize(view(prompt="List Alice's drinks.", policy_version=version))
    assert llm_server.requests[0]["messages"][0]["content"].startswith("List Alice's drinks.\n\nGROUP: ")
    assert summary.run.policy_version == version


def test_a_provider_failure_is_recorded_as_a_failed_run_and_raised(llm_settings, llm_server):
    tea_records()
    llm_server.script(Fault.unauthorized())
    with pytest.raises(SummarizeError) as raised:
        summarize(view())
    run = SummaryRun.objects.get()
    assert raised.value.run == run and raised.value.retryable is False
    assert (run.status, run.kind, run.covered_count, run.tokens_in) == ("failed", "llm", 5, 0)
    assert "Incorrect API key provided" in run.error
    assert run.finished_at is not None


def test_a_large_partition_reaches_the_model_bounded_and_the_summary_says_so(llm_settings, llm_server):
    memory_records_create(*({"text": f"Alice noted fact number {n}"} for n in range(300)), user_id="alice")
    line_tokens = tokens.count("- [2026-03-01] Alice noted fact number 17\n")
    llm_settings.SUMMARY_INPUT_MAX_TOKENS = 20 * line_tokens + line_tokens - 1  # 20 lines fit, not 21
    llm_settings.SUMMARY_CANDIDATES_MAX = 100
    llm_server.script("Alice notes facts.")
    with CaptureQueriesContext(connection) as queries:
        summary = summarize(view())
    assert summary.text == "Alice notes facts.\n\nCovers 20 of 300 memories: the most recent and most central."
    assert len(summary.covered_ids) == 20
    content = llm_server.requests[0]["messages"][0]["content"]
    assert content.count("\n- [") == 20
    (read,) = [q["sql"] for q in queries.captured_queries if '"embedding"' in q["sql"]]
    assert read.endswith("LIMIT 100")
    assert SummaryRun.objects.get().covered_count == 20

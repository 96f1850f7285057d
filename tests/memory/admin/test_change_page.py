"""A memory's page: provenance (source turns, run, raw output, history with diffs),
edits and decisions through the review services, and undo through the admin URL."""

import re

import pytest

from memory import index
from memory.models import MemoryHistory, MemoryRecord
from memory.services.long_term import memories_create
from memory.services.long_term.edit import memory_edit
from memory.services.promotion import promotion_run
from memory.services.review import memory_delete
from tests.factories import ExtractedMemoryFactory, extraction_reply
from tests.helpers import put_session
from tests.memory.admin.conftest import OWNER, pending, search_ids

pytestmark = pytest.mark.django_db(transaction=True)

TURNS = [
    {"id": f"m{i}", "role": role, "content": content}
    for i, (role, content) in enumerate(
        [
            ("user", "Hi there."),
            ("assistant", "Hello! How can I help?"),
            ("user", "I am planning a trip."),
            ("assistant", "Where to?"),
            ("user", "My sister Anna lives in Porto."),
            ("assistant", "Porto is lovely."),
            ("user", "I'd like a window seat."),
            ("assistant", "Noted."),
            ("user", "Thanks, that is all."),
        ]
    )
]
FACT = "The user's sister Anna lives in Porto."


def page(client, memory_id: str) -> str:
    response = client.get(f"/admin/memory/memoryrecord/{memory_id}/change/")
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def section(html: str, hook: str) -> str:
    return html.split(f'id="{hook}"', 1)[1].split("</section>", 1)[0]


@pytest.fixture
def extracted(client, llm_settings, llm_server, publish_policy):
    """A pending memory promotion extracted from turn m4 through the scripted LLM."""
    publish_policy("discrete", review_mode="pending")
    llm_server.default = extraction_reply(
        ExtractedMemoryFactory(text=FACT, entities=["Anna"], source_message_ids=["m4"])
    )
    put_session(client, "s-1", TURNS, **OWNER)
    run = promotion_run(session_id="s-1", **OWNER)
    return MemoryRecord.objects.get(extraction_run=run)


def test_provenance_shows_the_turns_around_the_source_highlighted(superuser_client, extracted):
    messages = section(page(superuser_client, extracted.pk), "provenance-messages")
    shown = re.findall(r'data-message-id="(m\d)"', messages)
    assert shown == ["m2", "m3", "m4", "m5", "m6"]  # two turns either side
    highlighted = re.findall(r'class="turn turn--source" data-message-id="(m\d)"', messages)
    assert highlighted == ["m4"]
    assert "My sister Anna lives in Porto." in messages


def test_provenance_shows_the_run_its_version_linked_and_the_raw_output(superuser_client, extracted):
    run = extracted.extraction_run
    html = page(superuser_client, extracted.pk)
    facts = section(html, "provenance-run")
    assert run.model and run.model in facts
    assert f'href="/admin/policies/policyversion/{run.policy_version_id}/change/"' in facts
    assert f'href="/admin/policies/extractionrun/{run.pk}/change/"' in facts
    for fact in (f"{run.tokens_in} in", f"{run.tokens_out} out", f"{run.latency_ms} ms", "succeeded"):
        assert fact in facts, fact
    raw = section(html, "provenance-raw-output")
    assert "<pre>" in raw and "Anna lives in Porto" in raw


def test_a_reviewer_sees_the_version_without_a_link_they_could_not_open(reviewer_client, extracted):
    facts = section(page(reviewer_client, extracted.pk), "provenance-run")
    assert str(extracted.extraction_run.policy_version) in facts
    assert "/admin/policies/policyversion/" not in facts


def test_history_shows_actor_action_reason_and_a_word_diff(superuser_client):
    (memory_id,) = pending("Alice drinks green tea.")
    memory_edit(
        memory_id=memory_id,
        changes={"text": "Alice drinks black coffee.", "pinned": True},
        actor="admin:x",
        may_review=True,
    )

    history = section(page(superuser_client, memory_id), "provenance-history")

    assert "admin:x" in history and "Edited" in history and "changed pinned, text" in history
    assert "<del>green tea.</del>" in history and "<ins>black coffee.</ins>" in history
    assert "<del>False</del> → <ins>True</ins>" in history
    assert "form" not in history.split("admin:x")[1].split("</tr>")[0]  # an edit has no undo


def test_editing_on_the_page_goes_through_memory_edit_and_re_indexes(reviewer_client):
    (memory_id,) = memories_create(records=[{"text": "Alice drinks green tea.", **OWNER}], actor="test").created_ids
    form = {"text": "Alice drinks black coffee.", "topics": "drinks", "entities": "", "status": "approved"}

    response = reviewer_client.post(f"/admin/memory/memoryrecord/{memory_id}/change/", form)

    assert response.status_code == 302, response.content.decode()[-3000:]
    record = MemoryRecord.objects.get(pk=memory_id)
    assert (record.text, record.topics) == ("Alice drinks black coffee.", ["drinks"])
    assert list(MemoryHistory.objects.filter(memory_id=memory_id).values_list("action", "actor"))[:1] == [
        ("edited", "admin:rita")
    ]
    assert search_ids(reviewer_client, "black coffee", search_mode="keyword") == [memory_id]
    assert search_ids(reviewer_client, "green tea", search_mode="keyword") == []


def test_status_on_the_page_approves_or_rejects_with_a_reason(reviewer_client):
    approve, reject = pending("Alice drinks tea.", "Alice drinks juice.")
    url = "/admin/memory/memoryrecord/{}/change/"

    reviewer_client.post(url.format(approve), {"text": "Alice drinks tea.", "status": "approved"})
    refused = reviewer_client.post(url.format(reject), {"text": "Alice drinks juice.", "status": "rejected"})
    assert refused.status_code == 200 and "Say why you reject it" in refused.content.decode()
    assert MemoryRecord.objects.get(pk=reject).status == "pending"
    reviewer_client.post(
        url.format(reject), {"text": "Alice drinks juice.", "status": "rejected", "reject_reason": "Not true"}
    )

    assert dict(MemoryRecord.objects.values_list("id", "status")) == {approve: "approved", reject: "rejected"}
    decisions = MemoryHistory.objects.filter(action__in=["approved", "rejected"])
    assert sorted(decisions.values_list("memory_id", "action", "actor", "reason")) == sorted(
        [(approve, "approved", "admin:rita", "approved"), (reject, "rejected", "admin:rita", "Not true")]
    )
    assert MemoryHistory.objects.filter(action="edited").count() == 0  # nothing else changed
    assert search_ids(reviewer_client, "Alice drinks") == [approve]


def test_an_approved_record_cannot_be_put_back_to_pending(reviewer_client):
    (memory_id,) = memories_create(records=[{"text": "Alice drinks tea."}], actor="test").created_ids
    response = reviewer_client.post(
        f"/admin/memory/memoryrecord/{memory_id}/change/", {"text": "Alice drinks tea.", "status": "pending"}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert MemoryRecord.objects.get(pk=memory_id).status == "approved"


def test_a_merge_is_undone_from_the_page(reviewer_client):
    (survivor,) = memories_create(records=[{"text": "Alice is vegetarian.", **OWNER}], actor="test").created_ids
    memories_create(records=[{"text": "Alice is vegetarian.", **OWNER, "topics": ["food"]}], actor="test")
    merge = MemoryHistory.objects.get(memory_id=survivor, action="merged")
    absorbed = merge.detail["merged"]["id"]
    html = section(page(reviewer_client, survivor), "provenance-history")
    undo_url = f"/admin/memory/memoryrecord/history/{merge.pk}/undo/"
    assert re.search(
        rf'<form method="post" action="{undo_url}" class="undo-history" data-history-id="{merge.pk}"', html
    )
    assert "<ins>food</ins>" in html

    assert reviewer_client.get(undo_url).status_code == 405
    response = reviewer_client.post(undo_url)

    assert (response.status_code, response["Location"]) == (302, f"/admin/memory/memoryrecord/{absorbed}/change/")
    assert MemoryRecord.objects.get(pk=absorbed).text == "Alice is vegetarian."
    assert MemoryRecord.objects.get(pk=survivor).topics == []
    assert MemoryHistory.objects.get(pk=merge.pk).undone_at is not None
    assert set(MemoryHistory.objects.filter(action="unmerged").values_list("actor", flat=True)) == {"admin:rita"}
    assert absorbed in index.document_ids()
    again = reviewer_client.post(undo_url, follow=True)
    assert "Not undone" in again.content.decode()


def test_a_delete_is_undone_from_its_history_entry(reviewer_client):
    (memory_id,) = memories_create(records=[{"text": "Alice is vegetarian.", **OWNER}], actor="test").created_ids
    memory_delete(memory_id=memory_id, actor="admin:rita")
    entry = MemoryHistory.objects.get(memory_id=memory_id, action="deleted")
    assert reviewer_client.get(f"/admin/memory/memoryrecord/{memory_id}/change/").status_code == 302  # gone

    detail = reviewer_client.get(f"/admin/memory/memoryhistory/{entry.pk}/change/").content.decode()
    assert f'data-history-id="{entry.pk}"' in detail and "Alice is vegetarian." in detail

    response = reviewer_client.post(f"/admin/memory/memoryrecord/history/{entry.pk}/undo/")

    assert response["Location"] == f"/admin/memory/memoryrecord/{memory_id}/change/"
    assert MemoryRecord.objects.get(pk=memory_id).text == "Alice is vegetarian."
    assert search_ids(reviewer_client, "vegetarian") == [memory_id]
    assert MemoryHistory.objects.get(memory_id=memory_id, action="restored").actor == "admin:rita"


def test_staff_without_a_role_cannot_undo(no_role_client):
    (survivor,) = memories_create(records=[{"text": "Alice is vegetarian."}], actor="test").created_ids
    memories_create(records=[{"text": "Alice is vegetarian."}], actor="test")
    merge = MemoryHistory.objects.get(action="merged")
    assert no_role_client.post(f"/admin/memory/memoryrecord/history/{merge.pk}/undo/").status_code == 403
    assert MemoryHistory.objects.get(pk=merge.pk).undone_at is None
    assert no_role_client.get(f"/admin/memory/memoryrecord/{survivor}/change/").status_code == 403


def test_a_text_edit_past_history_diff_max_words_says_too_long_to_diff(superuser_client, settings):
    settings.HISTORY_DIFF_MAX_WORDS = 20
    before = " ".join(f"w{i}" for i in range(100))
    (memory_id,) = pending(before)
    memory_edit(memory_id=memory_id, changes={"text": f"start {before} end"}, actor="admin:x", may_review=True)

    history = section(page(superuser_client, memory_id), "provenance-history")

    assert (
        '<div class="diff diff--too-long">too long to diff: 100 words changed into 102 '
        "(HISTORY_DIFF_MAX_WORDS is 20)</div>"
    ) in history
    assert "<del>" not in history and "<ins>" not in history


def test_a_local_edit_of_a_long_text_still_diffs_within_the_limit(superuser_client, settings):
    settings.HISTORY_DIFF_MAX_WORDS = 20
    words = [f"w{i}" for i in range(1000)]
    (memory_id,) = pending(" ".join(words))
    edited = [*words[:500], "changed", "again", *words[501:]]
    memory_edit(memory_id=memory_id, changes={"text": " ".join(edited)}, actor="admin:x", may_review=True)

    history = section(page(superuser_client, memory_id), "provenance-history")

    assert "w498 w499 <del>w500 </del><ins>changed again </ins>w501 w502" in history
    assert "too long to diff" not in history

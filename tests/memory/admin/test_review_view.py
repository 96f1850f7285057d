"""The focused review view: one pending memory at a time, its hooks and counter, skip,
filters carried over from the changelist, and each decision through the services with
the index following (checked by searching over REST)."""

import re

import pytest

from memory.models import MemoryHistory, MemoryRecord
from memory.services.review import REJECT_REASONS
from tests.memory.admin.conftest import OWNER, pending, search_ids

pytestmark = pytest.mark.django_db(transaction=True)

REVIEW = "/admin/memory/memoryrecord/review/"


def shown_id(response) -> str | None:
    match = re.search(r'id="review-item"[^>]*data-memory-id="([^"]+)"', response.content.decode())
    return match.group(1) if match else None


def remaining(response) -> str:
    return re.search(r'id="review-remaining"[^>]*>([^<]+)<', response.content.decode()).group(1)


def test_the_view_shows_the_newest_pending_memory_with_every_hook_and_the_count(reviewer_client):
    older, newer = pending("Alice likes window seats.", "Alice is vegetarian.")
    MemoryRecord.objects.filter(pk=older).update(created_at="2024-01-01T00:00:00Z")

    response = reviewer_client.get(REVIEW)

    assert response.status_code == 200
    html = response.content.decode()
    assert shown_id(response) == newer
    assert remaining(response) == "2 left"
    assert re.search(r'id="review-text"[^>]*>Alice is vegetarian\.<', html)
    for hook in ("review-approve", "review-reject", "review-skip", "review-edit", "reject-reasons", "edit-form"):
        assert f'id="{hook}"' in html, hook
    assert 'id="reject-reason-other"' in html
    assert re.findall(r'data-reason="([^"]+)"', html) == list(REJECT_REASONS[:9])
    assert re.search(r'<form[^>]*id="edit-form".*?<textarea name="text"', html, re.S)
    assert "<kbd>a</kbd>" in html and "memory/review.js" in html
    assert 'id="review-empty"' not in html


def test_an_empty_queue_says_so(reviewer_client):
    response = reviewer_client.get(REVIEW)
    assert response.status_code == 200
    assert 'id="review-empty"' in response.content.decode()
    assert remaining(response) == "0 left"
    assert shown_id(response) is None


def test_skip_moves_to_the_next_item_and_wraps_round(reviewer_client):
    first, second, third = pending("one", "two", "three")
    for n, memory_id in enumerate((first, second, third)):
        MemoryRecord.objects.filter(pk=memory_id).update(created_at=f"2024-01-0{3 - n}T00:00:00Z")

    assert shown_id(reviewer_client.get(REVIEW)) == first
    html = reviewer_client.get(REVIEW).content.decode()
    skip = re.search(r'href="([^"]+)" id="review-skip"', html).group(1).replace("&amp;", "&")
    assert skip == f"{REVIEW}?after={first}"
    assert shown_id(reviewer_client.get(skip)) == second
    assert shown_id(reviewer_client.get(f"{REVIEW}?after={second}")) == third
    assert shown_id(reviewer_client.get(f"{REVIEW}?after={third}")) == first  # skipped ones come back
    assert remaining(reviewer_client.get(f"{REVIEW}?after={third}")) == "3 left"


def test_filters_from_the_changelist_are_carried_over(reviewer_client):
    (alice,) = pending("Alice likes tea.")
    (bob,) = pending("Bob likes coffee.", namespace="travel", user_id="bob")
    (other,) = pending("Carol likes juice.", namespace="work", user_id="carol")

    response = reviewer_client.get(REVIEW + "?user_id=bob")
    assert (shown_id(response), remaining(response)) == (bob, "1 left")
    assert "user_id = bob" in response.content.decode()
    assert shown_id(reviewer_client.get(REVIEW + "?namespace=work")) == other
    assert shown_id(reviewer_client.get(REVIEW + "?q=tea")) == alice
    # The changelist's own "Review these" link carries its filters.
    changelist = reviewer_client.get("/admin/memory/memoryrecord/?namespace=work&o=2").content.decode()
    link = re.search(r'href="([^"]+)" id="review-these"', changelist).group(1).replace("&amp;", "&")
    assert link == f"{REVIEW}?namespace=work"
    # Deciding keeps the filters: the next item comes from the same queue.
    response = reviewer_client.post(REVIEW + "?user_id=bob", {"memory_id": bob, "action": "approve"})
    assert (response.status_code, response["Location"]) == (302, f"{REVIEW}?user_id=bob")


def test_status_filter_reviews_that_status_instead_of_the_pending_queue(reviewer_client):
    (waiting,) = pending("waiting")
    (rejected,) = pending("rejected one")
    reviewer_client.post(REVIEW, {"memory_id": rejected, "action": "reject", "reason_choice": REJECT_REASONS[0]})

    assert shown_id(reviewer_client.get(REVIEW)) == waiting
    assert shown_id(reviewer_client.get(REVIEW + "?status=rejected")) == rejected


def test_bad_filters_fall_back_to_the_whole_queue_with_a_message(reviewer_client):
    response = reviewer_client.get(REVIEW + "?no_such_field=1", follow=True)
    assert response.redirect_chain == [(REVIEW, 302)]
    assert "do not apply" in response.content.decode()


def test_approve_makes_it_searchable_and_the_next_item_loads(reviewer_client):
    first, second = pending("Alice is vegetarian.", "Alice flies to Lisbon in May.")
    assert search_ids(reviewer_client, "vegetarian") == []

    response = reviewer_client.post(REVIEW, {"memory_id": second, "action": "approve", "after": ""})

    assert (response.status_code, response["Location"]) == (302, REVIEW)
    assert MemoryRecord.objects.get(pk=second).status == "approved"
    entry = MemoryHistory.objects.get(memory_id=second, action="approved")
    assert entry.actor == "admin:rita"
    assert search_ids(reviewer_client, "Lisbon in May") == [second]
    assert shown_id(reviewer_client.get(response["Location"])) == first


def test_reject_with_a_canned_or_typed_reason_takes_it_out_of_search(reviewer_client):
    canned, typed = pending("Alice owns a cat.", "Alice owns a dog.")
    reviewer_client.post(REVIEW, {"memory_id": canned, "action": "reject", "reason_choice": REJECT_REASONS[1]})
    reviewer_client.post(
        REVIEW,
        {"memory_id": typed, "action": "reject", "reason_choice": REJECT_REASONS[0], "reason_other": " my words "},
    )

    reasons = dict(MemoryHistory.objects.filter(action="rejected").values_list("memory_id", "reason"))
    assert reasons == {canned: REJECT_REASONS[1], typed: "my words"}
    assert set(MemoryHistory.objects.filter(action="rejected").values_list("actor", flat=True)) == {"admin:rita"}
    assert set(MemoryRecord.objects.values_list("status", flat=True)) == {"rejected"}
    assert search_ids(reviewer_client, "Alice owns a pet", search_mode="semantic") == []
    assert search_ids(reviewer_client, "cat", search_mode="keyword", status={"eq": "rejected"}) == [canned]


def test_reject_without_a_reason_changes_nothing(reviewer_client):
    (memory_id,) = pending("Alice owns a cat.")
    response = reviewer_client.post(REVIEW, {"memory_id": memory_id, "action": "reject"}, follow=True)
    assert "pick a reason" in response.content.decode()
    assert MemoryRecord.objects.get(pk=memory_id).status == "pending"
    assert not MemoryHistory.objects.filter(action="rejected").exists()


def test_edit_and_approve_re_embeds_and_search_finds_the_new_text(reviewer_client):
    (memory_id,) = pending("Alice drinks green tea.", topics=["drinks"])
    response = reviewer_client.post(
        REVIEW,
        {
            "memory_id": memory_id,
            "action": "edit_approve",
            "text": "Alice switched to black coffee.",
            "topics": "drinks, mornings",
            "entities": "Alice",
            "event_date": "2024-05-04T09:30",
            "pinned": "on",
        },
    )
    assert response.status_code == 302
    record = MemoryRecord.objects.get(pk=memory_id)
    assert (record.text, record.topics, record.entities, record.pinned, record.status) == (
        "Alice switched to black coffee.",
        ["drinks", "mornings"],
        ["Alice"],
        True,
        "approved",
    )
    assert record.event_date.isoformat() == "2024-05-04T09:30:00+00:00"
    actions = list(MemoryHistory.objects.filter(memory_id=memory_id).order_by("id").values_list("action", "actor"))
    assert actions == [("created", "test"), ("edited", "admin:rita"), ("approved", "admin:rita")]
    edit = MemoryHistory.objects.get(memory_id=memory_id, action="edited")
    assert set(edit.detail["changed"]) == {"text", "topics", "entities", "event_date", "pinned"}
    assert search_ids(reviewer_client, "black coffee", search_mode="keyword") == [memory_id]
    assert search_ids(reviewer_client, "green tea", search_mode="keyword") == []


def test_edit_only_keeps_it_pending_and_on_screen(reviewer_client):
    (memory_id,) = pending("Alice drinks green tea.")
    fields = {
        "memory_id": memory_id,
        "action": "edit",
        "text": "Alice drinks oolong tea.",
        "topics": "",
        "entities": "",
    }
    response = reviewer_client.post(REVIEW, fields)
    record = MemoryRecord.objects.get(pk=memory_id)
    assert (record.text, record.status) == ("Alice drinks oolong tea.", "pending")
    assert list(MemoryHistory.objects.filter(memory_id=memory_id).values_list("action", flat=True)) == [
        "edited",
        "created",
    ]
    assert shown_id(reviewer_client.get(response["Location"])) == memory_id


def test_an_empty_text_is_refused_and_nothing_changes(reviewer_client):
    (memory_id,) = pending("Alice drinks green tea.")
    response = reviewer_client.post(
        REVIEW, {"memory_id": memory_id, "action": "edit_approve", "text": " "}, follow=True
    )
    assert "Not saved" in response.content.decode()
    assert MemoryRecord.objects.get(pk=memory_id).status == "pending"
    assert MemoryHistory.objects.filter(memory_id=memory_id).count() == 1


def test_a_memory_gone_meanwhile_is_a_message_not_an_error(reviewer_client):
    response = reviewer_client.post(REVIEW, {"memory_id": "01NOSUCHID", "action": "approve"}, follow=True)
    assert response.status_code == 200
    assert "That memory is gone" in response.content.decode()


def test_evidence_shows_near_duplicates_of_the_same_owner_only(reviewer_client):
    (memory_id,) = pending("Alice is vegetarian.")
    (near,) = pending("Alice is a vegetarian.")
    (elsewhere,) = pending("Alice is vegetarian.", namespace="work", user_id="alice")
    (other_user,) = pending("Alice is vegetarian.", **{**OWNER, "user_id": "bob"})

    html = reviewer_client.get(f"{REVIEW}?after={near}").content.decode()

    section = html.split('id="review-neighbours"')[1].split("</section>")[0]
    assert f"/admin/memory/memoryrecord/{near}/change/" in section
    assert memory_id not in section and elsewhere not in section and other_user not in section
    assert "likely duplicate" in section


def test_a_user_without_a_role_gets_403_and_a_reviewer_200(no_role_client):
    (memory_id,) = pending("Alice likes tea.")
    assert no_role_client.get(REVIEW).status_code == 403
    assert no_role_client.post(REVIEW, {"memory_id": memory_id, "action": "approve"}).status_code == 403
    assert MemoryRecord.objects.get(pk=memory_id).status == "pending"


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(REVIEW)
    assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={REVIEW}")

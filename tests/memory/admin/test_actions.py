"""Bulk actions of the memory changelist, each through a review service: history rows
name the admin user, and search over REST follows. The built-in delete goes through
memory_delete too. Erasing users is for superusers only."""

import pytest

from memory import index
from memory.models import ErasureReceipt, MemoryHistory, MemoryRecord
from memory.services.review import REJECT_REASONS
from tests.memory.admin.conftest import pending, search_ids

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/memory/memoryrecord/"


def act(client, action: str, ids: list[str], query: str = "", **extra):
    return client.post(CHANGELIST + query, {"action": action, "_selected_action": ids, **extra})


def history(action: str) -> list[tuple[str, str]]:
    return sorted(MemoryHistory.objects.filter(action=action).values_list("memory_id", "actor"))


def test_approve_selected(reviewer_client):
    ids = pending("Alice flies to Lisbon.", "Alice flies to Porto.")
    untouched = pending("Alice flies to Faro.")

    response = act(reviewer_client, "approve_selected", ids)

    assert response.status_code == 302
    assert history("approved") == sorted((i, "admin:rita") for i in ids)
    assert sorted(search_ids(reviewer_client, "Alice flies")) == sorted(ids)
    assert MemoryRecord.objects.get(pk=untouched[0]).status == "pending"


def test_reject_asks_for_a_reason_first_then_rejects_with_it(reviewer_client):
    ids = pending("Alice flies to Lisbon.", "Alice flies to Porto.")
    act(reviewer_client, "approve_selected", ids)

    page = act(reviewer_client, "reject_selected", ids)
    assert page.status_code == 200
    html = page.content.decode()
    assert all(reason in html for reason in REJECT_REASONS) and 'name="reason_other"' in html
    assert "Alice flies to Lisbon." in html
    assert not MemoryHistory.objects.filter(action="rejected").exists()  # nothing yet

    done = act(reviewer_client, "reject_selected", ids, post="yes", reason_choice=REJECT_REASONS[2])

    assert done.status_code == 302
    assert history("rejected") == sorted((i, "admin:rita") for i in ids)
    assert set(MemoryHistory.objects.filter(action="rejected").values_list("reason", flat=True)) == {REJECT_REASONS[2]}
    assert search_ids(reviewer_client, "Alice flies") == []


def test_reject_with_neither_reason_shows_the_page_again(reviewer_client):
    ids = pending("Alice flies to Lisbon.")
    page = act(reviewer_client, "reject_selected", ids, post="yes", reason_choice="", reason_other="  ")
    assert page.status_code == 200
    assert "Pick a reason or type one." in page.content.decode()
    assert MemoryRecord.objects.get(pk=ids[0]).status == "pending"


def test_pin_and_unpin_selected(reviewer_client):
    ids = pending("Alice flies to Lisbon.", "Alice flies to Porto.")
    act(reviewer_client, "pin_selected", ids)
    assert set(MemoryRecord.objects.values_list("pinned", flat=True)) == {True}
    assert history("pinned") == sorted((i, "admin:rita") for i in ids)

    act(reviewer_client, "unpin_selected", ids[:1])
    assert dict(MemoryRecord.objects.values_list("id", "pinned")) == {ids[0]: False, ids[1]: True}
    assert history("unpinned") == [(ids[0], "admin:rita")]


def test_bulk_delete_goes_through_memory_delete(reviewer_client):
    ids = pending("Alice flies to Lisbon.", "Alice flies to Porto.")
    (kept,) = pending("Alice flies to Faro.")
    act(reviewer_client, "approve_selected", [*ids, kept])
    assert index.document_ids() == {*ids, kept}

    confirm = act(reviewer_client, "delete_selected", ids)
    assert confirm.status_code == 200 and "Are you sure" in confirm.content.decode()
    done = act(reviewer_client, "delete_selected", ids, post="yes")

    assert done.status_code == 302
    assert list(MemoryRecord.objects.values_list("id", flat=True)) == [kept]
    assert history("deleted") == sorted((i, "admin:rita") for i in ids)
    snapshots = {e.memory_id: e.detail["before"]["text"] for e in MemoryHistory.objects.filter(action="deleted")}
    assert snapshots == {ids[0]: "Alice flies to Lisbon.", ids[1]: "Alice flies to Porto."}
    assert index.document_ids() == {kept}
    assert search_ids(reviewer_client, "Alice flies") == [kept]


def test_delete_on_the_change_page_goes_through_memory_delete(reviewer_client):
    (memory_id,) = pending("Alice flies to Lisbon.")
    response = reviewer_client.post(f"{CHANGELIST}{memory_id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not MemoryRecord.objects.exists()
    assert history("deleted") == [(memory_id, "admin:rita")]
    assert index.document_ids() == set()


def test_erase_confirms_then_erases_each_selected_user_completely(superuser_client):
    alice = pending("Alice flies to Lisbon.", "Alice likes tea.")
    (bob,) = pending("Bob likes jazz.", user_id="bob")
    (alice_elsewhere,) = pending("Alice works at Acme.", namespace="work")

    page = act(superuser_client, "erase_users", alice[:1])
    assert page.status_code == 200
    html = page.content.decode()
    assert "cannot be undone" in html and "<td>alice</td><td>2</td>" in html.replace("\n", "")
    assert MemoryRecord.objects.count() == 4

    done = act(superuser_client, "erase_users", alice[:1], post="yes")

    assert done.status_code == 302
    assert set(MemoryRecord.objects.values_list("id", flat=True)) == {bob, alice_elsewhere}
    receipt = ErasureReceipt.objects.get()
    assert (receipt.actor, receipt.namespace, receipt.counts["long_term_records"]) == ("admin:root", "travel", 2)
    assert not MemoryHistory.objects.filter(memory_id__in=alice).exists()
    assert index.document_ids() == {bob, alice_elsewhere}


def test_a_reviewer_cannot_erase(reviewer_client):
    ids = pending("Alice flies to Lisbon.")
    page = reviewer_client.get(CHANGELIST).content.decode()
    assert 'value="erase_users"' not in page and 'value="approve_selected"' in page

    response = act(reviewer_client, "erase_users", ids, post="yes")

    assert response.status_code == 302  # "No action selected": the action is not theirs
    assert MemoryRecord.objects.filter(pk=ids[0]).exists()
    assert not ErasureReceipt.objects.exists()


def test_staff_without_a_role_get_403_on_the_changelist(no_role_client):
    ids = pending("Alice flies to Lisbon.")
    assert no_role_client.get(CHANGELIST).status_code == 403
    assert act(no_role_client, "approve_selected", ids).status_code == 403
    assert MemoryRecord.objects.get(pk=ids[0]).status == "pending"

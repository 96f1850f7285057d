"""The audit trail's admins are read-only: history (filtered by actor and action),
erasure receipts and source messages can be read and never changed by hand."""

import re

import pytest

from memory.models import ErasureReceipt, MemoryHistory
from memory.services.erasure import user_erase
from memory.services.review import memories_approve
from tests.memory.admin.conftest import pending

pytestmark = pytest.mark.django_db(transaction=True)


def rows(client, path: str) -> list:
    response = client.get(path)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_history_is_listed_with_actor_and_action_filters(superuser_client):
    first, second = pending("Alice likes tea.", "Alice likes jazz.")
    memories_approve(memory_ids=[first], actor="admin:rita")

    by_actor = rows(superuser_client, "/admin/memory/memoryhistory/?actor=admin%3Arita")
    assert [(h.memory_id, h.action) for h in by_actor] == [(first, "approved")]
    created = rows(superuser_client, "/admin/memory/memoryhistory/?action__exact=created")
    assert sorted(h.memory_id for h in created) == sorted([first, second])
    html = superuser_client.get("/admin/memory/memoryhistory/").content.decode()
    assert re.search(r'href="\?actor=admin%3Arita"', html)


@pytest.mark.parametrize("model", ["memoryhistory", "erasurereceipt", "sourcemessage"])
def test_audit_rows_cannot_be_added_changed_or_deleted(superuser_client, model):
    pending("Alice likes tea.")
    user_erase(namespace="travel", user_id="alice", actor="admin:root")
    pending("Alice likes jazz.")
    assert superuser_client.get(f"/admin/memory/{model}/add/").status_code == 403
    row = {"memoryhistory": MemoryHistory, "erasurereceipt": ErasureReceipt}.get(model)
    if row is not None:
        pk = row.objects.first().pk
        assert superuser_client.get(f"/admin/memory/{model}/{pk}/change/").status_code == 200  # view only
        assert superuser_client.post(f"/admin/memory/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
        assert row.objects.filter(pk=pk).exists()


def test_a_reviewer_reads_history_but_not_erasure_receipts(reviewer_client):
    pending("Alice likes tea.")
    assert reviewer_client.get("/admin/memory/memoryhistory/").status_code == 200
    assert reviewer_client.get("/admin/memory/sourcemessage/").status_code == 200
    assert reviewer_client.get("/admin/memory/erasurereceipt/").status_code == 403

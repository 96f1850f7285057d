"""The review desk shows dedup's possible conflicts (tests/memory/services/test_dedup_rules.py
makes them): in the review view and on both records' change pages."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils.html import escape

from memory.services.long_term import memories_create

OWNER = {"namespace": "acme", "user_id": "u1"}
PASSPORT_2026 = "Clara's passport expires in March 2026."
PASSPORT_2029 = "Clara's passport expires in July 2029."


def _create(*texts, **fields):
    records = [{"text": text, **OWNER, **fields} for text in texts]
    return memories_create(actor="test", records=records, deduplicate=True).outcomes


@pytest.mark.django_db(transaction=True)
def test_conflict_links_show_in_the_review_view_and_on_both_change_pages(client):
    (old,) = _create(PASSPORT_2029)
    (new,) = memories_create(
        actor="test", records=[{"text": PASSPORT_2026, **OWNER}], status="pending", deduplicate=True
    ).outcomes
    user = User.objects.create_user("root", "root@example.com", "pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    reason = "different number: 2029 vs 2026; different date: July vs March"

    review = client.get(reverse("admin:memory_memoryrecord_review")).content.decode()
    section = review[review.index('id="review-conflicts"') :]
    section = section[: section.index("</section>")]
    assert f'data-memory-id="{old.id}"' in section and escape(PASSPORT_2029) in section and reason in section

    for record_id, other_id, other_text in ((new.id, old.id, PASSPORT_2029), (old.id, new.id, PASSPORT_2026)):
        page = client.get(reverse("admin:memory_memoryrecord_change", args=[record_id])).content.decode()
        section = page[page.index('id="provenance-conflicts"') :]
        section = section[: section.index("</section>")]
        assert f'data-memory-id="{other_id}"' in section and escape(other_text) in section and reason in section


@pytest.mark.django_db(transaction=True)
def test_a_memory_without_conflicts_says_so(client):
    (only,) = _create(PASSPORT_2029)
    user = User.objects.create_user("root", "root@example.com", "pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    page = client.get(reverse("admin:memory_memoryrecord_change", args=[only.id])).content.decode()
    section = page[page.index('id="provenance-conflicts"') :]
    assert "No possible conflicts." in section[: section.index("</section>")]

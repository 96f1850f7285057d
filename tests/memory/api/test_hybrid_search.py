"""Hybrid search through the API finds what semantic search finds where BM25 knows little
(the fusion itself: tests/memory/selectors/test_hybrid_fusion.py)."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

# Short facts about one user, the kind of collection where hybrid used to lose to
# semantic: the question asks about the espresso machine in other words, so its only
# BM25 match is the user's name, which every one of these records holds.
CLARA = [
    "Clara paid 240 dollars for the espresso machine.",
    "Clara has 8 siblings.",
    "Clara's sister is called Dora.",
    "Clara visited Lisbon in May 2027.",
    "Clara's passport expires in March 2026.",
    "Clara is very allergic to pollen.",
    "Clara speaks German at a fluent level.",
    "Clara's favourite colour is green.",
    "Clara has a dentist appointment on Monday at 9:45.",
    "Clara started learning piano in 2025.",
]


def test_hybrid_finds_what_semantic_finds_among_short_facts_about_one_user(api):
    memories = [
        {"id": f"clara-{i}", "text": text, "namespace": "family", "user_id": "clara"} for i, text in enumerate(CLARA)
    ]
    memories.append({"id": "rosa-0", "text": "Rosa paid 90 dollars for the espresso machine.", "namespace": "family"})
    response = api.post("/v1/long-term-memory/", {"memories": memories, "deduplicate": False}, format="json")
    assert response.status_code == 200, response.content

    def top(mode):
        body = {
            "text": "What did the coffee maker cost Clara?",
            "search_mode": mode,
            "namespace": {"eq": "family"},
            "user_id": {"eq": "clara"},
            "limit": 1,
            "recency_boost": False,
        }
        response = api.post("/v1/long-term-memory/search", body, format="json")
        assert response.status_code == 200, response.content
        return [m["id"] for m in response.json()["memories"]]

    assert top("semantic") == ["clara-0"]
    assert top("hybrid") == ["clara-0"]

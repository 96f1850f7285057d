"""Hybrid fusion: min-max parts, alpha on the vector side, and a BM25 part that counts
only as much as its best raw score says it knows (expected values worked out by hand)."""

import pytest

from memory.selectors.long_term import fuse

# Similarities 0.9 / 0.7 / 0.5: min-max gives a 1.0, b 0.5, c 0.0.
VECTOR = {"a": 0.1, "b": 0.3, "c": 0.5}


def test_a_confident_bm25_side_gets_its_full_share():
    # Best BM25 4.0 (over 2.0): confidence 1. Text part: a (1-1)/3 = 0, d 1.
    fused = fuse(VECTOR, {"a": 1.0, "d": 4.0}, alpha=0.4)
    assert fused == pytest.approx({"a": 0.4, "b": 0.2, "c": 0.0, "d": 0.6})


def test_a_weak_best_bm25_match_counts_in_proportion():
    # Best BM25 1.0: confidence 0.5, so the text side weighs 0.6 * 0.5 = 0.3.
    fused = fuse(VECTOR, {"a": 0.5, "d": 1.0}, alpha=0.4)
    assert fused == pytest.approx({"a": 0.4, "b": 0.2, "c": 0.0, "d": 0.3})


def test_bm25_that_only_matched_a_word_every_record_has_cannot_reorder_the_vector_side():
    # Best BM25 0.003 (a name in every record of the user): confidence 0.0015, weight 0.0009.
    fused = fuse(VECTOR, {"a": 0.002, "d": 0.003}, alpha=0.4)
    assert fused == pytest.approx({"a": 0.4, "b": 0.2, "c": 0.0, "d": 0.0009})
    assert sorted(fused, key=fused.get, reverse=True) == ["a", "b", "d", "c"]


def test_no_bm25_candidates_leaves_the_vector_part_and_alpha_one_ignores_bm25():
    assert fuse(VECTOR, {}, alpha=0.4) == pytest.approx({"a": 0.4, "b": 0.2, "c": 0.0})
    assert fuse(VECTOR, {"c": 9.0}, alpha=1.0) == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0})


def test_a_single_candidate_per_side_is_a_full_part():
    # One value: its min-max part is 1. BM25 3.0: confidence 1.
    assert fuse({"a": 0.2}, {"b": 3.0}, alpha=0.4) == pytest.approx({"a": 0.4, "b": 0.6})


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


@pytest.mark.django_db(transaction=True)
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

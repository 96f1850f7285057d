"""Hybrid fusion: min-max parts, alpha on the vector side, and a BM25 part that counts
only as much as its best raw score says it knows (expected values worked out by hand).
Hybrid search through the API: tests/memory/api/test_hybrid_search.py."""

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

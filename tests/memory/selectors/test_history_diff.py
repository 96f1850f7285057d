"""The history's word diff: the words both versions share at either end are kept as
they are, only the changed stretch between them is diffed, and a stretch longer than
`max_words` on either side is refused rather than diffed (its work grows with the product)."""

import pytest

from memory.selectors.review import DiffTooLongError, text_diff


def test_a_change_is_its_deleted_words_then_its_inserted_ones():
    assert text_diff("Alice drinks green tea.", "Alice drinks black coffee.", max_words=10) == [
        ("equal", "Alice drinks "),
        ("delete", "green tea."),
        ("insert", "black coffee."),
    ]
    assert text_diff("a b c d e f", "a x c d y f", max_words=10) == [
        ("equal", "a "),
        ("delete", "b "),
        ("insert", "x "),
        ("equal", "c d "),
        ("delete", "e "),
        ("insert", "y "),
        ("equal", "f"),
    ]
    assert text_diff("", "new words", max_words=10) == [("insert", "new words")]
    assert text_diff("same", "same", max_words=10) == [("equal", "same")]


def test_only_the_changed_stretch_counts_against_the_limit():
    words = [f"w{i}" for i in range(5000)]
    before, after = " ".join(words), " ".join([*words[:2500], "x", *words[2500:]])
    assert text_diff(before, after, max_words=1) == [
        ("equal", " ".join(words[:2500]) + " "),
        ("insert", "x "),
        ("equal", " ".join(words[2500:])),
    ]


@pytest.mark.parametrize("before_words, after_words", [(21, 1), (1, 21), (21, 21)])
def test_a_changed_stretch_past_the_limit_on_either_side_is_refused(before_words, after_words):
    before, after = "a " * before_words, "b " * after_words
    with pytest.raises(DiffTooLongError) as raised:
        text_diff(before, after, max_words=20)
    assert str(raised.value) == f"{before_words} words changed into {after_words}"
    assert text_diff("a " * 20, "b " * 20, max_words=20) == [("delete", "a " * 20), ("insert", "b " * 20)]

"""Dedup merges only the same fact: the detail rule (`differing_details`), near records
kept apart and linked as possible conflicts, the type boundary, superseded records, and
compaction under the same rules (real DB, Redis, embedding model). The review desk's
conflict lists: tests/memory/admin/test_conflict_links.py; the REST create's:
tests/memory/api/test_long_term_create.py."""

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from memory import index
from memory.models import MemoryConflict, MemoryHistory, MemoryRecord
from memory.services.long_term import memories_compact, memories_create, sameness
from memory.services.long_term.indexing import index_on_commit
from memory.services.long_term.sameness import differing_details

OWNER = {"namespace": "acme", "user_id": "u1"}
PASSPORT_2026 = "Clara's passport expires in March 2026."
PASSPORT_2029 = "Clara's passport expires in July 2029."
# Two pairs a 10,000-fact load merged before the wording rule (issue 20), distances 0.094 and 0.038.
IVY_STATION = "Ivy likes hotels near the main train station when visiting Kyoto."
IVY_RIVER = "Ivy likes hotels near the river when visiting Kyoto."
HANA_TABLE_TENNIS = "Hana plays table tennis on Thursday evenings."
HANA_TENNIS = "Hana plays tennis on Thursday evenings."


def _create(*texts, **fields):
    records = [{"text": text, **OWNER, **fields} for text in texts]
    return memories_create(actor="test", records=records, deduplicate=True).outcomes


# --- The rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # numbers, written-out numbers, ordinals, counts
        ("Felix has two kids.", "Felix has three kids.", ["different number: 2 vs 3"]),
        ("Felix has 2 kids.", "Felix has two kids.", []),
        ("She runs twenty-five km a week.", "She runs 25 km a week.", []),
        ("The flat is on the third floor.", "The flat is on the 3rd floor.", []),
        ("The flat is on the third floor.", "The flat is on the fourth floor.", ["different number: 3 vs 4"]),
        ("He calls his mother twice a week.", "He calls his mother 3 times a week.", ["different number: 2 vs 3"]),
        ("A hundred and twenty people came.", "120 people came.", []),
        # dates and times
        (PASSPORT_2026, PASSPORT_2029, ["different number: 2026 vs 2029", "different date: March vs July"]),
        ("Yoga class is on Monday.", "Yoga class is on Thursday.", ["different date: Monday vs Thursday"]),
        (
            "Yoga is on Mondays at 10am.",
            "Yoga is on Tuesdays at 11am.",
            [
                "different time: 10:00 vs 11:00",
                "different date: Monday vs Tuesday",
            ],
        ),
        ("Yoga is on Mondays.", "Yoga is every Monday.", ["different wording: on vs none"]),
        ("The meeting is at 3pm.", "The meeting is at 15:00.", []),
        ("The meeting is at 3pm.", "The meeting is at 4 pm.", ["different time: 15:00 vs 16:00"]),
        ("Born on March 3rd.", "Born on March 3.", []),
        ("Omar is engaged to Leila.", "Omar married Leila last month.", ["different date: none vs last month"]),
        ("He moved two years ago.", "He moved 3 years ago.", ["different date: two years ago vs 3 years ago"]),
        # amounts and currencies
        ("Rent is $1,200 a month.", "Rent is 1200 dollars a month.", []),
        ("Rent is $40.", "Rent is €40.", ["different currency: USD vs EUR"]),
        ("The budget is $40k.", "The budget is 40,000 dollars.", []),
        ("The budget is $40k.", "The budget is $45k.", ["different number: 40000 vs 45000"]),
        # names, with sentence-initial words that are not names
        ("Clara lives in Porto.", "Rosa lives in Porto.", ["different name: Clara vs Rosa"]),
        ("Ana lives in Porto.", "Ana moved to Lisbon.", ["different name: Porto vs Lisbon"]),
        ("Coffee is my favourite drink.", "My favourite drink is coffee.", ["different wording: word order"]),
        ("The user likes green tea.", "User likes green tea.", []),
        ("user: Also, Clara's passport expires in July 2029.", PASSPORT_2029, ["different wording: user vs none"]),
        # negation
        (
            "Tom is vegetarian.",
            "Tom is no longer vegetarian.",
            ["different negation: negated in the second ('no longer')"],
        ),
        ("Ana doesn't eat meat.", "Ana does not eat meat.", []),
        ("Tom is not vegetarian anymore.", "Tom is no longer vegetarian.", ["different wording: anymore vs longer"]),
        (
            "Mia drinks coffee with sugar.",
            "Mia drinks coffee without sugar.",
            ["different negation: negated in the second ('without')"],
        ),
        ("Sam smokes.", "Sam stopped smoking.", ["different negation: negated in the second ('stopped')"]),
        # Codes with digits in them, and a swapped word in the same sentence (the 10,000-fact load).
        (
            "The wifi password at Nadia's home is sunflower1923.",
            "The wifi password at Nadia's home is sunflower0904.",
            ["different identifier: sunflower1923 vs sunflower0904"],
        ),
        ("Priya's sister is called Ola.", "Priya's brother is called Ola.", ["different wording: sister vs brother"]),
        (
            "Diego keeps the spare house key behind the clock.",
            "Diego keeps the spare car key behind the clock.",
            ["different wording: house vs car"],
        ),
        ("Priya prefers aisle seats for commuting.", "Priya prefers aisle seats for commuting!", []),
        ("The meeting is at 3pm on the 3rd.", "The meeting is at 15:00 on the third.", []),
        (
            "Tom eats neither meat nor fish.",
            "Tom eats meat and fish.",
            ["different negation: negated in the first ('neither')"],
        ),
        ("No, I don't eat meat.", "I don't eat meat.", []),
        # the same fact, respelled: case, punctuation, inflection, contractions, function words
        ("clara's passport expires in march 2026", PASSPORT_2026, []),
        ("Ana doesn't eat meat.", "Ana does not eat meat.", []),
        (IVY_RIVER, "ivy liked the hotel near the river, when visiting kyoto!", []),
        ("I'm learning Japanese.", "I am learning japanese", []),
        # the same details in other words (issue 20: a list of details is never complete)
        (IVY_STATION, IVY_RIVER, ["different wording: main, station, train vs river"]),
        (HANA_TABLE_TENNIS, HANA_TENNIS, ["different wording: table vs none"]),
        ("Bob likes green tea.", "Bob likes green tea with honey.", ["different wording: none vs honey, with"]),
        ("Tom likes Ana.", "Ana likes Tom.", ["different wording: word order"]),
        ("Flights from Oslo to Lima.", "Flights to Oslo from Lima.", ["different wording: word order"]),
    ],
)
def test_differing_details(a, b, expected):
    assert differing_details(a, b) == expected


# --- Bounded work (issue 20) ---------------------------------------------------------------------

ADVERSARIAL_LENGTH = 100_000  # characters per text: the phrases that made the rule quadratic


@pytest.mark.parametrize("phrase", ["not ", "In May ", "a hundred ", "hundred ", "no ", "twenty one "])
def test_a_100000_character_adversarial_pair_is_compared_exactly(phrase, settings):
    settings.MEMORY_DEDUP_COMPARE_CHARS = 2 * ADVERSARIAL_LENGTH  # the rule itself, past the bound
    body = phrase * (ADVERSARIAL_LENGTH // len(phrase))
    assert differing_details(body + "Alpha", body + "Beta") == ["different name: Alpha vs Beta"]
    assert differing_details(body + "Alpha.", body.upper() + "ALPHA") == []


def test_a_text_past_the_compare_bound_is_not_compared(settings):
    """The model embeds only a text's start, so equal vectors say nothing of the rest: past
    MEMORY_DEDUP_COMPARE_CHARS (4000) the rule answers at once, and never "the same"."""
    at_bound = "Alpha " * 666 + "Beta"  # 4000 characters
    assert differing_details(at_bound, at_bound.upper()) == []  # compared: the same words
    past = at_bound + "!"
    assert differing_details(past, past) == [
        "too long to compare: 4001 characters (MEMORY_DEDUP_COMPARE_CHARS is 4000)"
    ]
    settings.MEMORY_DEDUP_COMPARE_CHARS = 10
    assert differing_details("Tom likes tea", "Tom likes tea.") == [
        "too long to compare: 14 characters (MEMORY_DEDUP_COMPARE_CHARS is 10)"
    ]


@pytest.mark.django_db(transaction=True)
def test_long_texts_with_the_same_start_are_kept_apart_and_linked_but_the_same_text_merges():
    """The issue's pair: the same 16,000 characters, then "Alpha" or "Beta". Their vectors
    are equal (the model truncates), but nothing past the start was compared."""
    body = "not " * 4000
    first, second, again = _create(body + "Alpha", body + "Beta", body + "Alpha")
    assert (first.outcome, second.outcome, second.conflicts) == ("created", "created", (first.id,))
    assert (again.outcome, again.id) == ("merged_hash", first.id)
    link = MemoryConflict.objects.get()
    assert (link.memory_id, link.other_id) == (second.id, first.id)
    assert link.reason == "too long to compare: 16005 characters (MEMORY_DEDUP_COMPARE_CHARS is 4000)"  # the longer
    assert MemoryRecord.objects.count() == 2


def test_no_pattern_of_the_rule_rescans_the_text_per_match():
    """Linear by construction, part 1: no lazy repeat without a small bound in any of the
    rule's patterns (the "not ... anymore" span rescanned the rest of the sentence for
    every "not", so "not " * 8,000 took 1.7 s)."""
    patterns = [value for value in vars(sameness).values() if isinstance(value, re.Pattern)]
    assert len(patterns) >= 8
    lazy = [
        (pattern.pattern, bounds)
        for pattern in patterns
        for op, bounds in _walk(re._parser.parse(pattern.pattern, pattern.flags))
        if op is re._constants.MIN_REPEAT and bounds[1] > 100
    ]
    assert lazy == []


def _walk(parsed):
    for op, av in parsed:
        yield op, av[:2] if op in (re._constants.MIN_REPEAT, re._constants.MAX_REPEAT) else av
        for item in av if isinstance(av, (list, tuple)) else ():
            if isinstance(item, re._parser.SubPattern):
                yield from _walk(item)
            elif isinstance(item, (list, tuple)):
                for sub in item:
                    if isinstance(sub, re._parser.SubPattern):
                        yield from _walk(sub)


def test_a_word_looks_back_only_at_the_gap_before_it():
    """Linear by construction, part 2: each word's look-back (is "hundred" after "a"? does
    "May" open a sentence?) sees only the gap since the word before, and the gaps and
    words add up to the text once (the old look-backs searched the whole text before each
    "May" or "hundred": "In May " * 4,600 took 0.7 s, 32,000 characters 2.8 s)."""
    text = "In May " * 5000 + "a hundred " * 5000 + "\n  (May I ask?) ...the end"
    tokens = sameness._tokens(text)
    assert len(tokens) == 20_005
    assert "".join(gap + word for word, gap in tokens) == text
    # and what the look-backs decide: "May" after "In" is the month, after "(" a question
    details = sameness._Details(text)
    assert (details.dates, details.numbers, details.names) == ({"May"}, {Decimal(100)}, [])


# --- Create ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_near_record_that_differs_in_a_detail_is_kept_apart_and_linked():
    (old,) = _create(PASSPORT_2029)
    (new,) = _create(PASSPORT_2026)
    assert (new.outcome, new.conflicts) == ("created", (old.id,))
    link = MemoryConflict.objects.get()
    assert (link.memory_id, link.other_id, link.reason) == (
        new.id,
        old.id,
        "different number: 2029 vs 2026; different date: July vs March",
    )
    assert 0 < link.distance <= 0.1
    assert set(MemoryRecord.objects.values_list("text", flat=True)) == {PASSPORT_2026, PASSPORT_2029}


@pytest.mark.django_db(transaction=True)
def test_a_negated_fact_is_kept_apart_within_one_call_too():
    first, second = _create("Tom is vegetarian.", "Tom is no longer vegetarian.")
    assert (first.outcome, second.outcome, second.conflicts) == ("created", "created", (first.id,))
    assert MemoryConflict.objects.get().reason == "different negation: negated in the second ('no longer')"


@pytest.mark.django_db(transaction=True)
def test_the_same_fact_respelled_still_merges():
    (old,) = _create(PASSPORT_2026)
    hashed, semantic = _create("clara's passport  expires in march 2026.", "Clara's passport expires in March 2026")
    assert (hashed.outcome, hashed.id) == ("merged_hash", old.id)
    assert (semantic.outcome, semantic.id) == ("merged_semantic", old.id)
    assert MemoryConflict.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("older", "newer", "reason"),
    [
        (IVY_RIVER, IVY_STATION, "different wording: river vs main, station, train"),  # a changed phrase
        (HANA_TENNIS, HANA_TABLE_TENNIS, "different wording: none vs table"),  # an inserted word
        (
            "Alice adopted a grey cat called Pixel",
            "Alice has adopted a gray cat named Pixel",  # a paraphrase: apart until a model says so
            "different wording: called, grey vs gray, has, named",
        ),
    ],
)
def test_a_near_record_in_other_words_is_kept_apart_and_linked(older, newer, reason):
    (old,) = _create(older)
    (new,) = _create(newer)
    assert (new.outcome, new.conflicts) == ("created", (old.id,))
    link = MemoryConflict.objects.get()
    assert (link.memory_id, link.other_id, link.reason) == (new.id, old.id, reason)
    assert 0 < link.distance <= 0.1
    assert set(MemoryRecord.objects.values_list("text", flat=True)) == {older, newer}
    assert MemoryHistory.objects.filter(action="merged").count() == 0
    assert index.document_ids() == {old.id, new.id}  # both stay searchable


@pytest.mark.django_db(transaction=True)
def test_near_records_in_other_words_are_kept_apart_within_one_batch_too():
    outcomes = _create(IVY_RIVER, IVY_STATION, HANA_TENNIS, HANA_TABLE_TENNIS)
    assert [o.outcome for o in outcomes] == ["created"] * 4
    assert [o.conflicts for o in outcomes] == [(), (outcomes[0].id,), (), (outcomes[2].id,)]
    assert MemoryRecord.objects.count() == 4 and MemoryConflict.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_same_words_up_to_case_punctuation_inflection_and_function_words_merge():
    (old,) = _create(IVY_RIVER)
    (same,) = _create("ivy liked the hotel near the river, when visiting kyoto!")
    assert (same.outcome, same.id) == ("merged_semantic", old.id)
    assert MemoryRecord.objects.count() == 1 and MemoryConflict.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_message_record_and_an_extracted_fact_never_merge():
    (message,) = _create(PASSPORT_2029, memory_type="message")
    (fact,) = _create(PASSPORT_2029)
    (episodic,) = _create(PASSPORT_2029, memory_type="episodic")
    (message_again,) = _create(PASSPORT_2029 + " ", memory_type="message")
    assert (fact.outcome, fact.conflicts) == ("created", ())
    assert (episodic.outcome, episodic.id) == ("merged_hash", fact.id)
    assert (message_again.outcome, message_again.id) == ("merged_hash", message.id)
    assert MemoryRecord.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_nothing_merges_into_a_superseded_record():
    (old,) = _create(PASSPORT_2029)
    (newer,) = _create("Clara renewed her passport; it now expires in July 2039.")
    MemoryRecord.objects.filter(id=old.id).update(superseded_by_id=newer.id, superseded_at=timezone.now())
    index_on_commit([old.id])
    same, respelled = _create(PASSPORT_2029), _create("clara's passport  expires in july 2029.")
    assert same[0].outcome == "created" and same[0].id != old.id
    assert (respelled[0].outcome, respelled[0].id) == ("merged_hash", same[0].id)


# --- Compaction --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_compaction_merges_the_same_fact_and_links_a_differing_one():
    records = [
        {"text": PASSPORT_2029, **OWNER},
        {"text": "Clara's passport expires in July 2029", **OWNER},
        {"text": PASSPORT_2026, **OWNER},
        {"text": PASSPORT_2029, **OWNER, "memory_type": "message"},
    ]
    ids = [o.id for o in memories_create(actor="test", records=records, deduplicate=False).outcomes]
    result = memories_compact(actor="test", namespace="acme", user_id="u1")
    assert (result.merged, result.remaining, result.conflicts) == (1, 3, 1)
    assert set(MemoryRecord.objects.values_list("id", flat=True)) == {ids[0], ids[2], ids[3]}
    link = MemoryConflict.objects.get()
    assert (link.memory_id, link.other_id, link.reason) == (
        ids[2],
        ids[0],
        "different number: 2029 vs 2026; different date: July vs March",
    )
    again = memories_compact(actor="test", namespace="acme", user_id="u1")
    assert (again.merged, again.conflicts, MemoryConflict.objects.count()) == (0, 0, 1)


@pytest.mark.django_db(transaction=True)
def test_compaction_leaves_superseded_records_alone():
    records = [{"text": PASSPORT_2029, **OWNER}, {"text": PASSPORT_2029, **OWNER}]
    ids = [o.id for o in memories_create(actor="test", records=records, deduplicate=False).outcomes]
    MemoryRecord.objects.filter(id=ids[0]).update(superseded_at=timezone.now())
    result = memories_compact(actor="test", namespace="acme", user_id="u1")
    assert (result.merged, result.remaining) == (0, 2)

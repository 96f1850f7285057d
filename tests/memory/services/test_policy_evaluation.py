"""Offline evaluation (`memory.services.policy_evaluation`): the shipped labelled set replayed
through policy versions, with the scripted LLM answering from
benchmarks/data/extraction_eval_replies.json, scored against hand-counted figures.

How the expected figures were counted (threshold 0.7): every reply memory was read beside
its example's gold facts; a memory matches when it says the same fact (the similarities
of the matched pairs are 0.75 to 1.0; every wrong pair is at most 0.63). For discrete:
36 memories over the 24 examples; the 5 that match nothing are the small-talk "capital of
Australia", the unresolved "They are both thrilled", "She said User can be off...", the
passing "ran 18 km" and "ordered pad thai"; 3 gold facts are missed (the Rome trip, the
vacation dates, Elena); forbidden hits: "tomorrow" (the Tokyo memory), "they", "she".
"""

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from memory.models import MemoryRecord, SessionPromotion, SourceMessage
from memory.services.policy_evaluation import (
    DatasetError,
    example_score,
    policy_evaluation_create,
    policy_evaluation_run,
)
from policies.models import ExtractionRun, PolicyEvaluation, PolicyEvaluationExample
from tests.factories import PolicyFactory, PolicyVersionFactory
from tests.helpers import redis_state, wait_until
from tests.llm_server import Fault

DATA = Path(settings.BASE_DIR) / "benchmarks" / "data"
DATASET = DATA / "extraction_eval.jsonl"
REPLIES = json.loads((DATA / "extraction_eval_replies.json").read_text())
EXAMPLE_IDS = [json.loads(line)["id"] for line in DATASET.read_text().splitlines()]

pytestmark = pytest.mark.django_db


def version(strategy: str, **fields):
    return PolicyVersionFactory(policy=PolicyFactory(name="eval"), strategy=strategy, **fields)


def script_replies(llm_server, strategy: str, *, fault_at: str | None = None) -> None:
    """The scripted model's answer for each example, in file order (one call each)."""
    for example_id in EXAMPLE_IDS:
        llm_server.script(Fault.server_error() if example_id == fault_at else REPLIES[strategy][example_id])


def evaluate(strategy: str, **create) -> PolicyEvaluation:
    [evaluation] = policy_evaluation_create(
        version_ids=[version(strategy).pk], dataset_path=DATASET, actor="test", **create
    )
    return policy_evaluation_run(evaluation_id=evaluation.pk)


def figures(evaluation: PolicyEvaluation) -> tuple:
    return (evaluation.precision, evaluation.recall, evaluation.forbidden_hits)


def nothing_written_to_memory() -> bool:
    return (
        not any(model.objects.exists() for model in (MemoryRecord, SourceMessage, SessionPromotion, ExtractionRun))
        and not redis_state()
    )


# (strategy, matched, extracted, gold, forbidden hits), counted by hand from the replies file.
SCRIPTED = [
    ("discrete", 31, 36, 34, 3),
    # Preferences only: 8 memories; "User prefers the Savoy over the Ritz" is not the gold
    # "User chose the Savoy hotel in London for a wedding" (0.66).
    ("preferences", 7, 8, 34, 0),
    # One summary per example: the 4 of small talk match nothing, nor does the Rome one (its
    # best gold is 0.66); each other matches one gold fact. Hit: "where she leads".
    ("summary", 19, 24, 34, 1),
]


@pytest.mark.parametrize(("strategy", "matched", "extracted", "gold", "hits"), SCRIPTED)
def test_stock_strategies_on_the_shipped_set_score_the_hand_counted_figures(
    llm_settings, llm_server, strategy, matched, extracted, gold, hits
):
    script_replies(llm_server, strategy)

    evaluation = evaluate(strategy)

    precision, recall = Fraction(matched, extracted), Fraction(matched, gold)
    assert evaluation.status == "succeeded", evaluation.error
    assert figures(evaluation) == (float(precision), float(recall), hits)
    assert evaluation.f1 == pytest.approx(float(2 * precision * recall / (precision + recall)), abs=1e-12)
    assert (evaluation.examples_total, evaluation.examples_done, evaluation.error) == (24, 24, "")
    assert len(llm_server.requests) == 24 and llm_server.pending == 0
    rows = PolicyEvaluationExample.objects.filter(evaluation=evaluation)
    assert sum(len(row.matches) for row in rows) == matched
    assert sum(len(row.extracted) for row in rows) == extracted
    # The scripted server counts words as tokens: every call's are on the evaluation.
    assert evaluation.tokens_in == sum(row.tokens_in for row in rows) > 0
    assert nothing_written_to_memory()


def test_an_example_row_shows_its_matched_pairs_misses_and_forbidden_hits(llm_settings, llm_server):
    script_replies(llm_server, "discrete")

    evaluation = evaluate("discrete")

    row = evaluation.examples.get(example_id="pronoun-manager-vacation")
    assert [(m["gold"], m["memory"], m["similarity"]) for m in row.matches] == [
        ("Priya is User's manager.", "Priya is User's manager.", 1.0)
    ]
    assert row.missed_gold == ["User is on vacation from 2024-08-05 to 2024-08-16."]
    assert row.unmatched_memories == ["She said User can be off from August 5 to August 16."]
    assert row.forbidden_hits == [{"phrase": "she", "memory": "She said User can be off from August 5 to August 16."}]
    assert (row.precision, row.recall, row.f1, row.error) == (0.5, 0.5, 0.5, "")
    # Small talk: nothing to find and nothing said is perfect; an extra memory is not.
    small_talk = {r.example_id: (r.precision, r.recall, r.f1) for r in evaluation.examples.all()}
    assert small_talk["smalltalk-greeting"] == (1.0, 1.0, 1.0)
    assert small_talk["smalltalk-trivia"] == (0.0, 1.0, 0.0)
    assert small_talk["smalltalk-then-fact"] == (1.0, 0.0, 0.0)
    # The model read the example's turns under promotion's ids, dated as in the file.
    conversation = json.loads(llm_server.requests[0]["messages"][1]["content"])
    assert [(t["id"], t["created_at"]) for t in conversation["new_turns"]] == [
        ("m1", "2024-04-02T09:58:00Z"),
        ("m2", "2024-04-02T09:58:10Z"),
        ("m3", "2024-04-02T09:59:00Z"),
    ]


def test_messages_strategy_runs_without_an_llm_and_scores_the_raw_turns(settings, llm_server):
    # 68 raw turns; 24 of them are at or over 0.7 of a gold fact, one to one (read off the
    # similarity table of the turns against the gold facts); 23 contain a forbidden phrase
    # ("She's...", "yesterday", "next Friday" twice...).
    settings.LLM_MODEL = ""

    evaluation = evaluate("messages")

    assert evaluation.status == "succeeded"
    assert figures(evaluation) == (24 / 68, 24 / 34, 23)
    assert (evaluation.tokens_in, evaluation.tokens_out, evaluation.cost_usd) == (0, 0, Decimal(0))
    assert llm_server.requests == []
    assert nothing_written_to_memory()


def test_a_provider_fault_on_one_example_is_recorded_on_it_and_the_run_goes_on(llm_settings, llm_server):
    script_replies(llm_server, "discrete", fault_at="date-yesterday-licence")

    evaluation = evaluate("discrete")

    failed = evaluation.examples.get(example_id="date-yesterday-licence")
    assert failed.error.startswith("LLMUnavailableError: ") and "upstream exploded" in failed.error
    assert (failed.extracted, failed.precision, failed.recall) == ([], None, None)
    assert evaluation.examples.exclude(error="").count() == 1
    # The figures leave the failed example out: it had one memory, matching its one gold fact.
    assert evaluation.status == "succeeded"
    assert figures(evaluation) == (30 / 35, 30 / 33, 3)
    assert evaluation.error == "1 of 24 examples failed (see their rows); the figures are over the other 23"


def test_a_rerun_skips_the_examples_already_scored_and_doubles_nothing(llm_settings, llm_server):
    script_replies(llm_server, "discrete")
    [evaluation] = policy_evaluation_create(version_ids=[version("discrete").pk], dataset_path=DATASET, actor="t")

    def crash_after_ten(_, seen=[]):  # noqa: B006 - counts calls across this run
        seen.append(1)
        if len(seen) == 10:
            raise ConnectionError("worker lost its database")

    with pytest.raises(ConnectionError):
        policy_evaluation_run(evaluation_id=evaluation.pk, progress=crash_after_ten)
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.examples_done) == ("failed", 10)
    assert evaluation.error == "ConnectionError: worker lost its database (the job retries and resumes)"
    assert len(llm_server.requests) == 10

    evaluation = policy_evaluation_run(evaluation_id=evaluation.pk)

    assert len(llm_server.requests) == 24  # the 14 left, each once
    assert evaluation.status == "succeeded" and evaluation.examples.count() == 24
    assert figures(evaluation) == (31 / 36, 31 / 34, 3)
    again = policy_evaluation_run(evaluation_id=evaluation.pk)  # a redelivered job
    assert (again.status, evaluation.examples.count(), len(llm_server.requests)) == ("succeeded", 24, 24)


def test_an_llm_strategy_without_an_llm_fails_at_once_saying_why(settings, llm_server):
    settings.LLM_MODEL = ""

    evaluation = evaluate("discrete")

    assert (evaluation.status, evaluation.examples.count(), evaluation.examples_done) == ("failed", 0, 0)
    assert evaluation.error == (
        "the discrete strategy needs an LLM: set LLM_MODEL or the policy version's model "
        "(only `messages` versions can be evaluated without one)"
    )
    assert evaluation.finished_at is not None and llm_server.requests == []


def test_create_makes_one_queued_evaluation_per_version_with_the_data_set_kept_by_sha256(settings, tmp_path):
    settings.EVAL_DATASETS_DIR = str(tmp_path / "sets")
    first, second = version("messages"), version("discrete")

    evaluations = policy_evaluation_create(version_ids=[first.pk, second.pk], dataset_path=DATASET, actor="admin:p")

    import hashlib

    sha256 = hashlib.sha256(DATASET.read_bytes()).hexdigest()
    assert [
        (e.version, e.status, e.dataset_name, e.dataset_sha256, e.threshold, e.examples_total, e.actor)
        for e in evaluations
    ] == [(v, "queued", "extraction_eval.jsonl", sha256, 0.7, 24, "admin:p") for v in (first, second)]
    assert (tmp_path / "sets" / f"{sha256}.jsonl").read_bytes() == DATASET.read_bytes()


@pytest.mark.django_db(transaction=True)
def test_enqueued_evaluations_run_in_the_dramatiq_worker(dramatiq_worker, settings):
    settings.LLM_MODEL = ""
    messages, discrete = version("messages"), version("discrete")

    with transaction.atomic():
        created = policy_evaluation_create(
            version_ids=[messages.pk, discrete.pk], dataset_path=DATASET, actor="test", enqueue=True
        )

    def finished():
        rows = PolicyEvaluation.objects.filter(pk__in=[e.pk for e in created]).order_by("pk")
        return [row for row in rows if row.status in ("succeeded", "failed")] == list(rows) and list(rows)

    done, cannot = wait_until(finished, what="both evaluations to finish")
    assert (done.status, figures(done)) == ("succeeded", (24 / 68, 24 / 34, 23))
    assert (cannot.status, cannot.error.split(":")[0]) == ("failed", "the discrete strategy needs an LLM")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "line 1: not valid JSON: Expecting value at char 0"),
        ("[1]", "line 1: expected a JSON object, not list"),
        ('{"id": "a", "now": "2024-01-01T00:00:00Z", "messages": []}', "line 1: field 'gold': missing"),
        (
            '{"id": "a", "now": "2024-01-01T00:00:00Z", "messages": [], "gold": [], "golds": []}',
            "line 1: field 'golds': unknown field; the fields are forbidden, gold, id, messages, now",
        ),
        ('{"id": "", "now": "x", "messages": [], "gold": []}', "line 1: field 'id': must be a non-empty string"),
        (
            '{"id": "a", "now": "soon", "messages": [], "gold": []}',
            "line 1: field 'now': must be an ISO 8601 date and time",
        ),
        (
            '{"id": "a", "now": "2024-01-01", "messages": [], "gold": []}',
            "line 1: field 'messages': must be a non-empty list",
        ),
        (
            '{"id": "a", "now": "2024-01-01", "messages": [{"role": "bot", "content": "hi"}], "gold": []}',
            "line 1: field 'messages[0].role': must be one of user, assistant, system, tool, not 'bot'",
        ),
        (
            '{"id": "a", "now": "2024-01-01", "messages": [{"role": "user", "content": 3}], "gold": []}',
            "line 1: field 'messages[0].content': must be a string",
        ),
        (
            '{"id": "a", "now": "2024-01-01", "messages": [{"role": "user", "content": "x", "created_at": "?"}], '
            '"gold": []}',
            "line 1: field 'messages[0].created_at': must be an ISO 8601 date and time",
        ),
        (
            '{"id": "a", "now": "2024-01-01", "messages": [{"role": "user", "content": "x"}], "gold": "a fact"}',
            "line 1: field 'gold': must be a list of non-empty strings (empty when nothing is worth remembering)",
        ),
        (
            '{"id": "a", "now": "2024-01-01", "messages": [{"role": "user", "content": "x"}], "gold": [], '
            '"forbidden": [""]}',
            "line 1: field 'forbidden': must be a list of non-empty strings",
        ),
    ],
)
def test_a_bad_line_of_the_data_set_is_refused_naming_the_line_and_field(tmp_path, line, error):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DatasetError) as refused:
        policy_evaluation_create(version_ids=[version("messages").pk], dataset_path=path, actor="test")
    assert str(refused.value) == error
    assert not PolicyEvaluation.objects.exists()


def test_a_repeated_id_is_refused_naming_both_lines(tmp_path):
    good = DATASET.read_text().splitlines()[0]
    path = tmp_path / "twice.jsonl"
    path.write_text(f"{good}\n\n{good}\n")
    with pytest.raises(DatasetError, match=r"^line 3: field 'id': 'pronoun-sister-job' is already the id of line 1$"):
        policy_evaluation_create(version_ids=[version("messages").pk], dataset_path=path, actor="test")


@pytest.mark.parametrize(
    ("forbidden", "memory", "hit"),
    [
        ("she", "She's leading the team.", True),
        ("she", "Anna shed a tear.", False),
        ("he", "The capital of Australia is Canberra.", False),
        ("he", "Then he left.", True),
        ("next Friday", "Dentist NEXT FRIDAY at 3pm.", True),
        ("lives in Leeds", "User lives in Leeds.", True),
    ],
)
def test_a_forbidden_phrase_hits_as_whole_words_ignoring_case(forbidden, memory, hit):
    score = example_score(extracted=[memory], gold=[], forbidden=[forbidden], threshold=0.7)
    assert score.forbidden_hits == ([{"phrase": forbidden, "memory": memory}] if hit else [])


def test_matching_is_one_to_one_and_keeps_only_pairs_over_the_threshold():
    # Two memories say the same gold fact: one matches it, the other is left unmatched;
    # an unrelated gold fact is missed however the pairs fall.
    score = example_score(
        extracted=["User lives in Manchester.", "User lives in Manchester."],
        gold=["User lives in Manchester.", "User's cat is called Pixel."],
        forbidden=[],
        threshold=0.7,
    )
    assert [(m["gold"], m["memory"], m["similarity"]) for m in score.matches] == [
        ("User lives in Manchester.", "User lives in Manchester.", 1.0)
    ]
    assert (score.missed_gold, score.unmatched_memories) == (
        ["User's cat is called Pixel."],
        ["User lives in Manchester."],
    )
    assert (score.precision, score.recall, score.f1) == (0.5, 0.5, 0.5)

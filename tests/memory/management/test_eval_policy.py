"""`manage.py eval_policy`: the shipped set through two versions, inline, with a progress
bar on stderr, a table on stdout and the figures as JSON with --out. The expected figures
are the hand-counted ones of tests/memory/services/test_policy_evaluation.py."""

import json

import pytest
from django.core.management import CommandError, call_command

from memory.models import MemoryRecord
from policies.models import ExtractionRun, PolicyEvaluation
from tests.memory.services.test_policy_evaluation import DATASET, script_replies, version

pytestmark = pytest.mark.django_db


def test_the_command_prints_a_table_per_version_and_writes_json(llm_settings, llm_server, tmp_path, capsys):
    messages, discrete = version("messages"), version("discrete")
    script_replies(llm_server, "discrete")
    out = tmp_path / "results.json"

    call_command(
        "eval_policy", "--dataset", str(DATASET), "--versions", f"{messages.pk},{discrete.pk}", "--out", str(out)
    )

    printed = capsys.readouterr()
    tokens = sum(PolicyEvaluation.objects.filter(version=discrete).values_list("tokens_in", "tokens_out").get())
    assert tokens > 0
    # messages: 24/68, 24/34, F1 48/102; discrete: 31/36, 31/34, F1 62/70.
    rows = [
        ("version", "examples", "precision", "recall", "F1", "forbidden hits", "tokens", "cost"),
        ("eval v1 (messages)", "24/24", "0.353", "0.706", "0.471", "23", "0", "0.000000"),
        ("eval v2 (discrete)", "24/24", "0.861", "0.912", "0.886", "3", str(tokens), "0.000000"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(8)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    assert printed.out == "\n".join(lines) + "\n"
    assert "v1 messages: 100%" in printed.err and "24/24" in printed.err  # tqdm's bars

    results = json.loads(out.read_text())
    assert [(r["version_id"], r["strategy"], r["status"], r["examples_done"]) for r in results] == [
        (messages.pk, "messages", "succeeded", 24),
        (discrete.pk, "discrete", "succeeded", 24),
    ]
    assert [(r["precision"], r["recall"], r["forbidden_hits"], r["threshold"]) for r in results] == [
        (24 / 68, 24 / 34, 23, 0.7),
        (31 / 36, 31 / 34, 3, 0.7),
    ]
    trivia = next(e for e in results[1]["examples"] if e["id"] == "smalltalk-trivia")
    assert (trivia["extracted"], trivia["unmatched_memories"], trivia["precision"]) == (
        ["The capital of Australia is Canberra."],
        ["The capital of Australia is Canberra."],
        0.0,
    )
    assert len(results[1]["examples"]) == 24
    assert not MemoryRecord.objects.exists() and not ExtractionRun.objects.exists()


def test_a_stricter_threshold_is_stored_and_changes_the_figures(settings, tmp_path, capsys):
    settings.LLM_MODEL = ""
    messages = version("messages")

    call_command("eval_policy", "--dataset", str(DATASET), "--versions", str(messages.pk), "--threshold", "0.99")

    evaluation = PolicyEvaluation.objects.get()
    # No raw turn is within 0.99 of a gold fact (the closest is 0.942).
    assert (evaluation.threshold, evaluation.precision, evaluation.recall) == (0.99, 0.0, 0.0)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--versions", "x"], "--versions: ids must be integers, comma-separated, not 'x'"),
        (["--versions", "999"], f"{DATASET}: no policy version with id 999"),
        (["--versions", "{pk}", "--threshold", "1.5"], f"{DATASET}: threshold must be above 0 and at most 1, not 1.5"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(arguments, error):
    pk = version("messages").pk
    arguments = [argument.format(pk=pk) for argument in arguments]
    with pytest.raises(CommandError) as refused:
        call_command("eval_policy", "--dataset", str(DATASET), *arguments)
    assert str(refused.value) == error
    assert not PolicyEvaluation.objects.exists()


def test_a_data_set_off_the_format_is_refused_naming_its_line_and_field(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"id": "p1", "now": "2024-01-01T00:00:00Z", "messages": [], "gold": []}\n')
    with pytest.raises(CommandError) as refused:
        call_command("eval_policy", "--dataset", str(path), "--versions", str(version("messages").pk))
    assert str(refused.value) == f"{path}: line 1: field 'messages': must be a non-empty list"


def test_an_evaluation_that_cannot_start_is_in_the_table_and_the_command_exits_non_zero(settings, capsys):
    settings.LLM_MODEL = ""
    discrete = version("discrete")

    with pytest.raises(CommandError) as refused:
        call_command("eval_policy", "--dataset", str(DATASET), "--versions", str(discrete.pk))

    assert str(refused.value) == "1 of 1 evaluations failed (see above)"
    printed = capsys.readouterr()
    assert printed.out.splitlines()[2].split() == [
        "eval",
        "v1",
        "(discrete)",
        "0/24",
        "-",
        "-",
        "-",
        "0",
        "0",
        "0.000000",
    ]
    assert (
        f"evaluation {PolicyEvaluation.objects.get().pk} (eval v1 (discrete)): the discrete strategy needs an LLM"
        in (printed.err)
    )

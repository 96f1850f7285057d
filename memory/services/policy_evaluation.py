"""Offline replay: a labelled data set through policy versions, scored against its gold facts.

Each example is extracted with `memory.extraction.extract`, the call promotion makes,
with the version's strategy, template, model and params; nothing is written to memory
records, the index or working memory. Only the evaluation rows change.

Scoring (per example): the extracted memories and the gold facts are embedded with the
server's embedding model; a memory and a gold fact match when their cosine similarity is
at or above the evaluation's threshold, one-to-one, by the Hungarian algorithm (the
assignment with the largest total similarity among the pairs over the threshold).
precision = matched / extracted, recall = matched / gold; an empty side counts as
perfect on its own figure (0/0 = 1: nothing said is nothing wrong, nothing to find is
all found), so small talk with gold = [] and nothing extracted scores 1, 1, 1. The
overall figures are micro averages (sums over the scored examples). A forbidden phrase
hits when it occurs in a memory as whole words, case-insensitively.

An example whose provider call fails keeps the error on its row and stays out of the
overall figures; the run goes on. A rerun (a retry of the job) skips the examples already
scored and tries the failed ones again.
"""

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from memory import embeddings, extraction, llm
from memory.eval_dataset import DatasetError, EvalExample, dataset_parse, dataset_upload_check
from policies.models import Experiment, PolicyEvaluation, PolicyEvaluationExample, PolicyVersion, Strategy
from workers.queue import enqueue_policy_evaluation

__all__ = ["DatasetError", "example_score", "policy_evaluation_create", "policy_evaluation_run"]


class EvaluationCannotStartError(Exception):
    """The evaluation cannot run at all (no LLM for an LLM strategy, data set missing)."""


@dataclass(frozen=True)
class ExampleScore:
    matches: list[dict[str, Any]]  # [{"gold", "memory", "similarity"}], one-to-one
    missed_gold: list[str]
    unmatched_memories: list[str]
    forbidden_hits: list[dict[str, Any]]  # [{"phrase", "memory"}]
    precision: float
    recall: float
    f1: float


# --- Create ----------------------------------------------------------------------------------


@transaction.atomic
def policy_evaluation_create(
    *,
    version_ids: list[int],
    dataset_path: str | Path | None = None,
    dataset_content: bytes | None = None,
    dataset_name: str = "",
    threshold: float | None = None,
    actor: str,
    experiment: Experiment | None = None,
    enqueue: bool = False,
) -> list[PolicyEvaluation]:
    """One queued evaluation per version, on the data set at `dataset_path` (or the bytes of
    an upload, `dataset_content`, named `dataset_name`). The data set is validated now
    (DatasetError names the line and field; an upload past EVAL_UPLOAD_MAX_BYTES is one
    too) and kept by its sha256 in EVAL_DATASETS_DIR, where the job reads it. With
    `enqueue`, each evaluation is sent to the worker on commit."""
    if dataset_content is None:
        if dataset_path is None:
            raise DatasetError("no data set: name a file or send its content")
        dataset_content = Path(dataset_path).read_bytes()
        dataset_name = dataset_name or Path(dataset_path).name
    else:  # an upload: the door should have refused it unread, this is every door's check
        dataset_upload_check(size=len(dataset_content))
    examples = dataset_parse(dataset_content)
    threshold = settings.EVAL_MATCH_THRESHOLD if threshold is None else float(threshold)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be above 0 and at most 1, not {threshold}")
    versions = PolicyVersion.objects.in_bulk(version_ids)
    missing = [str(i) for i in version_ids if i not in versions]
    if missing or not version_ids:
        raise ValueError(f"no policy version with id {', '.join(missing)}" if missing else "no versions given")
    summarizing = [str(pk) for pk, version in versions.items() if version.strategy == Strategy.SUMMARIZE]
    if summarizing:  # an evaluation replays extraction; a summary version extracts nothing
        raise ValueError(f"policy version {', '.join(summarizing)} summarises, it does not extract")
    sha256 = _dataset_store(dataset_content)
    evaluations = [
        PolicyEvaluation.objects.create(
            version=versions[version_id],
            experiment=experiment,
            dataset_name=dataset_name[:300],
            dataset_sha256=sha256,
            threshold=threshold,
            examples_total=len(examples),
            actor=actor,
        )
        for version_id in dict.fromkeys(version_ids)
    ]
    if enqueue:
        for evaluation in evaluations:
            enqueue_policy_evaluation(evaluation_id=evaluation.pk)
    return evaluations


def _dataset_store(content: bytes) -> str:
    """Keep the data set under its sha256 (content-addressed: writing it twice is harmless)."""
    sha256 = hashlib.sha256(content).hexdigest()
    path = Path(settings.EVAL_DATASETS_DIR) / f"{sha256}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{time.monotonic_ns()}.part")
        partial.write_bytes(content)
        partial.replace(path)  # atomic: a concurrent reader never sees half a file
    return sha256


def _dataset_load(evaluation: PolicyEvaluation) -> list[EvalExample]:
    path = Path(settings.EVAL_DATASETS_DIR) / f"{evaluation.dataset_sha256}.jsonl"
    try:
        content = path.read_bytes()
    except FileNotFoundError as exc:
        raise EvaluationCannotStartError(
            f"the data set {evaluation.dataset_name} (sha256 {evaluation.dataset_sha256[:12]}) is not in "
            f"EVAL_DATASETS_DIR ({settings.EVAL_DATASETS_DIR}); create the evaluation again"
        ) from exc
    if hashlib.sha256(content).hexdigest() != evaluation.dataset_sha256:
        raise EvaluationCannotStartError(f"{path} no longer matches its sha256; create the evaluation again")
    return dataset_parse(content)


# --- Run -------------------------------------------------------------------------------------


def policy_evaluation_run(*, evaluation_id: int, progress: Callable[[int], None] | None = None) -> PolicyEvaluation:
    """Replay the evaluation's data set through its version and score it (idempotent).

    `progress(n)` is called as examples finish (skipped ones included). A run that cannot
    start ends `failed` with the reason; an unexpected error is recorded on the row and
    raised, so the job retries and resumes where it stopped."""
    evaluation = _run_begin(evaluation_id)
    if evaluation.status != PolicyEvaluation.Status.RUNNING:
        return evaluation
    try:
        examples = _dataset_load(evaluation)
        _check_can_start(evaluation.version)
        scored = set(evaluation.examples.filter(error="").values_list("example_id", flat=True))
        for example in examples:
            if example.id not in scored:
                _example_run(evaluation, example)
                _progress_save(evaluation)
            if progress:
                progress(1)
    except EvaluationCannotStartError as exc:
        return _failed(evaluation, str(exc))
    except BaseException as exc:  # noqa: BLE001 - recorded on the row (a time limit too), then raised
        _failed(evaluation, f"{type(exc).__name__}: {exc} (the job retries and resumes)")
        raise
    return _finish(evaluation)


def _run_begin(evaluation_id: int) -> PolicyEvaluation:
    with transaction.atomic():
        evaluation = PolicyEvaluation.objects.select_for_update().select_related("version").get(pk=evaluation_id)
        if evaluation.status == PolicyEvaluation.Status.SUCCEEDED:
            return evaluation  # a redelivered job: the result stands
        evaluation.status, evaluation.error, evaluation.finished_at = PolicyEvaluation.Status.RUNNING, "", None
        evaluation.save(update_fields=["status", "error", "finished_at"])
    return evaluation


def _check_can_start(version: PolicyVersion) -> None:
    if version.strategy != Strategy.MESSAGES and not llm.is_configured(version.model):
        raise EvaluationCannotStartError(
            f"the {version.strategy} strategy needs an LLM: set LLM_MODEL or the policy version's model "
            "(only `messages` versions can be evaluated without one)"
        )


def _example_run(evaluation: PolicyEvaluation, example: EvalExample) -> None:
    """Extract one example with the version, score it, and save its row (replacing a failed one)."""
    version = evaluation.version
    started = time.monotonic()
    try:
        result = extraction.extract(
            strategy=version.strategy,
            new_turns=example.turns,
            prompt_template=version.prompt_template,
            model=version.model,
            params=version.params,
            now=example.now,
        )
    except llm.LLMError as exc:
        fields: dict[str, Any] = {
            "error": f"{type(exc).__name__}: {exc}",
            "extracted": [],
            "matches": [],
            "missed_gold": [],
        }
        fields.update(unmatched_memories=[], forbidden_hits=[], precision=None, recall=None, f1=None)
        fields.update(tokens_in=0, tokens_out=0, cost_usd=0, latency_ms=int((time.monotonic() - started) * 1000))
        _example_save(evaluation, example, fields)
        return
    latency_ms = int((time.monotonic() - started) * 1000)
    texts = [memory.text for memory in result.memories]
    score = example_score(
        extracted=texts, gold=example.gold, forbidden=example.forbidden, threshold=evaluation.threshold
    )
    fields = {
        "error": "",
        "extracted": texts,
        "matches": score.matches,
        "missed_gold": score.missed_gold,
        "unmatched_memories": score.unmatched_memories,
        "forbidden_hits": score.forbidden_hits,
        "precision": score.precision,
        "recall": score.recall,
        "f1": score.f1,
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
        "cost_usd": Decimal(str(round(result.cost_usd, 6))),
        "latency_ms": latency_ms,
    }
    _example_save(evaluation, example, fields)


def _example_save(evaluation: PolicyEvaluation, example: EvalExample, fields: dict[str, Any]) -> None:
    PolicyEvaluationExample.objects.update_or_create(evaluation=evaluation, example_id=example.id, defaults=fields)


def _progress_save(evaluation: PolicyEvaluation) -> None:
    evaluation.examples_done = evaluation.examples.count()
    evaluation.save(update_fields=["examples_done"])


def _failed(evaluation: PolicyEvaluation, error: str) -> PolicyEvaluation:
    evaluation.status, evaluation.error, evaluation.finished_at = PolicyEvaluation.Status.FAILED, error, timezone.now()
    evaluation.save(update_fields=["status", "error", "finished_at"])
    return evaluation


def _finish(evaluation: PolicyEvaluation) -> PolicyEvaluation:
    """The overall figures: micro averages over the examples scored without error."""
    rows = list(evaluation.examples.all())
    scored = [row for row in rows if not row.error]
    failed = len(rows) - len(scored)
    if not scored and rows:
        return _failed(evaluation, f"every example failed; the first: {rows[0].example_id}: {rows[0].error}")
    matched = sum(len(row.matches) for row in scored)
    extracted = sum(len(row.extracted) for row in scored)
    gold = matched + sum(len(row.missed_gold) for row in scored)
    evaluation.precision, evaluation.recall, evaluation.f1 = _figures(matched, extracted, gold)
    evaluation.forbidden_hits = sum(len(row.forbidden_hits) for row in scored)
    evaluation.tokens_in = sum(row.tokens_in for row in rows)
    evaluation.tokens_out = sum(row.tokens_out for row in rows)
    evaluation.cost_usd = sum((row.cost_usd for row in rows), Decimal(0))
    evaluation.examples_done = len(rows)
    evaluation.error = (
        f"{failed} of {len(rows)} examples failed (see their rows); the figures are over the other {len(scored)}"
        if failed
        else ""
    )
    evaluation.status, evaluation.finished_at = PolicyEvaluation.Status.SUCCEEDED, timezone.now()
    evaluation.save()
    return evaluation


# --- Scoring ---------------------------------------------------------------------------------


def example_score(*, extracted: list[str], gold: list[str], forbidden: list[str], threshold: float) -> ExampleScore:
    """Match `extracted` to `gold` one-to-one by embedding similarity (see the module doc)."""
    pairs = _matching(extracted, gold, threshold)
    matched_memories = {i for i, _, _ in pairs}
    matched_gold = {j for _, j, _ in pairs}
    precision, recall, f1 = _figures(len(pairs), len(extracted), len(gold))
    return ExampleScore(
        matches=[{"gold": gold[j], "memory": extracted[i], "similarity": round(s, 4)} for i, j, s in pairs],
        missed_gold=[text for j, text in enumerate(gold) if j not in matched_gold],
        unmatched_memories=[text for i, text in enumerate(extracted) if i not in matched_memories],
        forbidden_hits=forbidden_hits(memories=extracted, forbidden=forbidden),
        precision=precision,
        recall=recall,
        f1=f1,
    )


def _matching(extracted: list[str], gold: list[str], threshold: float) -> list[tuple[int, int, float]]:
    """(memory index, gold index, similarity) of the one-to-one matches, in gold order."""
    if not extracted or not gold:
        return []
    vectors = embeddings.embed_texts([*extracted, *gold])  # L2-normalised: a dot product is the cosine
    similarity = vectors[: len(extracted)] @ vectors[len(extracted) :].T
    # Imported here: scipy costs every API and worker process tens of MB resident, for the
    # evaluations alone (this module is imported with the admin).
    from scipy.optimize import linear_sum_assignment

    # Pairs under the threshold weigh nothing, so they can never displace a pair over it.
    rows, cols = linear_sum_assignment(np.where(similarity >= threshold, similarity, 0.0), maximize=True)
    pairs = [(int(i), int(j), float(similarity[i, j])) for i, j in zip(rows, cols, strict=True)]
    return sorted((pair for pair in pairs if pair[2] >= threshold), key=lambda pair: pair[1])


def _figures(matched: int, extracted: int, gold: int) -> tuple[float, float, float]:
    precision = matched / extracted if extracted else 1.0
    recall = matched / gold if gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def forbidden_hits(*, memories: list[str], forbidden: list[str]) -> list[dict[str, Any]]:
    """Each (phrase, memory) where the phrase occurs as whole words, ignoring case."""
    hits: list[dict[str, str]] = []
    for phrase in forbidden:
        pattern = re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)", re.IGNORECASE)
        hits.extend({"phrase": phrase, "memory": memory} for memory in memories if pattern.search(memory))
    return hits

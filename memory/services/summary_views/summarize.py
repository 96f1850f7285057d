"""Summarizing one summary-view partition, bounded whatever its size (issue 22).

A partition of 100,000 memories never reaches the model whole, nor memory: one query
reads at most SUMMARY_CANDIDATES_MAX of its most recent memories (text, time and vector
only), they are ranked by recency and centrality (cosine to their mean vector), and the
best fill a token budget (SUMMARY_INPUT_MAX_TOKENS), each one cut to the version's
`max_memory_chars`. The model sees them in time order, and the summary says how many
memories it covered when that is fewer than the partition holds.

With no LLM configured (the embedded default) the summary is extractive: the most
central memories, in time order, within SUMMARY_EXTRACTIVE_MAX_CHARS, labelled as such
in its first line. Either way a SummaryRun records the version, the counts and, for the
model, tokens, cost, latency and raw output.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import unquote

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from memory import embeddings, llm, tokens
from memory.models import MemoryRecord, SummaryPartition, SummaryView
from policies.models import PolicyVersion, SummaryRun
from policies.selectors.summary import summary_version_published
from policies.services.versions import summary_policy_ensure
from policies.strategies import SUMMARIZE_DEFAULT_PROMPT, params_resolve

# How much recency weighs against centrality (a cosine, at most 1) in the model's ranking:
# the newest memory gains this much over the oldest candidate.
RECENCY_WEIGHT = 0.5
# Longest line of an extractive summary: one long memory must not fill the whole budget.
EXTRACTIVE_LINE_MAX_CHARS = 300
ELLIPSIS = "…"
# No memory's line costs fewer tokens ("- [2026-01-01] x" and its newline): with less
# budget left, the rest of the candidates need not be counted.
MIN_LINE_TOKENS = 10


class SummarizeError(Exception):
    """The model could not summarise the partition (the provider failed, or refused the
    model). The failed SummaryRun is recorded (`run`, committed unless the caller's own
    transaction rolls back); `retryable` is the provider error's (memory.llm.LLMError)."""

    def __init__(self, message: str, *, run: SummaryRun, retryable: bool):
        super().__init__(message)
        self.run = run
        self.retryable = retryable


@dataclass(frozen=True)
class PartitionSummary:
    text: str
    kind: str  # memory.models.SummaryPartition.Kind value: "llm" | "extractive" | "empty"
    covered_ids: list[str]  # the memories that reached the summary, in the order used
    run: SummaryRun | None  # the SummaryRun recorded for this summarizing (None when empty)


# (id, text, created_at, embedding bytes or None): one candidate as the query reads it.
_Row = tuple[str, str, datetime, bytes | memoryview | None]


@dataclass(frozen=True)
class _Candidate:
    id: str
    text: str
    created_at: datetime
    score: float


def partition_summarize(
    *,
    view: SummaryView,
    records: QuerySet[MemoryRecord],
    memory_count: int,
    group_key: str,
    task_id: str = "",
    actor: str,
) -> PartitionSummary:
    """Summarise the partition whose memories `records` selects (`memory_count` of them).

    The model's failure raises SummarizeError after recording the failed run; nothing
    else is written here (the partition row is the caller's)."""
    if memory_count == 0:
        return PartitionSummary(text="", kind=SummaryPartition.Kind.EMPTY, covered_ids=[], run=None)
    version = summary_version_for_run(view=view)
    if not llm.is_configured(version.model):
        return _extractive(
            view=view,
            version=version,
            records=records,
            memory_count=memory_count,
            group_key=group_key,
            task_id=task_id,
            actor=actor,
        )
    picked = _pick_by_tokens(_ranked(_candidate_rows(records), recency_weight=RECENCY_WEIGHT), version=version)
    run = SummaryRun.objects.create(
        view_id=view.id,
        group_key=group_key,
        task_id=task_id,
        policy_version=version,
        kind=SummaryPartition.Kind.LLM,
        model=version.model or settings.LLM_MODEL,
        memory_count=memory_count,
        covered_count=len(picked),
        actor=actor,
    )
    try:
        result = _chat(version=version, group=_group(group_key), picked=picked)
    except llm.LLMError as exc:
        run.status = SummaryRun.Status.FAILED
        run.error = str(exc)
        run.raw_output = getattr(exc, "raw", "")[: settings.EXTRACTION_RAW_OUTPUT_MAX_CHARS]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "raw_output", "finished_at"])
        raise SummarizeError(str(exc), run=run, retryable=exc.retryable) from exc
    run.status = SummaryRun.Status.SUCCEEDED
    run.model = result.model
    run.tokens_in = result.tokens_in
    run.tokens_out = result.tokens_out
    run.cost_usd = Decimal(str(round(result.cost_usd, 6)))
    run.latency_ms = result.latency_ms
    run.raw_output = result.text[: settings.EXTRACTION_RAW_OUTPUT_MAX_CHARS]
    run.finished_at = timezone.now()
    run.save()
    text = result.text.strip() + _coverage_line(covered=len(picked), total=memory_count)
    return PartitionSummary(text=text, kind=SummaryPartition.Kind.LLM, covered_ids=[c.id for c, _ in picked], run=run)


def summary_version_for_run(*, view: SummaryView) -> PolicyVersion:
    """The view's own version, else the summary policy's published one (seeded if missing)."""
    if view.policy_version_id is not None:
        return PolicyVersion.objects.select_related("policy").get(pk=view.policy_version_id)
    return summary_version_published() or summary_policy_ensure()


@dataclass(frozen=True)
class SummaryTrial:
    """What "Try it" shows for a summary version: the summary and, from the model, its figures."""

    text: str
    kind: str
    covered: int
    memory_count: int
    result: llm.ChatResult | None = None
    error: str = ""
    raw_output: str = ""


def summary_try(*, version: PolicyVersion, texts: list[str]) -> SummaryTrial:
    """Summarise `texts` (memories, oldest first, all dated today) as a partition would be,
    through `version`; nothing is stored. A provider's failure is the trial's `error`."""
    now = timezone.now()
    vectors = embeddings.embed_texts(texts)
    rows: list[_Row] = [
        (f"line-{n + 1}", text, now - timedelta(seconds=len(texts) - n), vectors[n].tobytes())
        for n, text in enumerate(texts)
    ][::-1]  # newest first, as a partition's candidates are read
    total = len(texts)
    if not llm.is_configured(version.model):
        picked = _pick_by_chars(_ranked(rows, recency_weight=0.0), budget=settings.SUMMARY_EXTRACTIVE_MAX_CHARS)
        text = _extractive_text(picked, total=total)
        return SummaryTrial(text=text, kind=SummaryPartition.Kind.EXTRACTIVE, covered=len(picked), memory_count=total)
    picked = _pick_by_tokens(_ranked(rows, recency_weight=RECENCY_WEIGHT), version=version)
    kind, covered = SummaryPartition.Kind.LLM, len(picked)
    try:
        result = _chat(version=version, group={}, picked=picked)
    except llm.LLMError as exc:
        error, raw = str(exc), getattr(exc, "raw", "")
        return SummaryTrial(text="", kind=kind, covered=covered, memory_count=total, error=error, raw_output=raw)
    text = result.text.strip() + _coverage_line(covered=covered, total=total)
    return SummaryTrial(
        text=text, kind=kind, covered=covered, memory_count=total, result=result, raw_output=result.text
    )


def _chat(*, version: PolicyVersion, group: dict[str, str], picked: list[tuple["_Candidate", str]]) -> llm.ChatResult:
    """The version's prompt, the group and the picked memories' lines, in one user turn."""
    params = params_resolve(strategy=version.strategy, params=version.params)
    prompt = version.prompt_template or SUMMARIZE_DEFAULT_PROMPT
    lines = "\n".join(line for _, line in picked)
    content = f"{prompt}\n\nGROUP: {json.dumps(group, sort_keys=True)}\n\nMEMORIES:\n{lines}\n\nSUMMARY:"
    return llm.chat(
        messages=[{"role": "user", "content": content}],
        model=version.model or None,
        temperature=float(params["temperature"]),
        max_tokens=int(params["max_tokens"]),
    )


def _extractive(
    *,
    view: SummaryView,
    version: PolicyVersion,
    records: QuerySet[MemoryRecord],
    memory_count: int,
    group_key: str,
    task_id: str,
    actor: str,
) -> PartitionSummary:
    """The most central memories, in time order, within SUMMARY_EXTRACTIVE_MAX_CHARS."""
    ranked = _ranked(_candidate_rows(records), recency_weight=0.0)
    picked = _pick_by_chars(ranked, budget=settings.SUMMARY_EXTRACTIVE_MAX_CHARS)
    text = _extractive_text(picked, total=memory_count)
    now = timezone.now()
    run = SummaryRun.objects.create(
        view_id=view.id,
        group_key=group_key,
        task_id=task_id,
        policy_version=version,
        kind=SummaryPartition.Kind.EXTRACTIVE,
        status=SummaryRun.Status.SUCCEEDED,
        memory_count=memory_count,
        covered_count=len(picked),
        raw_output=text[: settings.EXTRACTION_RAW_OUTPUT_MAX_CHARS],
        actor=actor,
        finished_at=now,
    )
    return PartitionSummary(
        text=text, kind=SummaryPartition.Kind.EXTRACTIVE, covered_ids=[c.id for c, _ in picked], run=run
    )


def _extractive_text(picked: list[tuple["_Candidate", str]], *, total: int) -> str:
    """A heading that says it is extractive and how much it covers, then one line a memory."""
    counted = f"{len(picked):,} of {total:,} {'memory' if total == 1 else 'memories'}"
    if len(picked) == total:
        heading = f"Extractive summary (no LLM configured): {counted}, in time order."
    else:
        heading = f"Extractive summary (no LLM configured): {counted}, the most central, in time order."
    return "\n".join([heading, *(line for _, line in picked)])


def _coverage_line(*, covered: int, total: int) -> str:
    if covered >= total:
        return ""
    return f"\n\nCovers {covered:,} of {total:,} memories: the most recent and most central."


def _candidate_rows(records: QuerySet[MemoryRecord]) -> list[_Row]:
    """The partition's most recent SUMMARY_CANDIDATES_MAX memories, newest first, in one
    query of the four fields ranking needs."""
    rows = records.order_by("-created_at", "-id").values_list("id", "text", "created_at", "embedding")
    return list(rows[: settings.SUMMARY_CANDIDATES_MAX])


def _ranked(rows: list[_Row], *, recency_weight: float) -> list[_Candidate]:
    """`rows` (newest first) best first: cosine to the candidates' mean vector, plus
    `recency_weight` for the newest, falling linearly to 0 for the oldest. A memory
    without a vector counts as centrality 0; ties go to the newer memory."""
    if not rows:
        return []
    centrality = _centrality([embedding for _, _, _, embedding in rows])
    span = max(len(rows) - 1, 1)
    candidates = [
        _Candidate(id=pk, text=text, created_at=created, score=float(centrality[i]) + recency_weight * (1 - i / span))
        for i, (pk, text, created, _) in enumerate(rows)
    ]
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].score, i))
    return [candidates[i] for i in order]


def _centrality(embeddings: list[bytes | memoryview | None]) -> np.ndarray:
    """Each vector's cosine to the mean of the (normalised) vectors; 0 where there is none."""
    scores = np.zeros(len(embeddings), dtype=np.float64)
    present = [i for i, e in enumerate(embeddings) if e]
    if not present:
        return scores
    vectors = np.stack([np.frombuffer(bytes(embeddings[i]), dtype=np.float32) for i in present]).astype(np.float64)  # type: ignore[arg-type]  # present holds only the set ones
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm > 0:
        scores[present] = vectors @ (mean / norm)
    return scores


def _cut(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1] + ELLIPSIS


def _line(candidate: _Candidate, max_chars: int) -> str:
    return f"- [{candidate.created_at:%Y-%m-%d}] {_cut(candidate.text, max_chars)}"


def _in_time_order(picked: list[tuple[_Candidate, str]]) -> list[tuple[_Candidate, str]]:
    return sorted(picked, key=lambda item: (item[0].created_at, item[0].id))


def _pick_by_tokens(ranked: list[_Candidate], *, version: PolicyVersion) -> list[tuple[_Candidate, str]]:
    """The best memories whose lines (each cut to the version's `max_memory_chars`) fit
    SUMMARY_INPUT_MAX_TOKENS together, in time order; one that does not fit is skipped so
    a shorter one after it still may."""
    max_chars = int(params_resolve(strategy=version.strategy, params=version.params)["max_memory_chars"])
    budget = settings.SUMMARY_INPUT_MAX_TOKENS
    picked: list[tuple[_Candidate, str]] = []
    for candidate in ranked:
        line = _line(candidate, max_chars)
        cost = tokens.count(line + "\n")
        if cost <= budget:
            picked.append((candidate, line))
            budget -= cost
        if budget < MIN_LINE_TOKENS:
            break
    return _in_time_order(picked)


def _pick_by_chars(ranked: list[_Candidate], *, budget: int) -> list[tuple[_Candidate, str]]:
    """The most central memories whose lines fit `budget` characters together, in time order."""
    picked: list[tuple[_Candidate, str]] = []
    for candidate in ranked:
        line = _line(candidate, EXTRACTIVE_LINE_MAX_CHARS)
        if len(line) + 1 <= budget:
            picked.append((candidate, line))
            budget -= len(line) + 1
    return _in_time_order(picked)


def _group(group_key: str) -> dict[str, str]:
    """The partition's group values from its key (keys sorted, `k=v` URL-encoded, joined by `|`)."""
    pairs = (part.split("=", 1) for part in group_key.split("|") if "=" in part)
    return {unquote(key): unquote(value) for key, value in pairs}

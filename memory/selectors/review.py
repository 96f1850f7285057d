"""Reads for the review desk (the admin): the queue's order and its next item, a
memory's evidence (source turns, stored neighbours, possible conflicts, the run that made it), its
history as field diffs, and the values the changelist filters offer."""

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from rapidfuzz.distance import Indel

from memory import embeddings, index
from memory.models import MemoryConflict, MemoryHistory, MemoryRecord, MemoryStatus, SourceMessage
from policies.models import ExtractionRun

# Pending first, then newest; the id breaks ties so "the item after this one" is exact.
REVIEW_RANK = Case(When(status=MemoryStatus.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField())
REVIEW_ORDERING = ("_review_rank", "-created_at", "-id")
LIST_VALUE_FIELDS = ("topics", "entities")
# Neighbours farther than this (cosine distance, all-MiniLM-L6-v2) share little more than
# the user's name; listing them would bury the ones that matter.
NEIGHBOUR_MAX_DISTANCE = 0.6
# Fields a history diff shows, in this order (the rest of a snapshot is bookkeeping).
DIFF_FIELDS = ("text", "status", "topics", "entities", "event_date", "pinned", "context", "memory_type", "session_id")
# Words keep their trailing space, so "green tea" -> "black coffee" is one change, not two.
DIFF_WORDS = re.compile(r"\s+|\S+\s*")


# --- The queue -------------------------------------------------------------------------------


def review_ordered(queryset: QuerySet[MemoryRecord]) -> QuerySet[MemoryRecord]:
    return queryset.annotate(_review_rank=REVIEW_RANK).order_by(*REVIEW_ORDERING)


def review_next(*, queue: QuerySet[MemoryRecord], after_id: str | None = None) -> MemoryRecord | None:
    """The queue's first item after `after_id` in review order (what "skip" moves to),
    wrapping round to the start, so skipped items come back once the rest are done."""
    ordered = review_ordered(queue).select_related("extraction_run__policy_version__policy")
    anchor = MemoryRecord.objects.filter(id=after_id).only("id", "status", "created_at").first() if after_id else None
    if anchor is not None:
        rank = 0 if anchor.status == MemoryStatus.PENDING else 1
        later = ordered.filter(
            Q(_review_rank__gt=rank)
            | Q(_review_rank=rank, created_at__lt=anchor.created_at)
            | Q(_review_rank=rank, created_at=anchor.created_at, id__lt=anchor.id)
        ).first()
        if later is not None:
            return later
    return ordered.first()


# --- Evidence --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    message: SourceMessage
    highlighted: bool  # the record was extracted from this turn
    gap_before: bool  # turns were left out between the previous one shown and this one


def memory_source_turns(*, record: MemoryRecord, around: int = 2, limit: int = 60) -> list[Turn]:
    """The session turns the record was extracted from, highlighted, with `around` turns
    either side. A record that names no turns (an API create, an older run) shows the
    turns of its extraction run, none highlighted."""
    if not record.session_id:
        return []
    session = SourceMessage.objects.filter(namespace=record.namespace or "", session_id=record.session_id)
    source_ids = set(record.extracted_from or [])
    seqs = sorted(session.filter(message_id__in=source_ids).values_list("seq", flat=True)) if source_ids else []
    if seqs:
        spans = _merged_spans([(s - around, s + around) for s in seqs])
    else:
        spans = _run_span(session, record.extraction_run)
    if not spans:
        return []
    in_spans = Q()
    for low, high in spans[:20]:
        in_spans |= Q(seq__gte=low, seq__lte=high)
    turns, previous = [], None
    for message in session.filter(in_spans).order_by("seq")[:limit]:
        gap = previous is not None and message.seq != previous + 1
        turns.append(Turn(message=message, highlighted=message.message_id in source_ids, gap_before=gap))
        previous = message.seq
    return turns


def _merged_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def _run_span(session: QuerySet[SourceMessage], run: ExtractionRun | None) -> list[tuple[int, int]]:
    if run is None or not run.first_message_id:
        return []
    seqs = dict(
        session.filter(message_id__in=[run.first_message_id, run.last_message_id]).values_list("message_id", "seq")
    )
    first = seqs.get(run.first_message_id)
    if first is None:
        return []
    last = seqs.get(run.last_message_id)
    return [(first, first if last is None else last)]


def run_source_range(*, run: ExtractionRun) -> tuple[int, int] | None:
    """The seq range of the turns an extraction run read, for linking to them."""
    session = SourceMessage.objects.filter(namespace=run.namespace or "", session_id=run.session_id)
    spans = _run_span(session, run)
    return spans[0] if spans else None


@dataclass(frozen=True)
class Neighbour:
    record: MemoryRecord
    distance: float
    duplicate: bool  # within the dedup distance: probably the same fact


def memory_neighbours(*, record: MemoryRecord, k: int = 5) -> list[Neighbour] | None:
    """The stored records nearest to this one in its namespace and user (itself left
    out), nearest first: near-duplicates and possible conflicts. None when the index
    cannot answer, so the page can say so rather than show "nothing similar"."""
    if not record.embedding or (record.embedding_model and record.embedding_model != embeddings.model_name()):
        return []
    vector = np.frombuffer(bytes(record.embedding), dtype=np.float32)
    conditions = index.owner_conditions(record.namespace, record.user_id)
    conditions.append(index.Condition("memory_id", "ne", (record.id,)))
    try:
        hits = index.vector_search(vector, conditions=conditions, k=k)
    except index.INDEX_ERRORS:
        return None
    rows = MemoryRecord.objects.in_bulk([hit.id for hit in hits])
    threshold = settings.MEMORY_DEDUP_DISTANCE_THRESHOLD
    return [
        Neighbour(record=rows[hit.id], distance=hit.vector_distance, duplicate=hit.vector_distance <= threshold)
        for hit in hits
        if hit.id in rows and hit.vector_distance is not None and hit.vector_distance <= NEIGHBOUR_MAX_DISTANCE
    ]


@dataclass(frozen=True)
class Conflict:
    record: MemoryRecord  # the other record of the pair
    reason: str  # the details that differ, e.g. "different number: 2026 vs 2029"
    distance: float | None
    newer: bool  # whether this memory is the newer of the two


def memory_conflicts(*, record: MemoryRecord) -> list[Conflict]:
    """The records this one was kept apart from by dedup because a detail differs
    (possible conflicts, linked either way), newest link first."""
    links = (
        MemoryConflict.objects.filter(Q(memory=record) | Q(other=record))
        .select_related("memory", "other")
        .order_by("-created_at", "-id")
    )
    return [
        Conflict(
            record=link.other if link.memory_id == record.id else link.memory,
            reason=link.reason,
            distance=link.distance,
            newer=link.memory_id == record.id,
        )
        for link in links
    ]


def raw_output_shown(raw: str) -> str:
    """A run's raw model output for reading: JSON indented, anything else as it came."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw


# --- History -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    name: str
    before: str
    after: str
    # For text: (op, words) pieces, op in "equal" / "delete" / "insert".
    segments: list[tuple[str, str]] = field(default_factory=list)
    # For text too long to diff: why there is no word diff (the page shows this instead).
    too_long: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    entry: MemoryHistory
    changes: list[FieldChange]
    undoable: bool
    snapshot: dict[str, Any] | None  # what a delete removed or a merge absorbed


def memory_history_entries(*, memory_id: str, limit: int = 100) -> list[HistoryEntry]:
    """A record's history, newest first, each entry with the fields it changed."""
    rows = MemoryHistory.objects.filter(memory_id=memory_id).order_by("-created_at", "-id")[:limit]
    return [history_entry(row) for row in rows]


def history_entry(row: MemoryHistory) -> HistoryEntry:
    detail = row.detail or {}
    before, after = detail.get("before"), detail.get("after")
    changes = []
    if isinstance(before, dict) and isinstance(after, dict) and "text" in before:
        changes = [
            _change(name, before.get(name), after.get(name))
            for name in DIFF_FIELDS
            if before.get(name) != after.get(name)
        ]
    snapshot = None
    if row.action == MemoryHistory.Action.MERGED:
        snapshot = detail.get("merged")
    elif row.action == MemoryHistory.Action.DELETED:
        snapshot = before
    return HistoryEntry(entry=row, changes=changes, undoable=history_undoable(row), snapshot=snapshot)


def history_undoable(row: MemoryHistory) -> bool:
    """What memory_history_undo accepts: a merge not yet undone, or a delete whose snapshot is kept."""
    if row.undone_at is not None:
        return False
    detail = row.detail or {}
    if row.action == MemoryHistory.Action.MERGED:
        return bool(detail.get("merged"))
    if row.action == MemoryHistory.Action.DELETED:
        return row.purged_at is None and bool(detail.get("before"))
    return False


def _shown(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def _change(name: str, before: Any, after: Any) -> FieldChange:
    shown = FieldChange(name=name, before=_shown(before), after=_shown(after))
    if name != "text":
        return shown
    limit = settings.HISTORY_DIFF_MAX_WORDS
    try:
        return replace(shown, segments=text_diff(before or "", after or "", max_words=limit))
    except DiffTooLongError as exc:
        return replace(shown, too_long=f"too long to diff: {exc} (HISTORY_DIFF_MAX_WORDS is {limit:,})")


class DiffTooLongError(ValueError):
    """The changed stretch of an edit has more words than a diff may compare."""


def text_diff(before: str, after: str, *, max_words: int) -> list[tuple[str, str]]:
    """Word-level diff: the pieces of both texts in order, each marked equal, delete or insert.

    The words both texts share at the start and at the end are taken as they are (linear),
    and only the stretch between them is diffed, by LCS (rapidfuzz, bit-parallel): its work
    grows with the product of the two stretches, so each is held to `max_words` words, past
    which DiffTooLongError is raised. A local edit of a long text still diffs."""
    old, new = DIFF_WORDS.findall(before), DIFF_WORDS.findall(after)
    head = _shared_run(old, new)
    tail = _shared_run(old[head:][::-1], new[head:][::-1])
    old_changed, new_changed = old[head : len(old) - tail], new[head : len(new) - tail]
    if max(len(old_changed), len(new_changed)) > max_words:
        raise DiffTooLongError(f"{len(old_changed):,} words changed into {len(new_changed):,}")
    pieces = [("equal", "".join(old[:head]))] if head else []
    pieces += _stretch_diff(old_changed, new_changed)
    if tail:
        pieces.append(("equal", "".join(old[len(old) - tail :])))
    return pieces


def _shared_run(a: list[str], b: list[str]) -> int:
    """How many items `a` and `b` share from the start."""
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def _stretch_diff(old: list[str], new: list[str]) -> list[tuple[str, str]]:
    """The pieces of a changed stretch: each run of changes as its deleted words, then its inserted ones."""
    pieces: list[tuple[str, str]] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush_changes() -> None:
        pieces.extend((op, "".join(words)) for op, words in (("delete", deleted), ("insert", inserted)) if words)
        deleted.clear()
        inserted.clear()

    for op in Indel.opcodes(old, new):
        if op.tag == "equal":
            flush_changes()
            pieces.append(("equal", "".join(old[op.src_start : op.src_end])))
            continue
        deleted.extend(old[op.src_start : op.src_end])  # empty for an insert
        inserted.extend(new[op.dest_start : op.dest_end])  # empty for a delete
    flush_changes()
    return pieces


# --- Filter values ---------------------------------------------------------------------------


def field_values(*, name: str, limit: int = 30) -> list[tuple[str | None, int]]:
    """The most common values of a scalar field (namespace, user) with their counts."""
    rows = MemoryRecord.objects.values_list(name).annotate(n=Count("id")).order_by("-n", name)[:limit]
    return list(rows)


def list_field_values(*, name: str, limit: int = 40) -> list[tuple[str, int]]:
    """The most common values inside a JSON list field (topics, entities), counted in
    the database in one query rather than by loading every row."""
    if name not in LIST_VALUE_FIELDS:
        raise ValueError(f"not a list field: {name}")
    table = connection.ops.quote_name(MemoryRecord._meta.db_table)
    column = connection.ops.quote_name(name)
    if connection.vendor == "postgresql":
        source = f"{table} r, jsonb_array_elements_text(r.{column}) AS e(value)"
    else:
        source = f"{table} r, json_each(r.{column}) e"
    sql = f"SELECT e.value, COUNT(*) FROM {source} GROUP BY e.value ORDER BY 2 DESC, 1 LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [(str(value), count) for value, count in cursor.fetchall()]


def records_with_list_value(queryset: QuerySet[MemoryRecord], *, name: str, value: str) -> QuerySet[MemoryRecord]:
    """Records whose list field holds `value` exactly."""
    if name not in LIST_VALUE_FIELDS:
        raise ValueError(f"not a list field: {name}")
    if connection.features.supports_json_field_contains:
        return queryset.filter(**{f"{name}__contains": [value]})
    table = connection.ops.quote_name(MemoryRecord._meta.db_table)
    column = connection.ops.quote_name(name)
    # SQLite has no JSON containment; json_each compares the decoded values.
    sql = f"SELECT r.id FROM {table} r, json_each(r.{column}) e WHERE e.value = %s"
    return queryset.filter(id__in=RawSQL(sql, [value]))


def records_with_merges(queryset: QuerySet[MemoryRecord], *, has: bool) -> QuerySet[MemoryRecord]:
    """Records another record was merged into (by dedup or compaction), or those without."""
    merges = MemoryHistory.objects.filter(memory_id=OuterRef("id"), action=MemoryHistory.Action.MERGED)
    return queryset.filter(Exists(merges)) if has else queryset.exclude(Exists(merges))

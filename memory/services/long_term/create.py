"""Creating long-term memories, with dedup: THE shared entry point for the POST route
and promotion.

Per input, in order: (1) by id: an existing row with the same id and the same
namespace/user is overwritten ("updated"; an id another namespace or user has, or had
until a delete, raises MemoryIdConflictError); then, when deduplicating, (2) by content
hash within the same namespace + user, and (3) by vector range within the same
namespace + user (cosine distance <= MEMORY_DEDUP_DISTANCE_THRESHOLD), against stored
records that are not rejected and not superseded, and against earlier inputs of the
same call.

Dedup merges only the same fact: candidates are of the same type group (a `message`
record and an extracted `semantic` / `episodic` fact never merge), and a vector match
merges only when `sameness.differing_details` finds nothing: no differing detail (number,
date, time, amount, name, negation, identifier) and the same content words in the same
order (after case, punctuation, inflection and function words). Without an LLM a vector
match is only a candidate: a near one that differs in a detail or in its wording is not
merged; the input becomes its own row, linked to it by a `MemoryConflict` (one row per
pair: `memory` is the newer record, `other` the older; the reason is what differs, the
older record's side first, e.g. "different number: 2029 vs 2026" or "different wording:
river vs main, station, train", and the distance), for review or for compaction with an
LLM.

A merge keeps the existing text, unions topics/entities/extracted_from, and writes an
undoable MemoryHistory entry (`dedup.merge_into`; undone by `undo.memory_merge_undo`).
"""

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from memory import embeddings, index
from memory.models import (
    LIST_FIELDS,
    RECORD_FIELDS,
    MemoryConflict,
    MemoryHistory,
    MemoryRecord,
    MemoryStatus,
    new_memory_id,
    record_values,
)
from memory.services.long_term.dedup import conflict_link, dedup_conditions, memory_hash, merge_into, type_group
from memory.services.long_term.indexing import embed_records, index_on_commit, vector_bytes
from memory.services.long_term.sameness import differing_details
from memory.services.long_term.undo import last_owners
from memory.services.quotas import records_quota_check
from policies.models import ExtractionRun


class MemoryIdConflictError(ValueError):
    """A client-supplied id belongs to another namespace or user: a record of theirs has
    it, or had it until deleted (the id stays theirs, see `_overwrite_by_id`). The
    message is the same for both, and says nothing of whose it is."""

    def __init__(self, position: int, memory_id: str):
        super().__init__(f"id {memory_id!r} cannot be used; send another id, or none for a new one")
        self.position = position
        self.memory_id = memory_id


@dataclass(frozen=True)
class CreateOutcome:
    """What happened to one input record.

    outcome: "created" (a new row `id`), "updated" (the client id existed; that row was
    overwritten), "merged_hash" / "merged_semantic" (deduplicated into the row `id`;
    `distance` is the cosine distance for semantic merges, `history_id` the undoable
    MemoryHistory entry). `conflicts`: for a "created" row, the ids of the near records it
    was kept apart from because a detail or the wording differs (each linked by a
    MemoryConflict).
    """

    id: str
    outcome: str
    distance: float | None = None
    history_id: int | None = None
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemoriesCreateResult:
    outcomes: list[CreateOutcome]  # one per input, in input order

    @property
    def created_ids(self) -> list[str]:
        return [o.id for o in self.outcomes if o.outcome == "created"]

    @property
    def deduplicated_count(self) -> int:
        return sum(o.outcome in ("merged_hash", "merged_semantic") for o in self.outcomes)


@dataclass
class _Pending:
    """An input on its way to becoming (or merging into) a row."""

    position: int
    values: dict[str, Any]
    vector: np.ndarray
    deduplicate: bool
    digest: str
    row: MemoryRecord | None = None  # set once the input becomes a new row
    conflicts: list[tuple[MemoryRecord, float, list[str]]] = field(
        default_factory=list
    )  # (near row, distance, reasons) kept apart
    merge: MemoryHistory | None = None  # set once the input merges into a row

    @property
    def new_row(self) -> MemoryRecord:
        """The row an accepted input became (`_add_new` sets it before accepting the input)."""
        if self.row is None:
            raise LookupError(f"input {self.position} became no row")
        return self.row

    @property
    def owner(self) -> tuple[str | None, str | None]:
        return self.values["namespace"], self.values["user_id"]

    @property
    def kind(self) -> tuple[str, ...]:
        return type_group(self.values["memory_type"])


@dataclass
class _Batch:
    """One create call's state, shared by its steps."""

    status: str
    extraction_run_id: int | None
    actor: str
    existing: dict[str, MemoryRecord]  # rows named by the inputs' ids, locked
    # (namespace, user_id) of the latest history entry of each input id that has no row: who had it last.
    last_owners: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    may_review: bool = True  # may a merge approve a pending record (see merge_into)
    now: datetime = field(default_factory=timezone.now)
    model: str = field(default_factory=embeddings.model_name)
    threshold: float = field(default_factory=lambda: settings.MEMORY_DEDUP_DISTANCE_THRESHOLD)
    accepted: list[_Pending] = field(default_factory=list)  # earlier inputs that became new rows
    touched: dict[str, MemoryRecord] = field(default_factory=dict)  # stored rows changed by this call
    histories: list[MemoryHistory] = field(default_factory=list)
    conflicts: list[MemoryConflict] = field(default_factory=list)
    outcomes: dict[int, CreateOutcome] = field(default_factory=dict)


def memories_create(
    *,
    records: list[dict[str, Any]],
    deduplicate: bool = True,
    actor: str,
    status: str = MemoryStatus.APPROVED,
    extraction_run: ExtractionRun | None = None,
    may_review: bool = True,
) -> MemoriesCreateResult:
    """Create long-term memories (see the module docstring for the steps).

    `records`: dicts with `text` (required) and optionally `id` (a client id; a new ULID
    otherwise), `context` (searched and embedded with the text), `memory_type`,
    `namespace`, `user_id`, `session_id`, `topics`, `entities`, `event_date` /
    `created_at` / `last_accessed` (aware datetimes), `pinned`, `extracted_from`
    (message ids), `extraction_strategy` / `extraction_strategy_config` (how it was
    extracted; "discrete" and {} when absent), `metadata` (the caller's free JSON; a
    merge keeps the stored record's), and `deduplicate` (per-record override of the `deduplicate`
    argument). Inputs are assumed validated (the API serializer does that); `status`
    and `extraction_run` apply to every new row. Each new row, overwrite and merge
    writes a history row naming `actor`. A caller that may not review (`may_review`
    False: an agent's key) never approves a pending record by merging into it.

    Embeds all texts in one batch before any DB write. Safe inside an outer
    `transaction.atomic()`: rows are written in a nested atomic block and indexed
    only after the outermost commit (nothing is indexed if the caller rolls back).
    """
    if not records:
        return MemoriesCreateResult(outcomes=[])
    records_quota_check(records=records)  # before the embedding: a refusal costs one COUNT
    pending = _pending_inputs(records, deduplicate)
    with transaction.atomic():
        ids = [p.values["id"] for p in pending]
        existing = MemoryRecord.objects.select_for_update().in_bulk(ids)
        batch = _Batch(
            status=status,
            extraction_run_id=extraction_run.pk if extraction_run is not None else None,
            actor=actor,
            existing=existing,
            last_owners=last_owners([i for i in ids if i not in existing]),
            may_review=may_review,
        )
        for p in pending:
            if not _overwrite_by_id(batch, p) and not (p.deduplicate and _merge_duplicate(batch, p)):
                _add_new(batch, p)
        _write(batch)
    # bulk_create sets pks on PostgreSQL and SQLite >= 3.35 (both required here).
    return MemoriesCreateResult(
        outcomes=[
            dataclasses.replace(o, history_id=p.merge.pk) if p.merge else o
            for p, o in ((p, batch.outcomes[p.position]) for p in pending)
        ]
    )


def _pending_inputs(records: list[dict[str, Any]], deduplicate: bool) -> list[_Pending]:
    """Clean and embed every input (one batch); refuse one id given twice."""
    cleaned = [_clean(r) for r in records]
    vectors = embed_records([(c["text"], c["context"]) for c in cleaned])
    pending, seen_ids = [], set()
    for position, (values, vector) in enumerate(zip(cleaned, vectors, strict=True)):
        if values["id"] in seen_ids:
            raise ValueError(f"duplicate id {values['id']!r} in one create call")
        seen_ids.add(values["id"])
        pending.append(
            _Pending(
                position=position,
                values=values,
                vector=vector,
                digest=memory_hash(values["text"]),
                deduplicate=bool(records[position].get("deduplicate", deduplicate)),
            )
        )
    return pending


# Fields a new row always has, whether the input names them or not.
_ALWAYS_SET = (
    "namespace",
    "user_id",
    "session_id",
    *LIST_FIELDS,
    "memory_type",
    "pinned",
    "context",
    "extraction_strategy",
    "extraction_strategy_config",
    "metadata",
)


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    values = record_values({**dict.fromkeys(_ALWAYS_SET), **{k: record[k] for k in RECORD_FIELDS if k in record}})
    if not values.get("id"):
        values["id"] = new_memory_id()
    return values


def _overwrite_by_id(batch: _Batch, p: _Pending) -> bool:
    """Step 1: the client's id names a stored record; overwrite it (same namespace and
    user only). An id another namespace or user has, or had until a delete, is refused
    with one message whichever it is: a deleted record's id never passes to another
    owner (its undoable history would then act on their record), and the answer
    does not say whether anything of theirs exists."""
    row = batch.existing.get(p.values["id"])
    owner = (row.namespace, row.user_id) if row is not None else batch.last_owners.get(p.values["id"])
    if owner is not None and owner != p.owner:
        raise MemoryIdConflictError(p.position, p.values["id"])
    if row is None:
        return False
    before = row.snapshot()
    for name in RECORD_FIELDS:
        # The new version replaces the old; timestamps it leaves out are kept.
        if name == "id" or (name in ("created_at", "last_accessed") and not p.values.get(name)):
            continue
        setattr(row, name, p.values.get(name))
    row.memory_hash, row.embedding, row.embedding_model = p.digest, vector_bytes(p.vector), batch.model
    row.updated_at, row.index_pending = batch.now, True
    batch.histories.append(
        MemoryHistory.of(
            row,
            action=MemoryHistory.Action.EDITED,
            actor=batch.actor,
            reason="overwritten by a create with the same id",
            detail={"before": before, "after": row.snapshot()},
        )
    )
    batch.touched[row.id] = row
    batch.outcomes[p.position] = CreateOutcome(id=row.id, outcome="updated")
    return True


def _merge_duplicate(batch: _Batch, p: _Pending) -> bool:
    """Steps 2 and 3: fold the input into the same fact already stored (or just added).
    Near records that differ in a detail or in wording are kept for `_add_new` to link."""
    target, step, distance = _same_hash(batch, p), "hash", None
    if target is None:
        step = "semantic"
        for row, row_distance in _near_records(batch, p):
            reasons = differing_details(row.text, p.values["text"])
            if not reasons:
                target, distance = row, row_distance
                break
            p.conflicts.append((row, row_distance, reasons))
    if target is None:
        return False
    incoming = MemoryRecord(**p.values, status=batch.status, extraction_run_id=batch.extraction_run_id)
    p.merge = merge_into(target, incoming, step=step, distance=distance, actor=batch.actor, approves=batch.may_review)
    batch.histories.append(p.merge)
    target.updated_at, target.index_pending = batch.now, True
    if not any(a.row is target for a in batch.accepted):
        batch.touched[target.id] = target
    batch.outcomes[p.position] = CreateOutcome(id=target.id, outcome=f"merged_{step}", distance=distance)
    return True


def _same_hash(batch: _Batch, p: _Pending) -> MemoryRecord | None:
    """Step 2: identical text (content hash) within namespace + user and type group, in a
    current (not superseded) record."""
    target = next(
        (
            a.new_row
            for a in batch.accepted
            if a.new_row.memory_hash == p.digest
            and (a.new_row.namespace, a.new_row.user_id) == p.owner
            and a.kind == p.kind
        ),
        None,
    )
    if target is not None:
        return target
    namespace, user_id = p.owner
    stored = (
        MemoryRecord.objects.filter(
            namespace=namespace,
            user_id=user_id,
            memory_hash=p.digest,
            memory_type__in=p.kind,
            superseded_at__isnull=True,
        )
        .exclude(status=MemoryStatus.REJECTED)
        .order_by("created_at", "id")
        .first()
    )
    return batch.touched.get(stored.id, stored) if stored else None


def _near_records(batch: _Batch, p: _Pending) -> list[tuple[MemoryRecord, float]]:
    """Step 3's candidates: records within the threshold in namespace + user and type
    group (earlier inputs of this call, then up to 5 from the index), nearest first."""
    near: dict[str, tuple[MemoryRecord, float]] = {}
    for a in batch.accepted:
        if (a.new_row.namespace, a.new_row.user_id) == p.owner and a.kind == p.kind:
            distance = float(1.0 - np.dot(a.vector, p.vector))
            if distance <= batch.threshold:
                near[a.new_row.id] = (a.new_row, distance)
    namespace, user_id = p.owner
    hits, _ = index.vector_range(
        p.vector,
        conditions=dedup_conditions(namespace, user_id, memory_type=p.values["memory_type"]),
        threshold=batch.threshold,
        k=5,
    )
    stored = (
        MemoryRecord.objects.filter(
            id__in=[h.id for h in hits if h.id not in near],
            namespace=namespace,
            user_id=user_id,
            memory_type__in=p.kind,
            superseded_at__isnull=True,
        )
        .exclude(status=MemoryStatus.REJECTED)
        .in_bulk()
    )
    for hit in hits:  # the index may briefly hold a document whose row is gone or changed
        if hit.id in stored and hit.vector_distance is not None:  # a range query gives each hit its distance
            near[hit.id] = (batch.touched.get(hit.id, stored[hit.id]), hit.vector_distance)
    return sorted(near.values(), key=lambda pair: pair[1])


def _add_new(batch: _Batch, p: _Pending) -> None:
    row = MemoryRecord(
        **p.values,
        memory_hash=p.digest,
        status=batch.status,
        extraction_run_id=batch.extraction_run_id,
        embedding=vector_bytes(p.vector),
        embedding_model=batch.model,
        updated_at=batch.now,
        persisted_at=batch.now,
        index_pending=True,
    )
    row.created_at = p.values.get("created_at") or batch.now
    row.last_accessed = p.values.get("last_accessed") or batch.now
    p.row = row
    batch.accepted.append(p)
    for other, distance, reasons in p.conflicts:
        batch.conflicts.append(conflict_link(row, other, reasons=reasons, distance=distance))
    batch.outcomes[p.position] = CreateOutcome(
        id=row.id, outcome="created", conflicts=tuple(other.id for other, _, _ in p.conflicts)
    )


def _write(batch: _Batch) -> None:
    created = [p.new_row for p in batch.accepted]
    MemoryRecord.objects.bulk_create(created, batch_size=500)
    for row in batch.touched.values():
        row.save()
    reason = f"extracted by run {batch.extraction_run_id}" if batch.extraction_run_id else "created"
    births = [
        MemoryHistory.of(r, action=MemoryHistory.Action.CREATED, actor=batch.actor, reason=reason) for r in created
    ]
    for birth in births:  # a record is born before anything merges into it in the same call
        birth.created_at = batch.now
    MemoryHistory.objects.bulk_create(births + batch.histories, batch_size=500)
    MemoryConflict.objects.bulk_create(batch.conflicts, batch_size=500, ignore_conflicts=True)
    index_on_commit([r.id for r in created] + list(batch.touched))

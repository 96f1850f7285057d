"""Merges after the fact: undoing a dedup merge, and compacting duplicates already stored."""

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from memory import index
from memory.codecs import datetime_decode, datetime_encode
from memory.models import MemoryConflict, MemoryHistory, MemoryRecord, MemoryStatus, new_memory_id
from memory.selectors.long_term import records_in_scope
from memory.services.long_term.create import (
    UndoNotPossibleError,
    conflict_link,
    dedup_conditions,
    id_is_free,
    merge_into,
    restore_snapshot,
    type_group,
)
from memory.services.long_term.edit import delete_rows
from memory.services.long_term.indexing import index_on_commit
from memory.services.long_term.sameness import differing_details


@transaction.atomic
def memory_merge_undo(*, history_id: int, actor: str) -> MemoryRecord:
    """Undo a merge: recreate the absorbed record (same id, re-embedded) and take back
    what the merge added to the surviving record. Recorded in both histories.

    The survivor is the record with the entry's id *in the entry's namespace and user*:
    a record that has the id in another namespace or user now (moved, or an id reused
    before ids were kept by their owner) is not touched, exactly as when the survivor
    is gone: the absorbed record comes back and nothing is taken back."""
    entry = MemoryHistory.objects.select_for_update().get(pk=history_id, action=MemoryHistory.Action.MERGED)
    if entry.undone_at is not None:
        raise UndoNotPossibleError(f"merge {history_id} was already undone at {entry.undone_at.isoformat()}")
    merged = dict(entry.detail["merged"])
    target = (
        MemoryRecord.objects.select_for_update()
        .filter(id=entry.memory_id, namespace=entry.namespace, user_id=entry.user_id)
        .first()
    )
    if target is not None:
        _take_back(target, entry.detail, merged)
    if not id_is_free(merged["id"], (merged.get("namespace"), merged.get("user_id"))):
        merged["id"] = new_memory_id()  # the id is someone's since: keep both
    restored = restore_snapshot(merged)
    entry.undone_at = timezone.now()
    entry.save(update_fields=["undone_at"])
    survivor = target or MemoryRecord(id=entry.memory_id, namespace=entry.namespace, user_id=entry.user_id)
    MemoryHistory.objects.bulk_create(
        [
            MemoryHistory.of(
                survivor,
                action=MemoryHistory.Action.UNMERGED,
                actor=actor,
                reason=f"undid merge {history_id}: {restored.id} restored",
                detail={"merge": history_id},
            ),
            MemoryHistory.of(
                restored,
                action=MemoryHistory.Action.UNMERGED,
                actor=actor,
                reason=f"restored from merge {history_id} into {entry.memory_id}",
                detail={"merge": history_id, "after": restored.snapshot()},
            ),
        ]
    )
    index_on_commit([restored.id] + ([target.id] if target else []))
    return restored


def _take_back(target: MemoryRecord, detail: dict, merged: dict) -> None:
    """Remove from the survivor what the merge added. A status or date the merge set is
    put back only while it is still what the merge set: a reviewer's later approval of
    the survivor, or a date they gave it, stays."""
    for name, added in detail.get("added", {}).items():
        setattr(target, name, [v for v in getattr(target, name) if v not in added])
    before = detail.get("before", {})
    set_by_merge = detail.get("set", _set_by_earlier_merge(before, merged))
    if "status" in set_by_merge and target.status == set_by_merge["status"]:
        target.status = before["status"]
    if "event_date" in set_by_merge and datetime_encode(target.event_date) == set_by_merge["event_date"]:
        target.event_date = datetime_decode(before.get("event_date"))
    target.updated_at, target.index_pending = timezone.now(), True
    target.save()


def _set_by_earlier_merge(before: dict, merged: dict) -> dict:
    """What a merge recorded before `set` existed must have set, from its rules."""
    set_by_merge = {}
    if before.get("status") == MemoryStatus.PENDING and merged.get("status") == MemoryStatus.APPROVED:
        set_by_merge["status"] = MemoryStatus.APPROVED
    if before.get("event_date") is None and merged.get("event_date"):
        set_by_merge["event_date"] = datetime_encode(datetime_decode(merged["event_date"]))
    return set_by_merge


@dataclass(frozen=True)
class CompactResult:
    merged: int
    remaining: int
    history_ids: list[int]
    conflicts: int = 0  # near pairs kept apart (a detail differs) and newly linked


@dataclass
class _Compaction:
    """Records still standing, and what has been absorbed into which survivor."""

    alive: dict[str, MemoryRecord]
    histories: list[MemoryHistory] = field(default_factory=list)
    absorbed: list[MemoryRecord] = field(default_factory=list)
    survivors: dict[str, MemoryRecord] = field(default_factory=dict)
    conflicts: list[MemoryConflict] = field(default_factory=list)

    actor: str = ""
    may_review: bool = True

    def absorb(self, target: MemoryRecord, row: MemoryRecord, step: str, distance: float | None) -> None:
        self.histories.append(
            merge_into(target, row, step=step, distance=distance, actor=self.actor, approves=self.may_review)
        )
        self.absorbed.append(self.alive.pop(row.id))
        self.survivors[target.id] = target


@transaction.atomic
def memories_compact(
    *, actor: str, namespace: str | None = None, user_id: str | None = None, may_review: bool = True
) -> CompactResult:
    """Merge duplicates already stored, by the rules of create's dedup: same content
    hash, then vector distance within the dedup threshold when no detail differs
    (`differing_details`), always within one namespace + user and type group, never
    across a rejected or a superseded record. A near pair that differs in a detail is
    kept and linked as a possible conflict (newer to older). The older record survives;
    each absorbed record is deleted with an undoable MERGED entry in the survivor's
    history. A caller that may not review (`may_review` False) leaves a pending survivor
    pending."""
    rows = list(
        records_in_scope(namespace=namespace, user_id=user_id)
        .exclude(status=MemoryStatus.REJECTED)
        .filter(superseded_at__isnull=True)
        .order_by("created_at", "id")
    )
    state = _Compaction(alive={r.id: r for r in rows}, actor=actor, may_review=may_review)
    first_by_hash: dict[tuple, MemoryRecord] = {}
    for row in rows:
        key = (row.namespace, row.user_id, type_group(row.memory_type), row.memory_hash)
        if key in first_by_hash:
            state.absorb(first_by_hash[key], row, "hash", None)
        else:
            first_by_hash[key] = row
    for row in list(state.alive.values()):
        if row.id in state.alive and row.embedding:
            _absorb_near_duplicates(state, row)
    now = timezone.now()
    for target in state.survivors.values():
        if target.id in state.alive:
            target.updated_at, target.index_pending = now, True
            target.save()
    delete_rows(state.absorbed, reason="merged by compaction", actor=actor, extra_history=state.histories)
    linked = [c for c in state.conflicts if c.memory_id in state.alive and c.other_id in state.alive]
    ids = {c.memory_id for c in linked} | {c.other_id for c in linked}
    known = set(MemoryConflict.objects.filter(memory_id__in=ids, other_id__in=ids).values_list("memory_id", "other_id"))
    linked = [c for c in linked if (c.memory_id, c.other_id) not in known and (c.other_id, c.memory_id) not in known]
    MemoryConflict.objects.bulk_create(linked, ignore_conflicts=True)
    index_on_commit(list(state.survivors))
    return CompactResult(
        merged=len(state.absorbed),
        remaining=records_in_scope(namespace=namespace, user_id=user_id).count(),
        history_ids=[h.pk for h in state.histories],
        conflicts=len(linked),
    )


def _absorb_near_duplicates(state: _Compaction, row: MemoryRecord) -> None:
    """Absorb into `row` every newer record within the dedup threshold of it that states
    the same fact; link the ones that differ in a detail as possible conflicts."""
    vector = np.frombuffer(bytes(row.embedding), dtype=np.float32)
    hits, _ = index.vector_range(
        vector,
        conditions=dedup_conditions(row.namespace, row.user_id, memory_type=row.memory_type),
        threshold=settings.MEMORY_DEDUP_DISTANCE_THRESHOLD,
        k=50,
    )
    for hit in hits:
        other = state.alive.get(hit.id)
        if other is None or other.id == row.id or (other.created_at, other.id) < (row.created_at, row.id):
            continue  # only newer records are absorbed into an older one
        if type_group(other.memory_type) != type_group(row.memory_type):
            continue
        reasons = differing_details(row.text, other.text)
        if reasons:
            state.conflicts.append(conflict_link(other, row, reasons=reasons, distance=hit.vector_distance))
        else:
            state.absorb(row, other, "semantic", hit.vector_distance)

"""Compacting duplicates already stored, by the rules of create's dedup (`dedup`); a
merge is undone in `undo`."""

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from memory import index
from memory.models import MemoryConflict, MemoryHistory, MemoryRecord, MemoryStatus
from memory.selectors.long_term import records_in_scope
from memory.services.long_term.dedup import conflict_link, dedup_conditions, merge_into, type_group
from memory.services.long_term.edit import delete_rows
from memory.services.long_term.indexing import index_on_commit
from memory.services.long_term.sameness import differing_details


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
    first_by_hash: dict[tuple[str | None, str | None, tuple[str, ...], str], MemoryRecord] = {}
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
    if row.embedding is None:  # every stored record has one; without it nothing is near
        return
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

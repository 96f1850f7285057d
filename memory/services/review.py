"""The review desk's actions on long-term memories: approve, reject, pin, unpin and
delete (an edit is `long_term.edit.memory_edit`, whoever asks; a history entry is
undone by `long_term.undo.memory_history_undo`). Each one is atomic, writes a history
row per record naming its actor, and leaves the index in step on commit, because each
is a call of the long-term services (`memories_edit`, `memories_delete`).

What a reviewer's decision does to search: approve makes a record searchable, reject
and delete take it out of default search (which returns approved records only), and an
edit of the text re-embeds it.
"""

from django.db import transaction

from memory.models import MemoryHistory, MemoryRecord, MemoryStatus
from memory.services.long_term import (
    MemoryNotFoundError,
    memories_delete,
    memories_edit,
    memories_supersede_approved,
)

__all__ = [
    "REJECT_REASONS",
    "memories_approve",
    "memories_delete",
    "memories_pin",
    "memories_reject",
    "memories_unpin",
    "memory_approve",
    "memory_delete",
    "memory_pin",
    "memory_reject",
    "memory_unpin",
]

# The reasons a reviewer picks from (or types their own).
REJECT_REASONS = (
    "Not a durable fact",
    "Wrong or hallucinated",
    "Duplicate of another memory",
    "About the wrong person",
    "Private or sensitive",
    "Too vague to be useful",
)


def _one(rows: list[MemoryRecord], memory_id: str) -> MemoryRecord:
    if not rows:
        raise MemoryNotFoundError(memory_id)
    return rows[0]


def _approved(memory_ids: list[str], actor: str) -> list[MemoryRecord]:
    """Approve, and apply what an approved update was noted to supersede."""
    rows = memories_edit(
        memory_ids=memory_ids,
        changes={"status": MemoryStatus.APPROVED},
        actor=actor,
        action=MemoryHistory.Action.APPROVED,
        reason="approved",
    )
    memories_supersede_approved(memory_ids=[row.id for row in rows], actor=actor)
    return rows


@transaction.atomic
def memories_approve(*, memory_ids: list[str], actor: str) -> int:
    return len(_approved(memory_ids, actor))


@transaction.atomic
def memory_approve(*, memory_id: str, actor: str) -> MemoryRecord:
    return _one(_approved([memory_id], actor), memory_id)


def _rejected(memory_ids: list[str], reason: str, actor: str) -> list[MemoryRecord]:
    reason = " ".join(reason.split())
    if not reason:
        raise ValueError("a rejection needs a reason")
    return memories_edit(
        memory_ids=memory_ids,
        changes={"status": MemoryStatus.REJECTED},
        actor=actor,
        action=MemoryHistory.Action.REJECTED,
        reason=reason,
    )


@transaction.atomic
def memories_reject(*, memory_ids: list[str], reason: str, actor: str) -> int:
    """Reject with a reason (one of REJECT_REASONS or the reviewer's own words)."""
    return len(_rejected(memory_ids, reason, actor))


@transaction.atomic
def memory_reject(*, memory_id: str, reason: str, actor: str) -> MemoryRecord:
    return _one(_rejected([memory_id], reason, actor), memory_id)


def _pinned(memory_ids: list[str], pinned: bool, actor: str) -> list[MemoryRecord]:
    action = MemoryHistory.Action.PINNED if pinned else MemoryHistory.Action.UNPINNED
    return memories_edit(
        memory_ids=memory_ids, changes={"pinned": pinned}, actor=actor, action=action, reason=action.label.lower()
    )


@transaction.atomic
def memories_pin(*, memory_ids: list[str], actor: str) -> int:
    """Pinned records are never forgotten by a forgetting policy."""
    return len(_pinned(memory_ids, True, actor))


@transaction.atomic
def memories_unpin(*, memory_ids: list[str], actor: str) -> int:
    return len(_pinned(memory_ids, False, actor))


@transaction.atomic
def memory_pin(*, memory_id: str, actor: str) -> MemoryRecord:
    return _one(_pinned([memory_id], True, actor), memory_id)


@transaction.atomic
def memory_unpin(*, memory_id: str, actor: str) -> MemoryRecord:
    return _one(_pinned([memory_id], False, actor), memory_id)


@transaction.atomic
def memory_delete(*, memory_id: str, actor: str, reason: str = "") -> None:
    """Delete one record; its snapshot stays undoable for MEMORY_DELETED_RETENTION_DAYS."""
    if not memories_delete(memory_ids=[memory_id], actor=actor, reason=reason or "deleted by a reviewer"):
        raise MemoryNotFoundError(memory_id)

"""Editing and deleting long-term memories: one verb, edit (`memory_edit` for one record
by any actor, `memories_edit` for the same change on many), one list of what may change
(EDITABLE_FIELDS). Every change writes a history row with its actor and the record
before and after; the index follows on commit. A delete is undone in `undo`."""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from memory import embeddings
from memory.models import RECORD_FIELDS, MemoryHistory, MemoryIndexRemoval, MemoryRecord, MemoryStatus, record_values
from memory.services.long_term.dedup import memory_hash
from memory.services.long_term.indexing import embed_records, index_on_commit, vector_bytes
from memory.services.long_term.supersede import memories_supersede_approved

# A record's own fields, but for its identity and where it came from (how it was
# extracted too: the reference's edit leaves those), plus its review status.
_PROVENANCE = (
    "id",
    "created_at",
    "last_accessed",
    "extracted_from",
    "extraction_strategy",
    "extraction_strategy_config",
)
EDITABLE_FIELDS = (*(name for name in RECORD_FIELDS if name not in _PROVENANCE), "status")


class MemoryNotFoundError(LookupError):
    pass


class ReviewNotAllowedError(PermissionError):
    """A caller without the review permission tried to change a review status."""

    def __init__(self, field: str):
        super().__init__("approving or rejecting a memory needs the review permission")
        self.field = field


# A change of status alone is the review decision it is.
_STATUS_ACTIONS = {
    MemoryStatus.APPROVED: MemoryHistory.Action.APPROVED,
    MemoryStatus.REJECTED: MemoryHistory.Action.REJECTED,
}


@transaction.atomic
def memory_edit(*, memory_id: str, changes: dict[str, Any], actor: str, may_review: bool) -> MemoryRecord:
    """Edit one record, whoever asks (the REST PATCH, the MCP tool, the admin): any of
    EDITABLE_FIELDS; raises MemoryNotFoundError. A change of status alone is recorded as
    the review decision it is: approved or rejected, and an approval applies what the
    record was noted to supersede. Only a caller that `may_review` (a reviewer's
    credential, the admin) sends a status at all: an agent's key must not overrule the
    review desk. Refused before anything is read or written, as is an empty text."""
    if "status" in changes and not may_review:
        raise ReviewNotAllowedError("status")
    if "text" in changes and not (changes["text"] or "").strip():
        raise ValueError("the text cannot be empty")
    action, reason = MemoryHistory.Action.EDITED, ""
    if set(changes) == {"status"} and changes["status"] in _STATUS_ACTIONS:
        action = _STATUS_ACTIONS[changes["status"]]
        reason = f"{action.label.lower()} through the API"
    rows = memories_edit(memory_ids=[memory_id], changes=changes, actor=actor, action=action, reason=reason)
    if not rows:
        raise MemoryNotFoundError(memory_id)
    if changes.get("status") == MemoryStatus.APPROVED:
        memories_supersede_approved(memory_ids=[memory_id], actor=actor)
    return rows[0]


@transaction.atomic
def memories_edit(
    *,
    memory_ids: list[str],
    changes: dict[str, Any],
    actor: str,
    action: str = MemoryHistory.Action.EDITED,
    reason: str = "",
) -> list[MemoryRecord]:
    """Apply the same changes to each record that exists (unknown ids are ignored): the
    edit every other one is made of (`memory_edit`, the review desk's decisions).

    A text change re-hashes and re-embeds, a context change re-embeds (one batch for
    all). Each record gets a history row: `action` by `actor`, `reason` (default: which
    fields changed) and its snapshot before and after. Returns the changed rows.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    rows = list(MemoryRecord.objects.select_for_update().filter(id__in=list(dict.fromkeys(memory_ids))))
    befores = [row.snapshot() for row in rows]
    values = record_values(changes)
    for row in rows:
        for name, value in values.items():
            setattr(row, name, value)
    _reembed([row for row, before in zip(rows, befores, strict=True) if _content_changed(row, before)])
    now = timezone.now()
    histories = []
    for row, before in zip(rows, befores, strict=True):
        row.updated_at, row.index_pending = now, True
        row.save()
        after = row.snapshot()
        changed = sorted(k for k in changes if before.get(k) != after.get(k))
        histories.append(
            MemoryHistory.of(
                row,
                action=action,
                actor=actor,
                reason=reason or f"changed {', '.join(changed) or 'nothing'}",
                detail={"before": before, "after": after, "changed": changed},
            )
        )
    MemoryHistory.objects.bulk_create(histories)
    index_on_commit([row.id for row in rows])
    return rows


def _content_changed(row: MemoryRecord, before: dict[str, Any]) -> bool:
    changed: bool = row.text != before["text"] or row.context != before["context"]  # a JSON snapshot's values are Any
    return changed


def _reembed(rows: list[MemoryRecord]) -> None:
    if not rows:
        return
    for row, vector in zip(rows, embed_records([(r.text, r.context) for r in rows]), strict=True):
        row.memory_hash = memory_hash(row.text)
        row.embedding = vector_bytes(vector)
        row.embedding_model = embeddings.model_name()


def delete_rows(
    rows: list[MemoryRecord], *, reason: str, actor: str, extra_history: Sequence[MemoryHistory] = ()
) -> int:
    """Delete rows, keep each one's snapshot in its history (undoable until
    MEMORY_DELETED_RETENTION_DAYS), and drop its document on commit. The caller holds
    the transaction."""
    if not rows:
        return 0
    ids = [r.id for r in rows]
    MemoryHistory.objects.bulk_create(
        [
            MemoryHistory.of(
                r, action=MemoryHistory.Action.DELETED, actor=actor, reason=reason, detail={"before": r.snapshot()}
            )
            for r in rows
        ]
        + list(extra_history)
    )
    MemoryIndexRemoval.objects.bulk_create([MemoryIndexRemoval(memory_id=i) for i in ids], ignore_conflicts=True)
    MemoryRecord.objects.filter(id__in=ids).delete()
    index_on_commit(ids)
    return len(ids)


@transaction.atomic
def memories_delete(
    *,
    memory_ids: list[str],
    actor: str,
    reason: str = "deleted",
    visible: Callable[..., bool] | None = None,
) -> int:
    """Delete records by id; unknown ids are ignored. Returns how many were deleted.

    `visible(namespace=..., user_id=...)`: the caller's scope (`Scope.allows`). A record
    outside it is ignored exactly as an unknown id is, checked on the locked rows, so
    the answer never tells another owner's record from a missing one."""
    rows = list(MemoryRecord.objects.select_for_update().filter(id__in=list(dict.fromkeys(memory_ids))))
    if visible is not None:
        rows = [row for row in rows if visible(namespace=row.namespace, user_id=row.user_id)]
    return delete_rows(rows, reason=reason, actor=actor)


def history_snapshots_purge(*, now: datetime | None = None) -> int:
    """Drop the snapshots (the text) of deletes older than MEMORY_DELETED_RETENTION_DAYS;
    the history row itself stays as the audit trail. Returns how many were purged."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MEMORY_DELETED_RETENTION_DAYS)
    expired = MemoryHistory.objects.filter(
        action=MemoryHistory.Action.DELETED, purged_at__isnull=True, undone_at__isnull=True, created_at__lt=cutoff
    )
    return expired.update(detail={}, purged_at=now)

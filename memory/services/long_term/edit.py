"""Editing and deleting long-term memories. The previous version of a record always
goes to its history; the index follows on commit."""

from django.db import transaction
from django.utils import timezone

from memory import embeddings
from memory.models import RECORD_FIELDS, MemoryHistory, MemoryIndexRemoval, MemoryRecord
from memory.services.long_term.create import memory_hash
from memory.services.long_term.indexing import embed_records, index_on_commit, vector_bytes

# A record's own fields, but for its identity and where it came from, plus its review status.
EDITABLE_FIELDS = (
    *(name for name in RECORD_FIELDS if name not in ("id", "created_at", "last_accessed", "extracted_from")),
    "status",
)


class MemoryNotFoundError(LookupError):
    pass


def _normalised(name: str, value):
    if name in ("topics", "entities"):
        return list(dict.fromkeys(value or []))
    if name in ("namespace", "user_id", "session_id"):
        return value or None
    if name == "context":
        return value or ""
    return value


@transaction.atomic
def memory_update(*, memory_id: str, changes: dict) -> MemoryRecord:
    """Edit one record (any of EDITABLE_FIELDS). A text change re-embeds and re-hashes;
    a context change re-embeds."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    row = MemoryRecord.objects.select_for_update().filter(id=memory_id).first()
    if row is None:
        raise MemoryNotFoundError(memory_id)
    before = row.snapshot()
    for name, value in changes.items():
        setattr(row, name, _normalised(name, value))
    if row.text != before["text"]:
        row.memory_hash = memory_hash(row.text)
    if row.text != before["text"] or row.context != before["context"]:
        row.embedding = vector_bytes(embed_records([(row.text, row.context)])[0])
        row.embedding_model = embeddings.model_name()
    row.updated_at = timezone.now()
    row.index_pending = True
    row.save()
    after = row.snapshot()
    changed = sorted(k for k in changes if before.get(k) != after.get(k))
    MemoryHistory.objects.create(
        memory_id=row.id,
        action=MemoryHistory.Action.EDITED,
        reason=f"changed {', '.join(changed) or 'nothing'}",
        detail={"before": before},
    )
    index_on_commit([row.id])
    return row


def delete_rows(rows: list[MemoryRecord], *, reason: str, extra_history: list[MemoryHistory] = ()) -> int:
    """Delete rows, keep each one's snapshot in its history, and drop its document on commit.
    The caller holds the transaction."""
    if not rows:
        return 0
    ids = [r.id for r in rows]
    MemoryHistory.objects.bulk_create(
        [
            MemoryHistory(
                memory_id=r.id, action=MemoryHistory.Action.DELETED, reason=reason, detail={"before": r.snapshot()}
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
def memories_delete(*, memory_ids: list[str], reason: str = "deleted") -> int:
    """Delete records by id; unknown ids are ignored. Returns how many were deleted."""
    rows = list(MemoryRecord.objects.filter(id__in=list(dict.fromkeys(memory_ids))))
    return delete_rows(rows, reason=reason)

"""Undoing a history entry: a merge (the absorbed record comes back, the survivor gives
back what the merge added) or a delete (the record comes back from its snapshot while
MEMORY_DELETED_RETENTION_DAYS keeps it). A record that comes back keeps its id unless a
row, or another namespace or user, has it since (`id_is_free`).
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from memory import embeddings
from memory.datetimes import datetime_decode, datetime_encode
from memory.models import MemoryHistory, MemoryIndexRemoval, MemoryRecord, MemoryStatus, new_memory_id
from memory.services.long_term.dedup import memory_hash
from memory.services.long_term.indexing import embed_records, index_on_commit, vector_bytes
from policies.models import ExtractionRun


class UndoNotPossibleError(ValueError):
    """A history entry cannot be undone (already undone, snapshot purged, not undoable)."""


def last_owners(ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """For ids without a row: the (namespace, user_id) of each one's latest history
    entry, i.e. who had the record last (history outlives a deleted record)."""
    owners: dict[str, tuple[str | None, str | None]] = {}
    entries = MemoryHistory.objects.filter(memory_id__in=ids).order_by("memory_id", "-created_at", "-id")
    for memory_id, namespace, user_id in entries.values_list("memory_id", "namespace", "user_id"):
        owners.setdefault(memory_id, (namespace, user_id))
    return owners


def id_is_free(memory_id: str, owner: tuple[str | None, str | None]) -> bool:
    """Whether a record of `owner` (namespace, user_id) coming back (an undo) may take
    `memory_id` again: no row has it, and no one else had it last."""
    if MemoryRecord.objects.filter(id=memory_id).exists():
        return False
    return last_owners([memory_id]).get(memory_id, owner) == owner


def restore_snapshot(snapshot: dict[str, Any]) -> MemoryRecord:
    """A row from a snapshot (as stored in history), re-embedded and saved."""
    row = MemoryRecord.from_snapshot(snapshot)
    row.memory_hash = memory_hash(row.text)
    row.embedding = vector_bytes(embed_records([(row.text, row.context)])[0])
    row.embedding_model = embeddings.model_name()
    row.updated_at = row.persisted_at = timezone.now()
    row.index_pending = True
    if row.extraction_run_id is not None and not ExtractionRun.objects.filter(pk=row.extraction_run_id).exists():
        row.extraction_run_id = None
    row.save(force_insert=True)
    return row


@transaction.atomic
def memory_history_undo(*, history_id: int, actor: str) -> MemoryRecord:
    """Undo a merge (the absorbed record comes back) or a delete (the record comes back
    from its snapshot). Other entries are not undoable: raises UndoNotPossibleError."""
    entry = MemoryHistory.objects.filter(pk=history_id).only("action").first()
    if entry is None:
        raise UndoNotPossibleError(f"no history entry {history_id}")
    if entry.action == MemoryHistory.Action.MERGED:
        return memory_merge_undo(history_id=history_id, actor=actor)
    if entry.action == MemoryHistory.Action.DELETED:
        return memory_delete_undo(history_id=history_id, actor=actor)
    raise UndoNotPossibleError(f"a {entry.get_action_display().lower()} entry cannot be undone; edit the record")


@transaction.atomic
def memory_delete_undo(*, history_id: int, actor: str) -> MemoryRecord:
    """Bring a deleted record back from the snapshot its DELETED entry keeps (same id,
    unless a row or another namespace or user has it since), while the retention period
    keeps the snapshot."""
    entry = MemoryHistory.objects.select_for_update().get(pk=history_id, action=MemoryHistory.Action.DELETED)
    if entry.undone_at is not None:
        raise UndoNotPossibleError(f"delete {history_id} was already undone at {entry.undone_at.isoformat()}")
    if entry.purged_at is not None or not entry.detail.get("before"):
        raise UndoNotPossibleError(
            f"delete {history_id} can no longer be undone: its snapshot was dropped after "
            f"{settings.MEMORY_DELETED_RETENTION_DAYS:g} days (MEMORY_DELETED_RETENTION_DAYS)"
        )
    snapshot = dict(entry.detail["before"])
    if not id_is_free(snapshot["id"], (snapshot.get("namespace"), snapshot.get("user_id"))):
        snapshot["id"] = new_memory_id()
    restored = restore_snapshot(snapshot)
    entry.undone_at = timezone.now()
    entry.save(update_fields=["undone_at"])
    MemoryHistory.of(
        restored,
        action=MemoryHistory.Action.RESTORED,
        actor=actor,
        reason=f"restored from delete {history_id}",
        detail={"delete": history_id, "after": restored.snapshot()},
    ).save()
    MemoryIndexRemoval.objects.filter(memory_id=restored.id).delete()
    index_on_commit([restored.id])
    return restored


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


def _take_back(target: MemoryRecord, detail: dict[str, Any], merged: dict[str, Any]) -> None:
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


def _set_by_earlier_merge(before: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """What a merge recorded before `set` existed must have set, from its rules."""
    set_by_merge: dict[str, str | None] = {}
    if before.get("status") == MemoryStatus.PENDING and merged.get("status") == MemoryStatus.APPROVED:
        set_by_merge["status"] = MemoryStatus.APPROVED
    if before.get("event_date") is None and merged.get("event_date"):
        set_by_merge["event_date"] = datetime_encode(datetime_decode(merged["event_date"]))
    return set_by_merge

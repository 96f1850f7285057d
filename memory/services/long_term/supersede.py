"""An update supersedes: the old record stays, marked as replaced by the new one.

`memories_supersede` sets the old record's `superseded_by` and `superseded_at`, so it
leaves default search (the index follows on commit), and writes history on both sides:
a SUPERSEDED row on the old record naming the new one, and a note on the new one
naming what it supersedes. Nothing is overwritten or merged; both rows keep their text.

Promotion calls it after `memories_create` has written the new record (created first,
then superseded, in one transaction), so the new text is never deduplicated into the
record it replaces. An update that waits for review supersedes nothing yet: promotion
records the intent (`supersede_when_approved`) and the approval applies it
(`memories_supersede_approved`), so an unreviewed correction never hides the old fact.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from memory.models import MemoryHistory, MemoryRecord
from memory.services.long_term.indexing import index_on_commit


@dataclass(frozen=True)
class SupersedeResult:
    superseded: list[tuple[str, str]]  # (old id, new id) pairs applied
    skipped: dict[tuple[str, str], str]  # pair -> why it was not applied


@transaction.atomic
def memories_supersede(*, pairs: list[tuple[str, str]], actor: str, reason: str = "") -> SupersedeResult:
    """Mark each `old` as superseded by `new`, for `(old_id, new_id)` pairs.

    A pair is skipped (with the reason) when either record is gone, they are the same
    record or of different owners (namespace and user), or the old one is already superseded (the first
    update wins; the chain never forks). Returns what was applied and what was not.
    """
    ids = list(dict.fromkeys(i for pair in pairs for i in pair))
    rows = MemoryRecord.objects.select_for_update().in_bulk(ids)
    now = timezone.now()
    applied: list[tuple[str, str]] = []
    skipped: dict[tuple[str, str], str] = {}
    histories: list[MemoryHistory] = []
    for old_id, new_id in pairs:
        old, new = rows.get(old_id), rows.get(new_id)
        why = "record not found" if old is None or new is None else _refusal(old, new)
        if why or old is None or new is None:
            skipped[(old_id, new_id)] = why
            continue
        old.superseded_by_id, old.superseded_at = new.id, now
        old.updated_at, old.index_pending = now, True
        old.save(update_fields=["superseded_by", "superseded_at", "updated_at", "index_pending"])
        histories.append(
            MemoryHistory.of(
                old,
                action=MemoryHistory.Action.SUPERSEDED,
                actor=actor,
                reason=reason or f"superseded by {new.id}",
                detail={"superseded_by": new.id, "text": old.text, "new_text": new.text},
            )
        )
        histories.append(
            MemoryHistory.of(
                new,
                action=MemoryHistory.Action.EDITED,
                actor=actor,
                reason=f"supersedes {old.id}",
                detail={"supersedes": old.id, "changed": []},
            )
        )
        applied.append((old_id, new_id))
    MemoryHistory.objects.bulk_create(histories)
    index_on_commit([old for old, _ in applied])
    return SupersedeResult(superseded=applied, skipped=skipped)


def _refusal(old: MemoryRecord, new: MemoryRecord) -> str:
    """Why `new` may not supersede `old`; "" when it may."""
    if old.id == new.id:
        return "a record cannot supersede itself"
    if (old.namespace, old.user_id) != (new.namespace, new.user_id):
        return "records of different namespaces or users"
    if old.superseded_by_id is not None:
        return f"already superseded by {old.superseded_by_id}"
    return ""


def supersede_when_approved(*, pairs: list[tuple[str, str]], actor: str) -> int:
    """Note on each new (pending) record which record it will supersede once approved."""
    rows = MemoryRecord.objects.in_bulk([new_id for _, new_id in pairs])
    notes = [
        MemoryHistory.of(
            rows[new_id],
            action=MemoryHistory.Action.EDITED,
            actor=actor,
            reason=f"will supersede {old_id} once approved",
            detail={"will_supersede": old_id, "changed": []},
        )
        for old_id, new_id in pairs
        if new_id in rows
    ]
    MemoryHistory.objects.bulk_create(notes)
    return len(notes)


@transaction.atomic
def memories_supersede_approved(*, memory_ids: list[str], actor: str) -> int:
    """Apply what these records, approved just now, were noted to supersede. Idempotent:
    an old record already superseded is skipped. Returns how many were superseded."""
    notes = MemoryHistory.objects.filter(memory_id__in=list(memory_ids), detail__has_key="will_supersede")
    pairs = [(note.detail["will_supersede"], note.memory_id) for note in notes]
    if not pairs:
        return 0
    return len(memories_supersede(pairs=pairs, actor=actor, reason="an approved update").superseded)

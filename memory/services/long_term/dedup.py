"""The dedup toolkit shared by create (dedup on the way in) and compaction (dedup of what
is stored): the content hash, the type groups that may merge, the index conditions for
near candidates, folding one record into another, and the link between two near records
kept apart. Whether two texts state the same fact is `sameness.differing_details`.
"""

import hashlib

from django.conf import settings

from memory import index
from memory.datetimes import datetime_encode
from memory.index_format import HIDDEN_FIELD, SUPERSEDED
from memory.models import LIST_FIELDS, MemoryConflict, MemoryHistory, MemoryRecord, MemoryStatus, MemoryType


def memory_hash(text: str) -> str:
    """Content hash for exact-duplicate detection: case and whitespace do not count."""
    return hashlib.sha256(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()


def type_group(memory_type: str) -> tuple[str, ...]:
    """The memory types that may merge with `memory_type`: a `message` record only with
    messages, an extracted fact (semantic, episodic) only with extracted facts."""
    if memory_type == MemoryType.MESSAGE:
        return (MemoryType.MESSAGE.value,)
    return (MemoryType.SEMANTIC.value, MemoryType.EPISODIC.value)


def dedup_conditions(
    namespace: str | None, user_id: str | None, *, memory_type: str = MemoryType.SEMANTIC
) -> list[index.Condition]:
    """Index filter for dedup candidates: the same namespace and user and type group,
    never a rejected or a superseded record."""
    conditions = index.owner_conditions(namespace, user_id)
    conditions.append(index.Condition("status", "ne", (MemoryStatus.REJECTED,)))
    conditions.append(index.Condition("memory_type", "any", type_group(memory_type)))
    conditions.append(index.Condition(HIDDEN_FIELD, "none", (SUPERSEDED,)))  # superseded_at missing, cheaper
    return conditions


def conflict_link(
    newer: MemoryRecord, older: MemoryRecord, *, reasons: list[str], distance: float | None
) -> MemoryConflict:
    """The (unsaved) possible-conflict link between two near records kept apart: one row
    per pair, from the newer record to the older."""
    return MemoryConflict(memory=newer, other=older, reason="; ".join(reasons), distance=distance)


def merge_into(
    target: MemoryRecord,
    incoming: MemoryRecord,
    *,
    step: str,
    distance: float | None,
    actor: str,
    approves: bool = True,
) -> MemoryHistory:
    """Fold `incoming` into `target` (union of lists) and return the history entry that
    undoes it (unsaved): the absorbed record's snapshot, what was added, what was before.
    `approves` False (the caller may not review): a pending target stays pending."""
    added = {}
    for name in LIST_FIELDS:
        new_values = [v for v in getattr(incoming, name) or [] if v not in getattr(target, name)]
        added[name] = new_values
        setattr(target, name, list(getattr(target, name)) + new_values)
    before = {"status": target.status, "event_date": datetime_encode(target.event_date)}
    set_by_merge = {}  # what an undo takes back, unless someone has changed it since
    if target.event_date is None and incoming.event_date:
        target.event_date = incoming.event_date
        set_by_merge["event_date"] = datetime_encode(incoming.event_date)
    # An explicitly approved duplicate approves a record still waiting for review.
    if approves and incoming.status == MemoryStatus.APPROVED and target.status == MemoryStatus.PENDING:
        target.status = set_by_merge["status"] = MemoryStatus.APPROVED
    threshold = settings.MEMORY_DEDUP_DISTANCE_THRESHOLD
    reason = (
        "identical text (content hash) in the same namespace and user"
        if step == "hash"
        else f"semantic duplicate: cosine distance {distance:.4f} <= threshold {threshold}"
    )
    return MemoryHistory.of(
        target,
        action=MemoryHistory.Action.MERGED,
        actor=actor,
        reason=reason,
        detail={
            "step": step,
            "distance": distance,
            "threshold": threshold if step == "semantic" else None,
            "merged": incoming.snapshot(),
            "added": added,
            "before": before,
            "set": set_by_merge,
        },
    )

"""Writes to long-term memory: create (with dedup), edit, delete, merge/undo, forget,
compact, and the bookkeeping that keeps the RedisVL index in step with the rows.

Every write marks the rows it touches `index_pending` in its own transaction and
indexes them on commit; `memories_index_sweep` catches whatever a failed commit hook
left behind. The DB row is the truth; the index document is derived from it.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redisvl.exceptions import RedisSearchError

from memory import embeddings, index
from memory.models import MemoryHistory, MemoryIndexRemoval, MemoryRecord, MemoryStatus, MemoryType, new_memory_id
from workers.queue import send_now

logger = logging.getLogger(__name__)

# Fields a caller may give a record (everything else is the server's).
RECORD_FIELDS = ("id", "text", "context", "memory_type", "namespace", "user_id", "session_id", "topics", "entities",
                 "event_date", "pinned", "created_at", "last_accessed", "extracted_from")
EDITABLE_FIELDS = ("text", "context", "memory_type", "namespace", "user_id", "session_id", "topics", "entities",
                   "event_date", "pinned", "status")
_LIST_FIELDS = ("topics", "entities", "extracted_from")


class MemoryIdConflictError(ValueError):
    """A client-supplied id already belongs to a record of another namespace or user."""

    def __init__(self, position: int, memory_id: str):
        super().__init__(f"id {memory_id!r} is already used by a record of another namespace or user")
        self.position = position
        self.memory_id = memory_id


class MemoryNotFoundError(LookupError):
    pass


def memory_hash(text: str) -> str:
    """Content hash for exact-duplicate detection: case and whitespace do not count."""
    return hashlib.sha256(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()


def _vector_bytes(vector) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _embed(records) -> np.ndarray:
    """Vectors of (text, context) pairs. The text comes first, so a long context is what
    the model's input limit cuts, never the text (BENCHMARKS.md, LoCoMo)."""
    return embeddings.embed_texts([f"{text}\n{context}" if context else text for text, context in records])


def _snapshot(row: MemoryRecord) -> dict:
    """Everything needed to recreate a record (the vector is recomputed)."""
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": row.id, "text": row.text, "context": row.context, "memory_type": row.memory_type,
        "namespace": row.namespace, "user_id": row.user_id, "session_id": row.session_id, "topics": list(row.topics),
        "entities": list(row.entities), "event_date": iso(row.event_date), "pinned": row.pinned,
        "access_count": row.access_count, "last_accessed": iso(row.last_accessed),
        "created_at": iso(row.created_at), "status": row.status, "extracted_from": list(row.extracted_from),
        "extraction_run_id": row.extraction_run_id,
    }


# --- Index bookkeeping ------------------------------------------------------------------

def _document(row: MemoryRecord) -> dict:
    return {
        "id": row.id, "text": row.text, "context": row.context, "namespace": row.namespace, "user_id": row.user_id,
        "session_id": row.session_id, "memory_type": row.memory_type, "topics": row.topics,
        "entities": row.entities, "status": row.status, "created_at": row.created_at,
        "updated_at": row.updated_at, "last_accessed": row.last_accessed, "event_date": row.event_date,
        "pinned": row.pinned,
    }


def memories_index(*, memory_ids: list[str]) -> int:
    """Make the index match the DB for these ids: upsert rows that exist, drop documents
    of rows that do not. Idempotent. Returns the number of documents written.

    A row whose vector is missing or came from another embedding model is re-embedded.
    """
    memory_ids = list(dict.fromkeys(memory_ids))
    if not memory_ids:
        return 0
    rows = list(MemoryRecord.objects.filter(id__in=memory_ids))
    stale = [r for r in rows if not r.embedding or r.embedding_model != embeddings.model_name()]
    if stale:
        vectors = _embed([(r.text, r.context) for r in stale])
        for row, vector in zip(stale, vectors, strict=True):
            row.embedding = _vector_bytes(vector)
            row.embedding_model = embeddings.model_name()
            MemoryRecord.objects.filter(id=row.id, text=row.text, context=row.context).update(
                embedding=row.embedding, embedding_model=row.embedding_model)
    index.upsert_documents([_document(r) for r in rows],
                           [np.frombuffer(bytes(r.embedding), dtype=np.float32) for r in rows])
    gone = set(memory_ids) - {r.id for r in rows}
    if gone:
        index.delete_documents(sorted(gone))
        MemoryIndexRemoval.objects.filter(memory_id__in=gone).delete()
    # Clear the mark only for the version we indexed; a newer write keeps its own mark.
    by_version: dict[datetime, list[str]] = {}
    for row in rows:
        by_version.setdefault(row.updated_at, []).append(row.id)
    for updated_at, ids in by_version.items():
        MemoryRecord.objects.filter(id__in=ids, updated_at=updated_at, index_pending=True).update(
            index_pending=False)
    return len(rows)


def _index_after_commit(memory_ids: list[str]) -> None:
    """Write the documents now; if Redis fails, hand the ids to the worker (the sweep
    catches them if even that fails, because the rows are still marked)."""
    try:
        memories_index(memory_ids=memory_ids)
    except (redis.RedisError, RedisSearchError) as exc:
        logger.warning("indexing %d memories failed (%s); leaving them to the worker", len(memory_ids), exc)
        try:
            send_now("memories_index", memory_ids)
        except redis.RedisError:
            logger.warning("could not enqueue indexing; the periodic sweep will retry")


def _schedule_index(memory_ids) -> None:
    ids = list(dict.fromkeys(memory_ids))
    if ids:
        transaction.on_commit(lambda: _index_after_commit(ids))


def memories_index_sweep(*, batch_size: int = 500, max_batches: int = 100) -> int:
    """Index every row still marked and drop documents of deleted rows. Returns rows handled."""
    handled = 0
    for _ in range(max_batches):
        ids = list(MemoryRecord.objects.filter(index_pending=True).values_list("id", flat=True)[:batch_size])
        ids += list(MemoryIndexRemoval.objects.values_list("memory_id", flat=True)[:batch_size])
        if not ids:
            break
        memories_index(memory_ids=ids)
        handled += len(ids)
    return handled


def memories_reindex(*, batch_size: int = 500, progress=None) -> int:
    """Rebuild the whole index from the DB (drop it with its documents, then write every row)."""
    index.drop_index(delete_documents=True)
    index.ensure_index()
    MemoryRecord.objects.update(index_pending=True)
    ids = list(MemoryRecord.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        memories_index(memory_ids=chunk)
        if progress:
            progress(len(chunk))
    MemoryIndexRemoval.objects.all().delete()
    return len(ids)


def memories_record_access(*, memory_ids: list[str], accessed_at: datetime) -> int:
    """Count a search hit: bump access_count and last_accessed (DB, then the index field).

    Runs in the worker, off the search response path; never touches updated_at.
    """
    ids = list(dict.fromkeys(memory_ids))
    updated = MemoryRecord.objects.filter(id__in=ids).update(
        access_count=F("access_count") + 1, last_accessed=accessed_at)
    index.update_fields({memory_id: {"last_accessed": accessed_at} for memory_id in ids})
    return updated


# --- Create -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CreateOutcome:
    """What happened to one input record.

    outcome: "created" (a new row `id`), "updated" (the client id existed; that row was
    overwritten), "merged_hash" / "merged_semantic" (deduplicated into the row `id`;
    `distance` is the cosine distance for semantic merges, `history_id` the undoable
    MemoryHistory entry).
    """

    id: str
    outcome: str
    distance: float | None = None
    history_id: int | None = None


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
    values: dict
    vector: np.ndarray
    deduplicate: bool
    row: MemoryRecord | None = None
    absorbed: list = field(default_factory=list)


def _clean(record: dict) -> dict:
    values = {k: record[k] for k in RECORD_FIELDS if k in record}
    for name in ("namespace", "user_id", "session_id"):
        values[name] = values.get(name) or None
    for name in _LIST_FIELDS:
        values[name] = list(dict.fromkeys(values.get(name) or []))
    values["memory_type"] = values.get("memory_type") or MemoryType.SEMANTIC
    values["pinned"] = bool(values.get("pinned", False))
    values["context"] = values.get("context") or ""
    if not values.get("id"):
        values["id"] = new_memory_id()
    return values


def _tenant_conditions(namespace, user_id) -> list[index.Condition]:
    conditions = []
    for name, value in (("namespace", namespace), ("user_id", user_id)):
        conditions.append(index.Condition(name, "eq", (value,)) if value is not None
                          else index.Condition(name, "missing"))
    conditions.append(index.Condition("status", "ne", (MemoryStatus.REJECTED,)))
    return conditions


def _merge_into(target: MemoryRecord, incoming: dict, *, incoming_status: str, step: str,
                distance: float | None, extraction_run) -> MemoryHistory:
    """Fold an incoming record into `target` (union of lists) and record how to undo it."""
    added = {}
    for name in _LIST_FIELDS:
        new_values = [v for v in incoming.get(name) or [] if v not in getattr(target, name)]
        added[name] = new_values
        setattr(target, name, list(getattr(target, name)) + new_values)
    before = {"status": target.status, "event_date": target.event_date.isoformat() if target.event_date else None}
    if target.event_date is None and incoming.get("event_date"):
        target.event_date = incoming["event_date"]
    # An explicitly approved duplicate approves a record still waiting for review.
    if incoming_status == MemoryStatus.APPROVED and target.status == MemoryStatus.PENDING:
        target.status = MemoryStatus.APPROVED
    threshold = settings.MEMORY_DEDUP_DISTANCE_THRESHOLD
    reason = ("identical text (content hash) in the same namespace and user" if step == "hash" else
              f"semantic duplicate: cosine distance {distance:.4f} <= threshold {threshold}")
    merged = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in incoming.items()}
    merged.update(status=incoming_status, extraction_run_id=getattr(extraction_run, "pk", extraction_run))
    return MemoryHistory(
        memory_id=target.id, action=MemoryHistory.Action.MERGED, reason=reason,
        detail={"step": step, "distance": distance, "threshold": threshold if step == "semantic" else None,
                "merged": merged, "added": added, "before": before},
    )


def memories_create(
    *,
    records: list[dict],
    deduplicate: bool = True,
    status: str = MemoryStatus.APPROVED,
    extraction_run=None,
) -> MemoriesCreateResult:
    """Create long-term memories: THE shared entry point for the POST route and promotion.

    `records`: dicts with `text` (required) and optionally `id` (a client id; a new ULID
    otherwise), `context` (searched and embedded with the text), `memory_type`,
    `namespace`, `user_id`, `session_id`, `topics`, `entities`, `event_date` /
    `created_at` / `last_accessed` (aware datetimes),
    `pinned`, `extracted_from` (message ids), and `deduplicate` (per-record override
    of the `deduplicate` argument). Inputs are assumed validated (the API serializer
    does that); `status` and `extraction_run` apply to every new row.

    Steps, per input, in order: (1) by id: an existing row with the same id and the
    same namespace/user is overwritten ("updated"; another tenant's id raises
    MemoryIdConflictError); then, when deduplicating, (2) by content hash within the
    same namespace + user, and (3) by vector range within the same namespace + user
    (cosine distance <= MEMORY_DEDUP_DISTANCE_THRESHOLD), against stored records that
    are not rejected and against earlier inputs of the same call. A merge keeps the
    existing text, unions topics/entities/extracted_from, and writes an undoable
    MemoryHistory entry (see `memory_merge_undo`).

    Embeds all texts in one batch before any DB write. Safe inside an outer
    `transaction.atomic()`: rows are written in a nested atomic block and indexed
    only after the outermost commit (nothing is indexed if the caller rolls back).
    """
    if not records:
        return MemoriesCreateResult(outcomes=[])
    cleaned = [_clean(r) for r in records]
    vectors = _embed([(c["text"], c["context"]) for c in cleaned])
    model = embeddings.model_name()
    threshold = settings.MEMORY_DEDUP_DISTANCE_THRESHOLD
    now = timezone.now()

    pending = [
        _Pending(position=i, values=c, vector=v, deduplicate=bool(records[i].get("deduplicate", deduplicate)))
        for i, (c, v) in enumerate(zip(cleaned, vectors, strict=True))
    ]
    seen_ids = set()
    for p in pending:
        if p.values["id"] in seen_ids:
            raise ValueError(f"duplicate id {p.values['id']!r} in one create call")
        seen_ids.add(p.values["id"])

    outcomes: list[CreateOutcome | None] = [None] * len(pending)
    with transaction.atomic():
        existing = MemoryRecord.objects.select_for_update().in_bulk([p.values["id"] for p in pending])
        accepted: list[_Pending] = []  # earlier inputs of this call that became rows
        touched: dict[str, MemoryRecord] = {}
        histories: list[MemoryHistory] = []
        to_create: list[MemoryRecord] = []

        for p in pending:
            values, ns, uid = p.values, p.values["namespace"], p.values["user_id"]
            digest = memory_hash(values["text"])

            # (1) by id: the client's id names the record to overwrite.
            row = existing.get(values["id"])
            if row is not None:
                if (row.namespace, row.user_id) != (ns, uid):
                    raise MemoryIdConflictError(p.position, values["id"])
                histories.append(MemoryHistory(memory_id=row.id, action=MemoryHistory.Action.EDITED,
                                               reason="overwritten by a create with the same id",
                                               detail={"before": _snapshot(row)}))
                for name in RECORD_FIELDS:
                    # The new version replaces the old; timestamps it leaves out are kept.
                    if name == "id" or (name in ("created_at", "last_accessed") and not values.get(name)):
                        continue
                    setattr(row, name, values.get(name))
                row.memory_hash, row.embedding, row.embedding_model = digest, _vector_bytes(p.vector), model
                row.updated_at, row.index_pending = now, True
                touched[row.id] = row
                outcomes[p.position] = CreateOutcome(id=row.id, outcome="updated")
                continue

            if p.deduplicate:
                # (2) by content hash, within namespace + user.
                target = next((a.row for a in accepted
                               if a.row.memory_hash == digest and (a.row.namespace, a.row.user_id) == (ns, uid)),
                              None)
                if target is None:
                    target = (MemoryRecord.objects.filter(namespace=ns, user_id=uid, memory_hash=digest)
                              .exclude(status=MemoryStatus.REJECTED).order_by("created_at", "id").first())
                    target = touched.get(target.id, target) if target else None
                step, distance = "hash", None
                # (3) by vector range, within namespace + user.
                if target is None:
                    target, distance = _nearest_duplicate(p, accepted, touched, threshold)
                    step = "semantic"
                if target is not None:
                    history = _merge_into(target, values, incoming_status=status, step=step,
                                          distance=distance, extraction_run=extraction_run)
                    histories.append(history)
                    target.updated_at, target.index_pending = now, True
                    if not any(a.row is target for a in accepted):
                        touched[target.id] = target
                    outcomes[p.position] = CreateOutcome(id=target.id, outcome=f"merged_{step}",
                                                         distance=distance)
                    p.absorbed.append(history)
                    continue

            row = MemoryRecord(
                **{k: v for k, v in values.items() if k in RECORD_FIELDS},
                memory_hash=digest, status=status, extraction_run_id=getattr(extraction_run, "pk", extraction_run),
                embedding=_vector_bytes(p.vector), embedding_model=model,
                updated_at=now, persisted_at=now, index_pending=True,
            )
            row.created_at = values.get("created_at") or now
            row.last_accessed = values.get("last_accessed") or now
            p.row = row
            accepted.append(p)
            to_create.append(row)
            outcomes[p.position] = CreateOutcome(id=row.id, outcome="created")

        MemoryRecord.objects.bulk_create(to_create, batch_size=500)
        for row in touched.values():
            row.save()
        MemoryHistory.objects.bulk_create(histories)
        _schedule_index([r.id for r in to_create] + list(touched))

    # bulk_create sets pks on PostgreSQL and SQLite >= 3.35 (both required here).
    return MemoriesCreateResult(outcomes=[
        CreateOutcome(id=o.id, outcome=o.outcome, distance=o.distance, history_id=p.absorbed[0].pk)
        if p.absorbed else o
        for o, p in zip(outcomes, pending, strict=True)
    ])


def _nearest_duplicate(p: _Pending, accepted: list[_Pending], touched: dict, threshold: float):
    """The closest record within `threshold` in the same namespace + user, or (None, None)."""
    ns, uid = p.values["namespace"], p.values["user_id"]
    best, best_distance = None, None
    for a in accepted:
        if (a.row.namespace, a.row.user_id) == (ns, uid):
            distance = float(1.0 - np.dot(a.vector, p.vector))
            if distance <= threshold and (best_distance is None or distance < best_distance):
                best, best_distance = a.row, distance
    hits, _ = index.vector_range(p.vector, conditions=_tenant_conditions(ns, uid), threshold=threshold, k=5)
    for hit in hits:
        if best_distance is not None and hit.vector_distance >= best_distance:
            break
        row = touched.get(hit.id) or MemoryRecord.objects.filter(
            id=hit.id, namespace=ns, user_id=uid).exclude(status=MemoryStatus.REJECTED).first()
        if row is not None:  # the index may briefly hold a document whose row is gone
            best, best_distance = row, hit.vector_distance
            break
    return best, best_distance


SWEEP_LOCK_KEY = "memory:index-sweep:lock"


def memories_index_sweep_claim() -> bool:
    """Claim this interval's sweep; False when another run already claimed it.

    The lock lives a little less than one interval, so the chain that holds it can
    claim the next run, and any duplicate chain dies at its next step.
    """
    from memory.redis_client import get_redis

    ttl_ms = max(int(settings.MEMORY_INDEX_SWEEP_SECONDS * 900), 1)
    return bool(get_redis().set(SWEEP_LOCK_KEY, timezone.now().isoformat(), nx=True, px=ttl_ms))


# --- Edit / delete -------------------------------------------------------------------------

@transaction.atomic
def memory_update(*, memory_id: str, changes: dict) -> MemoryRecord:
    """Edit one record (any of EDITABLE_FIELDS). A text change re-embeds and re-hashes;
    a context change re-embeds.

    The previous version goes to the record's history; the index follows on commit.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    row = MemoryRecord.objects.select_for_update().filter(id=memory_id).first()
    if row is None:
        raise MemoryNotFoundError(memory_id)
    before = _snapshot(row)
    for name, value in changes.items():
        if name in ("topics", "entities"):
            value = list(dict.fromkeys(value or []))
        elif name in ("namespace", "user_id", "session_id"):
            value = value or None
        elif name == "context":
            value = value or ""
        setattr(row, name, value)
    if "text" in changes and changes["text"] != before["text"]:
        row.memory_hash = memory_hash(row.text)
    if row.text != before["text"] or row.context != before["context"]:
        row.embedding = _vector_bytes(_embed([(row.text, row.context)])[0])
        row.embedding_model = embeddings.model_name()
    row.updated_at = timezone.now()
    row.index_pending = True
    row.save()
    changed = sorted(k for k in changes if before.get(k) != _snapshot(row).get(k))
    MemoryHistory.objects.create(memory_id=row.id, action=MemoryHistory.Action.EDITED,
                                 reason=f"changed {', '.join(changed) or 'nothing'}", detail={"before": before})
    _schedule_index([row.id])
    return row


def _delete_rows(rows: list[MemoryRecord], *, reason: str, extra_history: list[MemoryHistory] = ()) -> int:
    """Delete rows, keep each one's snapshot in its history, and drop its document on commit."""
    if not rows:
        return 0
    ids = [r.id for r in rows]
    MemoryHistory.objects.bulk_create(
        [MemoryHistory(memory_id=r.id, action=MemoryHistory.Action.DELETED, reason=reason,
                       detail={"before": _snapshot(r)}) for r in rows] + list(extra_history))
    MemoryIndexRemoval.objects.bulk_create([MemoryIndexRemoval(memory_id=i) for i in ids], ignore_conflicts=True)
    MemoryRecord.objects.filter(id__in=ids).delete()
    _schedule_index(ids)
    return len(ids)


@transaction.atomic
def memories_delete(*, memory_ids: list[str], reason: str = "deleted") -> int:
    """Delete records by id; unknown ids are ignored. Returns how many were deleted."""
    rows = list(MemoryRecord.objects.filter(id__in=list(dict.fromkeys(memory_ids))))
    return _delete_rows(rows, reason=reason)


def memories_after_search(*, found_ids: list[str], stale_ids: list[str], accessed_at: datetime) -> None:
    """Hand the search's side effects to the worker: count the hits, drop stale documents.

    One Redis write each; nothing here waits on the DB, so the response is not delayed.
    """
    try:
        if found_ids:
            send_now("memories_record_access", found_ids, accessed_at.isoformat())
        if stale_ids:
            send_now("memories_index", stale_ids)
    except redis.RedisError as exc:  # the search itself succeeded; its bookkeeping is best effort
        logger.warning("could not enqueue search bookkeeping: %s", exc)


# --- Merge undo -----------------------------------------------------------------------------

@transaction.atomic
def memory_merge_undo(*, history_id: int) -> MemoryRecord:
    """Undo a merge: recreate the absorbed record (same id, re-embedded) and take back
    what the merge added to the surviving record. Recorded in both histories."""
    entry = MemoryHistory.objects.select_for_update().get(pk=history_id, action=MemoryHistory.Action.MERGED)
    if entry.undone_at is not None:
        raise ValueError(f"merge {history_id} was already undone at {entry.undone_at.isoformat()}")
    detail = entry.detail
    merged = dict(detail["merged"])
    target = MemoryRecord.objects.select_for_update().filter(id=entry.memory_id).first()
    if target is not None:
        for name, added in detail.get("added", {}).items():
            setattr(target, name, [v for v in getattr(target, name) if v not in added])
        before = detail.get("before", {})
        if before.get("status"):
            target.status = before["status"]
        if before.get("event_date") is None and merged.get("event_date"):
            target.event_date = None
        target.updated_at, target.index_pending = timezone.now(), True
        target.save()
    if MemoryRecord.objects.filter(id=merged["id"]).exists():
        merged["id"] = new_memory_id()  # the id was reused since: keep both
    restored = _restore(merged)
    now = timezone.now()
    entry.undone_at = now
    entry.save(update_fields=["undone_at"])
    MemoryHistory.objects.bulk_create([
        MemoryHistory(memory_id=entry.memory_id, action=MemoryHistory.Action.UNMERGED,
                      reason=f"undid merge {history_id}: {restored.id} restored", detail={"merge": history_id}),
        MemoryHistory(memory_id=restored.id, action=MemoryHistory.Action.UNMERGED,
                      reason=f"restored from merge {history_id} into {entry.memory_id}", detail={"merge": history_id}),
    ])
    _schedule_index([restored.id] + ([target.id] if target else []))
    return restored


def _restore(snapshot: dict) -> MemoryRecord:
    """A row from a snapshot (as stored in history), re-embedded."""
    def when(value):
        return datetime.fromisoformat(value) if value else None

    now = timezone.now()
    row = MemoryRecord(
        id=snapshot["id"], text=snapshot["text"], context=snapshot.get("context") or "",
        memory_type=snapshot.get("memory_type") or MemoryType.SEMANTIC,
        namespace=snapshot.get("namespace"), user_id=snapshot.get("user_id"),
        session_id=snapshot.get("session_id"), topics=snapshot.get("topics") or [],
        entities=snapshot.get("entities") or [], event_date=when(snapshot.get("event_date")),
        pinned=bool(snapshot.get("pinned")), extracted_from=snapshot.get("extracted_from") or [],
        status=snapshot.get("status") or MemoryStatus.APPROVED,
        extraction_run_id=snapshot.get("extraction_run_id"),
        created_at=when(snapshot.get("created_at")) or now, last_accessed=when(snapshot.get("last_accessed")) or now,
        access_count=snapshot.get("access_count") or 0,
        memory_hash=memory_hash(snapshot["text"]),
        embedding=_vector_bytes(_embed([(snapshot["text"], snapshot.get("context") or "")])[0]),
        embedding_model=embeddings.model_name(), updated_at=now, persisted_at=now, index_pending=True,
    )
    if row.extraction_run_id is not None:
        from policies.models import ExtractionRun

        if not ExtractionRun.objects.filter(pk=row.extraction_run_id).exists():
            row.extraction_run_id = None
    row.save(force_insert=True)
    return row


# --- Forget ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ForgetResult:
    scanned: int
    deleted_ids: list[str]
    dry_run: bool


def _scope(namespace=None, user_id=None, session_id=None):
    rows = MemoryRecord.objects.all()
    for name, value in (("namespace", namespace), ("user_id", user_id), ("session_id", session_id)):
        if value is not None:
            rows = rows.filter(**{name: value})
    return rows


@transaction.atomic
def memories_forget(
    *,
    namespace: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    max_age_days: float | None = None,
    max_inactive_days: float | None = None,
    budget: int | None = None,
    memory_types: list[str] | None = None,
    pinned_ids: list[str] = (),
    limit: int | None = None,
    dry_run: bool = False,
) -> ForgetResult:
    """Apply a forgetting policy within a scope. Pinned records (the `pinned` flag or
    `pinned_ids`) are never forgotten.

    - max_age_days: forget records created longer ago than this;
    - max_inactive_days: forget records not accessed for longer than this
      (with both set, a record must be both old and inactive);
    - budget: of the records left, keep the `budget` with the best recency score
      (the search formula, default weights) and forget the rest;
    - memory_types: only these types are candidates; limit: forget at most this many.
    Deleted records keep a snapshot in their history.
    """
    from memory.selectors.long_term import Recency, recency_score

    now = timezone.now()
    rows = _scope(namespace, user_id, session_id)
    if memory_types:
        rows = rows.filter(memory_type__in=memory_types)
    scanned = rows.count()
    candidates = list(rows.exclude(pinned=True).exclude(id__in=list(pinned_ids))
                      .only("id", "created_at", "last_accessed").order_by("created_at", "id"))
    old = now - timedelta(days=max_age_days) if max_age_days is not None else None
    idle = now - timedelta(days=max_inactive_days) if max_inactive_days is not None else None
    doomed: list[MemoryRecord] = []
    keep: list[MemoryRecord] = []
    for row in candidates:
        too_old = old is not None and row.created_at < old
        too_idle = idle is not None and row.last_accessed < idle
        if (old is not None and idle is not None and too_old and too_idle) or \
                ((old is None or idle is None) and (too_old or too_idle)):
            doomed.append(row)
        else:
            keep.append(row)
    if budget is not None and len(keep) > budget:
        recency = Recency()
        keep.sort(key=lambda r: (-recency_score(last_accessed=r.last_accessed, created_at=r.created_at,
                                                now=now, recency=recency), r.id))
        doomed += keep[budget:]
    if limit is not None:
        doomed = doomed[:limit]
    deleted_ids = [r.id for r in doomed]
    if not dry_run and deleted_ids:
        _delete_rows(list(MemoryRecord.objects.filter(id__in=deleted_ids)), reason="forgotten by policy")
    return ForgetResult(scanned=scanned, deleted_ids=deleted_ids, dry_run=dry_run)


# --- Compact --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompactResult:
    merged: int
    remaining: int
    history_ids: list[int]


@transaction.atomic
def memories_compact(*, namespace: str | None = None, user_id: str | None = None) -> CompactResult:
    """Merge duplicates already stored: same content hash, then vector distance within
    the dedup threshold, always within one namespace + user and never across a
    rejected record. The older record survives; each absorbed record is deleted with
    an undoable MERGED entry in the survivor's history."""
    threshold = settings.MEMORY_DEDUP_DISTANCE_THRESHOLD
    rows = list(_scope(namespace, user_id).exclude(status=MemoryStatus.REJECTED).order_by("created_at", "id"))
    alive = {r.id: r for r in rows}
    histories: list[MemoryHistory] = []
    absorbed: list[MemoryRecord] = []
    survivors: dict[str, MemoryRecord] = {}

    def absorb(target: MemoryRecord, row: MemoryRecord, step: str, distance: float | None):
        incoming = {k: getattr(row, k) for k in RECORD_FIELDS}
        history = _merge_into(target, incoming, incoming_status=row.status, step=step, distance=distance,
                              extraction_run=row.extraction_run_id)
        history.detail["merged"].update(access_count=row.access_count,
                                        extraction_run_id=row.extraction_run_id)
        histories.append(history)
        absorbed.append(alive.pop(row.id))
        survivors[target.id] = target

    first_by_hash: dict[tuple, MemoryRecord] = {}
    for row in rows:
        key = (row.namespace, row.user_id, row.memory_hash)
        if key in first_by_hash:
            absorb(first_by_hash[key], row, "hash", None)
        else:
            first_by_hash[key] = row
    for row in list(alive.values()):
        if row.id not in alive or not row.embedding:
            continue
        vector = np.frombuffer(bytes(row.embedding), dtype=np.float32)
        hits, _ = index.vector_range(vector, conditions=_tenant_conditions(row.namespace, row.user_id),
                                     threshold=threshold, k=50)
        for hit in hits:
            other = alive.get(hit.id)
            if other is None or other.id == row.id or other.created_at < row.created_at or \
                    (other.created_at == row.created_at and other.id < row.id):
                continue  # only newer records are absorbed into an older one
            absorb(row, other, "semantic", hit.vector_distance)

    now = timezone.now()
    for target in survivors.values():
        if target.id in alive:
            target.updated_at, target.index_pending = now, True
            target.save()
    _delete_rows(absorbed, reason="merged by compaction", extra_history=histories)
    _schedule_index(list(survivors))
    return CompactResult(merged=len(absorbed), remaining=_scope(namespace, user_id).count(),
                         history_ids=[h.pk for h in histories])

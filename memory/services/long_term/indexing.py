"""Keeping the RedisVL index in step with the rows: embed, index on commit, sweep,
rebuild, and the bookkeeping searches hand to the worker.

Every write marks the rows it touches `index_pending` in its own transaction and
indexes them on commit; `memories_index_sweep` catches whatever a failed commit hook
left behind. The DB row is the truth; the index document is derived from it.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import numpy as np
import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from memory import embeddings, index
from memory.datetimes import datetime_decode, datetime_encode
from memory.models import MemoryIndexRemoval, MemoryRecord
from memory.redis_client import get_redis
from memory.redis_keys import (
    ACCESS_COUNTS_KEY,
    ACCESS_FLUSH_GATE_KEY,
    ACCESS_LAST_KEY,
    ACCESS_RECORD,
    ACCESS_TAKE,
    SWEEP_LOCK_KEY,
)
from workers.queue import enqueue_access_flush, enqueue_index

logger = logging.getLogger(__name__)


def embed_records(records: Iterable[tuple[str, str | None]]) -> np.ndarray:
    """Vectors of (text, context) pairs. The text comes first, so a long context is what
    the model's input limit cuts, never the text (BENCHMARKS.md, LoCoMo)."""
    return embeddings.embed_texts([f"{text}\n{context}" if context else text for text, context in records])


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


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
        vectors = embed_records([(r.text, r.context) for r in stale])
        for row, vector in zip(stale, vectors, strict=True):
            row.embedding = vector_bytes(vector)
            row.embedding_model = embeddings.model_name()
            MemoryRecord.objects.filter(id=row.id, text=row.text, context=row.context).update(
                embedding=row.embedding, embedding_model=row.embedding_model
            )
    index.upsert_records(rows)
    gone = set(memory_ids) - {r.id for r in rows}
    if gone:
        index.delete_documents(sorted(gone))
    _clear_tombstones(memory_ids, rows, gone)
    # Clear the mark only for the version we indexed; a newer write keeps its own mark.
    by_version: dict[datetime, list[str]] = {}
    for row in rows:
        by_version.setdefault(row.updated_at, []).append(row.id)
    for updated_at, ids in by_version.items():
        MemoryRecord.objects.filter(id__in=ids, updated_at=updated_at, index_pending=True).update(index_pending=False)
    return len(rows)


def _clear_tombstones(memory_ids: list[str], rows: list[MemoryRecord], gone: set[str]) -> None:
    """Retire the tombstones these documents no longer need: those of deleted ids (their
    documents are gone now), and those older than the row they name (the id was created
    again after its delete, and the document now matches the new row)."""
    persisted = {r.id: r.persisted_at for r in rows}
    done = [
        t.pk
        for t in MemoryIndexRemoval.objects.filter(memory_id__in=memory_ids)
        if t.memory_id in gone or t.created_at <= persisted[t.memory_id]
    ]
    if done:
        MemoryIndexRemoval.objects.filter(memory_id__in=done).delete()


def _index_after_commit(memory_ids: list[str]) -> None:
    """Write the documents now; if Redis fails, hand the ids to the worker (the sweep
    catches them if even that fails, because the rows are still marked)."""
    try:
        memories_index(memory_ids=memory_ids)
    except index.INDEX_ERRORS as exc:
        logger.warning("indexing %d memories failed (%s); leaving them to the worker", len(memory_ids), exc)
        try:
            enqueue_index(memory_ids=memory_ids)
        except redis.RedisError:
            logger.warning("could not enqueue indexing; the periodic sweep will retry")


def index_on_commit(memory_ids: Iterable[str]) -> None:
    """Index these rows once the outermost transaction commits (never if it rolls back)."""
    ids = list(dict.fromkeys(memory_ids))
    if ids:
        transaction.on_commit(lambda: _index_after_commit(ids))


def memories_index_reconcile(*, batch_size: int = 500) -> int:
    """Mark the rows whose index document is missing (a flushed or lost index, while the
    DB survived) so the sweep writes them again. Returns how many were missing."""
    documents = index.document_ids()
    rows = MemoryRecord.objects.filter(index_pending=False).values_list("id", flat=True)
    missing = [record_id for record_id in rows.iterator() if record_id not in documents]
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        MemoryRecord.objects.filter(id__in=chunk, index_pending=False).update(index_pending=True)
    if missing:
        logger.warning("%d memories had no index document; marked for re-indexing", len(missing))
    return len(missing)


def memories_index_sweep(*, batch_size: int = 500, max_batches: int = 100) -> int:
    """Re-mark rows the index lost, index every row still marked and drop documents of
    deleted rows. Returns rows handled."""
    memories_index_reconcile(batch_size=batch_size)
    handled = 0
    for _ in range(max_batches):
        ids = list(MemoryRecord.objects.filter(index_pending=True).values_list("id", flat=True)[:batch_size])
        ids += list(MemoryIndexRemoval.objects.values_list("memory_id", flat=True)[:batch_size])
        if not ids:
            break
        memories_index(memory_ids=ids)
        handled += len(ids)
    return handled


def memories_index_sweep_claim() -> bool:
    """Claim this interval's sweep; False when another run already claimed it.

    The lock lives a little less than one interval, so the chain that holds it can
    claim the next run, and any duplicate chain dies at its next step.
    """
    ttl_ms = max(int(settings.MEMORY_INDEX_SWEEP_SECONDS * 900), 1)
    return bool(get_redis().set(SWEEP_LOCK_KEY, timezone.now().isoformat(), nx=True, px=ttl_ms))


def memories_reindex(*, batch_size: int = 500, progress: Callable[[int], object] | None = None) -> int:
    """Rebuild the whole index from the DB (drop it with its documents, then write every row)."""
    index.drop_index(delete_documents=True)
    index.ensure_index()
    MemoryRecord.objects.update(index_pending=True)
    ids = list(MemoryRecord.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        memories_index(memory_ids=chunk)
        if progress:
            progress(len(chunk))
    MemoryIndexRemoval.objects.all().delete()
    return len(ids)


def memories_access_flush() -> int:
    """Write the search hits counted in Redis since the last flush to the DB (access_count
    and last_accessed), then last_accessed to the index where the indexed value is older
    than MEMORY_ACCESS_INDEX_RESOLUTION_SECONDS; returns the records updated.

    Runs in the worker, once per MEMORY_ACCESS_FLUSH_SECONDS at most, never touching
    updated_at. The hits are taken from Redis at once; if the DB write fails they are
    put back for the retry. A worker killed between the two loses that window's counts
    (bookkeeping, never a memory).
    """
    counts, last = _access_take()
    if not counts:
        return 0
    try:
        updated = _access_apply(counts, last)
    except DatabaseError:
        _access_give_back(counts, last)
        raise
    index.touch_last_accessed(
        {memory_id: at for memory_id, at in last.items() if memory_id in counts},
        resolution_seconds=settings.MEMORY_ACCESS_INDEX_RESOLUTION_SECONDS,
    )
    return updated


def _access_take() -> tuple[dict[str, int], dict[str, datetime]]:
    raw_counts, raw_last = ACCESS_TAKE(keys=[ACCESS_COUNTS_KEY, ACCESS_LAST_KEY, ACCESS_FLUSH_GATE_KEY], args=[])
    counts = {k: int(v) for k, v in zip(raw_counts[::2], raw_counts[1::2], strict=True)}
    decoded = {k: datetime_decode(v) for k, v in zip(raw_last[::2], raw_last[1::2], strict=True)}
    last = {k: at for k, at in decoded.items() if at is not None}  # the script stores times, never ""
    return counts, last


@transaction.atomic
def _access_apply(counts: dict[str, int], last: dict[str, datetime]) -> int:
    """One prepared UPDATE run for every record: building a CASE per id through the ORM
    cost 0.7 ms of CPU per record, more than the searches that made the hits."""
    table, ops = MemoryRecord._meta.db_table, connection.ops
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {ops.quote_name(table)} SET access_count = access_count + %s, last_accessed = %s WHERE id = %s",
            [
                (hits, ops.adapt_datetimefield_value(last.get(memory_id, now)), memory_id)
                for memory_id, hits in sorted(counts.items())
            ],
        )
        updated: int = cursor.rowcount  # the DB-API cursor is untyped
        return updated


def _access_give_back(counts: dict[str, int], last: dict[str, datetime]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for memory_id, hits in counts.items():
        pipe.hincrby(ACCESS_COUNTS_KEY, memory_id, hits)
    for memory_id, at in last.items():
        pipe.hsetnx(ACCESS_LAST_KEY, memory_id, datetime_encode(at))  # a newer hit's time stays
    pipe.execute()


def memories_after_search(*, found_ids: list[str], stale_ids: list[str], accessed_at: datetime) -> None:
    """Hand the search's side effects to the worker: count the hits, drop stale documents.

    The hits are counted in Redis in one script call; the first of a window schedules
    the flush that writes them to the DB, so a search costs no message of its own.
    Nothing here waits on the DB, so the response is not delayed.
    """
    try:
        if found_ids:
            gate_ms = max(int(settings.MEMORY_ACCESS_FLUSH_SECONDS * 1000), 1)
            ids = list(dict.fromkeys(found_ids))
            keys = [ACCESS_COUNTS_KEY, ACCESS_LAST_KEY, ACCESS_FLUSH_GATE_KEY]
            if ACCESS_RECORD(keys=keys, args=[datetime_encode(accessed_at), gate_ms, *ids]):
                enqueue_access_flush(delay_seconds=settings.MEMORY_ACCESS_FLUSH_SECONDS)
        if stale_ids:
            enqueue_index(memory_ids=stale_ids)
    except redis.RedisError as exc:  # the search itself succeeded; its bookkeeping is best effort
        logger.warning("could not record search bookkeeping: %s", exc)

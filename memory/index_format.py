"""What an index document holds besides the record's fields (the vector's type, the
`hidden` tag), and rewriting in place the documents an older release wrote. Part of
`memory.index` (which imports this), kept apart for the house's 550 lines.

Before issue 24 a document held its vector as FLOAT32 bytes and no `hidden` tag. Under a
FLOAT16 schema such a hash fails to index (its vector has the wrong size), so recreating
the index over the old documents would leave every one unsearchable until the DB rewrote
it. Each hash already holds what the new format needs (the FLOAT32 vector, `status`,
`superseded_at`), so `memory.index.ensure_index` converts it where it lies, before the new
index exists, without the DB or the model.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np
import redis
from django.conf import settings

# FLOAT16 vectors, in the index and in each hash: half FLOAT32's bytes, the same hit@10 on
# LoCoMo and the synthetic facts (BENCHMARKS.md). The DB row keeps FLOAT32.
VECTOR_DTYPE, VECTOR_DATATYPE = np.float16, "float16"
# A tag set only on the documents a default search leaves out (not approved, superseded),
# so its filter is the exclusion of those few (`-@hidden:{...}`), not the clauses
# `@status:{approved}` and `ismissing(@superseded_at)`, which match nearly every record
# and cost more as the collection grows (BENCHMARKS.md, "Scale").
HIDDEN_FIELD, UNAPPROVED, SUPERSEDED = "hidden", "unapproved", "superseded"
TAG_SEPARATOR = "\x1f"  # a control character, so no tag value can hold it (memory.index)
APPROVED = "approved"  # MemoryStatus.APPROVED (the index imports no models)
BATCH = 500


def hidden_tag(status: Any, superseded: bool) -> str | None:
    """The `hidden` tag of a document: why a default search leaves it out, or None."""
    return TAG_SEPARATOR.join([UNAPPROVED] * (status != APPROVED) + [SUPERSEDED] * superseded) or None


def upgrade_documents(client: redis.Redis, prefix: bytes) -> int:
    """Rewrite every document under `prefix` whose vector is FLOAT32 (4 bytes a dimension):
    the vector as VECTOR_DTYPE, and its `hidden` tag from its status and superseded_at.
    Documents already in this format are only measured (HSTRLEN). Returns those rewritten.

    Idempotent and safe beside writers: each batch is written only if none of its keys
    changed since it was read (WATCH), else read again, so a concurrent upsert's newer
    document is never overwritten with the old one's values."""
    old_size = settings.EMBEDDING_DIMENSIONS * 4
    rewritten = 0
    # Hashes only: another kind of key under the prefix is no document (HSTRLEN would fail on it).
    for keys in _batches(client.scan_iter(match=prefix + b"*", count=1000, _type="HASH")):
        while True:
            try:
                rewritten += _upgrade_batch(client, keys, old_size)
                break
            except redis.WatchError:
                continue
    return rewritten


def _batches(keys: Iterator[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _upgrade_batch(client: redis.Redis, keys: list[bytes], old_size: int) -> int:
    with client.pipeline(transaction=True) as writes:
        writes.watch(*keys)
        reads = client.pipeline(transaction=False)
        for key in keys:
            reads.hstrlen(key, "vector")
        old = [key for key, size in zip(keys, reads.execute(), strict=True) if size == old_size]
        for key in old:
            reads.hmget(key, "vector", "status", "superseded_at")
        values = reads.execute()
        writes.multi()
        for key, (vector, status, superseded_at) in zip(old, values, strict=True):
            row: dict[str, bytes | str] = {
                "vector": np.frombuffer(vector, dtype=np.float32).astype(VECTOR_DTYPE).tobytes()
            }
            tag = hidden_tag(status.decode() if status is not None else None, superseded_at is not None)
            if tag:
                row[HIDDEN_FIELD] = tag
            writes.hset(key, mapping=row)  # type: ignore[arg-type]  # str keys encode; the stub's key type is invariant
        writes.execute()
    return len(old)

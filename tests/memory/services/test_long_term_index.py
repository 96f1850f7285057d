"""Keeping the index in step with the rows (memory.services.long_term indexing): the sweep
that catches what a failed commit hook left behind, tombstones of deleted rows, and rows
embedded by another model. Real DB, Redis and embedding model; a Redis outage is a real
unreachable port."""

from contextlib import contextmanager

import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings

from memory import index
from memory.models import MemoryIndexRemoval, MemoryRecord
from memory.redis_client import get_redis, get_redis_bytes
from memory.services.long_term import memories_create, memories_delete, memories_index, memories_index_sweep
from tests.helpers import free_port, queued_messages

pytestmark = pytest.mark.django_db(transaction=True)  # documents are indexed on commit

MODEL = "local/all-MiniLM-L6-v2"


def _record(text, **extra):
    return {"text": text, "namespace": "acme", "user_id": "u1", **extra}


def _vector(raw: bytes) -> np.ndarray:
    return np.frombuffer(bytes(raw), dtype=np.float32)


@contextmanager
def redis_unreachable_for_the_index():
    """This process's index client points at a port nobody listens on (the Dramatiq broker keeps its own)."""

    def reset():
        get_redis.cache_clear()
        get_redis_bytes.cache_clear()
        index.get_index.cache_clear()

    reset()
    try:
        with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
            yield
    finally:
        reset()


def test_the_sweep_indexes_rows_whose_commit_hook_never_ran(redis_client):
    memories_create(
        actor="test",
        records=[_record("Alice adopted a grey cat called Pixel"), _record("Bob prefers window seats on long flights")],
    )
    # Simulate a crash between commit and indexing: documents gone, rows still marked.
    redis_client.flushdb()
    MemoryRecord.objects.update(index_pending=True)
    assert index.document_ids() == set()
    assert memories_index_sweep() == 2
    assert index.document_ids() == set(MemoryRecord.objects.values_list("id", flat=True))
    assert not MemoryRecord.objects.filter(index_pending=True).exists()


def test_a_delete_whose_index_write_fails_leaves_tombstones_that_the_sweep_clears(redis_client):
    memories_create(
        actor="test",
        records=[
            _record("one fact", id="gone-1"),
            _record("two facts", id="gone-2"),
            _record("three facts", id="kept"),
        ],
        deduplicate=False,
    )
    with redis_unreachable_for_the_index():
        assert memories_delete(actor="test", memory_ids=["gone-1", "gone-2"]) == 2

    # The rows are gone; their documents are not, and each left a tombstone.
    assert set(MemoryRecord.objects.values_list("id", flat=True)) == {"kept"}
    assert index.document_ids() == {"gone-1", "gone-2", "kept"}
    assert set(MemoryIndexRemoval.objects.values_list("memory_id", flat=True)) == {"gone-1", "gone-2"}
    # The failed commit hook handed the ids to the worker too (no worker runs here).
    assert [m["args"] for m in queued_messages(redis_client, "memories_index")] == [[["gone-1", "gone-2"]]]

    assert memories_index_sweep() == 2
    assert index.document_ids() == {"kept"}
    assert MemoryIndexRemoval.objects.count() == 0
    assert memories_index_sweep() == 0  # nothing left to sweep


def test_a_row_embedded_by_another_model_is_re_embedded_when_indexed():
    outcomes = memories_create(
        actor="test",
        records=[
            _record("Alice adopted a grey cat called Pixel", id="old-model"),
            _record("Bob prefers window seats on long flights", id="this-model"),
        ],
    ).outcomes
    assert [o.outcome for o in outcomes] == ["created", "created"]
    true_vectors = {r.id: _vector(r.embedding) for r in MemoryRecord.objects.all()}
    marker = np.full(384, 1 / np.sqrt(384), dtype=np.float32).tobytes()  # a vector no text embeds to
    # "old-model" was written by a previous model; "this-model" carries a vector of the current one.
    MemoryRecord.objects.filter(id="old-model").update(embedding=marker, embedding_model="openai/old-embedder")
    MemoryRecord.objects.filter(id="this-model").update(embedding=marker)

    assert memories_index(memory_ids=["old-model", "this-model"]) == 2

    old, current = MemoryRecord.objects.get(id="old-model"), MemoryRecord.objects.get(id="this-model")
    assert old.embedding_model == MODEL
    assert np.allclose(_vector(old.embedding), true_vectors["old-model"], atol=1e-5)
    assert (current.embedding_model, bytes(current.embedding)) == (MODEL, marker)  # not re-embedded
    stored = index.stored_vectors(["old-model", "this-model"])
    # The document keeps the row's vector as the index's FLOAT16.
    assert np.array_equal(stored["old-model"], true_vectors["old-model"].astype(np.float16).astype(np.float32))
    assert np.array_equal(stored["this-model"], _vector(marker).astype(np.float16).astype(np.float32))


def test_a_row_without_a_vector_is_embedded_when_indexed():
    memories_create(actor="test", records=[_record("Carol keeps tropical fish", id="no-vector")])
    expected = _vector(MemoryRecord.objects.get().embedding).copy()
    MemoryRecord.objects.update(embedding=b"", embedding_model="")

    assert memories_index(memory_ids=["no-vector"]) == 1

    row = MemoryRecord.objects.get()
    assert row.embedding_model == MODEL
    assert np.allclose(_vector(row.embedding), expected, atol=1e-5)


def test_a_tombstone_of_an_id_created_again_is_retired_when_the_new_row_is_indexed(redis_client):
    memories_create(actor="test", records=[_record("first version", id="again")])
    with redis_unreachable_for_the_index():
        assert memories_delete(actor="test", memory_ids=["again"]) == 1
    assert MemoryIndexRemoval.objects.count() == 1
    memories_create(actor="test", records=[_record("second version", id="again")])  # a client reuses its id

    assert MemoryIndexRemoval.objects.count() == 0  # the new row's document replaced the stale one
    assert index.document_ids() == {"again"}
    assert redis_client.hget(f"{settings.MEMORY_INDEX_PREFIX}:again", "text") == "second version"
    assert memories_index_sweep() == 0  # nothing left over for the sweep to loop on

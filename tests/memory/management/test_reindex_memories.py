"""`manage.py reindex_memories`: the index is rebuilt from the rows (the truth), rows of
another embedding model are re-embedded, and documents without a row are dropped."""

import numpy as np
import pytest
from django.core.management import call_command

from memory import index
from memory.models import MemoryIndexRemoval, MemoryRecord
from memory.services.long_term import memories_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_reindex_rebuilds_the_index_from_the_db_after_redis_is_flushed(api, redis_client):
    memories_create(
        actor="test",
        records=[{"text": f"fact number {i} about llamas", "namespace": "r"} for i in range(7)],
        deduplicate=False,
    )
    redis_client.flushdb()
    body = api.post("/v1/long-term-memory/search", {"text": "llamas", "namespace": {"eq": "r"}}, format="json").json()
    assert body["total"] == 0  # the index is gone (and recreated empty), the rows are not
    call_command("reindex_memories")
    body = api.post(
        "/v1/long-term-memory/search",
        {"text": "llamas", "search_mode": "hybrid", "namespace": {"eq": "r"}, "limit": 100},
        format="json",
    ).json()
    assert body["total"] == 7 and len(body["memories"]) == 7
    assert not MemoryRecord.objects.filter(index_pending=True).exists()


def test_reindex_re_embeds_rows_of_another_model_drops_stray_documents_and_shows_progress(capsys):
    memories_create(
        actor="test",
        records=[
            {"id": f"r{i}", "text": text, "namespace": "r"}
            for i, text in enumerate(
                ["Alice adopted a grey cat called Pixel", "Bob prefers window seats", "Carol keeps tropical fish"]
            )
        ],
        deduplicate=False,
    )
    true_vectors = {
        r.id: np.frombuffer(bytes(r.embedding), dtype=np.float32).copy() for r in MemoryRecord.objects.all()
    }
    marker = np.full(384, 1 / np.sqrt(384), dtype=np.float32)
    # Two rows from a previous embedding model, and a document whose row was deleted (its tombstone too).
    MemoryRecord.objects.filter(id__in=["r0", "r2"]).update(
        embedding=marker.tobytes(), embedding_model="openai/old-embedder"
    )
    index.upsert_documents([{"id": "ghost", "text": "deleted long ago", "namespace": "r"}], [marker])
    MemoryIndexRemoval.objects.create(memory_id="ghost")
    capsys.readouterr()

    call_command("reindex_memories")

    output = capsys.readouterr()
    assert output.out == "reindex_memories: 3 memories indexed\n"
    assert "100%" in output.err and "3/3" in output.err  # the progress bar (on stderr) reached the end
    rows = {r.id: r for r in MemoryRecord.objects.all()}
    assert {r.embedding_model for r in rows.values()} == {"local/all-MiniLM-L6-v2"}
    stored = index.stored_vectors(sorted(rows))
    for record_id, vector in true_vectors.items():
        assert np.allclose(np.frombuffer(bytes(rows[record_id].embedding), dtype=np.float32), vector, atol=1e-5)
        assert np.array_equal(stored[record_id], vector.astype(np.float16).astype(np.float32))  # the index's FLOAT16
    assert index.document_ids() == {"r0", "r1", "r2"}
    assert MemoryIndexRemoval.objects.count() == 0
    assert not MemoryRecord.objects.filter(index_pending=True).exists()

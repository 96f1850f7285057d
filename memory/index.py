"""The only module that talks to the RedisVL vector index.

One hash document per long-term memory record, keyed by the record's id. The
document carries the vector, the full-text field, and tag/numeric fields for every
filter; the Django row stays the source of truth and can always rebuild it.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.conf import settings
from redisvl.index import SearchIndex
from redisvl.query import FilterQuery, VectorQuery
from redisvl.query.filter import FilterExpression
from redisvl.schema import IndexSchema

from memory import textquery
from memory.redis_client import get_redis_bytes

TAG_FIELDS = ("memory_id", "namespace", "user_id", "session_id", "memory_type", "topics", "entities", "status")
NUMERIC_FIELDS = ("created_at", "updated_at", "last_accessed", "event_date", "pinned")
RETURN_FIELDS = ["memory_id"]


def _schema() -> IndexSchema:
    fields = [{"name": "text", "type": "text"}]
    fields += [{"name": name, "type": "tag", "attrs": {"separator": "|"}} for name in TAG_FIELDS]
    fields += [{"name": name, "type": "numeric", "attrs": {"sortable": True}} for name in NUMERIC_FIELDS]
    fields.append(
        {
            "name": "vector",
            "type": "vector",
            "attrs": {
                "dims": settings.EMBEDDING_DIMENSIONS,
                "algorithm": "hnsw",
                "distance_metric": "cosine",
                "datatype": "float32",
            },
        }
    )
    return IndexSchema.from_dict(
        {
            "index": {
                "name": settings.MEMORY_INDEX_NAME,
                "prefix": settings.MEMORY_INDEX_PREFIX,
                "key_separator": ":",
                "storage_type": "hash",
            },
            "fields": fields,
        }
    )


@lru_cache(maxsize=1)
def get_index() -> SearchIndex:
    return SearchIndex(_schema(), redis_client=get_redis_bytes())


def ensure_index() -> None:
    """Create the index if it does not exist (idempotent, safe to race)."""
    index = get_index()
    if not index.exists():
        index.create(overwrite=False)


def drop_index(*, delete_documents: bool = True) -> None:
    index = get_index()
    if index.exists():
        index.delete(drop=delete_documents)


def key_for(record_id: str) -> str:
    return f"{settings.MEMORY_INDEX_PREFIX}:{record_id}"


def upsert_documents(documents: list[dict], vectors: np.ndarray) -> None:
    """Write one hash per document; `documents[i]["id"]` is the record id."""
    if not documents:
        return
    ensure_index()
    payload = []
    for document, vector in zip(documents, vectors, strict=True):
        row = {k: ("|".join(v) if isinstance(v, (list, tuple)) else v)
               for k, v in document.items() if v is not None and k != "id"}
        row["memory_id"] = document["id"]
        row["vector"] = np.asarray(vector, dtype=np.float32).tobytes()
        payload.append(row)
    get_index().load(payload, keys=[key_for(d["id"]) for d in documents])


def delete_documents(record_ids: list[str]) -> int:
    if not record_ids:
        return 0
    return get_redis_bytes().delete(*[key_for(i) for i in record_ids])


@dataclass(frozen=True)
class Hit:
    id: str
    vector_distance: float | None = None
    text_score: float | None = None


def vector_search(vector: np.ndarray, *, filter_expression: FilterExpression | None, k: int) -> list[Hit]:
    """K nearest documents by cosine distance (0 = identical, 2 = opposite)."""
    query = VectorQuery(
        vector=np.asarray(vector, dtype=np.float32).tobytes(),
        vector_field_name="vector",
        return_fields=RETURN_FIELDS,
        filter_expression=filter_expression,
        num_results=k,
        return_score=True,
        dtype="float32",
    )
    return [Hit(id=row["memory_id"], vector_distance=float(row["vector_distance"])) for row in get_index().query(query)]


def text_search(text: str, *, filter_expression: FilterExpression | None, k: int) -> list[Hit]:
    """Top-k BM25 matches of the meaningful terms of `text`; none when it has none."""
    clause = textquery.text_clause(text)
    if clause is None:
        return []
    filters = str(filter_expression) if filter_expression is not None else "*"
    query_string = clause if filters == "*" else f"({clause}) {filters}"
    query = FilterQuery(filter_expression=query_string, return_fields=RETURN_FIELDS, num_results=k)
    query.scorer("BM25STD").with_scores()
    return [Hit(id=row["memory_id"], text_score=float(row["score"])) for row in get_index().query(query)]


def hybrid_search(
    text: str, vector: np.ndarray, *, filter_expression: FilterExpression | None, k: int, alpha: float = 0.7
) -> list[Hit]:
    """Fuse a vector KNN and a BM25 query: alpha * similarity + (1 - alpha) * normalised BM25."""
    depth = max(k * 4, 50)
    by_vector = {h.id: h for h in vector_search(vector, filter_expression=filter_expression, k=depth)}
    by_text = {h.id: h for h in text_search(text, filter_expression=filter_expression, k=depth)}
    top_bm25 = max((h.text_score for h in by_text.values()), default=0.0) or 1.0
    fused = []
    for record_id in by_vector.keys() | by_text.keys():
        v, t = by_vector.get(record_id), by_text.get(record_id)
        similarity = 1.0 - v.vector_distance / 2.0 if v else 0.0
        bm25 = t.text_score / top_bm25 if t else 0.0
        score = alpha * similarity + (1.0 - alpha) * bm25
        fused.append((score, Hit(id=record_id, vector_distance=v.vector_distance if v else None,
                                 text_score=t.text_score if t else None)))
    fused.sort(key=lambda pair: pair[0], reverse=True)
    return [hit for _, hit in fused[:k]]

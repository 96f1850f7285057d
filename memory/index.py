"""The only module that talks to the RedisVL vector index: the schema, documents, filters
(`Condition`, `owner_conditions`), vector, keyword, filter and recency queries. Keyword
search gathers candidates and statistics here; `bm25` scores them.

One hash document per long-term memory record, keyed by the record's id: the vector, the full-text
fields, and tag/numeric fields for every filter; the Django row is the truth and can always rebuild it.
Filters arrive as `Condition`s and are turned into query syntax here, with every tag
value escaped; full-text clauses come only from `textquery`, so no caller text ever
reaches the query parser unescaped. Tag fields are case-sensitive and use a control
character as separator, so `a|b` or `Alice` can never match `a` or `alice`.
Timestamps are stored as integer microseconds since the epoch (exact in a double).
"""

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import redis
from django.conf import settings
from redisvl.exceptions import RedisSearchError
from redisvl.index import SearchIndex
from redisvl.query import CountQuery, FilterQuery, VectorQuery, VectorRangeQuery
from redisvl.schema import IndexSchema

from memory import bm25, index_format, redis_keys, textquery
from memory.index_format import HIDDEN_FIELD, TAG_SEPARATOR, VECTOR_DATATYPE, VECTOR_DTYPE, hidden_tag
from memory.redis_client import get_redis_bytes

logger = logging.getLogger(__name__)

TEXT_FIELDS = ("text", "context")
TAG_FIELDS = ("memory_id", "namespace", "user_id", "session_id", "memory_type", "topics", "entities", "status",
              "extraction_strategy")  # fmt: skip
# Fields a record may lack; `missing()` conditions find records without them.
MISSABLE_FIELDS = ("namespace", "user_id", "session_id", "topics", "entities", "event_date", "superseded_at")
NUMERIC_FIELDS = ("created_at", "updated_at", "last_accessed", "event_date", "pinned", "superseded_at")
DATE_FIELDS = ("created_at", "updated_at", "last_accessed", "event_date")
# The record attributes a document is made of (`memory_id` is the record's `id`).
DOCUMENT_FIELDS = ("id", *TEXT_FIELDS, *(f for f in TAG_FIELDS if f != "memory_id"), *NUMERIC_FIELDS)
RETURN_FIELDS = ["memory_id"]
# What a failing Redis or index raises, for callers that fall back (they never import redisvl).
INDEX_ERRORS = (redis.RedisError, RedisSearchError)
MAX_WINDOW = 10_000  # RediSearch's default MAXSEARCHRESULTS: offset + limit may not pass it


def _schema_dict() -> dict[str, Any]:
    fields: list[dict[str, Any]] = [{"name": name, "type": "text"} for name in TEXT_FIELDS]
    fields += [
        {
            "name": name,
            "type": "tag",
            "attrs": {"separator": TAG_SEPARATOR, "case_sensitive": True, "index_missing": name in MISSABLE_FIELDS},
        }
        for name in (*TAG_FIELDS, HIDDEN_FIELD)
    ]
    fields += [
        {"name": name, "type": "numeric", "attrs": {"sortable": True, "index_missing": name in MISSABLE_FIELDS}}
        for name in NUMERIC_FIELDS
    ]
    vector = {"dims": settings.EMBEDDING_DIMENSIONS, "algorithm": "hnsw", "distance_metric": "cosine"}
    fields.append({"name": "vector", "type": "vector", "attrs": {**vector, "datatype": VECTOR_DATATYPE}})
    index = {"name": settings.MEMORY_INDEX_NAME, "prefix": settings.MEMORY_INDEX_PREFIX}
    return {"index": {**index, "key_separator": ":", "storage_type": "hash"}, "fields": fields}


def _schema_fingerprint() -> bytes:
    return hashlib.sha256(json.dumps(_schema_dict(), sort_keys=True).encode()).hexdigest().encode()


@lru_cache(maxsize=1)
def get_index() -> SearchIndex:
    return SearchIndex(IndexSchema.from_dict(_schema_dict()), redis_client=get_redis_bytes())


def ensure_index() -> None:
    """Create the index if it is missing, or recreate it when the schema changed (keeping the documents,
    those of an older format rewritten first (`index_format`): RediSearch re-indexes every hash under the
    prefix). Idempotent and safe to race (a concurrent creator's "already exists" is ignored)."""
    index = get_index()
    client = get_redis_bytes()
    schema_key = redis_keys.index_schema_key()
    fingerprint = _schema_fingerprint()
    exists = index.exists()
    if exists and client.get(schema_key) == fingerprint:
        return
    if exists:
        logger.info("index schema changed: recreating %s over its documents", settings.MEMORY_INDEX_NAME)
        index.delete(drop=False)
    if n := index_format.upgrade_documents(client, redis_keys.index_document_prefix().encode()):
        logger.info("rewrote %d documents of an older format in place, before the index exists again", n)
    try:
        index.create(overwrite=False)
    except RedisSearchError as exc:
        if "already exists" not in str(exc).lower():
            raise
    client.set(schema_key, fingerprint)


def drop_index(*, delete_documents: bool = True) -> None:
    index = get_index()
    if index.exists():
        index.delete(drop=delete_documents)
    get_redis_bytes().delete(redis_keys.index_schema_key())


def to_micros(value: datetime) -> int:
    return int(round(value.timestamp() * 1_000_000))


def _field_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_micros(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple)):
        return TAG_SEPARATOR.join(value)
    return value


def upsert_records(records: Iterable[Any]) -> None:
    """Replace the document of each record (any object with the DOCUMENT_FIELDS
    attributes and an `embedding` of float32 bytes)."""
    upsert_documents(
        [{name: getattr(r, name) for name in DOCUMENT_FIELDS} for r in records],
        [np.frombuffer(bytes(r.embedding), dtype=np.float32) for r in records],
    )


def upsert_documents(documents: list[dict[str, Any]], vectors: Iterable[np.ndarray]) -> None:
    """Replace one hash per document; `documents[i]["id"]` is the record id.

    Values that are None or empty lists are left out, so `missing()` finds them; `hidden` is derived.
    """
    if not documents:
        return
    ensure_index()
    pipe = get_redis_bytes().pipeline(transaction=False)
    for document, vector in zip(documents, vectors, strict=True):
        row = {k: _field_value(v) for k, v in document.items() if v not in (None, [], ()) and k != "id"}
        row["memory_id"] = document["id"]
        row["vector"] = _as_bytes(vector)
        if hidden := hidden_tag(document.get("status"), document.get("superseded_at") is not None):
            row[HIDDEN_FIELD] = hidden
        key = redis_keys.index_document_key(document["id"])
        pipe.delete(key)  # a replace, so fields that became empty do not linger
        pipe.hset(key, mapping=row)  # type: ignore[arg-type]  # str keys encode; the stub's key type is invariant
    pipe.execute()


def delete_documents(record_ids: list[str]) -> int:
    if not record_ids:
        return 0
    return get_redis_bytes().delete(*[redis_keys.index_document_key(i) for i in record_ids])


def touch_last_accessed(accessed: dict[str, datetime], *, resolution_seconds: float) -> None:
    """Move documents' `last_accessed` forward, skipping those already within
    `resolution_seconds` of the new value (and documents that do not exist)."""
    if not accessed:
        return
    pipe = get_redis_bytes().pipeline(transaction=False)
    resolution = int(resolution_seconds * 1_000_000)
    for record_id, at in accessed.items():
        redis_keys.INDEX_TOUCH_IF_STALE(
            keys=[redis_keys.index_document_key(record_id)], args=[to_micros(at), resolution], client=pipe
        )
    pipe.execute()


def document_ids() -> set[str]:
    """Every record id that has a document (for reconciling with the DB)."""
    client = get_redis_bytes()
    prefix = redis_keys.index_document_prefix().encode()
    return {key[len(prefix) :].decode() for key in client.scan_iter(match=prefix + b"*", count=1000)}


def document_count() -> int:
    """Documents in the index (FT.INFO's num_docs: O(1)), 0 without one: the admin's drift figure."""
    index = get_index()
    return int(float(index.info()["num_docs"])) if index.exists() else 0


def stored_vectors(record_ids: list[str]) -> dict[str, np.ndarray]:
    if not record_ids:
        return {}
    pipe = get_redis_bytes().pipeline(transaction=False)
    for record_id in record_ids:
        pipe.hget(redis_keys.index_document_key(record_id), "vector")
    return {
        record_id: np.frombuffer(raw, dtype=VECTOR_DTYPE).astype(np.float32)
        for record_id, raw in zip(record_ids, pipe.execute(), strict=True)
        if raw is not None
    }


# --- Filters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One filter condition.

    Tag ops: eq, ne, any, all, none. Numeric ops: gt, gte, lt, lte, eq, between
    (values are datetimes for date fields). `missing` / `present` take no values.
    """

    field: str
    op: str
    values: tuple[Any, ...] = ()


def _escape_tag(value: str) -> str:
    # Escape every ASCII character that is not a letter, digit or underscore; other
    # characters carry no meaning in the tag syntax.
    return "".join(f"\\{c}" if ord(c) < 128 and not (c.isalnum() or c == "_") else c for c in value)


def _tag_union(field: str, values: Iterable[str]) -> str:
    return f"@{field}:{{{' | '.join(_escape_tag(v) for v in values)}}}"


def _number(field: str, value: Any) -> str:
    if field in DATE_FIELDS:
        return str(to_micros(value))
    return repr(float(value))


def _clause(condition: Condition) -> str:
    field, op, values = condition.field, condition.op, condition.values
    if op == "missing":
        return f"ismissing(@{field})"
    if op == "present":
        return f"-ismissing(@{field})"
    if field in TAG_FIELDS or field == HIDDEN_FIELD:
        if not values:
            raise ValueError(f"tag condition {field} {op} needs values")
        if op in ("eq", "any"):
            return _tag_union(field, values)
        if op in ("ne", "none"):
            return f"-{_tag_union(field, values)}"
        if op == "all":
            return " ".join(_tag_union(field, [v]) for v in values)
    elif field in NUMERIC_FIELDS:
        if op == "between":
            low, high = values
            return f"@{field}:[{_number(field, low)} {_number(field, high)}]"
        (value,) = values
        n = _number(field, value)
        return {
            "eq": f"@{field}:[{n} {n}]",
            "gt": f"@{field}:[({n} +inf]",
            "gte": f"@{field}:[{n} +inf]",
            "lt": f"@{field}:[-inf ({n}]",
            "lte": f"@{field}:[-inf {n}]",
        }[op]
    raise ValueError(f"unsupported condition {condition}")


def owner_conditions(namespace: str | None, user_id: str | None) -> list[Condition]:
    """One owner's documents, the (namespace, user) pair a record belongs to: each `eq`,
    or `missing` when None (a record without a user is its own owner, never everyone's)."""
    return [
        Condition(name, "eq", (value,)) if value is not None else Condition(name, "missing")
        for name, value in (("namespace", namespace), ("user_id", user_id))
    ]


def filter_string(conditions: list[Condition]) -> str:
    """All conditions ANDed; "*" when there are none."""
    # Each clause parenthesised, so combining with a text clause never changes precedence.
    return " ".join(f"({_clause(c)})" for c in conditions) or "*"


def _with_text(text_clause: str, conditions: list[Condition]) -> str:
    filters = filter_string(conditions)
    return text_clause if filters == "*" else f"({text_clause}) {filters}"


# --- Queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    id: str
    vector_distance: float | None = None
    text_score: float | None = None


def _missing_index(exc: Exception) -> bool:
    return "no such index" in str(exc).lower()


def _with_index(call: Callable[[], Any]) -> Any:
    """Run `call()`; if the index is missing (e.g. after a flush), create it and run it once more."""
    try:
        return call()
    except (redis.ResponseError, RedisSearchError) as exc:
        if not _missing_index(exc):
            raise
    ensure_index()
    return call()


def _run(query: Any) -> Any:  # a RedisVL query (redisvl ships no types)
    """Run a RedisVL query (see `_with_index`)."""
    return _with_index(lambda: get_index().search(query.query, query_params=query.params))


def count(conditions: list[Condition]) -> int:
    return int(_run(CountQuery(filter_expression=filter_string(conditions))).total)


def _as_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()


def _knn(vector: np.ndarray, conditions: list[Condition], k: int) -> VectorQuery:
    return VectorQuery(
        vector=_as_bytes(vector),
        vector_field_name="vector",
        return_fields=RETURN_FIELDS,
        filter_expression=filter_string(conditions),
        num_results=k,
        return_score=True,
        dtype=VECTOR_DATATYPE,
    )


def _hits(result: Any) -> list[Hit]:
    return [Hit(id=_decode(d.memory_id), vector_distance=float(d.vector_distance)) for d in result.docs]


def vector_search(vector: np.ndarray, *, conditions: list[Condition], k: int) -> list[Hit]:
    """The k nearest documents by cosine distance (0 = identical, 2 = opposite)."""
    if k <= 0:
        return []
    return _hits(_run(_knn(vector, conditions, k)))


def vector_search_counted(vector: np.ndarray, *, conditions: list[Condition], k: int) -> tuple[list[Hit], int]:
    """`vector_search` and how many documents match the filter, in one round trip."""
    knn, counting = _knn(vector, conditions, max(k, 1)), CountQuery(filter_expression=filter_string(conditions))
    found, counted = _with_index(
        lambda: get_index().batch_search([(knn.query, knn.params), (counting.query, counting.params)])
    )
    return (_hits(found) if k > 0 else []), counted.total


def vector_range(vector: np.ndarray, *, conditions: list[Condition], threshold: float, k: int) -> tuple[list[Hit], int]:
    """Documents within `threshold` cosine distance, nearest first (up to k), and how many there are."""
    query = VectorRangeQuery(
        vector=_as_bytes(vector),
        vector_field_name="vector",
        return_fields=RETURN_FIELDS,
        filter_expression=filter_string(conditions),
        distance_threshold=threshold,
        num_results=max(k, 0),
        return_score=True,
        dtype=VECTOR_DATATYPE,
    )
    if k <= 0:
        query.paging(0, 0)
    result = _run(query)
    return sorted(_hits(result), key=lambda h: h.vector_distance or 0.0), result.total  # each hit has a distance


# Matches asked of each query term: every match of a term rarer than this may be scored
# (MEMORY_KEYWORD_CANDIDATES bounds the distinct candidates of all terms together).
TERM_CANDIDATES = 100


@dataclass(frozen=True)
class KeywordCandidate:
    """What Redis ships of one candidate: the first MEMORY_KEYWORD_SCORE_BYTES of its
    text and context, their full sizes in bytes, and when a field was cut (then only does
    BM25 need them) the positions (0-based, in the query's terms) of the terms that found it."""

    id: str
    text: bytes
    text_bytes: int
    context: bytes
    context_bytes: int
    terms: tuple[int, ...]


@dataclass(frozen=True)
class KeywordCandidates:
    in_filter: int  # documents passing the filter (BM25's N)
    matching: int  # documents matching any term (the search's total)
    frequencies: list[int]  # documents matching each term, in the order of `terms`
    per_term: int  # the matches asked of each term
    candidates: list[KeywordCandidate]


def candidates_per_term(k: int) -> int:
    """Matches asked of each term: enough for k results, never more than a search may score."""
    return min(max(k, TERM_CANDIDATES), int(settings.MEMORY_KEYWORD_CANDIDATES))


def keyword_candidates(text: str, *, conditions: list[Condition], k: int) -> KeywordCandidates | None:
    """The statistics and candidates BM25 needs for `text`, in one server script
    (redis_keys.KEYWORD_CANDIDATES); None when the index was missing (it is created).

    Bounded whatever the query: each term's best `candidates_per_term(k)` matches are
    read, at most MEMORY_KEYWORD_CANDIDATES distinct candidates come back (each term first
    brings its share of new ones), and each with at most 2 x MEMORY_KEYWORD_SCORE_BYTES
    of text, however deep `k`, many the terms or long the documents."""
    reply = _keyword_reply(textquery.terms(text), conditions=conditions, k=k)
    if reply is None:
        return None
    in_filter, matching, frequencies, rows = reply
    candidates = [  # Lua's term numbers are 1-based
        KeywordCandidate(
            rows[i].decode(), rows[i + 1], rows[i + 2], rows[i + 3], rows[i + 4], tuple(t - 1 for t in rows[i + 5])
        )
        for i in range(0, len(rows), 6)
    ]
    per_term = candidates_per_term(k)
    return KeywordCandidates(int(in_filter), int(matching), [int(f) for f in frequencies], per_term, candidates)


def _keyword_reply(words: list[str], *, conditions: list[Condition], k: int) -> Any:
    """KEYWORD_CANDIDATES's reply for `words` (`textquery.terms`); None without an index."""
    if not words:
        raise ValueError("a keyword search needs at least one meaningful term")
    # The filter is written once for every clause: once per clause was a tenth of the CPU.
    filters, fields = filter_string(conditions), "|".join(TEXT_FIELDS)
    escaped = [textquery.escape(word) for word in words]
    texts = [f"@{fields}:({t})" for t in [" | ".join(escaped), *escaped]]  # every term, then each
    clauses = [filters, *(texts if filters == "*" else (f"({t}) {filters}" for t in texts))]  # as `_with_text`
    budget, prefix = settings.MEMORY_KEYWORD_CANDIDATES, settings.MEMORY_KEYWORD_SCORE_BYTES
    args = [settings.MEMORY_INDEX_NAME, candidates_per_term(k), budget, prefix, *clauses]
    try:
        return redis_keys.KEYWORD_CANDIDATES(keys=[], args=args, client=get_redis_bytes())
    except redis.ResponseError as exc:
        if not _missing_index(exc):
            raise
        ensure_index()
        return None


def text_search(
    text: str, *, conditions: list[Condition], k: int, only_ids: list[str] | None = None
) -> tuple[list[Hit], int]:
    """Top-k BM25F matches of the meaningful terms of `text` and how many documents match.

    No meaningful terms means no text condition: nothing matches (callers that want
    "everything" list by filter instead). `only_ids` scores just those documents.

    RediSearch's own scores are not used: on this build a tag filter clause adds to every
    match's score with a length factor, which buries long documents. Instead, one server
    script (`keyword_candidates`) asks, within the filter, how many documents there are,
    how many match the query (the true total), and for each term its document frequency
    and its best matches; the candidates are then scored with BM25F over the text and
    the context (`bm25`).
    """
    words = textquery.terms(text)
    if not words or k <= 0:
        return [], 0
    conditions = list(conditions)
    if only_ids is not None:
        if not only_ids:
            return [], 0
        conditions.append(Condition("memory_id", "any", tuple(only_ids)))
    reply = _keyword_reply(words, conditions=conditions, k=k)
    if reply is None:
        return [], 0
    scores = bm25.scores_of_reply(words, reply)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [Hit(id=record_id, text_score=score) for record_id, score in ranked], int(reply[1])


def list_ids(
    *, conditions: list[Condition], offset: int, limit: int, sort_by: str = "created_at", descending: bool = True
) -> tuple[list[str], int]:
    """A page of ids matching the filter, ordered by a numeric field, and the total."""
    query = FilterQuery(
        filter_expression=filter_string(conditions),
        return_fields=RETURN_FIELDS,
        num_results=limit,
        sort_by=(sort_by, "DESC" if descending else "ASC"),
    )
    query.paging(offset, limit)
    result = _run(query)
    return [_decode(d.memory_id) for d in result.docs], result.total


_LN2 = 0.6931471805599453
_DAY_MICROS = 86_400_000_000


def _positional(value: float) -> str:
    """A float as APPLY's expression parser reads it: digits and a point, never an
    exponent (repr's 1.4e-08 or 8.3e+16 was a syntax error, found by schema fuzzing)."""
    return format(Decimal(repr(float(value))), "f")


def list_by_recency(
    *,
    conditions: list[Condition],
    now: datetime,
    freshness_weight: float,
    novelty_weight: float,
    half_life_last_access_days: float,
    half_life_created_days: float,
    offset: int,
    limit: int,
) -> list[tuple[str, float]]:
    """A page of (id, recency) for the filter, best recency first, computed in Redis.

    recency = freshness_weight * 0.5 ** (days since last access / half_life_last_access_days)
            + novelty_weight * 0.5 ** (days since created / half_life_created_days)
    (the same formula as `memory.selectors.long_term.recency_score`).
    """
    t = to_micros(now)
    expression = (
        f"{_positional(freshness_weight)} * exp(-{_LN2} * ({t} - @last_accessed) / "
        f"{_positional(half_life_last_access_days * _DAY_MICROS)}) + "
        f"{_positional(novelty_weight)} * exp(-{_LN2} * ({t} - @created_at) / "
        f"{_positional(half_life_created_days * _DAY_MICROS)})"
    )
    args = [
        "FT.AGGREGATE",
        settings.MEMORY_INDEX_NAME,
        filter_string(conditions),
        *["LOAD", "3", "@memory_id", "@created_at", "@last_accessed", "APPLY"],
        expression,
        *f"AS recency SORTBY 4 @recency DESC @memory_id ASC MAX {offset + limit} LIMIT {offset} {limit}".split(),
        *["DIALECT", "2"],
    ]
    reply = _with_index(lambda: get_redis_bytes().execute_command(*args))
    return [(_decode(row[b"memory_id"]), float(row[b"recency"])) for row in _aggregate_rows(reply)]


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _aggregate_rows(reply: Any) -> list[dict[bytes, Any]]:
    """FT.AGGREGATE rows as dicts of bytes, from a RESP3 map or a RESP2 array."""
    if isinstance(reply, dict):
        return [row[b"extra_attributes"] for row in reply[b"results"]]
    return [dict(zip(row[::2], row[1::2], strict=True)) for row in reply[1:]]

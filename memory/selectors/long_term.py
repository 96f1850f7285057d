"""Reads of long-term memory: get one record, its history, and search.

Search runs one query embedding (cached) and a few Redis queries, then loads the rows
by id: the index finds and ranks, the DB supplies what is returned. A document whose
row is gone is left out of the page (and reported back, so the caller can clean up).

Ranking, the same on every path:

    relevance  semantic: similarity = 1 - cosine distance, clipped to [0, 1]
               keyword:  BM25 / best BM25 of the query (0..1)
               hybrid:   alpha * vector part + (1 - alpha) * confidence * BM25 part (see `fuse`)
               no text:  0 (records are listed by recency, or newest first)
    recency    freshness_weight * 0.5 ** (days since last access / half_life_last_access_days)
             + novelty_weight   * 0.5 ** (days since created     / half_life_created_days)
    score      semantic_weight * relevance + recency_weight * recency   (recency_boost on)
               relevance                                                (recency_boost off)
"""

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from memory import embeddings, index, textquery
from memory.index_format import HIDDEN_FIELD, SUPERSEDED, UNAPPROVED
from memory.models import MemoryHistory, MemoryRecord, MemoryStatus, MemoryType
from memory.selectors import search_rows

SEARCH_MODES = ("semantic", "keyword", "hybrid")
# Weight of the vector part in hybrid search, chosen on two LoCoMo conversations and
# checked on three others (BENCHMARKS.md). The reference server defaults to 0.7.
DEFAULT_HYBRID_ALPHA = 0.4
# The best raw BM25 (in nats of idf) at which hybrid trusts the BM25 order fully (`fuse`).
HYBRID_BM25_CONFIDENT = 2.0


@dataclass(frozen=True)
class Recency:
    boost: bool = True
    semantic_weight: float = 0.8
    recency_weight: float = 0.2
    freshness_weight: float = 0.6
    novelty_weight: float = 0.4
    half_life_last_access_days: float = 7.0
    half_life_created_days: float = 30.0


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    mode: str = "semantic"
    hybrid_alpha: float = DEFAULT_HYBRID_ALPHA
    conditions: tuple[index.Condition, ...] = ()
    distance_threshold: float | None = None
    limit: int = 10
    offset: int = 0
    recency: Recency = field(default_factory=Recency)
    # Superseded records (replaced by an update) are left out unless asked for.
    include_superseded: bool = False
    # A caller that shows no total (the memory prompt) saves the semantic path's count
    # query; `total` is then the number of candidates found.
    count_total: bool = True
    # The searching credential's tenant: whose query-embedding cache entry to use
    # (`memory.api.filters.scoped_query` sets it; "" for in-process callers).
    tenant: str = ""


@dataclass(frozen=True)
class SearchHit:
    record: MemoryRecord
    dist: float
    score: float
    score_type: str | None


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    total: int
    next_offset: int | None
    stale_ids: list[str]  # documents without a row: the index should drop them


def memory_get(*, memory_id: str) -> MemoryRecord | None:
    return MemoryRecord.objects.filter(id=memory_id).first()


def memory_history(*, memory_id: str) -> list[MemoryHistory]:
    """What happened to a record, newest first (also after it was deleted)."""
    return list(MemoryHistory.objects.filter(memory_id=memory_id).order_by("-created_at", "-id"))


def records_in_scope(
    *, namespace: str | None = None, user_id: str | None = None, session_id: str | None = None
) -> QuerySet[MemoryRecord]:
    """Records in a scope; a scope value of None does not filter."""
    rows = MemoryRecord.objects.all()
    for name, value in (("namespace", namespace), ("user_id", user_id), ("session_id", session_id)):
        if value is not None:
            rows = rows.filter(**{name: value})
    return rows


def recency_score(*, last_accessed: datetime, created_at: datetime, now: datetime, recency: Recency) -> float:
    days_idle = max((now - last_accessed).total_seconds(), 0.0) / 86400.0
    days_old = max((now - created_at).total_seconds(), 0.0) / 86400.0
    # Annotated, not float(): typeshed types float ** float as Any (a negative base gives a complex).
    score: float = recency.freshness_weight * 0.5 ** (
        days_idle / recency.half_life_last_access_days
    ) + recency.novelty_weight * 0.5 ** (days_old / recency.half_life_created_days)
    return score


# Records no update has replaced (`superseded_at` missing), said as the exclusion of the few
# documents `hidden` marks superseded: cheaper than a clause matching nearly every record.
CURRENT = index.Condition(HIDDEN_FIELD, "none", (SUPERSEDED,))
# Approved records (`status` approved): the exclusion of the documents marked unapproved.
APPROVED = index.Condition(HIDDEN_FIELD, "none", (UNAPPROVED,))
LIVE = index.Condition(HIDDEN_FIELD, "none", (UNAPPROVED, SUPERSEDED))


def _with_defaults(filters: tuple[index.Condition, ...], *, current: bool) -> list[index.Condition]:
    """Only approved records, unless the caller filtered on status itself; only current
    ones when `current`. One clause for both (`LIVE`)."""
    conditions = list(filters)
    approved = not any(c.field == "status" for c in conditions)
    if approved or current:
        conditions.append(LIVE if approved and current else APPROVED if approved else CURRENT)
    return conditions


def _similarity(distance: float) -> float:
    return min(max(1.0 - distance, 0.0), 1.0)


def fuse(vector_distances: dict[str, float], text_scores: dict[str, float], alpha: float) -> dict[str, float]:
    """Hybrid relevance of every candidate: alpha * vector part + (1 - alpha) * confidence * BM25 part.

    Both parts are min-max normalised over the candidates, so each signal spans [0, 1]
    whatever the model's similarity range or the query's BM25 scale. A candidate one
    side did not score gets 0 from that side. `alpha` (the API's `hybrid_alpha`) is the
    weight of the vector part, as in the reference.

    Min-max stretches any spread to [0, 1], also one that means nothing: when the best
    BM25 match only shares words every candidate has (a user's own name, in a search
    filtered on that user), the BM25 order is noise. So the BM25 part counts in
    proportion to the best raw BM25, `confidence` = min(1, best / HYBRID_BM25_CONFIDENT):
    full weight once the best match holds a term about as rare as one document in
    seven, nothing when no informative term matched (BENCHMARKS.md, "Hybrid fusion").
    """

    def normalise(values: dict[str, float]) -> dict[str, float]:
        if not values:
            return {}
        low, high = min(values.values()), max(values.values())
        span = high - low
        return {k: (v - low) / span if span > 0 else 1.0 for k, v in values.items()}

    vector_part = normalise({k: _similarity(d) for k, d in vector_distances.items()})
    text_part = normalise(text_scores)
    confidence = min(max(text_scores.values(), default=0.0) / HYBRID_BM25_CONFIDENT, 1.0)
    text_weight = (1.0 - alpha) * confidence
    return {
        k: alpha * vector_part.get(k, 0.0) + text_weight * text_part.get(k, 0.0)
        for k in vector_distances.keys() | text_scores.keys()
    }


def memories_search(*, query: SearchQuery, now: datetime | None = None) -> SearchResult:
    now = now or timezone.now()
    conditions = _with_defaults(query.conditions, current=not query.include_superseded)
    recency = query.recency
    window = query.offset + query.limit
    has_terms = bool(textquery.terms(query.text))
    if not query.text.strip() or (query.mode == "keyword" and not has_terms):
        return _list_by_filter(query, conditions, now)

    # Recency re-ranks a deeper window than the page; without it the page is exact.
    depth = max(window, settings.MEMORY_HYBRID_DEPTH) if recency.boost or query.mode == "hybrid" else window
    distances: dict[str, float] = {}
    relevance: dict[str, float] = {}
    if query.mode == "keyword":
        text_hits, total = index.text_search(query.text, conditions=conditions, k=depth)
        scores = {h.id: h.text_score for h in text_hits if h.text_score is not None}  # a text query scores each
        best = max(scores.values(), default=0.0) or 1.0
        relevance = {k: score / best for k, score in scores.items()}
    else:
        vector = embeddings.embed_query(query.text, tenant=query.tenant)
        if query.distance_threshold is not None:
            vector_hits, total = index.vector_range(
                vector, conditions=conditions, threshold=query.distance_threshold, k=depth
            )
        elif query.count_total:
            vector_hits, total = index.vector_search_counted(vector, conditions=conditions, k=depth)
        else:
            vector_hits = index.vector_search(vector, conditions=conditions, k=depth)
            total = len(vector_hits)
        distances = {h.id: h.vector_distance for h in vector_hits if h.vector_distance is not None}  # each has one
        if query.mode == "semantic":
            relevance = {k: _similarity(d) for k, d in distances.items()}
        else:
            relevance, distances = _hybrid(query, vector, conditions, distances, depth)

    scored, stale = _rank_and_load(relevance, query, now)
    if query.mode == "hybrid":
        _fill_distances(vector, distances, [k for _, k, _ in scored if k not in distances])
    page = [
        SearchHit(record=record, dist=distances.get(k, 1.0 - relevance[k]), score=score, score_type=query.mode)
        for score, k, record in scored
    ]
    total = max(total - len(stale), 0)
    return SearchResult(hits=page, total=total, next_offset=window if window < total else None, stale_ids=stale)


def _rank_and_load(
    relevance: dict[str, float], query: SearchQuery, now: datetime
) -> tuple[list[tuple[float, str, MemoryRecord]], list[str]]:
    """The page's (score, id, record), best first, and the candidates with no row (stale).

    Candidates are ranked on two columns read as plain values; only the page's rows are
    loaded whole: a recency-boosted search ranks 50 candidates for a page of 10, and
    building 50 model instances was 40% of a semantic search's CPU.
    """
    recency = query.recency
    ranking = search_rows.ranking_columns(list(relevance))
    stale = [k for k in relevance if k not in ranking]
    scored = []
    for record_id, (last_accessed, created_at) in ranking.items():
        score = relevance[record_id]
        if recency.boost:
            score = recency.semantic_weight * score + recency.recency_weight * recency_score(
                last_accessed=last_accessed, created_at=created_at, now=now, recency=recency
            )
        scored.append((score, record_id))
    scored.sort(key=lambda item: (-item[0], item[1]))
    scored = scored[query.offset : query.offset + query.limit]
    records = search_rows.records_by_id([k for _, k in scored])
    return [(score, k, records[k]) for score, k in scored if k in records], stale


def _hybrid(
    query: SearchQuery, vector: np.ndarray, conditions: list[index.Condition], distances: dict[str, float], depth: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Fuse the vector candidates with the BM25 candidates (the best `depth` of each).

    A candidate the other side did not rank among its best gets 0 from that side.
    Scoring both signals for every candidate (extra queries) ranked evidence worse on
    the LoCoMo tuning conversations when BM25 came from RediSearch; it has not been
    re-measured since BM25 became exact (BENCHMARKS.md).
    """
    text_hits, _ = index.text_search(query.text, conditions=conditions, k=depth)
    text_scores = {h.id: h.text_score for h in text_hits if h.text_score is not None}  # each has one
    relevance = fuse(distances, text_scores, query.hybrid_alpha)
    if query.distance_threshold is not None:
        # Every result must be within the threshold, text-only candidates included.
        _fill_distances(vector, distances, [k for k in text_scores if k not in distances])
        relevance = {k: v for k, v in relevance.items() if distances.get(k, 2.0) <= query.distance_threshold}
    return relevance, distances


def _fill_distances(vector: np.ndarray, distances: dict[str, float], record_ids: list[str]) -> None:
    """Cosine distances of documents the vector query did not return, from their stored vectors."""
    if not record_ids:
        return
    q = np.asarray(vector, dtype=np.float32)
    for record_id, stored in index.stored_vectors(record_ids).items():
        distances[record_id] = float(1.0 - stored @ q)


def _list_by_filter(query: SearchQuery, conditions: list[index.Condition], now: datetime) -> SearchResult:
    """No text condition: every record matching the filter, by recency (or newest first)."""
    recency = query.recency
    total = index.count(conditions)
    if recency.boost:
        rows = index.list_by_recency(
            conditions=conditions,
            now=now,
            freshness_weight=recency.freshness_weight,
            novelty_weight=recency.novelty_weight,
            half_life_last_access_days=recency.half_life_last_access_days,
            half_life_created_days=recency.half_life_created_days,
            offset=query.offset,
            limit=query.limit,
        )
        scores = {record_id: recency.recency_weight * rec for record_id, rec in rows}
    else:
        ids, total = index.list_ids(conditions=conditions, offset=query.offset, limit=query.limit)
        scores = dict.fromkeys(ids, 0.0)
    records = search_rows.records_by_id(list(scores))
    stale = [k for k in scores if k not in records]
    hits = [
        SearchHit(record=records[k], dist=1.0 - s, score=s, score_type=None) for k, s in scores.items() if k in records
    ]
    window = query.offset + query.limit
    total = max(total - len(stale), 0)
    return SearchResult(hits=hits, total=total, next_offset=window if window < total else None, stale_ids=stale)


def similar_current_memories(
    *, namespace: str | None, user_id: str | None, texts: list[str], k: int
) -> list[MemoryRecord]:
    """The `k` stored memories of one owner (namespace and user) nearest to any of `texts` (by vector), for
    extraction to label updates against: current (not superseded), not rejected, and
    not raw `message` records. Nearest first; each record once."""
    texts = [t for t in texts if t.strip()]
    if not texts or k <= 0:
        return []
    conditions = index.owner_conditions(namespace, user_id) + [
        index.Condition("status", "ne", (MemoryStatus.REJECTED,)),
        index.Condition("memory_type", "ne", (MemoryType.MESSAGE,)),
        CURRENT,
    ]
    best: dict[str, float] = {}
    for vector in embeddings.embed_texts(texts):
        for hit in index.vector_search(vector, conditions=conditions, k=k):
            if hit.vector_distance is not None:  # a vector query gives each hit its distance
                best[hit.id] = min(hit.vector_distance, best.get(hit.id, 2.0))
    ranked = sorted(best, key=lambda i: (best[i], i))
    rows = (
        MemoryRecord.objects.defer("embedding")
        .filter(namespace=namespace, user_id=user_id, superseded_by__isnull=True)
        .exclude(status=MemoryStatus.REJECTED)
        .in_bulk(ranked)
    )
    return [rows[i] for i in ranked if i in rows][:k]


def supersede_chain(*, record: MemoryRecord) -> list[str]:
    """The ids of a record's chain, newest first: from the current end of the chain
    back through every record it superseded (each supersedes at most one here; where
    several were superseded by one record, the older ones follow by supersede time)."""
    newest = record
    seen = {record.id}
    while newest.superseded_by_id and newest.superseded_by_id not in seen:
        following = MemoryRecord.objects.defer("embedding").filter(id=newest.superseded_by_id).first()
        if following is None:
            break
        seen.add(following.id)
        newest = following
    chain, frontier = [newest.id], [newest.id]
    while frontier:
        older = list(
            MemoryRecord.objects.filter(superseded_by_id__in=frontier)
            .exclude(id__in=chain)
            .order_by("-superseded_at", "-id")
            .values_list("id", flat=True)
        )
        chain += older
        frontier = older
    return chain

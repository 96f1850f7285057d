"""Erasing one user's memory in one namespace: every row and Redis key derived from what
they said, and a receipt that proves it without repeating any of it.

What is removed, and how each kind is found (the receipt counts each, in KINDS order):

- `working_memory_sessions`: the sessions in the user's listing scope for the namespace
  (`listing_scope_key`), expired ones pruned first; deleted with `working_memory_delete`.
- `summary_pending_keys`: the running-summary guard of every session of the user
  (working memory, promotion state, runs).
- `debounce_windows`: every promotion window keyed with the namespace and user (found
  by key pattern), and the unowned window of each of the user's sessions (written before
  the user claimed it).
- `summary_partitions`: summary-view partitions of the namespace and user (their group
  names them), and any partition that summarised one of the user's records (its
  `memories`): the summary text quotes them. Removed before the records.
- `summary_runs`: every summarizing run of those partitions (their raw output quotes
  the memories too).
- `long_term_records`: `MemoryRecord` rows of the namespace and user.
- `history_rows`: `MemoryHistory` rows of the owner, of the erased records, and any
  whose `before` / `after` / `merged` snapshot names the owner.
- `source_messages`, `session_promotions`, `extraction_runs`: rows of the namespace
  owned by the user, plus unowned rows ("" user) of the user's sessions (turns written
  before the session was claimed), plus the runs that made the erased records (runs
  hold the model's raw output and errors, which quote the turns).
- `admin_log_entries`: Django admin log rows about any erased row (they quote its text).
- `index_documents`: the RedisVL documents of every erased id that has no row left,
  and any document still tagged with the owner whose row is gone.
- `index_tombstones`: `MemoryIndexRemoval` rows of those ids that were waiting for a sweep.
- `embedding_cache_entries`: query-embedding cache entries of every text found above
  (record texts and contexts, snapshot texts, turns, session contexts and memories).
  The cache is keyed by a hash of the query alone, so a query that matches none of
  those texts cannot be traced to the user; it expires after EMBEDDING_CACHE_TTL_SECONDS.

The order is chosen so that nothing can be lost track of:
1. Working memory first (its cached embeddings, then the sessions and their keys): a
   promotion that fires afterwards finds no session to bring the turns back from.
2. The database, in one transaction, with the cache entries of the texts it held
   deleted inside it: if Redis fails there, the rows roll back and the texts stay
   findable for a rerun. Redis failing in steps 1 or 2 raises; the erase is rerun.
3. Once it commits, the index documents and the keys of sessions only the database
   named. These can be found again without the rows (documents carry the owner's
   tags, windows its key prefix, tombstones make the sweep drop the documents), so a
   Redis failure here is only reported: the receipt's `incomplete` lists the kinds,
   and running the erase again finishes them.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model, Q

from memory import index, redis_keys
from memory.models import (
    ErasureReceipt,
    MemoryHistory,
    MemoryIndexRemoval,
    MemoryRecord,
    SessionPromotion,
    SourceMessage,
    SummaryPartition,
)
from memory.redis_client import get_redis, text_list
from memory.selectors.working_memory import working_memory_get
from memory.services.working_memory import working_memory_delete, working_memory_prune
from policies.models import ExtractionRun, SummaryRun

logger = logging.getLogger(__name__)

KINDS = (
    "working_memory_sessions",
    "summary_pending_keys",
    "debounce_windows",
    "summary_partitions",
    "summary_runs",
    "long_term_records",
    "history_rows",
    "source_messages",
    "session_promotions",
    "extraction_runs",
    "admin_log_entries",
    "index_documents",
    "index_tombstones",
    "embedding_cache_entries",
)
# History entries keep whole snapshots under these keys (see MemoryHistory).
SNAPSHOT_KEYS = ("before", "after", "merged")
REDIS_ERRORS = (redis.RedisError, *index.INDEX_ERRORS)
# Keys per DEL, and index documents per listing page (RediSearch's window caps the total).
BATCH = 1000

_T = TypeVar("_T")


@dataclass
class _Erasure:
    """What one erase has found and removed so far."""

    namespace: str | None
    user_id: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    incomplete: list[str] = field(default_factory=list)
    session_ids: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    memory_ids: set[str] = field(default_factory=set)

    @property
    def ns(self) -> str:
        """The namespace as provenance rows store it ("" for none)."""
        return self.namespace or ""

    def in_namespace(self, prefix: str = "") -> Q:
        """Rows (or snapshots under `prefix`) of this namespace; no namespace matches both
        NULL and "", as Redis keys them alike. `None` is IS NULL on a column and JSON
        null on a snapshot key."""
        namespace = Q(**{f"{prefix}namespace": self.namespace})
        if self.namespace is None:
            namespace |= Q(**{f"{prefix}namespace": ""})
        return namespace

    def owner(self, prefix: str = "") -> Q:
        """Rows (or snapshots under `prefix`) of this namespace and user."""
        return self.in_namespace(prefix) & Q(**{f"{prefix}user_id": self.user_id})

    def records(self) -> Q:
        """The owner's records, and records with no user made from one of the user's
        sessions (turns promoted before the user claimed the session)."""
        unowned = (Q(user_id=None) | Q(user_id="")) & Q(session_id__in=self.session_ids)
        return self.owner() | (self.in_namespace() & unowned)

    def provenance(self) -> Q:
        """Provenance rows ("" for no namespace or user) of the user, and unowned ones of
        the user's sessions."""
        owner = Q(user_id=self.user_id) | Q(user_id="", session_id__in=self.session_ids)
        return Q(namespace=self.ns) & owner

    def keep_texts(self, *texts: object) -> None:
        # Clients often send a query trimmed, and the cache keys the exact text: keep both forms.
        for text in texts:
            if isinstance(text, str) and text.strip():
                self.texts.update((text, text.strip()))


def user_digest(*, namespace: str | None, user_id: str) -> str:
    """A keyed hash of namespace and user (HMAC-SHA256 with SECRET_KEY, hex): the receipt
    holds this instead of the id, so an operator can check whether a given user was
    erased while the receipt alone names nobody."""
    message = json.dumps([namespace or "", user_id], separators=(",", ":")).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def user_erase(*, namespace: str | None, user_id: str, actor: str) -> ErasureReceipt:
    """Remove every trace of `user_id` in `namespace` (None: no namespace) and return the
    receipt, which names the actor and counts what went, by kind, with no personal text.

    Scope is explicit: both are required, and nothing outside that one owner is touched.
    Raises a Redis error when working memory or the cache cannot be erased (the database
    is then left as it was: run it again). Inside an outer transaction the index cleanup
    waits for its commit.
    """
    if not user_id:
        raise ValueError("user_id is required: an erase acts on one named user")
    if not actor:
        raise ValueError("actor is required: every erase names who ran it")
    erasure = _Erasure(namespace=namespace or None, user_id=user_id)
    _working_memory_erase(erasure)
    return _database_erase(erasure, actor=actor)


def _best_effort(erasure: _Erasure, kind: str, step: Callable[[_Erasure], None]) -> None:
    try:
        step(erasure)
    except REDIS_ERRORS as exc:
        logger.warning("erasure: %s not (fully) erased, run the erase again: %s", kind, exc)
        erasure.incomplete.append(kind)


# --- Working memory (Redis, before the database) ------------------------------------------


def _working_memory_erase(erasure: _Erasure) -> None:
    """Delete the user's sessions in the namespace, their summary guards and debounce
    windows, and the cached embeddings of their texts (before the sessions, which are
    the only place those texts may be found)."""
    # Redis keys "no namespace" and "" alike; expired sessions are pruned first.
    namespace = erasure.ns
    working_memory_prune(namespace=namespace, user_id=erasure.user_id)
    scope = redis_keys.listing_scope_key(namespace=namespace, user_id=erasure.user_id)
    sessions = []
    for session_id in redis_keys.listed_session_ids(text_list(get_redis().zrange(scope, 0, -1)), namespace=namespace):
        session = working_memory_get(session_id=session_id, namespace=namespace, user_id=erasure.user_id)
        if session is None or session["user_id"] != erasure.user_id:
            continue  # expired or re-owned since it was listed
        sessions.append(session_id)
        erasure.keep_texts(session.get("context"))
        for message in session.get("messages") or []:
            erasure.keep_texts(message.get("content"), f"{message.get('role')}: {message.get('content')}")
        for memory in session.get("memories") or []:
            erasure.keep_texts(memory.get("text"))
    _cache_erase(erasure)
    for session_id in sessions:
        working_memory_delete(session_id=session_id, namespace=namespace, user_id=erasure.user_id)
        erasure.session_ids.add(session_id)
        erasure.counts["working_memory_sessions"] += 1
    _session_keys_erase(erasure)


def _session_keys_erase(erasure: _Erasure) -> None:
    """Debounce windows of the user in the namespace (found by key pattern, so windows of
    sessions nothing else names go too), and summary guards of the user's sessions."""
    client = get_redis()
    pattern = redis_keys.owner_promotion_windows_pattern(namespace=erasure.namespace, user_id=erasure.user_id)
    keys = list(client.scan_iter(match=pattern, count=BATCH))
    for session_id in sorted(erasure.session_ids):
        # A window written before the session was claimed is keyed with no user.
        keys.append(redis_keys.window_key(namespace=erasure.namespace, user_id=None, session_id=session_id))
        erasure.counts["summary_pending_keys"] += client.delete(
            redis_keys.summary_pending_key(erasure.namespace, session_id)
        )
    erasure.counts["debounce_windows"] += sum(client.delete(*chunk) for chunk in _chunks(keys))


# --- The database (one transaction) ------------------------------------------------------------


@transaction.atomic
def _database_erase(erasure: _Erasure, *, actor: str) -> ErasureReceipt:
    _sessions_find(erasure)
    _summary_partitions_erase(erasure)
    run_ids = _records_erase(erasure)
    _history_erase(erasure)
    _provenance_erase(erasure, run_ids)
    # Inside the transaction: if Redis fails here the rows (and so the texts) stay for a rerun.
    _cache_erase(erasure)
    gone = _leave_tombstones(erasure)
    receipt = ErasureReceipt.objects.create(
        namespace=erasure.ns,
        user_digest=user_digest(namespace=erasure.namespace, user_id=erasure.user_id),
        actor=actor,
        counts=_receipt_counts(erasure),
    )
    transaction.on_commit(lambda: _after_commit(erasure, receipt, gone))
    return receipt


def _sessions_find(erasure: _Erasure) -> None:
    """The user's sessions the database knows of (expired working memory included)."""
    for model in (SessionPromotion, ExtractionRun):
        rows = model.objects.filter(namespace=erasure.ns, user_id=erasure.user_id)
        erasure.session_ids.update(rows.values_list("session_id", flat=True))


def _summary_partitions_erase(erasure: _Erasure) -> None:
    """Partitions of the owner, or that summarised one of its records, and their runs."""
    summarised = MemoryRecord.objects.filter(erasure.records()).values("pk")
    rows = SummaryPartition.objects.filter(erasure.owner() | Q(memories__in=summarised)).distinct()
    found = list(rows.values_list("pk", "view_id", "group_key"))
    runs = Q(pk__in=[])
    for _, view_id, group_key in found:
        runs |= Q(view_id=view_id, group_key=group_key)
    run_pks = list(SummaryRun.objects.filter(runs).values_list("pk", flat=True))
    erasure.counts["summary_partitions"] = _delete(SummaryPartition, [pk for pk, _, _ in found])
    erasure.counts["summary_runs"] = _delete(SummaryRun, run_pks)


def _records_erase(erasure: _Erasure) -> set[int]:
    """Delete the user's records; returns the runs that made them."""
    rows = MemoryRecord.objects.select_for_update().filter(erasure.records())
    run_ids = set()
    for record_id, text, context, run_id in rows.values_list("id", "text", "context", "extraction_run_id"):
        erasure.memory_ids.add(record_id)
        erasure.keep_texts(text, context)
        if run_id is not None:
            run_ids.add(run_id)
    _log_entries_erase(erasure, MemoryRecord, sorted(erasure.memory_ids))
    erasure.counts["long_term_records"] = _delete(MemoryRecord, sorted(erasure.memory_ids))
    return run_ids


def _history_erase(erasure: _Erasure) -> None:
    """Every history row of the owner or its records, and any snapshot naming the owner."""
    named = Q(memory_id__in=erasure.memory_ids) | erasure.owner()
    for key in SNAPSHOT_KEYS:
        named |= erasure.owner(f"detail__{key}__")
    rows = list(MemoryHistory.objects.filter(named).values_list("pk", "memory_id", "detail"))
    for _, memory_id, detail in rows:
        erasure.memory_ids.add(memory_id)
        for key in SNAPSHOT_KEYS:
            snapshot = (detail or {}).get(key)
            if isinstance(snapshot, dict):
                erasure.keep_texts(snapshot.get("text"), snapshot.get("context"))
    pks = [pk for pk, _, _ in rows]
    _log_entries_erase(erasure, MemoryHistory, pks)
    erasure.counts["history_rows"] = _delete(MemoryHistory, pks)


def _provenance_erase(erasure: _Erasure, run_ids: set[int]) -> None:
    """Source turns, promotion state and extraction runs of the user in the namespace."""
    owned = erasure.provenance()
    messages = SourceMessage.objects.filter(owned)
    for role, content in messages.values_list("role", "content"):
        erasure.keep_texts(content, f"{role}: {content}")
    runs = ExtractionRun.objects.filter(owned | Q(pk__in=run_ids))
    for model, rows, kind in (
        (SourceMessage, messages, "source_messages"),
        (SessionPromotion, SessionPromotion.objects.filter(owned), "session_promotions"),
        (ExtractionRun, runs, "extraction_runs"),
    ):
        pks = list(rows.values_list("pk", flat=True))
        _log_entries_erase(erasure, model, pks)
        erasure.counts[kind] = _delete(model, pks)


def _log_entries_erase(erasure: _Erasure, model: type[Model], pks: list[Any]) -> None:
    """Admin log rows about these objects: their `object_repr` quotes the text."""
    if not pks:
        return
    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model))
    for chunk in _chunks([str(pk) for pk in pks]):
        erasure.counts["admin_log_entries"] += entries.filter(object_id__in=chunk).delete()[0]


def _delete(model: type[Model], pks: list[Any]) -> int:
    """Delete rows of `model` by primary key; returns how many rows of `model` itself went."""
    # `_default_manager` is `objects` on these models (none declares another manager);
    # the stubs give a bare Model class no `objects`.
    manager = model._default_manager
    return sum(manager.filter(pk__in=chunk).delete()[1].get(model._meta.label, 0) for chunk in _chunks(pks))


def _chunks(items: list[_T]) -> Iterator[list[_T]]:
    """Slices of at most BATCH items: databases cap a query's parameters, Redis a command's size."""
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _leave_tombstones(erasure: _Erasure) -> list[str]:
    """The erased ids with no row left (a history id may name a record that now belongs to
    another owner: its document stays). Each gets a tombstone until its document is gone,
    so the periodic sweep drops the document if the cleanup after commit cannot."""
    ids = sorted(erasure.memory_ids)
    survivors = {
        i for chunk in _chunks(ids) for i in MemoryRecord.objects.filter(id__in=chunk).values_list("id", flat=True)
    }
    gone = [i for i in ids if i not in survivors]
    erasure.counts["index_tombstones"] = sum(
        MemoryIndexRemoval.objects.filter(memory_id__in=chunk).count() for chunk in _chunks(gone)
    )
    MemoryIndexRemoval.objects.bulk_create(
        [MemoryIndexRemoval(memory_id=i) for i in gone], ignore_conflicts=True, batch_size=BATCH
    )
    return gone


def _receipt_counts(erasure: _Erasure) -> dict[str, Any]:
    counts: dict[str, Any] = dict(erasure.counts)
    if erasure.incomplete:
        counts["incomplete"] = sorted(set(erasure.incomplete))
    return counts


# --- After the commit: Redis and the receipt's final counts -------------------------------------


def _after_commit(erasure: _Erasure, receipt: ErasureReceipt, gone: list[str]) -> None:
    """Index documents, and the keys of sessions the database named. Both are found again
    by a rerun (owner-tagged documents, window key pattern), and the sweep drops the
    documents of the tombstones meanwhile."""
    _best_effort(erasure, "debounce_windows", _session_keys_erase)
    _best_effort(erasure, "index_documents", lambda e: _index_erase(e, gone))
    receipt.counts = _receipt_counts(erasure)
    ErasureReceipt.objects.filter(pk=receipt.pk).update(counts=receipt.counts)
    logger.info("erasure %s by %s: %s", receipt.pk, receipt.actor, receipt.counts)


def _index_erase(erasure: _Erasure, gone: list[str]) -> None:
    """Documents of the erased ids, then any document still tagged with the owner whose
    row is gone (e.g. a delete whose document removal was lost)."""
    stray = sorted(set(_owner_document_ids(erasure)) - set(gone))
    # A row of the owner written since the commit is new data, and keeps its document.
    live = {
        i for chunk in _chunks(stray) for i in MemoryRecord.objects.filter(id__in=chunk).values_list("id", flat=True)
    }
    doomed = gone + [i for i in stray if i not in live]
    erasure.counts["index_documents"] = sum(index.delete_documents(chunk) for chunk in _chunks(doomed))
    # The documents are gone, so their tombstones (ours, older ones, a failed erase's) have nothing left to do.
    for chunk in _chunks(doomed):
        MemoryIndexRemoval.objects.filter(memory_id__in=chunk).delete()


def _owner_document_ids(erasure: _Erasure) -> list[str]:
    conditions = index.owner_conditions(erasure.namespace, erasure.user_id)
    ids, total = index.list_ids(conditions=conditions, offset=0, limit=BATCH)
    for offset in range(BATCH, min(total, index.MAX_WINDOW), BATCH):
        ids += index.list_ids(conditions=conditions, offset=offset, limit=BATCH)[0]
    return ids


def _cache_erase(erasure: _Erasure) -> None:
    """Query-embedding cache entries of every text found so far (the current model's keys
    only); the texts are dropped once their entries are gone."""
    keys = sorted({redis_keys.query_embedding_key(model=settings.EMBEDDING_MODEL, text=t) for t in erasure.texts})
    client = get_redis()
    erasure.counts["embedding_cache_entries"] += sum(client.delete(*chunk) for chunk in _chunks(keys))
    erasure.texts.clear()

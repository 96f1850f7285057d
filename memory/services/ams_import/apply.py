"""Writing what `source` read: records, sessions, summary views and their partitions, each
through our own rows and services, each skipped when already here.

A record or view whose id is here already is skipped: "unchanged" when it came from the
same source content (the digest in its import history row, or equal fields), "changed"
when the reference's copy changed since it was imported, "deleted" when ours was deleted
since, or "taken" when the id is (or was) a record of this server's own. Ours is kept (or
stays deleted) and the report lists the key: an import never overwrites, nor brings back,
a record someone may have edited or deleted here.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from memory import embeddings
from memory.datetimes import datetime_encode
from memory.models import MemoryHistory, MemoryRecord, MemoryStatus, SessionPromotion, SummaryPartition, SummaryView
from memory.selectors.working_memory import working_memory_get
from memory.services.ams_import.source import SourcePartition, SourceRecord, SourceSession, SourceView
from memory.services.long_term.dedup import memory_hash
from memory.services.long_term.indexing import embed_records, index_on_commit, vector_bytes
from memory.services.summary_views.views import summary_view_create
from memory.services.working_memory import working_memory_put
from policies.llm_models import model_refusal

ACTOR = "import:ams"
SOURCE = "agent-memory-server"
_VIEW_FIELDS = ("name", "source", "group_by", "filters", "time_window_days", "continuous", "prompt", "model_name")


@dataclass(frozen=True)
class Outcome:
    key: str
    outcome: str  # imported | unchanged | changed | deleted | taken
    reason: str = ""


def records_import(*, sources: list[SourceRecord], dry_run: bool, reuse_vectors: bool = False) -> list[Outcome]:
    """One batch of records: new ids embedded with our model (or, `reuse_vectors`, with the
    reference's vectors once they prove to be our model's) and written with their history
    (actor `import:ams`, the source key and digest), in one transaction; the index follows
    on commit."""
    ids = [s.values["id"] for s in sources]
    existing = set(MemoryRecord.objects.filter(id__in=ids).values_list("id", flat=True))
    histories = MemoryHistory.objects.filter(memory_id__in=ids)
    # Any history: an id that was a record here, even a deleted one, is never given to another.
    known = set(histories.values_list("memory_id", flat=True))
    imported_digests = {
        h.memory_id: h.detail.get("source", {}).get("digest")
        for h in histories.filter(actor=ACTOR, action=MemoryHistory.Action.CREATED).only("memory_id", "detail")
    }
    outcomes: list[Outcome] = []
    new: list[SourceRecord] = []
    for source in {s.values["id"]: s for s in sources}.values():  # SCAN may repeat a key
        outcome = _record_outcome(source, existing, known, imported_digests)
        outcomes.append(outcome)
        if outcome.outcome == "imported":
            new.append(source)
    if new and not dry_run:
        _records_write(new, reuse_vectors=reuse_vectors)
    return outcomes


def _record_outcome(
    source: SourceRecord, existing: set[str], known: set[str], imported_digests: dict[str, str | None]
) -> Outcome:
    record_id = source.values["id"]
    if record_id in imported_digests and record_id not in existing:
        return Outcome(source.key, "deleted", "deleted here since it was imported; not brought back")
    if record_id in imported_digests:
        if imported_digests[record_id] == source.digest:
            return Outcome(source.key, "unchanged")
        return Outcome(source.key, "changed", "changed on the reference since it was imported; ours kept")
    if record_id in known:
        return Outcome(source.key, "taken", f"id {record_id} is (or was) a record of this server's; ours kept")
    return Outcome(source.key, "imported")


class VectorsOfAnotherModel(ValueError):
    """--reuse-vectors, but the reference's vectors are not what this server's model makes."""


# Our model's vector of a text and the reference's of the same text, when it ran the same
# model: equal but for float rounding (and its provider's batching).
SAME_MODEL_MIN_COSINE = 0.99


def _vectors(sources: list[SourceRecord], reuse: bool) -> np.ndarray:
    """Our model's vectors of the records' texts: embedded, or with `reuse` the reference's
    own, once the batch's first text embedded here matches its stored vector."""
    if not reuse:
        return embed_records((s.values["text"], None) for s in sources)
    dimensions = settings.EMBEDDING_DIMENSIONS
    wrong = next((s for s in sources if len(s.vector) != 4 * dimensions), None)
    if wrong is not None:
        raise VectorsOfAnotherModel(
            f"{wrong.key} has no {dimensions}-dimension vector (EMBEDDING_DIMENSIONS): run without --reuse-vectors"
        )
    theirs: np.ndarray = np.stack([np.frombuffer(s.vector, dtype=np.float32) for s in sources])
    norms = np.linalg.norm(theirs, axis=1, keepdims=True)
    if not np.allclose(norms, 1.0, atol=1e-3):  # ours are L2-normalised; kept as they are when theirs are too
        theirs = (theirs / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    probe = embed_records([(sources[0].values["text"], None)])[0]
    cosine = float(np.dot(probe, theirs[0]))
    if cosine < SAME_MODEL_MIN_COSINE:
        raise VectorsOfAnotherModel(
            f"the reference's vector of {sources[0].key} is not this server's model's (cosine {cosine:.2f}): "
            "run without --reuse-vectors"
        )
    return theirs


@transaction.atomic
def _records_write(sources: list[SourceRecord], *, reuse_vectors: bool) -> None:
    now = timezone.now()
    vectors = _vectors(sources, reuse_vectors)
    model = embeddings.model_name()
    rows = []
    for source, vector in zip(sources, vectors, strict=True):
        values = dict(source.values)
        values["persisted_at"] = values["persisted_at"] or now  # when a row first existed here
        rows.append(
            MemoryRecord(
                **values,
                memory_hash=memory_hash(values["text"]),
                status=MemoryStatus.APPROVED,
                embedding=vector_bytes(vector),
                embedding_model=model,
                index_pending=True,
            )
        )
    MemoryRecord.objects.bulk_create(rows, batch_size=500)
    histories = [
        MemoryHistory.of(
            row,
            action=MemoryHistory.Action.CREATED,
            actor=ACTOR,
            reason=f"imported from {SOURCE}",
            detail={
                "source": {
                    "server": SOURCE,
                    "key": source.key,
                    "digest": source.digest,
                    "discrete_memory_extracted": source.discrete_memory_extracted,
                }
            },
        )
        for row, source in zip(rows, sources, strict=True)
    ]
    MemoryHistory.objects.bulk_create(histories, batch_size=500)
    index_on_commit(row.id for row in rows)


def _session_equal(here: dict[str, Any], source: SourceSession) -> bool:
    return (
        [m["id"] for m in here["messages"]] == [m["id"] for m in source.messages]
        and [m.get("id") for m in here["memories"]] == [m.get("id") for m in source.memories]
        and (here.get("data") or {}) == (source.data or {})
        and here.get("context") == source.context
    )


def session_import(*, source: SourceSession, dry_run: bool) -> Outcome:
    """A session through our PUT's service (messages keep their ids and times). Session
    memories the reference had already promoted (`persisted_at` set) are marked promoted,
    so our promotion does not make them again: the import brings the records themselves."""
    here = working_memory_get(session_id=source.session_id, namespace=source.namespace, user_id=None)
    if here is not None:
        if (here.get("user_id") or None) != source.user_id:
            # The reference keys a session by user too; here a namespace has one session of an id.
            return Outcome(source.key, "taken", f"session {source.session_id} here is another user's; ours kept")
        if _session_equal(here, source):
            return Outcome(source.key, "unchanged")
        return Outcome(source.key, "changed", "differs from the session here; ours kept")
    if dry_run:
        return Outcome(source.key, "imported")
    promoted = {m["id"]: memory_hash(m["text"]) for m in source.memories if m.get("persisted_at") and m.get("text")}
    if promoted:
        state, _ = SessionPromotion.objects.get_or_create(
            namespace=source.namespace or "", session_id=source.session_id, defaults={"user_id": source.user_id or ""}
        )
        state.promoted_memories.update(promoted)
        state.save(update_fields=["promoted_memories"])
    working_memory_put(
        session_id=source.session_id,
        namespace=source.namespace,
        user_id=source.user_id,
        messages=[_message(m) for m in source.messages],
        memories=source.memories,
        data=source.data,
        context=source.context,
        ttl_seconds=source.ttl_seconds,
        long_term_memory_strategy=source.long_term_memory_strategy,
        window=None,
    )
    return Outcome(source.key, "imported")


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """A message as our PUT stores it: created_at always set (the reference's default is now)."""
    return {**message, "created_at": message["created_at"] or datetime_encode(timezone.now())}


def view_import(
    *, source: SourceView, tenant: str, namespaces: list[str] | None, dry_run: bool
) -> tuple[Outcome, SummaryView | None]:
    """A view, owned by the import's tenant; its reach is the namespace its filters name
    when that one was imported, else every namespace the import claimed (None: all)."""
    values: dict[str, Any] = {name: source.values.get(name) for name in _VIEW_FIELDS}
    values["group_by"] = values["group_by"] or []
    values["filters"] = values["filters"] or {}
    values["source"] = values["source"] or "long_term"
    values["continuous"] = bool(values["continuous"])
    here = SummaryView.objects.filter(id=source.values["id"]).first()
    if here is not None:
        if all(getattr(here, name) == value for name, value in values.items()) and here.tenant == tenant:
            return Outcome(source.key, "unchanged"), here
        return Outcome(source.key, "changed", "differs from the view here; ours kept"), here
    if dry_run:
        refusal = model_refusal(values["model_name"] or "")  # what the create would refuse
        if refusal:
            raise ValidationError({"model": refusal})
        return Outcome(source.key, "imported"), None
    filtered = values["filters"].get("namespace")
    reach = [filtered] if isinstance(filtered, str) and namespaces and filtered in namespaces else namespaces
    # Through the create service, so a view with its own prompt or model gets its policy version.
    view = summary_view_create(
        tenant=tenant,
        namespaces=frozenset(reach) if reach is not None else None,
        user_ids=None,
        fields={"id": source.values["id"], **values},
        actor=ACTOR,
    )
    return Outcome(source.key, "imported"), view


def _owner(group: dict[str, str], view: SummaryView, name: str) -> str | None:
    """A partition's namespace or user: its group's, else the one the view's filters name
    (as our own runs store it, memory.services.summary_views.runs)."""
    fixed = (view.filters or {}).get(name)
    return group.get(name) or (fixed if isinstance(fixed, str) else None)


def partition_import(*, source: SourcePartition, view: SummaryView | None, dry_run: bool) -> Outcome:
    """A partition's latest result. The reference does not say which memories it covered,
    so none are linked, and it reads as stale until our next run recomputes it."""
    if view is not None and SummaryPartition.objects.filter(view=view, group_key=source.group_key).exists():
        return Outcome(source.key, "unchanged")
    if dry_run or view is None:
        return Outcome(source.key, "imported")
    SummaryPartition.objects.create(
        view=view,
        group_key=source.group_key,
        group=source.group,
        namespace=_owner(source.group, view, "namespace"),
        user_id=_owner(source.group, view, "user_id"),
        summary=source.summary,
        kind=SummaryPartition.Kind.LLM if source.summary else SummaryPartition.Kind.EMPTY,
        memory_count=source.memory_count,
        covered_count=source.memory_count,
        computed_at=source.computed_at,
    )
    return Outcome(source.key, "imported")

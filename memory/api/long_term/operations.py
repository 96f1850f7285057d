"""The long-term operations, one function each, called by every door.

`memories_create_respond`, `memories_search_respond`, `memory_get_respond`,
`memory_edit_respond`, `memories_delete_respond`, `memories_forget_respond` and
`memories_compact_respond` each take the request's data as plain values, the caller's
`Scope` (`memory.api.scope`, pinned to a namespace where the door is) and, for a write,
the actor its history rows name. Each validates with its input serializer
(`memory.api.long_term.serializers`), applies the scope, calls the services and
selectors, and returns the response dict its output serializer documents. A refusal is
a DRF exception naming the field: the REST views answer it as JSON, the MCP tools as a
tool error (`memory.mcp.calls`).
"""

from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions

from memory import index
from memory.api.errors import field_error, not_found_error
from memory.api.fields import validated
from memory.api.filters import filter_conditions, scoped_query
from memory.api.long_term.serializers import (
    READ_ONLY_FIELDS,
    SERVER_MOVED_FIELDS,
    CreateMemoriesSerializer,
    EditMemorySerializer,
    ForgetSerializer,
    ScopeQuerySerializer,
    SearchSerializer,
    memory_to_dict,
)
from memory.api.scope import OutOfScope, Scope
from memory.datetimes import datetime_decode
from memory.models import MemoryRecord
from memory.selectors.long_term import (
    Recency,
    SearchQuery,
    memories_search,
    memory_get,
    supersede_chain,
)
from memory.selectors.scope import record_scopes
from memory.selectors.search_rows import superseded_ids
from memory.services import long_term as services

# One reason for every door: the history row's actor says which door it was.
DELETE_REASON = "deleted through the API"


def _memory_not_found(memory_id: str) -> exceptions.NotFound:
    return not_found_error(
        f"Memory {memory_id} not found", loc=["path", "memory_id"], msg=f"no memory with id {memory_id!r}."
    )


def _record_in_scope(scope: Scope, memory_id: str) -> MemoryRecord:
    """The record; a 404 when it does not exist or lies outside the scope."""
    record = memory_get(memory_id=memory_id)
    if record is None or not scope.allows(namespace=record.namespace, user_id=record.user_id):
        raise _memory_not_found(memory_id)
    return record


# --- Create ---------------------------------------------------------------------------------------


def check_unique_ids(memories: list[dict[str, Any]]) -> None:
    """Refuse a batch naming one id twice, naming both places."""
    seen: dict[str, int] = {}
    for position, memory in enumerate(memories):
        memory_id = memory.get("id")
        if memory_id and memory_id in seen:
            raise field_error(
                ["body", "memories", position, "id"],
                f"Duplicate id {memory_id!r} (also at memories[{seen[memory_id]}]).",
            )
        if memory_id:
            seen[memory_id] = position


def memories_create_respond(data: Any, *, scope: Scope, actor: str) -> dict[str, Any]:
    """Store a batch of records (`CreateMemoriesSerializer`), each in the scope: a
    namespace or user outside it is a 403; an absent one is the scope's only one (422
    when it has several). Answers `CreateResultsOutputSerializer`."""
    body = validated(CreateMemoriesSerializer, data)
    check_unique_ids(body["memories"])
    for position, memory in enumerate(body["memories"]):
        loc: list[str | int] = ["body", "memories", position]
        memory["namespace"] = scope.namespace(memory.get("namespace"), [*loc, "namespace"])
        memory["user_id"] = scope.user(memory.get("user_id"), [*loc, "user_id"])
    try:
        result = services.memories_create(
            records=body["memories"],
            deduplicate=body["deduplicate"],
            actor=actor,
            may_review="review" in scope.permissions,
        )
    except services.MemoryIdConflictError as exc:
        raise field_error(["body", "memories", exc.position, "id"], str(exc), "conflict") from exc
    outcomes = [
        {
            "id": o.id,
            "outcome": o.outcome,
            "distance": o.distance,
            "history_id": o.history_id,
            "conflicts": list(o.conflicts),
        }
        for o in result.outcomes
    ]
    return {"status": "ok", "memories": outcomes}


# --- Search ---------------------------------------------------------------------------------------

_RECENCY_FIELDS = (
    "semantic_weight",
    "recency_weight",
    "freshness_weight",
    "novelty_weight",
    "half_life_last_access_days",
    "half_life_created_days",
)


def check_search_depth(*, offset: int, limit: int, text: str) -> None:
    """Refuse a page deeper than a search may go: MEMORY_MAX_SEARCH_DEPTH with text (the
    candidates every mode ranks grow with offset + limit), RediSearch's window without.
    Named `limit` only when the limit alone is too deep."""
    cap = settings.MEMORY_MAX_SEARCH_DEPTH if text.strip() else index.MAX_WINDOW
    if offset + limit <= cap:
        return
    what = "a search with text" if text.strip() else "a listing without text"
    raise field_error(
        ["body", "limit" if limit > cap else "offset"],
        f"offset + limit must be at most {cap} for {what} (got {offset + limit}); narrow the filters instead.",
        "search_too_deep",
    )


def search_query_from_body(data: dict[str, Any], attrs: dict[str, Any]) -> SearchQuery:
    """The validated body as a SearchQuery: every filter becomes conditions, none is dropped."""
    conditions = filter_conditions(data)
    text = attrs.get("text") or ""
    check_search_depth(offset=attrs["offset"], limit=attrs["limit"], text=text)
    if attrs.get("distance_threshold") is not None:
        if attrs["search_mode"] == "keyword":
            raise field_error(
                ["body", "distance_threshold"], "distance_threshold applies to semantic and hybrid search, not keyword."
            )
        if not text.strip():
            raise field_error(["body", "distance_threshold"], "distance_threshold needs a query text.")
    defaults = Recency()
    recency = Recency(
        boost=True if attrs.get("recency_boost") is None else attrs["recency_boost"],
        **{
            name: attrs[f"recency_{name}"] if attrs.get(f"recency_{name}") is not None else getattr(defaults, name)
            for name in _RECENCY_FIELDS
        },
    )
    return SearchQuery(
        text=text,
        mode=attrs["search_mode"],
        hybrid_alpha=attrs["hybrid_alpha"],
        conditions=tuple(conditions),
        distance_threshold=attrs.get("distance_threshold"),
        limit=attrs["limit"],
        offset=attrs["offset"],
        recency=recency,
        include_superseded=attrs["include_superseded"],
    )


def memories_search_respond(data: Any, *, scope: Scope) -> dict[str, Any]:
    """Search (`SearchSerializer`) inside the scope, count the hits' access, and answer
    `SearchResultsOutputSerializer`: each hit with what it superseded, and its chain
    with include_superseded. Built as plain dicts: this is a hot path."""
    query = search_query_from_body(data, validated(SearchSerializer, data))
    query = scoped_query(query, data, scope)
    now = timezone.now()
    result = memories_search(query=query, now=now)
    found_ids = [h.record.id for h in result.hits]
    services.memories_after_search(found_ids=found_ids, stale_ids=result.stale_ids, accessed_at=now)
    supersedes = superseded_ids(record_ids=found_ids)
    memories = []
    for hit in result.hits:
        item = memory_to_dict(hit.record)
        item.update(dist=hit.dist, score=hit.score, score_type=hit.score_type, supersedes=supersedes[hit.record.id])
        if query.include_superseded:
            item["chain"] = supersede_chain(record=hit.record)
        memories.append(item)
    return {"memories": memories, "total": result.total, "next_offset": result.next_offset}


# --- Get / edit / delete --------------------------------------------------------------------------


def memory_get_respond(memory_id: str, *, scope: Scope) -> dict[str, Any]:
    """One record in the scope (else 404), with the ids it superseded (`MemoryDetailOutputSerializer`)."""
    record = _record_in_scope(scope, memory_id)
    return {**memory_to_dict(record), "supersedes": superseded_ids(record_ids=[record.id])[record.id]}


_DATETIME_FIELDS = ("created_at", "persisted_at", "last_accessed", "updated_at")


def _edit_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Only the editable fields the caller sent: an absent field is left as it is; a field
    no record has is ignored, as the reference ignores it (a record's read-only fields are
    checked against the stored record by `_check_read_only`)."""
    attrs = validated(EditMemorySerializer, data)
    changes = {k: v for k, v in attrs.items() if k in data}
    if not changes and not any(name in data for name in (*READ_ONLY_FIELDS, *SERVER_MOVED_FIELDS)):
        fields = ", ".join(EditMemorySerializer().fields)
        raise field_error(["body"], f"Give at least one field to change ({fields}).", "missing")
    return changes


def _check_read_only(record: MemoryRecord, data: dict[str, Any]) -> None:
    """Refuse a read-only field whose value is not the stored record's (422 naming it)."""
    stored = memory_to_dict(record)
    for name in (*READ_ONLY_FIELDS, *SERVER_MOVED_FIELDS):
        if name not in data or _same_value(name, data[name], stored[name]):
            continue
        earlier = " or an earlier value" if name in SERVER_MOVED_FIELDS else ""
        # Cut: a value (a config, the caller's) may be kilobytes long.
        sent, kept = repr(data[name])[:100], repr(stored[name])[:100]
        raise field_error(
            ["body", name],
            f"{name} is read-only: it may be sent only as stored ({kept}{earlier}), not {sent}.",
            "read_only",
        )


def _same_value(name: str, sent: Any, stored: Any) -> bool:
    """Whether a read-only field as sent says what is stored (a server-moved field: at most it)."""
    if name in _DATETIME_FIELDS:
        try:
            sent = datetime_decode(sent)
        except ValueError:
            return False
        stored = datetime_decode(stored)
    if name in SERVER_MOVED_FIELDS:
        if sent is None:
            return True
        if isinstance(sent, bool) or not isinstance(sent, type(stored)):
            return False
        return bool(sent <= stored)
    return bool(sent == stored)


def memory_edit_respond(memory_id: str, data: Any, *, scope: Scope, actor: str) -> dict[str, Any]:
    """Edit a record in the scope (`EditMemorySerializer`; 404 outside it); a move to a
    namespace or user outside the scope is a 403; a read-only field that differs from the
    stored record is a 422. Answers `MemoryRecordOutputSerializer`."""
    changes = _edit_changes(data)
    record = _record_in_scope(scope, memory_id)
    _check_read_only(record, data)
    if changes.get("status") == record.status:
        del changes["status"]  # a spread record's own status: no review decision to guard
    if not changes:
        return memory_to_dict(record)
    if changes.get("namespace") is not None:
        scope.namespace(changes["namespace"], ["body", "namespace"])
    if changes.get("user_id") is not None:
        scope.user(changes["user_id"], ["body", "user_id"])
    moved_to = {name: changes.get(name, getattr(record, name)) for name in ("namespace", "user_id")}
    if not scope.allows(**moved_to):  # e.g. a namespace set to null under a scope of namespaces
        raise OutOfScope("The edit would move the memory outside this credential's scope.")
    try:
        record = services.memory_edit(
            memory_id=memory_id, changes=changes, actor=actor, may_review="review" in scope.permissions
        )
    except services.MemoryNotFoundError as exc:
        raise _memory_not_found(memory_id) from exc
    except services.ReviewNotAllowedError as exc:
        raise exceptions.PermissionDenied(
            f"Field {exc.field!r}: {exc} (this credential's permissions: {scope.permissions_said})."
        ) from exc
    return memory_to_dict(record)


def memories_delete_respond(memory_ids: list[str], *, scope: Scope, actor: str) -> dict[str, Any]:
    """Delete records by id (`DeleteResultOutputSerializer`). A record outside the scope
    is ignored as an unknown id is (no 404 that says it exists), except under a pin,
    where an id not in the pinned namespace is a 404 naming it."""
    loc = ["query", "memory_ids"]
    if not memory_ids:
        raise field_error(loc, "Give at least one memory id.", "missing")
    if len(memory_ids) > settings.MEMORY_MAX_DELETE_BATCH:
        raise field_error(loc, f"At most {settings.MEMORY_MAX_DELETE_BATCH} ids per call.")
    if scope.pin is not None:
        found = record_scopes(memory_ids=memory_ids)
        for memory_id in memory_ids:
            if memory_id not in found or not scope.allows(namespace=found[memory_id][0], user_id=found[memory_id][1]):
                raise not_found_error(
                    f"Memory {memory_id} not found in namespace {scope.pin}",
                    loc=loc,
                    msg=f"no memory with id {memory_id!r} in namespace {scope.pin!r}.",
                )
    deleted = services.memories_delete(memory_ids=memory_ids, reason=DELETE_REASON, actor=actor, visible=scope.allows)
    return {"status": f"ok, deleted {deleted} memories", "deleted": deleted}


# --- Forget / compact -----------------------------------------------------------------------------


def _explicit_owner(scope: Scope, query: dict[str, Any]) -> tuple[str | None, str | None]:
    """Forget and compact act in one namespace, never across every namespace by default:
    the one named, else the credential's only one (or its pin); an operator key, or one
    with several, must name it. And for a user when the credential is bound to users."""
    loc = ["query", "namespace"]
    named_or_only = query.get("namespace") is not None or scope.pin is not None or scope.namespaces is not None
    namespace = scope.namespace(query.get("namespace"), loc, required=not named_or_only)
    return namespace, scope.user(query.get("user_id"), ["query", "user_id"], required=True)


def forget_is_dry_run(query: dict[str, Any], body: dict[str, Any]) -> bool:
    """A forget deletes only when told `dry_run` false (in the query, as the reference
    reads it, or in the body), and neither says true: absent, it is a dry run, as on the
    reference (agent-memory-client sends the flag only when it is true)."""
    said = [value for value in (query.get("dry_run"), body.get("dry_run")) if value is not None]
    return any(said) or not said


def memories_forget_respond(query: dict[str, Any], data: Any, *, scope: Scope, actor: str) -> dict[str, Any]:
    """Apply a forgetting policy (`ForgetSerializer` body, `ScopeQuerySerializer` query)
    in a named namespace, at most MEMORY_FORGET_MAX_PER_CALL records per call; answers
    `ForgetResultOutputSerializer`."""
    query = validated(ScopeQuerySerializer, query, "query")
    body = validated(ForgetSerializer, data)
    namespace, user_id = _explicit_owner(scope, query)
    policy = body["policy"]
    cap = settings.MEMORY_FORGET_MAX_PER_CALL
    result = services.memories_forget(
        namespace=namespace,
        user_id=user_id,
        session_id=query.get("session_id"),
        max_age_days=policy.get("max_age_days"),
        max_inactive_days=policy.get("max_inactive_days"),
        budget=policy.get("budget"),
        memory_types=policy.get("memory_type_allowlist"),
        pinned_ids=body.get("pinned_ids") or [],
        limit=min(query["limit"], cap) if query.get("limit") else cap,
        dry_run=forget_is_dry_run(query, body),
        actor=actor,
    )
    return {
        "scanned": result.scanned,
        "deleted": len(result.deleted_ids),
        "deleted_ids": result.deleted_ids,
        "dry_run": result.dry_run,
        "remaining": result.remaining,
        "max_per_call": cap,
    }


def memories_compact_respond(query: dict[str, Any], *, scope: Scope, actor: str) -> dict[str, Any]:
    """Merge duplicates in a named namespace (`ScopeQuerySerializer` query); answers
    `CompactResultOutputSerializer`."""
    query = validated(ScopeQuerySerializer, query, "query")
    namespace, user_id = _explicit_owner(scope, query)
    if query["dry_run"]:
        raise field_error(["query", "dry_run"], "Compaction has no dry run; nothing was merged.", "unsupported")
    result = services.memories_compact(
        namespace=namespace, user_id=user_id, actor=actor, may_review="review" in scope.permissions
    )
    return {
        "status": f"ok, {result.remaining} memories remaining after compaction",
        "merged": result.merged,
        "remaining": result.remaining,
    }

"""Long-term memory routes, wire-compatible with agent-memory-server 0.15 / agent-memory-client 0.14.

POST   /v1/long-term-memory/            create ({"memories": [...], "deduplicate": true})
POST   /v1/long-term-memory/search      search (semantic | keyword | hybrid, filters, recency)
GET    /v1/long-term-memory/{id}        one record
PATCH  /v1/long-term-memory/{id}        edit (a text change re-embeds and re-hashes)
DELETE /v1/long-term-memory?memory_ids= delete many
POST   /v1/long-term-memory/forget      forgetting policy
POST   /v1/long-term-memory/compact     merge duplicates

Serializers validate and shape; services and selectors do the work. Every rejection is
a 422 naming the field, before anything is written. Search filters are parsed in
`memory.api.filters`; shared fields and length limits are in `memory.api.fields`.
"""

from datetime import UTC

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from memory import index
from memory.api.auth import request_actor
from memory.api.errors import field_error
from memory.api.fields import (
    MESSAGE_ID_MAX_LENGTH,
    RECORD_ID_MAX_LENGTH,
    MemoryTextField,
    PageLimitField,
    RecordIdField,
    ScopeField,
    id_list,
    tag_list,
    validated_query,
)
from memory.api.filters import filter_conditions, scoped_query
from memory.api.scope import OutOfScope, Scope, request_scope
from memory.datetimes import datetime_encode
from memory.models import MemoryRecord, MemoryStatus, MemoryType
from memory.selectors.long_term import (
    DEFAULT_HYBRID_ALPHA,
    SEARCH_MODES,
    Recency,
    SearchQuery,
    memories_search,
    memory_get,
    supersede_chain,
)
from memory.services import long_term as services


def memory_to_dict(record: MemoryRecord) -> dict:
    """A record in the reference server's MemoryRecord shape, plus status and provenance."""
    return {
        "id": record.id,
        "text": record.text,
        "context": record.context,
        "session_id": record.session_id,
        "user_id": record.user_id,
        "namespace": record.namespace,
        "last_accessed": datetime_encode(record.last_accessed),
        "created_at": datetime_encode(record.created_at),
        "updated_at": datetime_encode(record.updated_at),
        "pinned": record.pinned,
        "access_count": record.access_count,
        "topics": list(record.topics),
        "entities": list(record.entities),
        "memory_hash": record.memory_hash,
        "discrete_memory_extracted": "t",
        "memory_type": record.memory_type,
        "persisted_at": datetime_encode(record.persisted_at),
        "extracted_from": list(record.extracted_from),
        "event_date": datetime_encode(record.event_date),
        "status": record.status,
        "extraction_run_id": record.extraction_run_id,
        "embedding_model": record.embedding_model,
        # An update supersedes: the record that replaced this one (null while current).
        "superseded_by": record.superseded_by_id,
        "superseded_at": datetime_encode(record.superseded_at),
    }


def _supersedes(record_ids: list[str]) -> dict[str, list[str]]:
    """For each record, the ids of the records it superseded (newest first), in one query."""
    found = {record_id: [] for record_id in record_ids}
    rows = (
        MemoryRecord.objects.filter(superseded_by_id__in=record_ids)
        .order_by("-superseded_at", "-id")
        .values_list("superseded_by_id", "id")
    )
    for newer, older in rows:
        found[newer].append(older)
    return found


# --- Fields ------------------------------------------------------------------------------


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601; a naive value means UTC."""

    default_error_messages = {"invalid": "Must be an ISO 8601 datetime, e.g. 2024-05-01T12:00:00Z."}

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        return super().to_internal_value(value)


# --- Create / edit ---------------------------------------------------------------------------


class MemoryRecordInputSerializer(serializers.Serializer):
    id = RecordIdField(required=False, allow_blank=True)
    text = MemoryTextField()
    context = MemoryTextField(required=False, allow_blank=True, allow_null=True)
    memory_type = serializers.ChoiceField(choices=MemoryType.choices, default=MemoryType.SEMANTIC)
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    topics = tag_list(required=False, allow_null=True)
    entities = tag_list(required=False, allow_null=True)
    event_date = AwareDateTimeField(required=False, allow_null=True)
    created_at = AwareDateTimeField(required=False, allow_null=True)
    last_accessed = AwareDateTimeField(required=False, allow_null=True)
    pinned = serializers.BooleanField(required=False, default=False)
    extracted_from = id_list(MESSAGE_ID_MAX_LENGTH, required=False, allow_null=True)
    deduplicate = serializers.BooleanField(required=False)

    def validate_text(self, value):
        if not value.strip():
            raise serializers.ValidationError("Must not be empty.")
        return value


class CreateMemoriesSerializer(serializers.Serializer):
    memories = MemoryRecordInputSerializer(many=True, allow_empty=False)
    deduplicate = serializers.BooleanField(default=True)

    def get_fields(self):
        # The batch limit is a setting, read per request like the other limits.
        fields = super().get_fields()
        fields["memories"].max_length = settings.MEMORY_MAX_CREATE_BATCH
        return fields


def check_unique_ids(memories: list[dict]) -> None:
    """Refuse a batch naming one id twice (REST and the MCP tool alike), naming both places."""
    seen = {}
    for position, memory in enumerate(memories):
        memory_id = memory.get("id")
        if memory_id and memory_id in seen:
            raise field_error(
                ["body", "memories", position, "id"],
                f"Duplicate id {memory_id!r} (also at memories[{seen[memory_id]}]).",
            )
        if memory_id:
            seen[memory_id] = position


class EditMemorySerializer(serializers.Serializer):
    text = MemoryTextField(required=False)
    context = MemoryTextField(required=False, allow_blank=True, allow_null=True)
    memory_type = serializers.ChoiceField(choices=MemoryType.choices, required=False)
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    topics = tag_list(required=False, allow_null=True)
    entities = tag_list(required=False, allow_null=True)
    event_date = AwareDateTimeField(required=False, allow_null=True)
    pinned = serializers.BooleanField(required=False)
    status = serializers.ChoiceField(choices=MemoryStatus.choices, required=False)


def edit_changes(data: dict, attrs: dict) -> dict:
    """Only what the caller sent: an absent field is left as it is."""
    fields = EditMemorySerializer().fields
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise field_error(
            ["body", unknown[0]],
            f"Unknown field {unknown[0]!r}; editable fields: {', '.join(fields)}.",
            "extra_forbidden",
        )
    if "text" in attrs and not attrs["text"].strip():
        raise field_error(["body", "text"], "Must not be empty.")
    return {k: v for k, v in attrs.items() if k in data}


# --- Search ------------------------------------------------------------------------------------

MAX_RECENCY_WEIGHT = 1e6
MAX_HALF_LIFE_DAYS = 1e6  # about 2,700 years


class RecencyWeightField(serializers.FloatField):
    def __init__(self):
        super().__init__(min_value=0.0, max_value=MAX_RECENCY_WEIGHT, required=False, allow_null=True)


class HalfLifeDaysField(serializers.FloatField):
    def __init__(self):
        super().__init__(min_value=0.001, max_value=MAX_HALF_LIFE_DAYS, required=False, allow_null=True)


class SearchSerializer(serializers.Serializer):
    text = MemoryTextField(required=False, allow_blank=True, allow_null=True, default="")
    search_mode = serializers.ChoiceField(choices=SEARCH_MODES, default="semantic")
    hybrid_alpha = serializers.FloatField(min_value=0.0, max_value=1.0, default=DEFAULT_HYBRID_ALPHA)
    distance_threshold = serializers.FloatField(min_value=0.0, max_value=2.0, required=False, allow_null=True)
    limit = PageLimitField(max_setting="MEMORY_MAX_SEARCH_LIMIT", default=10)
    offset = serializers.IntegerField(min_value=0, default=0)
    recency_boost = serializers.BooleanField(required=False, allow_null=True)
    # Bounded above so the recency formula (computed inside Redis too, in microseconds)
    # stays finite: a weight or half-life near the float maximum overflowed to `inf`,
    # which RediSearch refuses, and the search answered 500 (found by schema fuzzing).
    recency_semantic_weight = RecencyWeightField()
    recency_recency_weight = RecencyWeightField()
    recency_freshness_weight = RecencyWeightField()
    recency_novelty_weight = RecencyWeightField()
    recency_half_life_last_access_days = HalfLifeDaysField()
    recency_half_life_created_days = HalfLifeDaysField()
    server_side_recency = serializers.BooleanField(required=False, allow_null=True)
    # Not in the reference: also return records an update has superseded, each with its chain.
    include_superseded = serializers.BooleanField(required=False, default=False)


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


def search_query_from_body(data: dict, attrs: dict) -> SearchQuery:
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
            for name in (
                "semantic_weight",
                "recency_weight",
                "freshness_weight",
                "novelty_weight",
                "half_life_last_access_days",
                "half_life_created_days",
            )
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


# --- Forget / compact ----------------------------------------------------------------------------


class ForgetPolicySerializer(serializers.Serializer):
    # At most MAX_HALF_LIFE_DAYS: a larger age overflowed the date arithmetic, a 500 (found by fuzzing).
    max_age_days = serializers.FloatField(min_value=0.0, max_value=MAX_HALF_LIFE_DAYS, required=False, allow_null=True)
    max_inactive_days = serializers.FloatField(
        min_value=0.0, max_value=MAX_HALF_LIFE_DAYS, required=False, allow_null=True
    )
    budget = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    memory_type_allowlist = serializers.ListField(
        child=serializers.ChoiceField(choices=MemoryType.choices), required=False, allow_null=True
    )


class ForgetSerializer(serializers.Serializer):
    policy = ForgetPolicySerializer()
    pinned_ids = id_list(RECORD_ID_MAX_LENGTH, required=False, allow_null=True)
    dry_run = serializers.BooleanField(required=False, default=False)

    def validate_policy(self, policy):
        if all(policy.get(k) is None for k in ("max_age_days", "max_inactive_days", "budget")):
            raise serializers.ValidationError("Give at least one of max_age_days, max_inactive_days, budget.")
        return policy


class ScopeQuerySerializer(serializers.Serializer):
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    dry_run = serializers.BooleanField(required=False, default=False)


def _body(request, serializer_class, **kwargs):
    if not isinstance(request.data, dict):
        raise field_error(["body"], "Must be a JSON object.")
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Views ---------------------------------------------------------------------------------------


def _scope_records(scope: Scope, memories: list[dict]) -> None:
    """Each new record in the credential's scope: a namespace or user outside it is a
    403; an absent one is the key's only one (422 when it has several)."""
    for position, memory in enumerate(memories):
        loc = ["body", "memories", position]
        memory["namespace"] = scope.namespace(memory.get("namespace"), [*loc, "namespace"])
        memory["user_id"] = scope.user(memory.get("user_id"), [*loc, "user_id"])


def _not_found(memory_id: str) -> Response:
    return Response({"detail": f"Memory {memory_id} not found"}, status=404)


class LongTermMemoryView(APIView):
    """POST creates records; DELETE removes records by id."""

    @extend_schema(request=CreateMemoriesSerializer)
    def post(self, request):
        data = _body(request, CreateMemoriesSerializer)
        check_unique_ids(data["memories"])
        scope = request_scope(request)
        _scope_records(scope, data["memories"])
        try:
            result = services.memories_create(
                records=data["memories"],
                deduplicate=data["deduplicate"],
                actor=request_actor(request),
                may_review="review" in scope.permissions,
            )
        except services.MemoryIdConflictError as exc:
            raise field_error(["body", "memories", exc.position, "id"], str(exc), "conflict") from exc
        return Response(
            {
                "status": "ok",
                "memories": [
                    {
                        "id": o.id,
                        "outcome": o.outcome,
                        "distance": o.distance,
                        "history_id": o.history_id,
                        # Not in the reference: near records kept apart because a detail differs.
                        "conflicts": list(o.conflicts),
                    }
                    for o in result.outcomes
                ],
            }
        )

    def delete(self, request):
        ids = [i for value in request.query_params.getlist("memory_ids") for i in value.split(",") if i]
        if not ids:
            raise field_error(["query", "memory_ids"], "Give at least one memory id.", "missing")
        if len(ids) > settings.MEMORY_MAX_DELETE_BATCH:
            raise field_error(["query", "memory_ids"], f"At most {settings.MEMORY_MAX_DELETE_BATCH} ids per call.")
        # Another tenant's record is an unknown id here: ignored, not a 404 that says it exists.
        deleted = services.memories_delete(
            memory_ids=ids,
            reason="deleted through the API",
            actor=request_actor(request),
            visible=request_scope(request).allows,
        )
        return Response({"status": f"ok, deleted {deleted} memories"})


class LongTermMemorySearchView(APIView):
    access = {"POST": ("read", "searches")}

    @extend_schema(request=SearchSerializer)
    def post(self, request):
        query = search_query_from_body(request.data, _body(request, SearchSerializer))
        query = scoped_query(query, request.data, request_scope(request))
        now = timezone.now()
        result = memories_search(query=query, now=now)
        services.memories_after_search(
            found_ids=[h.record.id for h in result.hits], stale_ids=result.stale_ids, accessed_at=now
        )
        supersedes = _supersedes([h.record.id for h in result.hits])
        memories = []
        for hit in result.hits:
            item = memory_to_dict(hit.record)
            item.update(dist=hit.dist, score=hit.score, score_type=hit.score_type, supersedes=supersedes[hit.record.id])
            if query.include_superseded:
                item["chain"] = supersede_chain(record=hit.record)
            memories.append(item)
        return Response({"memories": memories, "total": result.total, "next_offset": result.next_offset})


def _record_in_scope(request, memory_id: str) -> MemoryRecord | None:
    """The record, or None when it does not exist or lies outside the credential's scope."""
    record = memory_get(memory_id=memory_id)
    if record is None or not request_scope(request).allows(namespace=record.namespace, user_id=record.user_id):
        return None
    return record


class LongTermMemoryDetailView(APIView):
    def get(self, request, memory_id):
        record = _record_in_scope(request, memory_id)
        if record is None:
            return _not_found(memory_id)
        return Response({**memory_to_dict(record), "supersedes": _supersedes([record.id])[record.id]})

    @extend_schema(request=EditMemorySerializer)
    def patch(self, request, memory_id):
        changes = edit_changes(request.data, _body(request, EditMemorySerializer))
        record = _record_in_scope(request, memory_id)
        if record is None:
            return _not_found(memory_id)
        moved_to = {name: changes.get(name, getattr(record, name)) for name in ("namespace", "user_id")}
        if not request_scope(request).allows(**moved_to):
            raise OutOfScope("The edit would move the memory outside this credential's scope.")
        scope = request_scope(request)
        try:
            record = services.memory_edit(
                memory_id=memory_id,
                changes=changes,
                actor=request_actor(request),
                may_review="review" in scope.permissions,
            )
        except services.MemoryNotFoundError:
            return _not_found(memory_id)
        except services.ReviewNotAllowedError as exc:
            raise exceptions.PermissionDenied(
                f"Field {exc.field!r}: {exc} (this credential's permissions: {scope.permissions_said})."
            ) from exc
        return Response(memory_to_dict(record))


def _explicit_scope(request, query: dict) -> tuple[str, str | None]:
    """Forget and compact act only in a namespace the caller names, and for a user when
    the credential is bound to users: never across every tenant by default."""
    scope = request_scope(request)
    namespace = scope.namespace(query.get("namespace"), ["query", "namespace"], required=True)
    return namespace, scope.user(query.get("user_id"), ["query", "user_id"], required=True)


class ForgetView(APIView):
    access = {"POST": ("delete", "writes")}

    @extend_schema(request=ForgetSerializer)
    def post(self, request):
        query = validated_query(request, ScopeQuerySerializer)
        body = _body(request, ForgetSerializer)
        namespace, user_id = _explicit_scope(request, query)
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
            dry_run=body["dry_run"] or query["dry_run"],
            actor=request_actor(request),
        )
        return Response(
            {
                "scanned": result.scanned,
                "deleted": len(result.deleted_ids),
                "deleted_ids": result.deleted_ids,
                "dry_run": result.dry_run,
                # Not in the reference: what the policy still picks after this call's cap.
                "remaining": result.remaining,
                "max_per_call": cap,
            }
        )


class CompactView(APIView):
    access = {"POST": ("delete", "writes")}

    def post(self, request):
        query = validated_query(request, ScopeQuerySerializer)
        namespace, user_id = _explicit_scope(request, query)
        if query["dry_run"]:
            raise field_error(["query", "dry_run"], "Compaction has no dry run; nothing was merged.", "unsupported")
        result = services.memories_compact(
            namespace=namespace,
            user_id=user_id,
            actor=request_actor(request),
            may_review="review" in request_scope(request).permissions,
        )
        return Response(
            {
                "status": f"ok, {result.remaining} memories remaining after compaction",
                "merged": result.merged,
                "remaining": result.remaining,
            }
        )

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
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from memory import index
from memory.api.auth import request_actor
from memory.api.errors import field_error
from memory.api.fields import (
    MESSAGE_ID_MAX_LENGTH,
    RECORD_ID_MAX_LENGTH,
    BoundedListField,
    PageLimitField,
    ScopeField,
    StrictCharField,
    TagValueField,
    no_control_characters,
    validated_query,
)
from memory.api.filters import filter_conditions
from memory.codecs import datetime_encode
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
from memory.services import review


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


class MemoryTextField(StrictCharField):
    """A record's text or context, or a query: kept verbatim (whitespace is content);
    NUL is refused because PostgreSQL text columns cannot store it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", settings.MEMORY_MAX_TEXT_CHARS)
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "\x00" in value:
            raise serializers.ValidationError("Must not contain NUL characters.")
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601; a naive value means UTC."""

    default_error_messages = {"invalid": "Must be an ISO 8601 datetime, e.g. 2024-05-01T12:00:00Z."}

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        return super().to_internal_value(value)


def _tag_list(**kwargs):
    """Topics or entities of one record."""
    return BoundedListField(child=TagValueField(), max_setting="MEMORY_MAX_TAGS", **kwargs)


def _id_list(max_length: int, **kwargs):
    """Ids a request refers to (extracted_from, pinned_ids)."""
    return BoundedListField(child=StrictCharField(max_length=max_length), max_setting="MEMORY_MAX_ID_LIST", **kwargs)


# --- Create / edit ---------------------------------------------------------------------------


class MemoryRecordInputSerializer(serializers.Serializer):
    id = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=RECORD_ID_MAX_LENGTH,
        trim_whitespace=False,
        validators=[no_control_characters],
    )
    text = MemoryTextField()
    context = MemoryTextField(required=False, allow_blank=True, allow_null=True)
    memory_type = serializers.ChoiceField(choices=MemoryType.choices, default=MemoryType.SEMANTIC)
    namespace = ScopeField()
    user_id = ScopeField()
    session_id = ScopeField()
    topics = _tag_list(required=False, allow_null=True)
    entities = _tag_list(required=False, allow_null=True)
    event_date = AwareDateTimeField(required=False, allow_null=True)
    created_at = AwareDateTimeField(required=False, allow_null=True)
    last_accessed = AwareDateTimeField(required=False, allow_null=True)
    pinned = serializers.BooleanField(required=False, default=False)
    extracted_from = _id_list(MESSAGE_ID_MAX_LENGTH, required=False, allow_null=True)
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


def _check_unique_ids(memories: list[dict]) -> None:
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
    topics = _tag_list(required=False, allow_null=True)
    entities = _tag_list(required=False, allow_null=True)
    event_date = AwareDateTimeField(required=False, allow_null=True)
    pinned = serializers.BooleanField(required=False)
    status = serializers.ChoiceField(choices=MemoryStatus.choices, required=False)


def _edit_changes(data: dict, attrs: dict) -> dict:
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


class SearchSerializer(serializers.Serializer):
    text = MemoryTextField(required=False, allow_blank=True, allow_null=True, default="")
    search_mode = serializers.ChoiceField(choices=SEARCH_MODES, default="semantic")
    hybrid_alpha = serializers.FloatField(min_value=0.0, max_value=1.0, default=DEFAULT_HYBRID_ALPHA)
    distance_threshold = serializers.FloatField(min_value=0.0, max_value=2.0, required=False, allow_null=True)
    limit = PageLimitField(max_setting="MEMORY_MAX_SEARCH_LIMIT", default=10)
    offset = serializers.IntegerField(min_value=0, default=0)
    recency_boost = serializers.BooleanField(required=False, allow_null=True)
    recency_semantic_weight = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    recency_recency_weight = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    recency_freshness_weight = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    recency_novelty_weight = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    recency_half_life_last_access_days = serializers.FloatField(min_value=0.001, required=False, allow_null=True)
    recency_half_life_created_days = serializers.FloatField(min_value=0.001, required=False, allow_null=True)
    server_side_recency = serializers.BooleanField(required=False, allow_null=True)
    # Not in the reference: also return records an update has superseded, each with its chain.
    include_superseded = serializers.BooleanField(required=False, default=False)


def search_query_from_body(data: dict, attrs: dict) -> SearchQuery:
    """The validated body as a SearchQuery: every filter becomes conditions, none is dropped."""
    conditions = filter_conditions(data)
    text = attrs.get("text") or ""
    if attrs["offset"] + attrs["limit"] > index.MAX_WINDOW:
        raise field_error(["body", "offset"], f"offset + limit must be at most {index.MAX_WINDOW}.")
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
    max_age_days = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    max_inactive_days = serializers.FloatField(min_value=0.0, required=False, allow_null=True)
    budget = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    memory_type_allowlist = serializers.ListField(
        child=serializers.ChoiceField(choices=MemoryType.choices), required=False, allow_null=True
    )


class ForgetSerializer(serializers.Serializer):
    policy = ForgetPolicySerializer()
    pinned_ids = _id_list(RECORD_ID_MAX_LENGTH, required=False, allow_null=True)
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


class LongTermMemoryView(APIView):
    """POST creates records; DELETE removes records by id."""

    @extend_schema(request=CreateMemoriesSerializer)
    def post(self, request):
        data = _body(request, CreateMemoriesSerializer)
        _check_unique_ids(data["memories"])
        try:
            result = services.memories_create(
                records=data["memories"], deduplicate=data["deduplicate"], actor=request_actor(request)
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
        deleted = services.memories_delete(
            memory_ids=ids, reason="deleted through the API", actor=request_actor(request)
        )
        return Response({"status": f"ok, deleted {deleted} memories"})


class LongTermMemorySearchView(APIView):
    @extend_schema(request=SearchSerializer)
    def post(self, request):
        query = search_query_from_body(request.data, _body(request, SearchSerializer))
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


class LongTermMemoryDetailView(APIView):
    def get(self, request, memory_id):
        record = memory_get(memory_id=memory_id)
        if record is None:
            return Response({"detail": f"Memory {memory_id} not found"}, status=404)
        return Response({**memory_to_dict(record), "supersedes": _supersedes([record.id])[record.id]})

    @extend_schema(request=EditMemorySerializer)
    def patch(self, request, memory_id):
        changes = _edit_changes(request.data, _body(request, EditMemorySerializer))
        try:
            record = review.memory_change(memory_id=memory_id, changes=changes, actor=request_actor(request))
        except services.MemoryNotFoundError:
            return Response({"detail": f"Memory {memory_id} not found"}, status=404)
        return Response(memory_to_dict(record))


class ForgetView(APIView):
    @extend_schema(request=ForgetSerializer)
    def post(self, request):
        scope = validated_query(request, ScopeQuerySerializer)
        body = _body(request, ForgetSerializer)
        policy = body["policy"]
        result = services.memories_forget(
            namespace=scope.get("namespace"),
            user_id=scope.get("user_id"),
            session_id=scope.get("session_id"),
            max_age_days=policy.get("max_age_days"),
            max_inactive_days=policy.get("max_inactive_days"),
            budget=policy.get("budget"),
            memory_types=policy.get("memory_type_allowlist"),
            pinned_ids=body.get("pinned_ids") or [],
            limit=scope.get("limit"),
            dry_run=body["dry_run"] or scope["dry_run"],
            actor=request_actor(request),
        )
        return Response(
            {
                "scanned": result.scanned,
                "deleted": len(result.deleted_ids),
                "deleted_ids": result.deleted_ids,
                "dry_run": result.dry_run,
            }
        )


class CompactView(APIView):
    def post(self, request):
        scope = validated_query(request, ScopeQuerySerializer)
        result = services.memories_compact(
            namespace=scope.get("namespace"), user_id=scope.get("user_id"), actor=request_actor(request)
        )
        return Response(
            {
                "status": f"ok, {result.remaining} memories remaining after compaction",
                "merged": result.merged,
                "remaining": result.remaining,
            }
        )

"""Long-term memory routes, wire-compatible with agent-memory-server 0.15 / agent-memory-client 0.14.

POST   /v1/long-term-memory/            create ({"memories": [...], "deduplicate": true})
POST   /v1/long-term-memory/search      search (semantic | keyword | hybrid, filters, recency)
GET    /v1/long-term-memory/{id}        one record
PATCH  /v1/long-term-memory/{id}        edit (a text change re-embeds and re-hashes)
DELETE /v1/long-term-memory?memory_ids= delete many
POST   /v1/long-term-memory/forget      forgetting policy
POST   /v1/long-term-memory/compact     merge duplicates

Each view hands the request's data, scope and actor to its operation in
`memory.api.long_term.operations` and answers what it returns; the schema declares the
input and output serializers of `memory.api.long_term.serializers`.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from memory.api.auth import request_actor
from memory.api.fields import required_parameter
from memory.api.long_term import operations
from memory.api.long_term.serializers import (
    CompactResultOutputSerializer,
    CreateMemoriesSerializer,
    CreateResultsOutputSerializer,
    DeleteResultOutputSerializer,
    EditMemorySerializer,
    ForgetResultOutputSerializer,
    ForgetSerializer,
    MemoryDetailOutputSerializer,
    MemoryRecordOutputSerializer,
    ScopeQuerySerializer,
    SearchResultsOutputSerializer,
    SearchSerializer,
)
from memory.api.schema_errors import declared
from memory.api.scope import request_scope

MEMORY_IDS = OpenApiParameter(
    "memory_ids",
    {
        "type": "array",
        "items": {"type": "string", "pattern": "^[^,]+$"},
        "minItems": 1,
        "maxItems": settings.MEMORY_MAX_DELETE_BATCH,
    },
    required=True,
    description=(
        "The ids to delete, at least one and at most MEMORY_MAX_DELETE_BATCH, the parameter repeated; "
        "a value may also hold several ids, comma-separated."
    ),
)
# Forget and compact act in one namespace (operations._explicit_owner): the one named, or
# the key's only one; declared required, as it is for an operator key or one with several.
# A key bound to users must name the user_id too.
NAMED_NAMESPACE = required_parameter(
    "namespace",
    ScopeQuerySerializer().fields["namespace"],
    "The namespace to act in: required, unless the key has exactly one namespace (then it is that one).",
)


class LongTermMemoryView(APIView):
    """POST creates records; DELETE removes records by id."""

    @extend_schema(request=CreateMemoriesSerializer, responses=declared(CreateResultsOutputSerializer, 403, 422))
    def post(self, request: Request) -> Response:
        scope = request_scope(request)
        return Response(operations.memories_create_respond(request.data, scope=scope, actor=request_actor(request)))

    @extend_schema(parameters=[MEMORY_IDS], responses=declared(DeleteResultOutputSerializer, 404, 422))
    def delete(self, request: Request) -> Response:
        ids = [i for value in request.query_params.getlist("memory_ids") for i in value.split(",") if i]
        scope = request_scope(request)
        return Response(operations.memories_delete_respond(ids, scope=scope, actor=request_actor(request)))


class LongTermMemorySearchView(APIView):
    access = {"POST": ("read", "searches")}

    @extend_schema(request=SearchSerializer, responses=declared(SearchResultsOutputSerializer, 403, 422))
    def post(self, request: Request) -> Response:
        return Response(operations.memories_search_respond(request.data, scope=request_scope(request)))


class LongTermMemoryDetailView(APIView):
    @extend_schema(responses=declared(MemoryDetailOutputSerializer, 404))
    def get(self, request: Request, memory_id: str) -> Response:
        return Response(operations.memory_get_respond(memory_id, scope=request_scope(request)))

    @extend_schema(request=EditMemorySerializer, responses=declared(MemoryRecordOutputSerializer, 403, 404, 422))
    def patch(self, request: Request, memory_id: str) -> Response:
        scope = request_scope(request)
        edited = operations.memory_edit_respond(memory_id, request.data, scope=scope, actor=request_actor(request))
        return Response(edited)


class ForgetView(APIView):
    access = {"POST": ("delete", "writes")}

    @extend_schema(
        request=ForgetSerializer,
        parameters=[ScopeQuerySerializer, NAMED_NAMESPACE],
        responses=declared(ForgetResultOutputSerializer, 403, 422),
    )
    def post(self, request: Request) -> Response:
        query, scope = request.query_params.dict(), request_scope(request)
        forgot = operations.memories_forget_respond(query, request.data, scope=scope, actor=request_actor(request))
        return Response(forgot)


class CompactView(APIView):
    access = {"POST": ("delete", "writes")}

    @extend_schema(
        request=None,
        parameters=[
            ScopeQuerySerializer,
            NAMED_NAMESPACE,
            OpenApiParameter("session_id", exclude=True),  # compaction takes neither
            OpenApiParameter("limit", exclude=True),
            OpenApiParameter(
                "dry_run", {"type": "boolean", "enum": [False]}, description="No dry run: true is refused."
            ),
        ],
        responses=declared(CompactResultOutputSerializer, 403, 422),
    )
    def post(self, request: Request) -> Response:
        query, scope = request.query_params.dict(), request_scope(request)
        return Response(operations.memories_compact_respond(query, scope=scope, actor=request_actor(request)))

"""Working-memory routes, wire-compatible with agent-memory-server (agent-memory-client 0.14).

GET /v1/working-memory/                  list sessions: {"sessions": [...], "total": N}
GET/PUT/DELETE /v1/working-memory/{id}   one session

Each view hands the path, query and body to its operation in
`memory.api.working_memory.operations` and answers what it returns.
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from memory.api.fields import session_id_parameter
from memory.api.schema_errors import declared
from memory.api.scope import request_scope
from memory.api.working_memory import operations
from memory.api.working_memory.serializers import (
    AckOutputSerializer,
    GetQuerySerializer,
    ListQuerySerializer,
    PutQuerySerializer,
    SessionListOutputSerializer,
    SessionQuerySerializer,
    WorkingMemoryPutSerializer,
    WorkingMemoryResponseSerializer,
)


def _body_too_large(request: Request) -> Response | None:
    """A 413 naming the limit, checked before the body is parsed (parsing is the cost)."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length <= settings.WORKING_MEMORY_MAX_BODY_BYTES:
        return None
    return Response(
        {
            "detail": [
                {
                    "loc": ["body"],
                    "type": "too_large",
                    "msg": f"Request body is {length} bytes; at most {settings.WORKING_MEMORY_MAX_BODY_BYTES} "
                    "are accepted (WORKING_MEMORY_MAX_BODY_BYTES).",
                }
            ]
        },
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


class WorkingMemoryListView(APIView):
    @extend_schema(
        operation_id="v1_working_memory_list",
        parameters=[ListQuerySerializer],
        responses=declared(SessionListOutputSerializer, 403, 422),
    )
    def get(self, request: Request) -> Response:
        """Sessions in a namespace and/or of a user, most recently written first; `total` is exact."""
        query = request.query_params.dict()
        return Response(operations.working_memory_list_respond(query, scope=request_scope(request)))


SESSION_ID = session_id_parameter()


class WorkingMemoryView(APIView):
    @extend_schema(
        parameters=[SESSION_ID, GetQuerySerializer], responses=declared(WorkingMemoryResponseSerializer, 404, 422)
    )
    def get(self, request: Request, session_id: str) -> Response:
        """One session; 404 when it does not exist or belongs to another user_id."""
        query = request.query_params.dict()
        return Response(operations.working_memory_get_respond(session_id, query, scope=request_scope(request)))

    @extend_schema(
        parameters=[SESSION_ID, PutQuerySerializer],
        request=WorkingMemoryPutSerializer,
        responses=declared(WorkingMemoryResponseSerializer, 403, 409, 413, 422),
    )
    def put(self, request: Request, session_id: str) -> Response:
        """Replace the session. Redis only; summarisation and promotion run in the worker."""
        too_large = _body_too_large(request)
        if too_large:
            return too_large
        query, scope = request.query_params.dict(), request_scope(request)
        return Response(operations.working_memory_put_respond(session_id, query, request.data, scope=scope))

    @extend_schema(parameters=[SESSION_ID, SessionQuerySerializer], responses=declared(AckOutputSerializer, 404, 422))
    def delete(self, request: Request, session_id: str) -> Response:
        """Delete the session; deleting a missing one is fine, another user's is a 404."""
        query = request.query_params.dict()
        return Response(operations.working_memory_delete_respond(session_id, query, scope=request_scope(request)))

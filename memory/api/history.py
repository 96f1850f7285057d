"""A record's history over REST, and undoing an entry of it.

`GET /v1/long-term-memory/{id}/history` lists what happened to a record, newest first,
also after it was deleted. `POST /v1/long-term-memory/history/{history_id}/undo` undoes
a merge (the absorbed record comes back) or a delete (while its snapshot is kept).
The reference server has neither route, and no MCP tool offers them.

`memory_history_respond` and `history_undo_respond` are the operations (as in
`memory.api.long_term.operations`); the views are a few lines around them.
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from memory.api.auth import request_actor
from memory.api.errors import not_found_error
from memory.api.long_term.serializers import MemoryRecordOutputSerializer, memory_to_dict
from memory.api.schema_errors import declared
from memory.api.scope import Scope, request_scope
from memory.datetimes import datetime_encode
from memory.models import MemoryHistory
from memory.selectors.long_term import memory_history
from memory.selectors.scope import history_scope
from memory.services.long_term import undo

UNDOABLE = (MemoryHistory.Action.MERGED, MemoryHistory.Action.DELETED)


class UndoRefused(exceptions.APIException):
    """A 409: the entry is no merge or delete, was undone already, or its snapshot is purged."""

    status_code = status.HTTP_409_CONFLICT


def history_to_dict(entry: MemoryHistory) -> dict[str, Any]:
    """One entry (`HistoryEntryOutputSerializer` documents it)."""
    return {
        "id": entry.pk,
        "memory_id": entry.memory_id,
        "action": entry.action,
        "actor": entry.actor,
        "reason": entry.reason,
        "created_at": datetime_encode(entry.created_at),
        "undone_at": datetime_encode(entry.undone_at),
        "purged_at": datetime_encode(entry.purged_at),
        "undoable": entry.action in UNDOABLE and entry.undone_at is None and entry.purged_at is None,
        "detail": entry.detail,
    }


class HistoryEntryOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    memory_id = serializers.CharField()
    action = serializers.ChoiceField(MemoryHistory.Action.choices)
    actor = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    undone_at = serializers.DateTimeField(allow_null=True)
    purged_at = serializers.DateTimeField(allow_null=True)
    undoable = serializers.BooleanField()
    # What changed: the fields before and after, a merge's absorbed record, a snapshot.
    detail = serializers.JSONField()


class HistoryOutputSerializer(serializers.Serializer[Any]):
    memory_id = serializers.CharField()
    history = HistoryEntryOutputSerializer(many=True)
    total = serializers.IntegerField()


class UndoOutputSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()
    history_id = serializers.IntegerField()
    memory = MemoryRecordOutputSerializer()


def memory_history_respond(memory_id: str, *, scope: Scope) -> dict[str, Any]:
    """A record's history, newest first (`HistoryOutputSerializer`); a 404 when it has
    none in the scope. A record moved between scopes has entries in both: any entry
    outside the scope hides it all."""
    entries = memory_history(memory_id=memory_id)
    if not entries or not all(scope.allows(namespace=e.namespace, user_id=e.user_id) for e in entries):
        raise not_found_error(f"No history for memory {memory_id}", loc=["path", "memory_id"], msg="no history.")
    return {"memory_id": memory_id, "history": [history_to_dict(e) for e in entries], "total": len(entries)}


def history_undo_respond(history_id: int, *, scope: Scope, actor: str) -> dict[str, Any]:
    """Undo a merge or a delete (`UndoOutputSerializer`); a 404 for an entry outside the
    scope, a 409 (`UndoRefused`) for one that cannot be undone."""
    where = history_scope(history_id=history_id)
    if where is None or not scope.allows(namespace=where[0], user_id=where[1]):
        raise not_found_error(f"History entry {history_id} not found", loc=["path", "history_id"], msg="no such entry.")
    try:
        record = undo.memory_history_undo(history_id=history_id, actor=actor)
    except undo.UndoNotPossibleError as exc:
        raise UndoRefused(str(exc)) from exc
    return {"status": "ok", "history_id": history_id, "memory": memory_to_dict(record)}


class MemoryHistoryView(APIView):
    @extend_schema(responses=declared(HistoryOutputSerializer, 404))
    def get(self, request: Request, memory_id: str) -> Response:
        return Response(memory_history_respond(memory_id, scope=request_scope(request)))


class MemoryHistoryUndoView(APIView):
    @extend_schema(request=None, responses=declared(UndoOutputSerializer, 404, 409))
    def post(self, request: Request, history_id: int) -> Response:
        scope = request_scope(request)
        return Response(history_undo_respond(history_id, scope=scope, actor=request_actor(request)))

"""A record's history over REST, and undoing an entry of it.

`GET /v1/long-term-memory/{id}/history` lists what happened to a record, newest first,
also after it was deleted. `POST /v1/long-term-memory/history/{history_id}/undo` undoes
a merge (the absorbed record comes back) or a delete (while its snapshot is kept).
The reference server has neither route.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from memory.api.auth import request_actor
from memory.api.long_term import memory_to_dict
from memory.api.scope import request_scope
from memory.datetimes import datetime_encode
from memory.models import MemoryHistory
from memory.selectors.long_term import memory_history
from memory.selectors.scope import history_scope
from memory.services.long_term import undo

UNDOABLE = (MemoryHistory.Action.MERGED, MemoryHistory.Action.DELETED)


def history_to_dict(entry: MemoryHistory) -> dict:
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


class MemoryHistoryView(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request, memory_id):
        entries = memory_history(memory_id=memory_id)
        scope = request_scope(request)
        # A record moved between scopes has entries in both: any outside hides it all.
        if not entries or not all(scope.allows(namespace=e.namespace, user_id=e.user_id) for e in entries):
            return Response({"detail": f"No history for memory {memory_id}"}, status=404)
        return Response(
            {"memory_id": memory_id, "history": [history_to_dict(e) for e in entries], "total": len(entries)}
        )


class MemoryHistoryUndoView(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, history_id):
        where = history_scope(history_id=history_id)
        if where is None or not request_scope(request).allows(namespace=where[0], user_id=where[1]):
            return Response({"detail": f"History entry {history_id} not found"}, status=404)
        try:
            record = undo.memory_history_undo(history_id=history_id, actor=request_actor(request))
        except undo.UndoNotPossibleError as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response({"status": "ok", "history_id": history_id, "memory": memory_to_dict(record)})

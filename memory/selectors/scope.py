"""Where records and history entries live, for the doors' scope checks (memory.api.scope)."""

from memory.models import MemoryHistory, MemoryRecord


def record_scopes(*, memory_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Each existing record's (namespace, user_id), by id; missing ids are left out."""
    rows = MemoryRecord.objects.filter(id__in=memory_ids).values_list("id", "namespace", "user_id")
    return {memory_id: (namespace, user_id) for memory_id, namespace, user_id in rows}


def history_scope(*, history_id: int) -> tuple[str | None, str | None] | None:
    """The (namespace, user_id) of a history entry's record, or None when there is no entry."""
    return MemoryHistory.objects.filter(pk=history_id).values_list("namespace", "user_id").first()

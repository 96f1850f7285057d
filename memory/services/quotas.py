"""Quotas: how much one namespace may hold, however many owners and agents write to it.

Three limits, each a setting (0: none): QUOTA_SESSIONS_PER_NAMESPACE and
QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE are checked by the working-memory PUT's own Lua
script (`memory.redis_keys.working_memory.WM_PUT`: atomic, one round trip, no relational query), and
QUOTA_RECORDS_PER_NAMESPACE by `records_quota_check` at the top of a long-term create.
A write past a limit raises QuotaExceeded before anything is written; the API answers
429 with the limit's name, the REST and MCP doors alike.
"""

from collections import Counter
from typing import Any

from django.conf import settings

from memory.models import MemoryRecord

# What each limit counts, by setting, for the refusal's message.
COUNTED = {
    "QUOTA_SESSIONS_PER_NAMESPACE": "working-memory sessions",
    "QUOTA_WORKING_MEMORY_BYTES_PER_NAMESPACE": "bytes of working memory",
    "QUOTA_RECORDS_PER_NAMESPACE": "long-term records",
}


class QuotaExceeded(Exception):
    """A write would take `namespace` past the quota named by the setting `limit`:
    it holds `used` now, the write would make it `requested`, at most `quota` is allowed."""

    def __init__(self, *, limit: str, namespace: str | None, used: int, requested: int, quota: int):
        self.limit, self.namespace = limit, namespace
        self.used, self.requested, self.quota = used, requested, quota
        where = f"Namespace {namespace!r}" if namespace else "The default namespace"
        super().__init__(
            f"{where} holds {used} {COUNTED[limit]}; this write would make it {requested}, "
            f"and at most {quota} are allowed ({limit})."
        )


def records_quota_check(*, records: list[dict[str, Any]]) -> None:
    """Refuse a create that could take a namespace past QUOTA_RECORDS_PER_NAMESPACE.

    Every input that does not name a stored record's id is counted as a new row (dedup
    may merge some, so the check is on the safe side); one indexed COUNT per namespace
    of the batch. Two creates racing at the limit may each pass: it bounds the work a
    namespace can store, not to the record."""
    quota = settings.QUOTA_RECORDS_PER_NAMESPACE
    if not quota:
        return
    ids = [record["id"] for record in records if record.get("id")]
    stored_ids = set(MemoryRecord.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    adding = Counter(
        record.get("namespace") or None for record in records if not record.get("id") or record["id"] not in stored_ids
    )
    for namespace, count in adding.items():
        held = MemoryRecord.objects.filter(namespace=namespace).count()
        if held + count > quota:
            raise QuotaExceeded(
                limit="QUOTA_RECORDS_PER_NAMESPACE", namespace=namespace, used=held, requested=held + count, quota=quota
            )

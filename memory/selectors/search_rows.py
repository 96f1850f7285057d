"""The rows every search reads, by id, in plain SQL.

A search reads three things from the DB: the ranking columns of its candidates (50 for a
recency-boosted page of 10), the page's rows, and what each of those superseded. Through
the ORM, compiling each `id IN (...)` query and converting its values cost 0.7, 1.0 and
0.45 ms of CPU, about a sixth of a semantic search; the same statements written once here
cost 0.13, 0.5 and 0.02 ms (BENCHMARKS.md, "Speed and scale, round three"). They read the
same columns the ORM would, on SQLite and PostgreSQL alike.
"""

from datetime import datetime

from django.db import connection

from memory.datetimes import datetime_decode
from memory.models import MemoryRecord

_TABLE = MemoryRecord._meta.db_table
# Every column but the vector, which no answer shows: it is the widest one.
_ANSWER_COLUMNS = [f.column for f in MemoryRecord._meta.concrete_fields if f.name != "embedding" and f.column]


def _quoted(*names: str) -> str:
    return ", ".join(connection.ops.quote_name(name) for name in names)


def _in_list(values: list[str]) -> str:
    return ", ".join(["%s"] * len(values))


def ranking_columns(record_ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """`id -> (last_accessed, created_at)` of those of `record_ids` that have a row."""
    if not record_ids:
        return {}
    sql = (
        f"SELECT {_quoted('id', 'last_accessed', 'created_at')} FROM {_quoted(_TABLE)} "
        f"WHERE {_quoted('id')} IN ({_in_list(record_ids)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, record_ids)
        rows = cursor.fetchall()
    # SQLite answers the naive UTC text Django stored, PostgreSQL an aware datetime.
    return {
        record_id: (datetime_decode(last_accessed), datetime_decode(created_at))  # type: ignore[misc]  # never null
        for record_id, last_accessed, created_at in rows
    }


def records_by_id(record_ids: list[str]) -> dict[str, MemoryRecord]:
    """The records of `record_ids` that exist, without their vector (deferred)."""
    if not record_ids:
        return {}
    sql = f"SELECT {_quoted(*_ANSWER_COLUMNS)} FROM {_quoted(_TABLE)} WHERE {_quoted('id')} IN ({_in_list(record_ids)})"
    return {record.id: record for record in MemoryRecord.objects.raw(sql, record_ids)}


def superseded_ids(*, record_ids: list[str]) -> dict[str, list[str]]:
    """For each record, the ids of the records it superseded (newest first), in one query."""
    found: dict[str, list[str]] = {record_id: [] for record_id in record_ids}
    if not record_ids:
        return found
    newer, superseded_at, record_id = "superseded_by_id", "superseded_at", "id"
    sql = (
        f"SELECT {_quoted(newer, record_id)} FROM {_quoted(_TABLE)} WHERE {_quoted(newer)} IN "
        f"({_in_list(record_ids)}) ORDER BY {_quoted(superseded_at)} DESC, {_quoted(record_id)} DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, record_ids)
        for newer_id, older_id in cursor.fetchall():
            found[newer_id].append(older_id)
    return found

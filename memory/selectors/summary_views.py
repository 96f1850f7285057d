"""Reading summary views: which views a caller sees, the records of a view and of one of
its partitions (as querysets), its partitions (distinct group values), staleness, tasks.

A view's records are read from the database, never the index: a partition may hold far
more records than a search window, and the counts and Max(updated_at) that staleness
compares must be exact. The view's stored filters (validated when it was created, by
`memory.api.filters`' grammar) become Q objects here; a view's reach (the creating
credential's namespaces and users) always applies.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from django.db import connection
from django.db.models import CharField, Count, F, Max, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Coalesce

from memory.datetimes import datetime_decode
from memory.models import MemoryRecord, MemoryStatus, SummaryPartition, SummaryView, Task

GROUP_FIELDS = ("user_id", "namespace", "session_id", "memory_type")
# Multi-valued record fields: a tag condition there asks whether the list holds the value.
_LIST_FIELDS = ("topics", "entities")
_DATE_FIELDS = ("created_at", "last_accessed", "event_date")
_DATE_LOOKUPS = {"gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte", "eq": "exact"}
# The search grammar's tag operators (memory.api.filters.TAG_OPERATORS) by what they mean.
_TAG_OPERATORS = {"eq": "any", "any": "any", "in_": "any", "all": "all", "ne": "none", "not_eq": "none"}
_TAG_OPERATORS |= {"not_in": "none", "none": "none"}


@dataclass(frozen=True)
class Reach:
    """Who is looking: a tenant, and its namespaces and users (None: all of them)."""

    tenant: str
    namespaces: frozenset[str] | None
    user_ids: frozenset[str] | None


def encode_group_key(group: dict[str, str]) -> str:
    """The reference's partition key: keys sorted, keys and values URL-encoded, joined by "|"."""
    return "|".join(f"{quote(k, safe='')}={quote(group[k], safe='')}" for k in sorted(group))


def view_visible(view: SummaryView, *, reach: Reach) -> bool:
    """A view is visible to its own tenant's callers whose scope holds the view's whole reach."""
    if view.tenant != reach.tenant:
        return False
    for mine, theirs in ((reach.namespaces, view.namespaces), (reach.user_ids, view.user_ids)):
        if mine is not None and (theirs is None or not set(theirs) <= mine):
            return False
    return True


def summary_views_visible(*, reach: Reach) -> list[SummaryView]:
    """The tenant's views this caller may see, newest first."""
    return [v for v in SummaryView.objects.filter(tenant=reach.tenant) if view_visible(v, reach=reach)]


def summary_view_get(*, view_id: str, reach: Reach) -> SummaryView | None:
    """The view, or None when it does not exist or is not visible to this caller."""
    view = SummaryView.objects.filter(id=view_id).first()
    return view if view is not None and view_visible(view, reach=reach) else None


def task_get(*, task_id: str, tenant: str) -> Task | None:
    return Task.objects.filter(id=task_id, tenant=tenant).first()


# --- Records --------------------------------------------------------------------------------------


def _list_holds(field: str, value: str) -> Q:
    """Whether a JSON list column holds `value` as one whole item: its text (SQLite keeps
    Django's json.dumps, ASCII-escaped; PostgreSQL's jsonb prints characters as they are,
    with the same ", " between items) holds the quoted value between "[" or ", " and "]"
    or ",", so a value inside a longer one ("b" in "a\"b") is no match."""
    token = json.dumps(value, ensure_ascii=connection.vendor == "sqlite")
    lookup = f"_{field}_text__contains"
    q = Q()
    for before, after in (("[", "]"), ("[", ","), (", ", "]"), (", ", ",")):
        q |= Q(**{lookup: f"{before}{token}{after}"})
    return q


def _tag_q(field: str, op: str, values: list[str]) -> Q:
    if field in _LIST_FIELDS:
        holds = [_list_holds(field, v) for v in values]
    else:
        holds = [Q(**{field: v}) for v in values]
    any_of, every = Q(), Q()
    for q in holds:
        any_of |= q
        every &= q
    return {"any": any_of, "all": every, "none": ~any_of}[_TAG_OPERATORS[op]]


def filter_q(field: str, spec: object) -> Q:
    """One stored view filter as a Q over MemoryRecord. A value is the reference's shape
    (a string: equal; a list: any of them) or a search filter object of operators (tag
    or date, `memory.api.filters`); list fields read the `_<field>_text` annotation
    `with_filters` adds."""
    if isinstance(spec, str):
        spec = {"eq": spec}
    elif isinstance(spec, list):
        spec = {"any": spec}
    q = Q()
    for op, value in dict(spec or {}).items():  # type: ignore[call-overload]  # validated: a dict
        if value is None:
            continue
        if field in _DATE_FIELDS:
            when = [datetime_decode(v) for v in value] if op == "between" else datetime_decode(value)
            q &= Q(**{f"{field}__range" if op == "between" else f"{field}__{_DATE_LOOKUPS[op]}": when})
        else:
            q &= _tag_q(field, op, [value] if isinstance(value, str) else list(value))
    return q


def with_filters(rows: QuerySet[MemoryRecord], filters: dict[str, object]) -> QuerySet[MemoryRecord]:
    for field in sorted(f for f in filters if f in _LIST_FIELDS):
        rows = rows.annotate(**{f"_{field}_text": Cast(field, TextField())})
    for field, spec in sorted(filters.items()):
        rows = rows.filter(filter_q(field, spec))
    return rows


def _owner_value_q(field: str, value: str) -> Q:
    # A group's "" stands for a record without the value (NULL or ""), as the reference's str() does.
    return Q(**{field: None}) | Q(**{field: ""}) if value == "" else Q(**{field: value})


def view_records(*, view: SummaryView, now: datetime) -> QuerySet[MemoryRecord]:
    """The view's records: approved, current (not superseded), inside its reach, matching
    its filters, within its time window (on created_at, as the reference)."""
    rows = MemoryRecord.objects.filter(status=MemoryStatus.APPROVED, superseded_at__isnull=True)
    if view.namespaces is not None:
        rows = rows.filter(namespace__in=view.namespaces)
    if view.user_ids is not None:
        rows = rows.filter(user_id__in=view.user_ids)
    if view.time_window_days:
        rows = rows.filter(created_at__gte=now - timedelta(days=view.time_window_days))
    return with_filters(rows, view.filters or {})


def partition_records(*, view: SummaryView, group: dict[str, str], now: datetime) -> QuerySet[MemoryRecord]:
    """The records of one partition: the view's records with the group's values."""
    rows = view_records(view=view, now=now)
    for field, value in sorted(group.items()):
        rows = rows.filter(_owner_value_q(field, value))
    return rows


def view_groups(*, view: SummaryView, now: datetime, cap: int) -> list[dict[str, str]]:
    """The view's partitions as groups (distinct group_by values of its records, in a
    stable order), at most `cap + 1` of them so a caller can tell the cap was passed.
    No group_by: one partition, the empty group."""
    if not view.group_by:
        return [{}]
    fields = list(view.group_by)
    rows = view_records(view=view, now=now)
    values = rows.order_by(*fields).values_list(*fields).distinct()[: cap + 1]
    groups: dict[str, dict[str, str]] = {}
    for row in values:
        group = {f: v or "" for f, v in zip(fields, row, strict=True)}
        groups.setdefault(encode_group_key(group), group)  # NULL and "" are one group
    return list(groups.values())


def records_seen(rows: QuerySet[MemoryRecord]) -> tuple[int, datetime | None]:
    """(count, Max(updated_at)) of a partition's records: what staleness compares."""
    figures = rows.order_by().aggregate(count=Count("id"), latest=Max("updated_at"))
    return figures["count"], figures["latest"]


# --- Partitions -----------------------------------------------------------------------------------


def view_partitions(*, view: SummaryView, group_filter: dict[str, str]) -> list[SummaryPartition]:
    """The view's stored partitions whose group holds every value of `group_filter`."""
    rows = SummaryPartition.objects.filter(view=view).order_by("group_key")
    return [p for p in rows if all(p.group.get(k) == v for k, v in group_filter.items())]


def partition_get(*, view: SummaryView, group: dict[str, str]) -> SummaryPartition | None:
    return SummaryPartition.objects.filter(view=view, group_key=encode_group_key(group)).first()


def partition_is_stale(*, partition: SummaryPartition, now: datetime) -> bool:
    """Whether the partition's records changed since it was summarised: their count (a
    record deleted, added or moved) or their latest updated_at (a record edited)."""
    rows = partition_records(view=partition.view, group=partition.group, now=now)
    return records_seen(rows) != (partition.source_count, partition.source_updated_at)


def view_is_stale(*, view: SummaryView, now: datetime) -> bool:
    """Whether a group of the view changed since its partition was computed, has no
    partition yet, or lost every memory: `partition_is_stale` for the whole view at once,
    one GROUP BY over the view's records (what a refresh reads anyway: `view_groups`)
    against its stored partitions' (source_count, source_updated_at). The comparison runs
    over those two short lists, one row per partition; a correlated subquery per partition
    instead took seconds at 100,000 records (benchmarks/admin_home.py)."""
    fields = list(view.group_by or [])
    # A group's "" stands for NULL or "" alike (`view_groups`, `_owner_value_q`).
    keys = {f"_g_{f}": Coalesce(F(f), Value(""), output_field=CharField()) for f in fields}
    records = view_records(view=view, now=now).order_by()
    if not fields:  # one partition, the empty group, whether or not records match
        seen = records.aggregate(n=Count("id"), latest=Max("updated_at"))
        current = {(): (seen["n"], seen["latest"])}
    else:
        grouped = records.annotate(**keys).values(*keys).annotate(n=Count("id"), latest=Max("updated_at"))
        current = {tuple(row[key] for key in keys): (row["n"], row["latest"]) for row in grouped}
    stored = {
        tuple(group.get(f) or "" for f in fields): (n, latest)
        for group, n, latest in SummaryPartition.objects.filter(view=view).values_list(
            "group", "source_count", "source_updated_at"
        )
    }
    if any(stored.get(key) != seen for key, seen in current.items()):
        return True  # a group changed, or no partition summarises it yet
    # A stored partition whose memories all went is stale until a run empties it.
    return any(n and key not in current for key, (n, _) in stored.items())


def continuous_views() -> QuerySet[SummaryView]:
    return SummaryView.objects.filter(continuous=True).order_by("created_at", "id")

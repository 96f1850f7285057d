"""The summary-view and task operations, one function each, called by every door (REST
views in `memory.api.summary_views.views`, MCP tools in `memory.mcp.tools_summary`).

Each takes the request's data as plain values and the caller's `Scope`, validates with its
input serializer, and answers the dict its output serializer documents. A view belongs
to the caller's tenant; its reach is the creating scope. Another tenant's view, or one
whose reach is wider than the caller's scope, does not exist for the caller (404, absent
from the list); tasks are the tenant's alike. Refusals are DRF exceptions naming the field.
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions

from memory.api.errors import field_conflict, field_error, located, not_found_error
from memory.api.fields import validated
from memory.api.filters import filter_conditions
from memory.api.scope import OutOfScope, Scope
from memory.api.summary_views.serializers import (
    FILTER_FIELDS,
    CreateSummaryViewSerializer,
    PartitionQuerySerializer,
    RunPartitionSerializer,
    RunViewSerializer,
    partition_to_dict,
    task_to_dict,
    view_to_dict,
)
from memory.models import SummaryView
from memory.selectors import summary_views as selectors
from memory.services.summary_views import runs, views
from memory.services.summary_views.summarize import SummarizeError

# Operators whose values a record must carry: naming a value there asks for it.
_NAMING_OPERATORS = ("eq", "any", "all", "in_")
# The summarizing version's fields, as the request names them.
_VERSION_FIELDS = {"prompt_template": "prompt", "model": "model_name"}


class SummarizerUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The summarizer failed; retry shortly."


def _reach(scope: Scope) -> selectors.Reach:
    return selectors.Reach(tenant=scope.tenant, namespaces=scope.namespaces, user_ids=scope.user_ids)


def _view_in_scope(scope: Scope, view_id: str) -> SummaryView:
    view = selectors.summary_view_get(view_id=view_id, reach=_reach(scope))
    if view is None:
        raise not_found_error(
            f"SummaryView {view_id} not found", loc=["path", "view_id"], msg=f"no summary view with id {view_id!r}."
        )
    return view


# --- Views ----------------------------------------------------------------------------------------


def _filter_spec(name: str, value: object) -> object:
    """The reference's shorthand (a string: equal; a list: any of them) as a filter object."""
    if isinstance(value, str):
        return {"eq": value}
    if isinstance(value, list):
        return {"any": value}
    return value


def check_view_filters(filters: dict[str, Any], scope: Scope) -> None:
    """Each filter a known field with a value of the search grammar (`memory.api.filters`),
    and a namespace or user_id it names inside the scope (403 naming it)."""
    for name, value in filters.items():
        loc: list[str | int] = ["body", "filters", name]
        if name not in FILTER_FIELDS:
            raise field_error(loc, f"Unsupported filter field {name!r}; use {', '.join(FILTER_FIELDS)}.")
        if name == "event_date" and not isinstance(value, dict):
            raise field_error(loc, "Must be an object of date operators (gt, gte, lt, lte, eq, between).")
        spec = _filter_spec(name, value)
        try:
            filter_conditions({name: spec})
        except exceptions.ValidationError as exc:
            where = tuple(getattr(exc, "loc", ("body", name)))
            raise located(exc, ("body", "filters", *where[1:])) from exc
        allowed = {"namespace": scope.namespaces, "user_id": scope.user_ids}.get(name)
        if allowed is None or not isinstance(spec, dict):
            continue
        for op in _NAMING_OPERATORS:
            named = spec.get(op)
            outside = sorted(v for v in ([named] if isinstance(named, str) else named or []) if v not in allowed)
            if outside:
                raise OutOfScope(
                    f"Filter filters.{name} names {', '.join(map(repr, outside))}, outside this credential's scope."
                )


def summary_view_create_respond(data: Any, *, scope: Scope) -> dict[str, Any]:
    """Create a view (`CreateSummaryViewSerializer`) owned by the caller's tenant, reaching
    the caller's scope; answers `SummaryViewOutputSerializer`."""
    body = validated(CreateSummaryViewSerializer, data)
    body["filters"] = body.get("filters") or {}
    body["continuous"] = bool(body.get("continuous"))
    check_view_filters(body["filters"], scope)
    try:
        view = views.summary_view_create(
            tenant=scope.tenant, namespaces=scope.namespaces, user_ids=scope.user_ids, fields=body, actor=scope.actor
        )
    except DjangoValidationError as exc:  # the summarizing version refused the prompt or model
        name, messages = next(iter(exc.message_dict.items()))
        raise field_error(["body", _VERSION_FIELDS.get(name, name)], "; ".join(messages)) from exc
    return view_to_dict(view)


def summary_views_list_respond(*, scope: Scope) -> list[dict[str, Any]]:
    return [view_to_dict(v) for v in selectors.summary_views_visible(reach=_reach(scope))]


def summary_view_get_respond(view_id: str, *, scope: Scope) -> dict[str, Any]:
    return view_to_dict(_view_in_scope(scope, view_id))


def summary_view_delete_respond(view_id: str, *, scope: Scope) -> dict[str, Any]:
    views.summary_view_delete(view=_view_in_scope(scope, view_id), actor=scope.actor)
    return {"status": "ok"}


# --- Partitions -----------------------------------------------------------------------------------


def summary_view_partition_run_respond(view_id: str, data: Any, *, scope: Scope) -> dict[str, Any]:
    """Summarise one partition now (`RunPartitionSerializer`: the group's keys exactly the
    view's group_by); answers `PartitionOutputSerializer`."""
    view = _view_in_scope(scope, view_id)
    group = validated(RunPartitionSerializer, data)["group"]
    if set(group) != set(view.group_by):
        raise field_error(
            ["body", "group"],
            f"group keys {sorted(group)} must exactly match view.group_by {sorted(view.group_by)}",
        )
    # A group naming a namespace or user outside the caller's scope is refused by name.
    if group.get("namespace"):
        scope.namespace(group["namespace"], ["body", "group", "namespace"])
    if group.get("user_id"):
        scope.user(group["user_id"], ["body", "group", "user_id"])
    try:
        partition = runs.partition_run(view=view, group=group, actor=scope.actor)
    except SummarizeError as exc:
        raise SummarizerUnavailable(f"The summarizer failed: {exc}") from exc
    return partition_to_dict(partition)


def summary_view_partitions_respond(view_id: str, query: dict[str, Any], *, scope: Scope) -> list[dict[str, Any]]:
    """The view's stored partitions, those whose group holds each given value
    (`PartitionQuerySerializer`); answers a list of `PartitionOutputSerializer`."""
    view = _view_in_scope(scope, view_id)
    group_filter = validated(PartitionQuerySerializer, query, "query")
    return [partition_to_dict(p) for p in selectors.view_partitions(view=view, group_filter=group_filter)]


# --- Full runs and tasks --------------------------------------------------------------------------


def summary_view_run_respond(view_id: str, data: Any, *, scope: Scope) -> dict[str, Any]:
    """Start a full run as a Task (`RunViewSerializer`; `force` recomputes fresh partitions
    too); answers `TaskOutputSerializer`, pending."""
    view = _view_in_scope(scope, view_id)
    body = validated(RunViewSerializer, data if data is not None else {})
    try:
        task = runs.task_create(view=view, task_id=body.get("task_id"), force=body["force"], actor=scope.actor)
    except IntegrityError as exc:
        raise field_conflict(["body", "task_id"], f"A task with id {body.get('task_id')!r} exists.") from exc
    return task_to_dict(task)


def task_get_respond(task_id: str, *, scope: Scope) -> dict[str, Any]:
    task = selectors.task_get(task_id=task_id, tenant=scope.tenant)
    if task is None:
        raise not_found_error(f"Task {task_id} not found", loc=["path", "task_id"], msg=f"no task with id {task_id!r}.")
    return task_to_dict(task)

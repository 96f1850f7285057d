"""The focused review view (one pending memory beside its evidence) and the undo of a
history entry. Both post to the review services and redirect, so the next item (or
the restored record) loads at once and a reload never repeats an action."""

import copy
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from memory.actor_names import admin_actor
from memory.admin.forms import RejectForm, ReviewEditForm
from memory.models import MemoryHistory, MemoryRecord, MemoryStatus
from memory.selectors.review import memory_conflicts, memory_neighbours, memory_source_turns, review_next
from memory.services.long_term.edit import memory_edit
from memory.services.long_term.undo import UndoNotPossibleError, memory_history_undo
from memory.services.review import REJECT_REASONS, memory_approve, memory_reject

# Keys of the review URL that steer the view rather than filter the queue.
CONTROL_PARAMS = ("after", "o", "p", "e", "_facets", "_popup", "_to_field", "all")
SHORTCUTS = (
    ("a", "Approve"),
    ("r", "Reject (then 1–9 picks a reason, Enter confirms)"),
    ("e", "Edit in place (Ctrl+Enter saves and approves, Esc cancels)"),
    ("s", "Skip to the next one"),
    ("?", "Show or hide this help"),
)


def _filters(query: QueryDict) -> QueryDict:
    filters = query.copy()
    for name in CONTROL_PARAMS:
        filters.pop(name, None)
    return filters


def _url(filters: QueryDict, **extra: Any) -> str:
    query = filters.copy()
    for name, value in extra.items():
        if value:
            query[name] = value
    base = reverse("admin:memory_memoryrecord_review")
    return f"{base}?{query.urlencode()}" if query else base


def review_queue(
    model_admin: ModelAdmin[MemoryRecord], request: HttpRequest, filters: QueryDict
) -> QuerySet[MemoryRecord]:
    """The changelist's own queryset for these filters (same filters, same search), so
    "Review these" reviews exactly what the changelist showed; pending only unless the
    filters pick a status."""
    changelist_request = copy.copy(request)
    changelist_request.GET = filters  # type: ignore[assignment]  # a mutable copy, which the changelist only reads
    queryset: QuerySet[MemoryRecord] = model_admin.get_changelist_instance(changelist_request).queryset
    if not filters.get("status"):
        queryset = queryset.filter(status=MemoryStatus.PENDING)
    return queryset


def review_view(model_admin: ModelAdmin[MemoryRecord], request: HttpRequest) -> HttpResponse:
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    filters = _filters(request.GET)
    if request.method == "POST":
        _act(request)
        return HttpResponseRedirect(_url(filters, after=request.POST.get("after", "")))
    try:
        queue = review_queue(model_admin, request, filters)
    except IncorrectLookupParameters:
        messages.error(request, "Those filters do not apply to memories; showing the whole pending queue.")
        return HttpResponseRedirect(reverse("admin:memory_memoryrecord_review"))
    item = review_next(queue=queue, after_id=request.GET.get("after"))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Review memories",
        "remaining": queue.count(),
        "item": item,
        "filters": [(name, value) for name, values in filters.lists() for value in values],
        "changelist_url": reverse("admin:memory_memoryrecord_changelist")
        + (f"?{filters.urlencode()}" if filters else ""),
        "clear_url": reverse("admin:memory_memoryrecord_review"),
        "shortcuts": SHORTCUTS,
        "reject_reasons": REJECT_REASONS[:9],
        "after": request.GET.get("after", ""),
    }
    if item is not None:
        context.update(_evidence(item))
        context["skip_url"] = _url(filters, after=item.id)
        context["edit_form"] = ReviewEditForm.for_record(item)
        context["change_url"] = reverse("admin:memory_memoryrecord_change", args=[item.pk])
    return TemplateResponse(request, "admin/memory/memoryrecord/review.html", context)


def _evidence(item: MemoryRecord) -> dict[str, Any]:
    run = item.extraction_run
    return {
        "turns": memory_source_turns(record=item),
        "neighbours": memory_neighbours(record=item),
        "conflicts": memory_conflicts(record=item),
        "run": run,
        "run_url": reverse("admin:policies_extractionrun_change", args=[run.pk]) if run else "",
        "version": run.policy_version if run else None,
    }


def _act(request: HttpRequest) -> None:
    """Apply one decision from the review view; problems become messages, not errors."""
    actor = admin_actor(request.user)
    record = MemoryRecord.objects.filter(pk=request.POST.get("memory_id", "")).first()
    if record is None:
        messages.warning(request, "That memory is gone (deleted or erased meanwhile); here is the next one.")
        return
    label = Truncator(record.text).chars(60)
    action = request.POST.get("action")
    try:
        if action == "approve":
            memory_approve(memory_id=record.pk, actor=actor)
            _done(request, "Approved", record, label)
        elif action == "reject":
            form = RejectForm(request.POST)
            if not form.is_valid():
                messages.error(request, "Not rejected: pick a reason or type one.")
                return
            memory_reject(memory_id=record.pk, reason=form.cleaned_data["reason"], actor=actor)
            _done(request, f"Rejected ({form.cleaned_data['reason']})", record, label)
        elif action in ("edit", "edit_approve"):
            _edit(request, record, actor, approve=action == "edit_approve")
        else:
            messages.error(request, f"Unknown action {action!r}.")
    except (LookupError, ValueError, ObjectDoesNotExist) as exc:
        messages.error(request, f"Nothing changed: {exc}")


def _edit(request: HttpRequest, record: MemoryRecord, actor: str, *, approve: bool) -> None:
    form = ReviewEditForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{name}: {' '.join(str(error) for error in errors)}" for name, errors in form.errors.items()
        )
        messages.error(request, f"Not saved: {problems}")
        return
    changes = form.changes_from(record)
    # One transaction: an edit that is approved is never left half done.
    with transaction.atomic():
        if changes:
            record = memory_edit(memory_id=record.pk, changes=changes, actor=actor, may_review=True)
        if approve:
            memory_approve(memory_id=record.pk, actor=actor)
    verb = ("Edited and approved" if approve else "Edited") if changes else ("Approved" if approve else "No change to")
    _done(request, verb, record, Truncator(record.text).chars(60))


def _done(request: HttpRequest, verb: str, record: MemoryRecord, label: str) -> None:
    url = reverse("admin:memory_memoryrecord_change", args=[record.pk])
    messages.success(request, format_html('{} <a href="{}">“{}”</a>.', verb, url, label))


def history_undo_view(model_admin: ModelAdmin[MemoryRecord], request: HttpRequest, history_id: int) -> HttpResponse:
    """POST only: undo a merge or a delete, then show the record that came back."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    entry = get_object_or_404(MemoryHistory, pk=history_id)
    try:
        restored = memory_history_undo(history_id=entry.pk, actor=admin_actor(request.user))
    except UndoNotPossibleError as exc:
        messages.error(request, f"Not undone: {exc}")
        if MemoryRecord.objects.filter(pk=entry.memory_id).exists():
            return HttpResponseRedirect(reverse("admin:memory_memoryrecord_change", args=[entry.memory_id]))
        return HttpResponseRedirect(reverse("admin:memory_memoryhistory_change", args=[entry.pk]))
    what = "merge" if entry.action == MemoryHistory.Action.MERGED else "delete"
    messages.success(request, f"Undid the {what}: “{Truncator(restored.text).chars(80)}” is back ({restored.pk}).")
    return HttpResponseRedirect(reverse("admin:memory_memoryrecord_change", args=[restored.pk]))

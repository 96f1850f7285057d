"""Bulk actions of the memory changelist, each one call of a review (or erasure) service
with the admin user as actor. Reject and erase ask first, on a page of their own."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import ModelAdmin, helpers
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.text import Truncator

from memory.actor_names import admin_actor
from memory.admin.forms import RejectForm
from memory.models import MemoryRecord
from memory.services.erasure import user_erase
from memory.services.review import REJECT_REASONS, memories_approve, memories_pin, memories_reject, memories_unpin

Records = QuerySet[MemoryRecord]


def _ids(queryset: Records) -> list[str]:
    return list(queryset.values_list("id", flat=True))


def _plural(n: int) -> str:
    return f"{n} memory" if n == 1 else f"{n} memories"


@admin.action(description="Approve selected memories", permissions=["change"])
def approve_selected(modeladmin: ModelAdmin[MemoryRecord], request: HttpRequest, queryset: Records) -> None:
    n = memories_approve(memory_ids=_ids(queryset), actor=admin_actor(request.user))
    modeladmin.message_user(request, f"Approved {_plural(n)}; they are searchable now.", messages.SUCCESS)


@admin.action(description="Pin selected memories", permissions=["change"])
def pin_selected(modeladmin: ModelAdmin[MemoryRecord], request: HttpRequest, queryset: Records) -> None:
    n = memories_pin(memory_ids=_ids(queryset), actor=admin_actor(request.user))
    modeladmin.message_user(request, f"Pinned {_plural(n)}: no forgetting policy will remove them.", messages.SUCCESS)


@admin.action(description="Unpin selected memories", permissions=["change"])
def unpin_selected(modeladmin: ModelAdmin[MemoryRecord], request: HttpRequest, queryset: Records) -> None:
    n = memories_unpin(memory_ids=_ids(queryset), actor=admin_actor(request.user))
    modeladmin.message_user(request, f"Unpinned {_plural(n)}.", messages.SUCCESS)


def _confirmation(
    modeladmin: ModelAdmin[MemoryRecord], request: HttpRequest, queryset: Records, template: str, **context: Any
) -> TemplateResponse:
    """An intermediate page that posts the same selection back to the same action."""
    return TemplateResponse(
        request,
        template,
        {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.model._meta,
            "title": context.pop("title"),
            "queryset": queryset,
            "selected_ids": _ids(queryset),
            "select_across": request.POST.get("select_across", "0"),
            "action_name": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            **context,
        },
    )


@admin.action(description="Reject selected memories…", permissions=["change"])
def reject_selected(
    modeladmin: ModelAdmin[MemoryRecord], request: HttpRequest, queryset: Records
) -> TemplateResponse | None:
    form = RejectForm(request.POST if request.POST.get("post") else None)
    if form.is_bound and form.is_valid():
        n = memories_reject(
            memory_ids=_ids(queryset), reason=form.cleaned_data["reason"], actor=admin_actor(request.user)
        )
        modeladmin.message_user(
            request, f"Rejected {_plural(n)} ({form.cleaned_data['reason']}); search no longer returns them."
        )
        return None
    return _confirmation(
        modeladmin,
        request,
        queryset,
        "admin/memory/memoryrecord/reject_selected.html",
        title=f"Reject {_plural(queryset.count())}",
        form=form,
        reasons=REJECT_REASONS,
        samples=[Truncator(text).chars(120) for text in queryset.values_list("text", flat=True)[:10]],
    )


def _owners(queryset: Records) -> list[dict[str, Any]]:
    """The owners, (namespace, user) pairs, of the selection, with how much each holds in all."""
    pairs = queryset.exclude(user_id__isnull=True).values_list("namespace", "user_id").distinct()
    owners: list[dict[str, Any]] = []
    for namespace, user_id in sorted(set(pairs), key=lambda p: (p[0] or "", p[1])):
        held = MemoryRecord.objects.filter(namespace=namespace, user_id=user_id).aggregate(n=Count("id"))["n"]
        owners.append({"namespace": namespace, "user_id": user_id, "records": held})
    return owners


@admin.action(description="Erase these users' memory completely…", permissions=["erase"])
def erase_users(
    modeladmin: ModelAdmin[MemoryRecord], request: HttpRequest, queryset: Records
) -> TemplateResponse | None:
    owners = _owners(queryset)
    if request.POST.get("post") == "yes" and owners:
        actor = admin_actor(request.user)
        receipts = [user_erase(namespace=t["namespace"], user_id=t["user_id"], actor=actor) for t in owners]
        removed = sum(sum(v for v in r.counts.values() if isinstance(v, int)) for r in receipts)
        modeladmin.message_user(
            request,
            f"Erased {len(receipts)} user(s): {removed} items removed; receipts "
            + ", ".join(str(r.pk) for r in receipts)
            + " are kept under Erasure receipts.",
            messages.SUCCESS,
        )
        return None
    if not owners:
        modeladmin.message_user(request, "None of the selected memories belongs to a user.", messages.WARNING)
        return None
    return _confirmation(
        modeladmin,
        request,
        queryset,
        "admin/memory/memoryrecord/erase_users.html",
        title="Erase users' memory",
        owners=owners,
    )

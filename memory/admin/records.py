"""The memory changelist and change page. Every change goes through the review
services with the admin user as actor; the pages only read and route."""

from typing import Any

from django.contrib import admin
from django.contrib.admin import ChoicesFieldListFilter, DateFieldListFilter, RelatedOnlyFieldListFilter
from django.db.models import QuerySet
from django.db.models.expressions import Combinable
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from memory.actor_names import admin_actor
from memory.admin import actions, filters, review
from memory.admin.forms import MemoryRecordForm
from memory.models import MemoryRecord, MemoryStatus
from memory.selectors.review import (
    REVIEW_RANK,
    memory_conflicts,
    memory_history_entries,
    memory_source_turns,
    raw_output_shown,
)
from memory.services.long_term.edit import memory_edit
from memory.services.review import (
    REJECT_REASONS,
    memories_delete,
    memory_approve,
    memory_delete,
    memory_reject,
)

# Query-string keys of the changelist that are not filters (paging, sorting, popups).
NON_FILTER_PARAMS = ("o", "p", "e", "_facets", "_popup", "_to_field", "all", "after")


def status_badge(status: str) -> SafeString:
    return format_html('<span class="memory-badge memory-badge--{}">{}</span>', status, status)


BOOKKEEPING_FIELDS = (
    "id",
    "run_link",
    "extracted_from",
    "extraction_strategy",
    "extraction_strategy_config",
    "metadata",
    "created_at",
    "updated_at",
    "persisted_at",
    "last_accessed",
    "access_count",
    "memory_hash",
    "embedding_model",
    "index_pending",
)


@admin.register(MemoryRecord)
class MemoryRecordAdmin(admin.ModelAdmin[MemoryRecord]):
    form = MemoryRecordForm
    change_list_template = "admin/memory/memoryrecord/change_list.html"
    change_form_template = "admin/memory/memoryrecord/change_form.html"
    list_display = ("text_short", "status_label", "user_id", "session_id", "policy_version", "created_at")
    list_display_links = ("text_short",)
    list_filter = (
        filters.StatusFilter,
        filters.NamespaceFilter,
        filters.UserFilter,
        "memory_type",
        ("extraction_run__strategy", ChoicesFieldListFilter),
        filters.PolicyFilter,
        ("extraction_run__policy_version", RelatedOnlyFieldListFilter),
        filters.TopicFilter,
        filters.EntityFilter,
        ("created_at", DateFieldListFilter),
        filters.HasMergesFilter,
    )
    search_fields = ("text", "context", "=id", "=session_id", "=user_id")
    search_help_text = "Words of the text or context, or an exact memory, session or user id."
    list_select_related = ("extraction_run__policy_version__policy",)
    list_per_page = 50
    actions = (
        actions.approve_selected,
        actions.reject_selected,
        actions.pin_selected,
        actions.unpin_selected,
        "delete_selected",
        actions.erase_users,
    )
    fieldsets = (
        ("Memory", {"fields": ("text", "topics", "entities", "event_date", "pinned")}),
        ("Decision", {"fields": ("status", "reject_reason")}),
        ("Where it belongs", {"fields": ("namespace", "user_id", "session_id", "memory_type", "context")}),
        (
            "Bookkeeping",
            {
                "classes": ("collapse",),
                "fields": BOOKKEEPING_FIELDS,
            },
        ),
    )
    # Where a record belongs and its bookkeeping are provenance: a reviewer sees them, never edits them.
    readonly_fields = ("namespace", "user_id", "session_id", "memory_type", "context", *BOOKKEEPING_FIELDS)

    class Media:
        css = {"all": ("memory/admin.css",)}

    # --- Columns -----------------------------------------------------------------------

    @admin.display(description="text", ordering="text")
    def text_short(self, record: MemoryRecord) -> str:
        text = Truncator(" ".join(record.text.split())).chars(110)
        return format_html("{}{}", "📌 " if record.pinned else "", text)

    @admin.display(description="status", ordering=REVIEW_RANK)
    def status_label(self, record: MemoryRecord) -> str:
        return status_badge(record.status)

    @admin.display(description="policy version", ordering="extraction_run__policy_version")
    def policy_version(self, record: MemoryRecord) -> str:
        run = record.extraction_run
        return str(run.policy_version) if run and run.policy_version else "-"

    @admin.display(description="extraction run")
    def run_link(self, record: MemoryRecord) -> str:
        if record.extraction_run_id is None:
            return "-"
        url = reverse("admin:policies_extractionrun_change", args=[record.extraction_run_id])
        return format_html('<a href="{}">run {}</a>', url, record.extraction_run_id)

    def get_ordering(self, request: HttpRequest) -> list[Combinable | str]:
        return [REVIEW_RANK.asc(), "-created_at", "-id"]

    # --- Permissions: memories come from agents and promotion, never typed in ---------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        """Erasing a person is irreversible and reaches beyond memories: superusers only."""
        return request.user.is_active and request.user.is_superuser

    # --- Writes, all through the services -------------------------------------------------

    def save_model(self, request: HttpRequest, obj: MemoryRecord, form: Any, change: bool) -> None:
        actor = admin_actor(request.user)
        changes = form.review_changes()
        if changes:
            memory_edit(memory_id=obj.pk, changes=changes, actor=actor, may_review=True)
        if "status" in form.changed_data:
            if form.cleaned_data["status"] == MemoryStatus.APPROVED:
                memory_approve(memory_id=obj.pk, actor=actor)
            elif form.cleaned_data["status"] == MemoryStatus.REJECTED:
                memory_reject(memory_id=obj.pk, reason=form.cleaned_data["reject_reason"], actor=actor)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing related to save; the services wrote the record (form.save_m2m would not)."""

    def delete_model(self, request: HttpRequest, obj: MemoryRecord) -> None:
        memory_delete(memory_id=obj.pk, actor=admin_actor(request.user), reason="deleted in the admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MemoryRecord]) -> None:
        ids = list(queryset.values_list("id", flat=True))
        memories_delete(memory_ids=ids, actor=admin_actor(request.user), reason="deleted in the admin")

    # --- Pages -------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("review/", view(self.review_view), name="memory_memoryrecord_review"),
            path(
                "history/<int:history_id>/undo/",
                view(self.history_undo_view),
                name="memory_memoryrecord_history_undo",
            ),
            *super().get_urls(),
        ]

    def review_view(self, request: HttpRequest) -> HttpResponse:
        return review.review_view(self, request)

    def history_undo_view(self, request: HttpRequest, history_id: int) -> HttpResponse:
        return review.history_undo_view(self, request, history_id)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        query = request.GET.copy()
        for name in NON_FILTER_PARAMS:
            query.pop(name, None)
        extra_context = {
            **(extra_context or {}),
            "title": "Memories",
            "review_url": reverse("admin:memory_memoryrecord_review") + (f"?{query.urlencode()}" if query else ""),
        }
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        record = (
            MemoryRecord.objects.filter(pk=object_id).select_related("extraction_run__policy_version__policy").first()
        )
        extra_context = dict(extra_context or {})
        if record is not None:
            extra_context.update(provenance_context(request, record))
        return super().change_view(request, object_id, form_url, extra_context)


def provenance_context(request: HttpRequest, record: MemoryRecord) -> dict[str, Any]:
    run = record.extraction_run
    version = run.policy_version if run else None
    can_see_version = request.user.has_perm("policies.view_policyversion")
    return {
        "record": record,
        "status_badge": status_badge(record.status),
        "source_turns": memory_source_turns(record=record),
        "run": run,
        "run_url": reverse("admin:policies_extractionrun_change", args=[run.pk]) if run else "",
        "version": version,
        "version_url": (
            reverse("admin:policies_policyversion_change", args=[version.pk]) if version and can_see_version else ""
        ),
        "raw_output": raw_output_shown(run.raw_output) if run and run.raw_output else "",
        "history": memory_history_entries(memory_id=record.id),
        "conflicts": memory_conflicts(record=record),
        "reject_reasons": REJECT_REASONS,
        "review_url": reverse("admin:memory_memoryrecord_review"),
    }

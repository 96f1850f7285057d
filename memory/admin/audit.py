"""Read-only admins of the audit trail: history, erasure receipts, source messages.
Nothing here is edited by hand; a history entry's page offers its undo when it has one."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from memory.models import ErasureReceipt, MemoryHistory, MemoryRecord, SourceMessage
from memory.selectors.review import history_entry
from memoryproject.admin_base import ReadOnlyAdmin


@admin.register(MemoryHistory)
class MemoryHistoryAdmin(ReadOnlyAdmin):
    change_form_template = "admin/memory/memoryhistory/change_form.html"
    list_display = ("created_at", "action", "actor", "memory_link", "reason_short", "undone_at")
    list_filter = ("action", "actor", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=memory_id", "actor", "reason", "=user_id", "=namespace")
    date_hierarchy = "created_at"
    list_per_page = 100

    class Media:
        css = {"all": ("memory/admin.css",)}

    @admin.display(description="memory", ordering="memory_id")
    def memory_link(self, row: MemoryHistory) -> str:
        url = reverse("admin:memory_memoryrecord_change", args=[row.memory_id])
        return format_html('<a href="{}"><code>{}</code></a>', url, row.memory_id)

    @admin.display(description="reason")
    def reason_short(self, row: MemoryHistory) -> str:
        return Truncator(row.reason).chars(100)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        row = MemoryHistory.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        extra_context = dict(extra_context or {})
        if row is not None:
            extra_context["entry"] = history_entry(row)
            extra_context["record_exists"] = MemoryRecord.objects.filter(pk=row.memory_id).exists()
            extra_context["can_undo"] = request.user.has_perm("memory.change_memoryrecord")
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ErasureReceipt)
class ErasureReceiptAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "namespace", "actor", "counts_summary", "user_digest")
    list_filter = ("namespace", "actor")
    search_fields = ("=user_digest", "namespace", "actor")
    date_hierarchy = "created_at"

    @admin.display(description="removed")
    def counts_summary(self, receipt: ErasureReceipt) -> str:
        counts = receipt.counts or {}
        return ", ".join(f"{kind}: {n}" for kind, n in counts.items() if isinstance(n, int) and n) or "nothing"


@admin.register(SourceMessage)
class SourceMessageAdmin(ReadOnlyAdmin):
    list_display = ("session_id", "seq", "role", "content_short", "namespace", "user_id", "created_at")
    list_filter = ("role", "namespace")
    search_fields = ("content", "=session_id", "=message_id", "=user_id")
    ordering = ("namespace", "session_id", "seq")
    list_per_page = 100

    @admin.display(description="content")
    def content_short(self, message: SourceMessage) -> str:
        return Truncator(message.content).chars(140)

"""Read-only admin for extraction runs; the admin issue adds policy editing and review."""

from django.contrib import admin, messages
from django.utils.html import format_html

from memory import llm
from policies.models import ExtractionRun


@admin.register(ExtractionRun)
class ExtractionRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "started_at",
        "status",
        "session_id",
        "namespace",
        "user_id",
        "strategy",
        "model",
        "message_count",
        "memories_created",
        "memories_deduplicated",
        "memories_dropped",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "latency_ms",
        "attempt",
        "error_summary",
    )
    list_filter = ("status", "strategy", "model")
    search_fields = ("session_id", "namespace", "user_id", "error")
    date_hierarchy = "started_at"
    list_select_related = ("policy_version__policy",)
    readonly_fields = ("error_detail",)
    exclude = ("error",)

    @admin.display(description="error")
    def error_summary(self, run):
        first_line = run.error.splitlines()[0] if run.error else ""
        return first_line[:120] + ("…" if len(first_line) > 120 else "")

    @admin.display(description="error")
    def error_detail(self, run):
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", run.error) if run.error else "-"

    def changelist_view(self, request, extra_context=None):
        if not llm.is_configured():
            self.message_user(
                request,
                "LLM extraction is off: LLM_MODEL is not set, so only the `messages` "
                "strategy (raw turns, no LLM) can run.",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

"""Admin of extraction runs: read-only, failed runs first, each leading to what it produced,
the turns it read and the version it ran."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from memory import llm
from memory.selectors.review import run_source_range
from memoryproject.admin_base import ReadOnlyAdmin
from policies.models import ExtractionRun


class RunStatusFilter(admin.SimpleListFilter):
    """Failed runs first: they are what an operator comes here for."""

    title = "status"
    parameter_name = "status"
    ORDER = (
        ExtractionRun.Status.FAILED,
        ExtractionRun.Status.RUNNING,
        ExtractionRun.Status.SKIPPED,
        ExtractionRun.Status.SUCCEEDED,
    )

    def lookups(self, request, model_admin):
        return [(status.value, status.label) for status in self.ORDER]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() in ExtractionRun.Status.values else queryset


@admin.register(ExtractionRun)
class ExtractionRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "started_at",
        "status",
        "session_id",
        "namespace",
        "user_id",
        "policy_version",
        "variant",
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
    list_filter = (RunStatusFilter, "strategy", "model", "policy_version")
    search_fields = ("session_id", "namespace", "user_id", "error")
    date_hierarchy = "started_at"
    list_select_related = ("policy_version__policy", "variant__experiment")
    fieldsets = (
        (None, {"fields": ("status", "started_at", "finished_at", "error_detail")}),
        (
            "What it produced",
            {"fields": ("memories_link", "memories_created", "memories_deduplicated", "memories_dropped")},
        ),
        (
            "What it read",
            {"fields": ("namespace", "user_id", "session_id", "source_messages_link", "message_count")},
        ),
        (
            "How",
            {
                "fields": (
                    "policy_version_link",
                    "experiment",
                    "variant",
                    "strategy",
                    "model",
                    "attempt",
                    "malformed_replies",
                )
            },
        ),
        ("Cost", {"fields": ("tokens_in", "tokens_out", "cost_usd", "latency_ms")}),
        ("Raw model output", {"fields": ("raw_output_detail",)}),
    )
    readonly_fields = (
        "error_detail",
        "memories_link",
        "source_messages_link",
        "policy_version_link",
        "raw_output_detail",
    )

    @admin.display(description="error")
    def error_summary(self, run):
        first_line = run.error.splitlines()[0] if run.error else ""
        return first_line[:120] + ("…" if len(first_line) > 120 else "")

    @admin.display(description="error")
    def error_detail(self, run):
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", run.error) if run.error else "-"

    @admin.display(description="raw model output")
    def raw_output_detail(self, run):
        if not run.raw_output:
            return "- (the strategy calls no model, or nothing was stored)"
        return format_html("<pre id='run-raw-output' style='white-space: pre-wrap'>{}</pre>", run.raw_output)

    @admin.display(description="memories")
    def memories_link(self, run):
        url = reverse("admin:memory_memoryrecord_changelist") + "?" + urlencode({"extraction_run__id__exact": run.pk})
        return format_html('<a href="{}" id="run-memories">the memories of this run</a>', url)

    @admin.display(description="source messages")
    def source_messages_link(self, run):
        span = run_source_range(run=run)
        if span is None:
            return "- (not stored, or erased)"
        query = {"namespace": run.namespace or "", "session_id": run.session_id, "seq__gte": span[0]}
        query["seq__lte"] = span[1]
        url = reverse("admin:memory_sourcemessage_changelist") + "?" + urlencode(query)
        return format_html('<a href="{}" id="run-source-messages">turns {} to {}</a>', url, span[0], span[1])

    @admin.display(description="policy version")
    def policy_version_link(self, run):
        if run.policy_version_id is None:
            return "-"
        url = reverse("admin:policies_policyversion_change", args=[run.policy_version_id])
        return format_html('<a href="{}" id="run-policy-version">{}</a>', url, run.policy_version)

    def changelist_view(self, request, extra_context=None):
        if not llm.is_configured():
            self.message_user(
                request,
                "LLM extraction is off: LLM_MODEL is not set, so only the `messages` "
                "strategy (raw turns, no LLM) can run.",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

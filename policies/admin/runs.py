"""Admin of extraction runs: read-only, failed runs first, each leading to what it produced,
the turns it read and the version it ran, with its retries. The one write is the bulk
Retry action on failed runs (the promotion service's `promotion_runs_retry`)."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import ModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from memory import llm
from memory.actor_names import admin_actor
from memory.selectors.review import run_source_range
from memory.services.promotion_retry import promotion_runs_retry
from memoryproject.admin_base import ReadOnlyAdmin
from policies.models import ExtractionRun, ExtractionRunRetry


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

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(status.value, status.label) for status in self.ORDER]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(status=self.value()) if self.value() in ExtractionRun.Status.values else queryset


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


class ExtractionRunRetryInline(admin.TabularInline[ExtractionRunRetry, ExtractionRun]):
    """Each time the run was tried again: who, when, and how it had ended before."""

    model = ExtractionRunRetry
    fields = ("created_at", "actor", "failure", "attempts", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "retries"

    def has_add_permission(self, request: HttpRequest, obj: ExtractionRun | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ExtractionRun | None = None) -> bool:
        return False


@admin.register(ExtractionRun)
class ExtractionRunAdmin(ReadOnlyAdmin):
    actions = ("retry_failed_runs",)
    inlines = (ExtractionRunRetryInline,)
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
        "rearms",
        "error_summary",
    )
    list_filter = (RunStatusFilter, "failure", "strategy", "model", "policy_version")
    search_fields = ("session_id", "namespace", "user_id", "error")
    date_hierarchy = "started_at"
    list_select_related = ("policy_version__policy", "variant__experiment")
    fieldsets = (
        (None, {"fields": ("status", "failure", "started_at", "finished_at", "error_detail", "rearms")}),
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
    def error_summary(self, run: ExtractionRun) -> str:
        first_line = run.error.splitlines()[0] if run.error else ""
        return first_line[:120] + ("…" if len(first_line) > 120 else "")

    @admin.display(description="error")
    def error_detail(self, run: ExtractionRun) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", run.error) if run.error else "-"

    @admin.display(description="raw model output")
    def raw_output_detail(self, run: ExtractionRun) -> str:
        if not run.raw_output:
            return "- (the strategy calls no model, or nothing was stored)"
        return format_html("<pre id='run-raw-output' style='white-space: pre-wrap'>{}</pre>", run.raw_output)

    @admin.display(description="memories")
    def memories_link(self, run: ExtractionRun) -> str:
        url = reverse("admin:memory_memoryrecord_changelist") + "?" + urlencode({"extraction_run__id__exact": run.pk})
        return format_html('<a href="{}" id="run-memories">the memories of this run</a>', url)

    @admin.display(description="source messages")
    def source_messages_link(self, run: ExtractionRun) -> str:
        span = run_source_range(run=run)
        if span is None:
            return "- (not stored, or erased)"
        query: dict[str, str | int] = {
            "namespace": run.namespace or "",
            "session_id": run.session_id,
            "seq__gte": span[0],
        }
        query["seq__lte"] = span[1]
        url = reverse("admin:memory_sourcemessage_changelist") + "?" + urlencode(query)
        return format_html('<a href="{}" id="run-source-messages">turns {} to {}</a>', url, span[0], span[1])

    @admin.display(description="policy version")
    def policy_version_link(self, run: ExtractionRun) -> str:
        if run.policy_version_id is None:
            return "-"
        url = reverse("admin:policies_policyversion_change", args=[run.policy_version_id])
        return format_html('<a href="{}" id="run-policy-version">{}</a>', url, run.policy_version)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("policies.retry_extractionrun")

    @admin.action(description="Retry the selected failed runs", permissions=["retry"])
    def retry_failed_runs(self, request: HttpRequest, queryset: QuerySet[ExtractionRun]) -> None:
        """Through the promotion service, as the admin user: each failed run still
        blocking its session's turns runs again; the rest are counted, not touched."""
        result = promotion_runs_retry(
            run_ids=list(queryset.values_list("pk", flat=True)), actor=admin_actor(request.user)
        )
        if result.retried:
            self.message_user(
                request,
                f"Retried {_runs(result.retried)}: their sessions are queued for extraction.",
                messages.SUCCESS,
            )
        if result.not_retried:
            self.message_user(
                request,
                f"{_runs(result.not_retried)} not retried: only a failed run that is its session's "
                "latest, with turns still to extract, can be (the others succeeded, are running, "
                "or a later run took their turns).",
                messages.WARNING,
            )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not llm.is_configured():
            self.message_user(
                request,
                "LLM extraction is off: LLM_MODEL is not set, so only the `messages` "
                "strategy (raw turns, no LLM) can run.",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

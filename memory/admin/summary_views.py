"""Admin of summary views (issue 22), read-only but for "Run now": the views, with their
partitions, staleness and last computation; each partition's summary (an extractive one
labelled so), counts, run, and the memories it summarised (links to the records); the
summary runs (version, tokens, cost, latency, raw output, error) and the tasks.

"Run now" starts a full run of the view as a Task, recomputing every partition, through
the service the REST route uses (`memory.services.summary_views.runs.task_create`); the
worker computes it in chunks, and the task's page shows how far it got."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from memory.actor_names import admin_actor
from memory.models import SummaryPartition, SummaryView, Task
from memory.selectors.home import stale_summary_view_ids
from memory.selectors.summary_views import partition_is_stale
from memory.services.summary_views.runs import task_create
from memoryproject.admin_base import ReadOnlyAdmin
from policies.models import SummaryRun

RUN_PERMISSION = "memory.change_summaryview"
# Staleness is one aggregate query a partition: the list counts it for views this small,
# a view's page for its first PARTITIONS_SHOWN partitions (the partition list has them all).
STALE_COUNT_MAX_PARTITIONS = 50
PARTITIONS_SHOWN = 100
# The memories a partition's page lists (each a link to its record); the count says the rest.
MEMORIES_SHOWN = 200


def _kind_label(kind: str) -> str:
    return str(SummaryPartition.Kind(kind).label) if kind in SummaryPartition.Kind.values else kind


class StaleViewFilter(admin.SimpleListFilter):
    """Views with a stale or missing partition: the figure the admin home page counts."""

    title = "stale"
    parameter_name = "stale"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Stale or missing partition")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SummaryView]) -> QuerySet[SummaryView]:
        if self.value() != "yes":
            return queryset
        return queryset.filter(pk__in=stale_summary_view_ids(now=timezone.now()))


@admin.register(SummaryView)
class SummaryViewAdmin(ReadOnlyAdmin):
    change_form_template = "admin/memory/summaryview/change_form.html"
    list_display = ("view_name", "tenant", "group_by_text", "continuous", "partition_count", "stale_count", "computed")
    list_filter = (StaleViewFilter, "continuous", "tenant")
    search_fields = ("=id", "name", "tenant")
    fields = (
        "id",
        "name",
        "tenant",
        "namespaces",
        "user_ids",
        "source",
        "group_by",
        "filters",
        "time_window_days",
        "continuous",
        "prompt",
        "model_name",
        "policy_version",
        "created_by",
        "created_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[SummaryView]:
        views: QuerySet[SummaryView] = super().get_queryset(request)
        return views.annotate(_partitions=Count("partitions"), _computed=Max("partitions__computed_at"))

    @admin.display(description="name", ordering="name")
    def view_name(self, view: SummaryView) -> str:
        return view.name or view.id

    @admin.display(description="group by")
    def group_by_text(self, view: SummaryView) -> str:
        return ", ".join(view.group_by or []) or "—"

    @admin.display(description="partitions", ordering="_partitions")
    def partition_count(self, view: SummaryView) -> int:
        return int(getattr(view, "_partitions", 0))

    @admin.display(description="stale partitions")
    def stale_count(self, view: SummaryView) -> str:
        if int(getattr(view, "_partitions", 0)) > STALE_COUNT_MAX_PARTITIONS:
            return f"not counted (over {STALE_COUNT_MAX_PARTITIONS} partitions)"
        now = timezone.now()
        return str(sum(partition_is_stale(partition=p, now=now) for p in view.partitions.select_related("view")))

    @admin.display(description="last computed", ordering="_computed")
    def computed(self, view: SummaryView) -> Any:
        return getattr(view, "_computed", None) or "never"

    def get_urls(self) -> list[URLPattern]:
        run = self.admin_site.admin_view(self.run_now_view)
        return [path("<str:view_id>/run/", run, name="memory_summaryview_run"), *super().get_urls()]

    def run_now_view(self, request: HttpRequest, view_id: str) -> HttpResponse:
        """POST: a full run of the view as a Task (every partition recomputed), then its task's page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        view = get_object_or_404(SummaryView, pk=view_id)
        task = task_create(view=view, task_id=None, force=True, actor=admin_actor(request.user))
        messages.success(request, f"Started task {task.id}: the worker computes every partition of {view}.")
        return HttpResponseRedirect(reverse("admin:memory_task_change", args=[task.id]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        view = SummaryView.objects.filter(pk=object_id).first()
        extra_context = dict(extra_context or {})
        if view is not None:
            now = timezone.now()
            partitions = list(view.partitions.select_related("view", "run").order_by("group_key")[:PARTITIONS_SHOWN])
            extra_context.update(
                summary_view=view,
                partitions=[(p, _kind_label(p.kind), partition_is_stale(partition=p, now=now)) for p in partitions],
                partition_total=view.partitions.count(),
                partitions_url=reverse("admin:memory_summarypartition_changelist") + f"?view__id__exact={view.pk}",
                tasks=list(Task.objects.filter(view_id=view.id).order_by("-created_at")[:10]),
                can_run=request.user.has_perm(RUN_PERMISSION),
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(SummaryPartition)
class SummaryPartitionAdmin(ReadOnlyAdmin):
    change_form_template = "admin/memory/summarypartition/change_form.html"
    list_display = ("group_key", "view", "kind_text", "memory_count", "covered_count", "computed_at")
    list_filter = ("kind",)
    list_select_related = ("view",)
    search_fields = ("=view__id", "group_key", "=namespace", "=user_id")
    fields = (
        "view",
        "group_key",
        "group",
        "namespace",
        "user_id",
        "kind_text",
        "summary",
        "memory_count",
        "covered_count",
        "source_count",
        "source_updated_at",
        "run_link",
        "computed_at",
    )

    @admin.display(description="kind")
    def kind_text(self, partition: SummaryPartition) -> str:
        return _kind_label(partition.kind)

    @admin.display(description="last run")
    def run_link(self, partition: SummaryPartition) -> str:
        if partition.run_id is None:
            return "—"
        url = reverse("admin:policies_summaryrun_change", args=[partition.run_id])
        return format_html('<a href="{}" id="partition-run">run {}</a>', url, partition.run_id)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        partition = SummaryPartition.objects.select_related("view").filter(pk=object_id).first()
        extra_context = dict(extra_context or {})
        if partition is not None:
            memories = partition.memories.order_by("created_at", "id").only("id", "text", "created_at")
            extra_context.update(
                partition=partition,
                stale=partition_is_stale(partition=partition, now=timezone.now()),
                memories=[(m, Truncator(m.text).chars(160)) for m in memories[:MEMORIES_SHOWN]],
                memories_total=partition.memories.count(),
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(SummaryRun)
class SummaryRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "started_at",
        "status",
        "kind",
        "view_id",
        "group_key",
        "policy_version",
        "model",
        "memory_count",
        "covered_count",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "latency_ms",
        "error_short",
    )
    list_filter = ("status", "kind")
    list_select_related = ("policy_version__policy",)
    search_fields = ("=view_id", "=task_id", "group_key")
    fields = (
        "view_id",
        "group_key",
        "task_id",
        "actor",
        "policy_version",
        "kind",
        "model",
        "status",
        "memory_count",
        "covered_count",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "latency_ms",
        "error",
        "raw_output_detail",
        "started_at",
        "finished_at",
    )

    @admin.display(description="error")
    def error_short(self, run: SummaryRun) -> str:
        return Truncator(run.error).chars(80)

    @admin.display(description="raw output")
    def raw_output_detail(self, run: SummaryRun) -> str:
        if not run.raw_output:
            return "—"
        return format_html("<pre id='run-raw-output' style='white-space: pre-wrap'>{}</pre>", run.raw_output)


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "type",
        "status",
        "view_id",
        "tenant",
        "partitions_done",
        "partitions_total",
        "created_at",
        "started_at",
        "completed_at",
        "error_short",
    )
    list_filter = ("status", "type")
    search_fields = ("=id", "=view_id", "tenant")
    fields = list_display[:-1] + ("created_by", "error_message")

    @admin.display(description="error")
    def error_short(self, task: Task) -> str:
        return Truncator(task.error_message or "").chars(80)

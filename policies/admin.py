"""Admin of extraction policies, their versions and runs.

Policies and versions are minimal here (the policy editor issue builds on them): a
version is saved through `policy_version_create` / `policy_version_update` and is
read-only once a run has used it. Runs are read-only and lead to what they produced:
their memories, the turns they read and the version they ran.
"""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from memory import llm
from memory.selectors.review import run_source_range
from memoryproject.admin_base import ReadOnlyAdmin
from policies.models import ExtractionRun, Policy, PolicyVersion, Strategy
from policies.selectors import policy_version_is_used
from policies.services import EDITABLE_FIELDS, policy_version_create, policy_version_publish, policy_version_update
from policies.strategies import params_validate


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "published_version", "description", "created_at")
    search_fields = ("name", "description")
    fields = ("name", "description", "published_version", "created_at")
    # Publishing is the "Publish" action on versions (policy_version_publish).
    readonly_fields = ("published_version", "created_at")


class PolicyVersionForm(forms.ModelForm):
    class Meta:
        model = PolicyVersion
        fields = ("policy", *EDITABLE_FIELDS)

    def clean(self):
        # The same rules policy_version_create/update enforce, shown on the form instead of a 500.
        cleaned = super().clean()
        if cleaned.get("strategy") == Strategy.CUSTOM and not (cleaned.get("prompt_template") or "").strip():
            self.add_error("prompt_template", "The custom strategy needs a prompt template.")
        try:
            params_validate(cleaned.get("params") or {})
        except ValueError as exc:
            self.add_error("params", str(exc))
        return cleaned


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    form = PolicyVersionForm
    list_display = ("__str__", "policy", "number", "strategy", "model", "review_mode", "published", "created_at")
    list_filter = ("policy", "strategy", "review_mode")
    list_select_related = ("policy",)
    actions = ("publish_version",)

    @admin.display(description="published", boolean=True)
    def published(self, version):
        return version.policy.published_version_id == version.pk

    def get_fields(self, request, obj=None):
        return ("policy", *EDITABLE_FIELDS) if obj is None else ("policy", "number", *EDITABLE_FIELDS, "created_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if policy_version_is_used(version=obj):
            return self.get_fields(request, obj)
        return ("policy", "number", "created_at")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        if version is not None and request.method == "GET" and policy_version_is_used(version=version):
            self.message_user(
                request, "This version has been used by an extraction run, so it can no longer change.", messages.INFO
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            data = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
            created = policy_version_create(policy=form.cleaned_data["policy"], **data)
            obj.pk, obj.number, obj.created_at = created.pk, created.number, created.created_at
            return
        data = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS if name in form.changed_data}
        if data:
            policy_version_update(version=obj, data=data)

    def has_delete_permission(self, request, obj=None):
        # Runs protect the versions they used.
        if obj is not None and policy_version_is_used(version=obj):
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(description="Publish the selected version", permissions=["change"])
    def publish_version(self, request, queryset):
        versions = list(queryset.select_related("policy")[:2])
        if len(versions) != 1:
            self.message_user(request, "Select exactly one version to publish.", messages.WARNING)
            return
        policy = policy_version_publish(version=versions[0])
        self.message_user(request, f"{policy} now publishes {versions[0]}.", messages.SUCCESS)


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
    list_select_related = ("policy_version__policy",)
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
        ("How", {"fields": ("policy_version_link", "strategy", "model", "attempt", "malformed_replies")}),
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

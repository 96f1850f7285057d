"""Admin of policies (extraction, and the summary views' one) and their versions: the policy editor.

A policy's page shows its published version, every version newest first (who created
and who published each) and the publish history, with "Roll back" and a picker to
diff any two versions. A version's page has "Publish", "New version from this one",
"Diff with published" and "Try it" (the pages are in `version_pages`). Versions are
saved through `policy_version_create` / `policy_version_update` and are read-only
once a run has used them.
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse

from memory.actor_names import admin_actor
from policies.admin import version_pages
from policies.admin.version_forms import PolicyVersionForm
from policies.models import Policy, PolicyVersion
from policies.selectors import policy_version_is_used
from policies.selectors.publishing import policy_publish_history, policy_rollback_target, policy_version_rows
from policies.services import EDITABLE_FIELDS, policy_version_create, policy_version_publish, policy_version_update


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin[Policy]):
    list_display = ("name", "purpose", "published_version", "description", "created_at")
    list_filter = ("purpose",)
    search_fields = ("name", "description")
    fields = ("name", "purpose", "description", "published_version", "created_at")
    # Publishing goes through the version's "Publish" button (policy_version_publish).
    readonly_fields = ("published_version", "created_at")
    change_form_template = "admin/policies/policy/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Policy | None = None) -> tuple[str, ...]:
        # Its versions' strategies follow the purpose: it is chosen once, when the policy is made.
        return (*self.readonly_fields, "purpose") if obj is not None else tuple(self.readonly_fields)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:policy_id>/rollback/", view(self.rollback_view), name="policies_policy_rollback"),
            path("<int:policy_id>/diff/", view(self.diff_view), name="policies_policy_diff"),
            *super().get_urls(),
        ]

    def rollback_view(self, request: HttpRequest, policy_id: int) -> HttpResponse:
        return version_pages.rollback_view(self, request, policy_id)

    def diff_view(self, request: HttpRequest, policy_id: int) -> HttpResponse:
        return version_pages.diff_view(self, request, policy_id)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        policy = Policy.objects.select_related("published_version").filter(pk=object_id).first()
        extra_context = dict(extra_context or {})
        if policy is not None:
            extra_context.update(
                policy=policy,
                version_rows=policy_version_rows(policy=policy),
                publish_history=policy_publish_history(policy=policy),
                rollback_target=policy_rollback_target(policy=policy),
                can_publish=request.user.has_perm(version_pages.PUBLISH_PERMISSION),
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin[PolicyVersion]):
    form = PolicyVersionForm
    list_display = (
        "__str__",
        "policy",
        "number",
        "strategy",
        "model",
        "review_mode",
        "published",
        "created_by",
        "created_at",
    )
    list_filter = ("policy__purpose", "policy", "strategy", "review_mode")
    list_select_related = ("policy",)
    actions = ("publish_version",)
    change_form_template = "admin/policies/policyversion/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:version_id>/publish/", view(self.publish_view), name="policies_policyversion_publish"),
            path("<int:version_id>/new-version/", view(self.new_version_view), name="policies_policyversion_new"),
            path("<int:version_id>/try/", view(self.try_it_view), name="policies_policyversion_try"),
            *super().get_urls(),
        ]

    def publish_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        return version_pages.publish_view(self, request, version_id)

    def new_version_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        return version_pages.new_version_view(self, request, version_id)

    def try_it_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        return version_pages.try_it_view(self, request, version_id)

    @admin.display(description="published", boolean=True)
    def published(self, version: PolicyVersion) -> bool:
        return version.policy.published_version_id == version.pk

    def get_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("policy", *EDITABLE_FIELDS)
        return ("policy", "number", *EDITABLE_FIELDS, "created_by", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        if policy_version_is_used(version=obj):
            return self.get_fields(request, obj)
        return ("policy", "number", "created_by", "created_at")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        version = PolicyVersion.objects.select_related("policy__published_version").filter(pk=object_id).first()
        extra_context = dict(extra_context or {})
        if version is not None:
            used = policy_version_is_used(version=version)
            if request.method == "GET" and used:
                self.message_user(
                    request,
                    "This version has been used (by an extraction or summary run, or a summary view), "
                    "so it can no longer change.",
                    messages.INFO,
                )
            published = version.policy.published_version
            extra_context.update(
                version=version,
                published=published,
                is_published=published is not None and published.pk == version.pk,
                diff_url=_diff_url(version, published),
                can_publish=request.user.has_perm(version_pages.PUBLISH_PERMISSION),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: Any, change: bool) -> None:
        if not change:
            data = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
            actor = admin_actor(request.user)
            created = policy_version_create(policy=form.cleaned_data["policy"], **data, actor=actor)
            obj.pk, obj.number, obj.created_at, obj.created_by = (
                created.pk,
                created.number,
                created.created_at,
                created.created_by,
            )
            return
        data = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS if name in form.changed_data}
        if data:
            policy_version_update(version=obj, data=data)

    def has_delete_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        # Runs protect the versions they used.
        if obj is not None and policy_version_is_used(version=obj):
            return False
        return super().has_delete_permission(request, obj)

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(version_pages.PUBLISH_PERMISSION)

    @admin.action(description="Publish the selected version", permissions=["publish"])
    def publish_version(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        versions = list(queryset.select_related("policy")[:2])
        if len(versions) != 1:
            self.message_user(request, "Select exactly one version to publish.", messages.WARNING)
            return
        try:
            policy = policy_version_publish(version=versions[0], actor=admin_actor(request.user))
        except ValidationError as exc:  # a model the operator no longer allows
            self.message_user(request, "Not published: " + " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(request, f"{policy} now publishes {versions[0]}.", messages.SUCCESS)


def _diff_url(version: PolicyVersion, published: PolicyVersion | None) -> str:
    """This version against the published one; "" when it is the published one (or none is)."""
    if published is None or published.pk == version.pk:
        return ""
    url = reverse("admin:policies_policy_diff", args=[version.policy_id])
    return f"{url}?a={published.pk}&b={version.pk}"

"""Admin of extraction policies, their versions and runs.

Policies and versions are minimal here (the policy editor issue builds on them): a
version is saved through `policy_version_create` / `policy_version_update` and is
read-only once a run has used it. Runs are read-only and lead to what they produced:
their memories, the turns they read and the version they ran.
"""

from django import forms
from django.contrib import admin, messages

from memory.audit import admin_actor
from policies.models import Policy, PolicyVersion, Strategy
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
        policy = policy_version_publish(version=versions[0], actor=admin_actor(request.user))
        self.message_user(request, f"{policy} now publishes {versions[0]}.", messages.SUCCESS)

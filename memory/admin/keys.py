"""API keys in the admin: create (the key is shown once), list, revoke.

Managing keys takes the `memory.*_apikey` permissions, which no role group holds
(`memory.services.roles`): superusers manage keys, reviewers and policy editors do not
even see them. Keys are never edited: a changed scope is a new key and a revoked old one.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from memory.actor_names import admin_actor
from memory.admin.forms import ListField
from memory.models import ApiKey
from memory.services.api_keys import PERMISSIONS, ApiKeyError, api_key_check, api_key_create, api_key_revoke

# The library's own key model is only our base class here; its admin would manage nothing.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)
del APIKeyModelAdmin


class ApiKeyCreateForm(forms.ModelForm[ApiKey]):
    namespaces = ListField(required=True, help_text='Comma-separated; "*" for every namespace (an operator key).')
    user_ids = ListField(help_text="Comma-separated; empty: any user.")
    permissions = forms.MultipleChoiceField(
        choices=[(p, p) for p in PERMISSIONS],
        initial=["read", "write"],
        widget=forms.CheckboxSelectMultiple,
        help_text="review: approve or reject memories through the API (a reviewer's, not an agent's).",
    )

    class Meta:
        model = ApiKey
        fields = ("name", "tenant", "namespaces", "user_ids", "expiry_date")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what ModelForm.clean() returns
        if not self.errors:
            try:
                api_key_check(tenant=data["tenant"], namespaces=data["namespaces"], permissions=data["permissions"])
            except ApiKeyError as exc:
                raise ValidationError(str(exc)) from exc
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ("prefix", "name", "tenant", "namespaces", "user_ids", "permissions", "state", "last_used_at")
    list_filter = ("tenant", "revoked")
    search_fields = ("=prefix", "name", "tenant")
    actions = ["revoke"]
    readonly_fields = (
        "prefix",
        "name",
        "tenant",
        "namespaces",
        "user_ids",
        "permissions",
        "expiry_date",
        "created",
        "created_by",
        "last_used_at",
        "revoked",
        "revoked_by",
        "revoked_at",
    )

    @admin.display(description="state")
    def state(self, key: ApiKey) -> str:
        return "revoked" if key.revoked else ("expired" if key.has_expired else "active")

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[ApiKey]]:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str] | tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return tuple(self.readonly_fields) if obj is not None else tuple(ApiKeyCreateForm.base_fields)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        """Creation goes through the service, which shows the secret once."""
        if change:
            return
        data = form.cleaned_data
        key, secret = api_key_create(
            name=data["name"],
            tenant=data["tenant"],
            namespaces=data["namespaces"],
            user_ids=data["user_ids"],
            permissions=data["permissions"],
            expiry_date=data["expiry_date"],
            actor=admin_actor(request.user),
        )
        # The admin goes on with `obj` (history entry, redirect): make it the saved key.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        messages.warning(request, f"The API key {key.prefix} is: {secret} (shown once: store it now).")

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # a key's page only shows it; revoking is the action

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: a deleted key would lose who made and used it

    @admin.action(description="Revoke the selected keys (cannot be undone)", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            api_key_revoke(prefix=key.prefix, actor=admin_actor(request.user))
        self.message_user(request, f"Revoked {queryset.count()} keys.", messages.SUCCESS)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("memory.change_apikey")

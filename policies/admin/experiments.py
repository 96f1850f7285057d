"""Admin of A/B experiments: create one with its variants (inline), then start, stop,
conclude with a winner and publish the winner from its page, and read its results.

Every write goes through policies.services.experiments with the admin user as actor, and
leaves the ExperimentEvent the page's trail shows; the admin's own history (LogEntry) also
keeps who pressed which button."""

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import BaseFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from memory.actor_names import admin_actor
from memoryproject.admin_base import ReadOnlyAdmin
from policies.admin import experiment_pages
from policies.models import Experiment, ExperimentEvent, PolicyVersion, Purpose, Variant
from policies.services.experiments import (
    VariantRow,
    experiment_create,
    experiment_variant_weights_set,
    experiment_variants_validate,
    variant_weight_validate,
)


class ExperimentForm(forms.ModelForm[Experiment]):
    namespaces = forms.CharField(
        required=False,
        help_text="Comma-separated namespaces the experiment applies to; empty means every namespace.",
    )

    class Meta:
        model = Experiment
        fields = ("key", "description", "namespaces")

    def clean_namespaces(self) -> list[str]:
        return sorted({n.strip() for n in self.cleaned_data["namespaces"].split(",") if n.strip()})


class VariantFormSet(forms.BaseInlineFormSet[Variant, Experiment, forms.ModelForm[Variant]]):
    def variant_rows(self) -> list[VariantRow]:
        """(name, version id, weight) of the filled rows (an untouched extra row is empty)."""
        return [
            (f.instance.name, f.instance.version_id, f.instance.weight)
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]

    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return
        try:
            if self.instance.pk is None:
                experiment_variants_validate(self.variant_rows())
            for name, _, weight in self.variant_rows():
                variant_weight_validate(name, weight)
        except ValidationError as exc:
            raise ValidationError([m for messages in exc.message_dict.values() for m in messages]) from exc


class VariantInline(admin.TabularInline[Variant, Experiment]):
    model = Variant
    formset = VariantFormSet
    ALL_FIELDS = ("name", "version", "weight", "is_control")
    fields = ALL_FIELDS
    readonly_fields = ("is_control",)
    extra = 2
    verbose_name_plural = "variants (the first one is the control, the one the others are compared with)"

    def get_fields(self, request: HttpRequest, obj: Experiment | None = None) -> tuple[str, ...]:
        return ("name", "version", "weight") if obj is None else self.ALL_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("is_control",)
        if obj.status == Experiment.Status.CONCLUDED:
            return ("name", "version", "weight", "is_control")
        return ("name", "version", "is_control")

    def get_extra(self, request: HttpRequest, obj: Experiment | None = None, **kwargs: Any) -> int:
        return 2 if obj is None else 0

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "version":  # experiments split extraction: summary versions are not offered
            extraction = PolicyVersion.objects.filter(policy__purpose=Purpose.EXTRACTION)
            kwargs["queryset"] = extraction.select_related("policy")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        return obj is None and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        return False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin[Experiment]):
    form = ExperimentForm
    inlines = (VariantInline,)
    list_display = ("key", "status", "scope", "variant_summary", "started_at", "stopped_at", "winner", "results")
    list_filter = ("status",)
    search_fields = ("key", "description")
    change_form_template = "admin/policies/experiment/change_form.html"
    EXISTING_FIELDS = (
        "key",
        "description",
        "scope",
        "status",
        "winner",
        "created_by",
        "created_at",
        "started_at",
        "stopped_at",
        "results",
    )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        pages = [
            path(f"<int:experiment_id>/{name}/", view(getattr(experiment_pages, f"{name.replace('-', '_')}_view")),
                 name=f"policies_experiment_{name.replace('-', '_')}")
            for name in ("start", "stop", "conclude", "publish-winner", "results")
        ]  # fmt: skip
        return [*pages, *super().get_urls()]

    def get_fields(self, request: HttpRequest, obj: Experiment | None = None) -> tuple[str, ...]:
        return ("key", "description", "namespaces") if obj is None else self.EXISTING_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> tuple[str, ...]:
        return () if obj is None else self.EXISTING_FIELDS

    @admin.display(description="namespaces")
    def scope(self, experiment: Experiment) -> str:
        return ", ".join(experiment.namespaces) or "every namespace"

    @admin.display(description="variants")
    def variant_summary(self, experiment: Experiment) -> str:
        return ", ".join(f"{v.name}: v{v.version.number} ×{v.weight}" for v in experiment.variants.all())

    @admin.display(description="results")
    def results(self, experiment: Experiment) -> str:
        url = reverse("admin:policies_experiment_results", args=[experiment.pk])
        return format_html('<a href="{}" class="experiment-results-link">results</a>', url)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Experiment]:
        return super().get_queryset(request).select_related("winner").prefetch_related("variants__version")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), **experiment_pages.change_context(request, object_id)}
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Experiment, form: Any, change: bool) -> None:
        """Nothing here: the experiment and its variants are written together, by the
        service, in save_related (which sees the variant rows)."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        rows = formsets[0].variant_rows() if formsets else []
        actor = admin_actor(request.user)
        if change:
            current = dict(form.instance.variants.values_list("name", "weight"))
            changed = {name: weight for name, _, weight in rows if current.get(name) != weight}
            if changed:
                experiment_variant_weights_set(experiment=form.instance, weights=changed, actor=actor)
            return
        created = experiment_create(
            key=form.cleaned_data["key"],
            description=form.cleaned_data["description"],
            namespaces=form.cleaned_data["namespaces"],
            variants=rows,
            actor=actor,
        )
        form.instance.pk, form.instance.created_by = created.pk, created.created_by

    # Django stores a str as the message as it is; its stubs declare only the structured list.
    def construct_change_message(  # type: ignore[override]
        self, request: HttpRequest, form: forms.Form, formsets: Iterable[BaseFormSet[Any]], add: bool = False
    ) -> str:
        # The formsets were not saved by the admin (the service wrote the rows).
        return f"{'Created' if add else 'Changed weights'} by {admin_actor(request.user)}"

    def has_delete_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        # Runs point at their experiment and variant: deleting would lose where memories came from.
        return False


@admin.register(ExperimentEvent)
class ExperimentEventAdmin(ReadOnlyAdmin):
    """Every change to every experiment, for an audit across them (each page shows its own)."""

    list_display = ("created_at", "experiment", "kind", "actor", "detail")
    list_filter = ("kind", "experiment")
    search_fields = ("actor", "experiment__key")
    list_select_related = ("experiment",)

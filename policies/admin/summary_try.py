""" "Try it" for a summary version: a few pasted lines, one memory each, summarised at once
as a summary view's partition would be (by the model, or extractively with none
configured), with the model's tokens, cost, latency and raw output. Nothing is stored."""

from typing import Any

from django import forms
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from memory import llm
from memory.services.summary_views.summarize import summary_try
from policies.llm_models import model_refusal
from policies.models import PolicyVersion

# A trial embeds every line and may send them all to the model: a few hundred at most.
MAX_LINES = 200
MAX_LINE_CHARS = 4000


class SummaryTryItForm(forms.Form):
    memories = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 100}),
        help_text=f"One memory a line, oldest first (at most {MAX_LINES} lines of {MAX_LINE_CHARS} characters).",
    )

    def clean_memories(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["memories"].splitlines() if line.strip()]
        if not lines:
            raise forms.ValidationError("No memories: paste at least one line.")
        if len(lines) > MAX_LINES:
            raise forms.ValidationError(f"{len(lines)} lines: at most {MAX_LINES}.")
        long = next((n for n, line in enumerate(lines, 1) if len(line) > MAX_LINE_CHARS), None)
        if long is not None:
            raise forms.ValidationError(f"Line {long} is longer than {MAX_LINE_CHARS} characters.")
        return lines


def try_it_view(model_admin: ModelAdmin[Any], request: HttpRequest, version: PolicyVersion) -> HttpResponse:
    """The page for a summarize version (version_pages.try_it_view has checked the view permission)."""
    refusal = model_refusal(version.model) if llm.is_configured(version.model) else None
    form, trial = SummaryTryItForm(request.POST or None), None
    if request.method == "POST":
        if not request.user.has_perm("policies.change_policyversion"):  # it may spend money at the provider
            raise PermissionDenied
        if refusal is None and form.is_valid():
            trial = summary_try(version=version, texts=form.cleaned_data["memories"])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Try {version}",
        "version": version,
        "form": form,
        "llm_configured": llm.is_configured(version.model),
        "model_refusal": refusal,
        "trial": trial,
    }
    return TemplateResponse(request, "admin/policies/policyversion/try_it_summary.html", context)

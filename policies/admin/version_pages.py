"""The policy editor's pages beyond the change forms: publish and roll back (POST, each
through its service), a new version from an existing one, the diff of two versions,
and "Try it", which runs a pasted conversation through a version and stores nothing.

Each view checks its permission itself (the admin site only checks `is_staff`)."""

import difflib
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from memory import llm
from memory.actor_names import admin_actor
from memory.extraction import Extraction, Turn, extract
from policies.admin import summary_try
from policies.admin.version_forms import NewVersionForm, TryItForm
from policies.llm_models import model_refusal
from policies.models import Policy, PolicyVersion, Strategy
from policies.selectors.publishing import policy_version_differences, policy_version_instructions
from policies.services import RollbackNotPossibleError, policy_rollback, policy_version_create, policy_version_publish

PUBLISH_PERMISSION = "policies.change_policy"


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _policy_url(policy_id: int) -> str:
    return reverse("admin:policies_policy_change", args=[policy_id])


def _context(model_admin: ModelAdmin[Any], request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, **extra}


def publish_view(model_admin: ModelAdmin[Any], request: HttpRequest, version_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _require(request, PUBLISH_PERMISSION)
    version = get_object_or_404(PolicyVersion.objects.select_related("policy"), pk=version_id)
    if version.policy.published_version_id == version.pk:
        messages.info(request, f"{version} is already published; nothing changed.")
        return HttpResponseRedirect(_policy_url(version.policy_id))
    try:
        policy_version_publish(version=version, actor=admin_actor(request.user))
    except ValidationError as exc:  # a model the operator no longer allows
        messages.error(request, "Not published: " + " ".join(exc.messages))
    else:
        messages.success(request, f"{version.policy} now publishes v{version.number}.")
    return HttpResponseRedirect(_policy_url(version.policy_id))


def rollback_view(model_admin: ModelAdmin[Any], request: HttpRequest, policy_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _require(request, PUBLISH_PERMISSION)
    policy = get_object_or_404(Policy, pk=policy_id)
    try:
        policy = policy_rollback(policy=policy, actor=admin_actor(request.user))
    except RollbackNotPossibleError as exc:
        messages.error(request, f"Not rolled back: {exc}.")
    except ValidationError as exc:  # the version before names a model no longer allowed
        messages.error(request, "Not rolled back: " + " ".join(exc.messages))
    else:
        version = policy.published_version
        # A rollback always publishes the version before; the check only narrows the type.
        number = version.number if version is not None else "?"
        messages.success(request, f"Rolled back: {policy} publishes v{number} again.")
    return HttpResponseRedirect(_policy_url(policy.pk))


def new_version_view(model_admin: ModelAdmin[Any], request: HttpRequest, version_id: int) -> HttpResponse:
    _require(request, "policies.add_policyversion")
    source = get_object_or_404(PolicyVersion.objects.select_related("policy"), pk=version_id)
    if request.method == "POST":
        form = NewVersionForm(request.POST)
        if form.is_valid():
            try:
                created = policy_version_create(
                    policy=source.policy, **form.cleaned_data, actor=admin_actor(request.user)
                )
            except ValidationError as exc:  # the service's own checks, shown on the form
                form.add_error(None, exc)
            else:
                messages.success(request, f"Created {created} from v{source.number}.")
                return HttpResponseRedirect(reverse("admin:policies_policyversion_change", args=[created.pk]))
    else:
        form = NewVersionForm(initial=NewVersionForm.initial_from(source))
    title = f"New version of {source.policy} from v{source.number}"
    context = _context(model_admin, request, title=title, source=source, form=form)
    return TemplateResponse(request, "admin/policies/policyversion/new_from.html", context)


def diff_view(model_admin: ModelAdmin[Any], request: HttpRequest, policy_id: int) -> HttpResponse:
    """Any two versions of one policy: `?a=<version id>&b=<version id>` (default: the
    published one against the newest)."""
    _require(request, "policies.view_policyversion")
    policy = get_object_or_404(Policy, pk=policy_id)
    versions = list(policy.versions.order_by("-number"))
    if not versions:
        raise Http404("this policy has no versions")
    by_id = {str(version.pk): version for version in versions}
    asked = [request.GET.get("a", ""), request.GET.get("b", "")]
    if any(key and key not in by_id for key in asked):
        messages.warning(request, f"Only versions of {policy} can be compared; showing the default instead.")
    left = by_id.get(asked[0], policy.published_version or versions[-1])
    right = by_id.get(asked[1], versions[0])
    left_text, right_text = (policy_version_instructions(version=v) for v in (left, right))
    prompt_diff = difflib.HtmlDiff(wrapcolumn=70).make_table(
        left_text.splitlines(), right_text.splitlines(), fromdesc=f"v{left.number}", todesc=f"v{right.number}"
    )
    context = _context(
        model_admin,
        request,
        title=f"{policy}: v{left.number} against v{right.number}",
        policy=policy,
        versions=versions,
        left=left,
        right=right,
        prompt_diff=prompt_diff,
        same_prompt=left_text == right_text,
        differences=policy_version_differences(left=left, right=right),
    )
    return TemplateResponse(request, "admin/policies/policy/diff.html", context)


def try_it_view(model_admin: ModelAdmin[Any], request: HttpRequest, version_id: int) -> HttpResponse:
    """Run a pasted conversation through the version inline; nothing is stored."""
    _require(request, "policies.view_policyversion")
    version = get_object_or_404(PolicyVersion.objects.select_related("policy"), pk=version_id)
    if version.strategy == Strategy.SUMMARIZE:  # memories in, a summary out
        return summary_try.try_it_view(model_admin, request, version)
    llm_strategy = version.strategy != Strategy.MESSAGES
    refusal = model_refusal(version.model) if llm_strategy else None
    runnable = not llm_strategy or (llm.is_configured(version.model) and refusal is None)
    form, extraction, error, raw = TryItForm(request.POST or None), None, "", ""
    if request.method == "POST":
        _require(request, "policies.change_policyversion")  # it may spend money at the provider
        if runnable and form.is_valid():
            extraction, error, raw = _try(version, form.cleaned_data["conversation"])
    context = _context(
        model_admin,
        request,
        title=f"Try {version}",
        version=version,
        form=form,
        runnable=runnable,
        llm_configured=llm.is_configured(),
        model_refusal=refusal,
        extraction=extraction,
        error=error,
        raw_output=raw,
    )
    return TemplateResponse(request, "admin/policies/policyversion/try_it.html", context)


def _try(version: PolicyVersion, turns: list[Turn]) -> tuple[Extraction | None, str, str]:
    """(extraction, error, raw output): a provider's failure is a message on the page."""
    try:
        extraction = extract(
            strategy=version.strategy,
            new_turns=turns,
            prompt_template=version.prompt_template,
            model=version.model,
            params=version.params,
        )
    except llm.LLMError as exc:
        return None, str(exc), getattr(exc, "raw", "")
    return extraction, "", extraction.raw_output

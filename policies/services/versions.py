"""Writes of extraction policies: versions are created, published (and rolled back), and
frozen once used. A version is validated here, so no door (admin, API, shell) can save
one whose template reaches outside the known variables or could render past
PROMPT_MAX_CHARS, or whose model the operator did not allow (LLM_ALLOWED_MODELS), and
none can publish a version whose model is no longer allowed."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from policies.llm_models import model_refusal
from policies.models import Policy, PolicyVersion, PublishEvent, Purpose, ReviewMode, Strategy
from policies.prompt_limits import prompt_limits
from policies.selectors.publishing import policy_rollback_target
from policies.selectors.summary import SUMMARY_POLICY_NAME
from policies.selectors.versions import DEFAULT_POLICY_NAME, policy_version_is_used
from policies.strategies import SUMMARIZE_DEFAULT_PROMPT, params_validate
from policies.templating import template_problems

EDITABLE_FIELDS = ("strategy", "prompt_template", "model", "params", "review_mode")


class PolicyVersionImmutableError(Exception):
    """The version has been used (an extraction or summary run, a summary view); create a new version instead."""


class RollbackNotPossibleError(LookupError):
    """The policy has no earlier published version to go back to."""


def prompt_template_problems(template: str) -> list[str]:
    """What is wrong with a prompt template, its size with the largest input included."""
    return template_problems(template, prompt_limits()) if template else []


def _validate(version: PolicyVersion) -> None:
    version.full_clean(exclude=["policy", "number"])
    # A summary policy only summarises and an extraction policy never does: each door reads
    # its own purpose's versions, so a version of the other kind would run the wrong code.
    summarizes = version.strategy == Strategy.SUMMARIZE
    if summarizes != (version.policy.purpose == Purpose.SUMMARY):
        mismatch = (
            "a summary policy's versions use the summarize strategy"
            if not summarizes
            else "the summarize strategy is for the summary policy; an extraction policy's versions extract"
        )
        raise ValidationError({"strategy": mismatch})
    if version.strategy == Strategy.CUSTOM and not version.prompt_template.strip():
        raise ValidationError({"prompt_template": "the custom strategy needs a prompt template"})
    if summarizes:
        # A summary prompt is plain instructions, sent verbatim before the memories (no template variables).
        if len(version.prompt_template) > settings.PROMPT_MAX_CHARS:
            raise ValidationError({"prompt_template": f"at most {settings.PROMPT_MAX_CHARS} characters"})
    else:
        problems = prompt_template_problems(version.prompt_template)
        if problems:
            raise ValidationError({"prompt_template": problems})
    refusal = model_refusal(version.model)
    if refusal:
        raise ValidationError({"model": refusal})
    try:
        params_validate(version.params)
    except ValueError as exc:
        raise ValidationError({"params": str(exc)}) from exc


@transaction.atomic
def policy_version_create(
    *,
    policy: Policy,
    strategy: str,
    prompt_template: str = "",
    model: str = "",
    params: dict[str, Any] | None = None,
    review_mode: str = ReviewMode.AUTO_APPROVE,
    actor: str,
) -> PolicyVersion:
    """A new version numbered after the policy's last one, naming who created it."""
    Policy.objects.select_for_update().filter(pk=policy.pk).first()  # serialise numbering
    number = (policy.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    version = PolicyVersion(
        policy=policy,
        number=number,
        strategy=strategy,
        prompt_template=prompt_template,
        model=model,
        params=params or {},
        review_mode=review_mode,
        created_by=actor,
    )
    _validate(version)
    version.save()
    return version


@transaction.atomic
def policy_version_update(*, version: PolicyVersion, data: dict[str, Any]) -> PolicyVersion:
    """Edit a version nobody has extracted with yet; a used version never changes."""
    version = PolicyVersion.objects.select_for_update().get(pk=version.pk)
    if policy_version_is_used(version=version):
        raise PolicyVersionImmutableError(f"{version} has been used; create a new version instead")
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "not editable"))
    for field, value in data.items():
        setattr(version, field, value)
    _validate(version)
    version.save(update_fields=list(data))
    return version


@transaction.atomic
def policy_version_publish(*, version: PolicyVersion, actor: str, kind: str = PublishEvent.Kind.PUBLISH) -> Policy:
    """Point the policy at this version: sessions are extracted with it from now on.

    Every publish leaves a PublishEvent (who, when, from which version to which), which is
    also what a rollback reads to find the version before. A version whose model is no
    longer allowed is refused (ValidationError naming `model`): it would only fail its runs.
    """
    refusal = model_refusal(version.model)
    if refusal:
        raise ValidationError({"model": f"{version} cannot be published: {refusal}"})
    policy = Policy.objects.select_for_update().get(pk=version.policy_id)
    previous = policy.published_version_id
    policy.published_version = version
    policy.save(update_fields=["published_version"])
    PublishEvent.objects.create(policy=policy, kind=kind, from_version_id=previous, to_version=version, actor=actor)
    return policy


@transaction.atomic
def policy_rollback(*, policy: Policy, actor: str) -> Policy:
    """Republish the version the latest publish moved away from, recorded as a rollback.

    Rolling back twice goes back and forth between the same two versions: each
    rollback is itself the latest move, and undoing it is what a second press means."""
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    target = policy_rollback_target(policy=policy)
    if target is None:
        raise RollbackNotPossibleError(f"{policy} has no earlier published version to roll back to")
    return policy_version_publish(version=target, actor=actor, kind=PublishEvent.Kind.ROLLBACK)


def _is_stock(version: PolicyVersion) -> bool:
    """A built-in strategy with nothing of an operator's in it."""
    return (
        not version.prompt_template
        and not version.model
        and not version.params
        and version.review_mode == ReviewMode.AUTO_APPROVE
    )


@transaction.atomic
def policy_defaults_ensure(*, llm_configured: bool, actor: str = "system:defaults") -> PolicyVersion:
    """Make sure the default policy exists and publishes a version (idempotent).

    Without an LLM the default is the `messages` strategy (raw turns, no LLM); with
    one it is `discrete`. While the published version is a stock one, this follows
    the configuration, so setting LLM_MODEL later switches a fresh install to
    discrete facts. A version an operator published (any template, model, params or
    review mode of their own) is left alone.
    """
    summary_policy_ensure(actor=actor)
    policy, _ = Policy.objects.get_or_create(
        name=DEFAULT_POLICY_NAME,
        defaults={"description": "Extraction policy every session gets unless an experiment assigns another."},
    )
    # Lock the policy row only: PostgreSQL refuses FOR UPDATE on the nullable side of a join.
    policy = Policy.objects.select_for_update(of=("self",)).select_related("published_version").get(pk=policy.pk)
    published = policy.published_version
    wanted = Strategy.DISCRETE if llm_configured else Strategy.MESSAGES
    if published is not None and (not _is_stock(published) or published.strategy == wanted):
        return published
    version = next((v for v in policy.versions.filter(strategy=wanted).order_by("number") if _is_stock(v)), None)
    if version is None:
        version = policy_version_create(policy=policy, strategy=wanted, actor=actor)
    policy_version_publish(version=version, actor=actor)
    return version


@transaction.atomic
def summary_policy_ensure(*, actor: str = "system:defaults") -> PolicyVersion:
    """Make sure the summary policy exists and publishes a version (idempotent): v1 is the
    summarize strategy with the reference's default prompt and LLM_MODEL. A published
    version is left alone, whoever published it; with no LLM configured, runs of any
    version are extractive (memory.services.summary_views.summarize)."""
    policy, _ = Policy.objects.get_or_create(
        name=SUMMARY_POLICY_NAME,
        defaults={"purpose": Purpose.SUMMARY, "description": "How summary views summarise a partition's memories."},
    )
    policy = Policy.objects.select_for_update(of=("self",)).select_related("published_version").get(pk=policy.pk)
    if policy.published_version is not None:
        return policy.published_version
    version = policy.versions.filter(strategy=Strategy.SUMMARIZE).order_by("number").first()
    if version is None:
        version = policy_version_create(
            policy=policy, strategy=Strategy.SUMMARIZE, prompt_template=SUMMARIZE_DEFAULT_PROMPT, actor=actor
        )
    policy_version_publish(version=version, actor=actor)
    return version

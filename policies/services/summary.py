"""Writes of the summary policy for summary views: a view with its own prompt or model
summarises with a version made from them (issue 22)."""

from django.db import transaction

from policies.models import PolicyVersion, Strategy
from policies.services.versions import policy_version_create, summary_policy_ensure


@transaction.atomic
def summary_version_for_view(*, prompt: str | None, model_name: str | None, actor: str) -> PolicyVersion | None:
    """The version a new view with this `prompt` and `model_name` summarises with; None when
    it names neither (it follows the summary policy's published version).

    What it leaves out comes from the published version (the view's own prompt keeps the
    published model, and the reverse), params included. The version is unpublished, and an
    identical one already made (by another view, or an operator) is reused rather than
    piling up copies. A model the operator does not allow is a ValidationError naming `model`.
    """
    if prompt is None and model_name is None:
        return None
    published = summary_policy_ensure()
    wanted_prompt = prompt if prompt is not None else published.prompt_template
    wanted_model = model_name if model_name is not None else published.model
    same = published.policy.versions.filter(
        strategy=Strategy.SUMMARIZE, prompt_template=wanted_prompt, model=wanted_model
    ).order_by("number")
    existing = next((version for version in same if version.params == published.params), None)
    if existing is not None:
        return existing
    return policy_version_create(
        policy=published.policy,
        strategy=Strategy.SUMMARIZE,
        prompt_template=wanted_prompt,
        model=wanted_model,
        params=published.params,
        actor=actor,
    )

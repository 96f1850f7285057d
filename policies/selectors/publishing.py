"""Reads of a policy's publishing for its admin page: its versions with who created and
who published each, the publish history, what a rollback would republish, and how two
versions differ."""

from dataclasses import dataclass

from policies.models import ExtractionRun, Policy, PolicyVersion, PublishEvent, Strategy
from policies.strategies import INSTRUCTIONS, PARAMS, SUMMARIZE_DEFAULT_PROMPT, params_resolve


def policy_rollback_target(*, policy: Policy) -> PolicyVersion | None:
    """The version a rollback republishes: the one the latest publish moved away from."""
    latest = PublishEvent.objects.filter(policy=policy).select_related("from_version__policy").first()
    return latest.from_version if latest is not None else None


@dataclass(frozen=True)
class VersionRow:
    """A version on its policy's page, with who published it and when."""

    version: PolicyVersion
    is_published: bool
    is_used: bool
    publications: list[PublishEvent]


def policy_version_rows(*, policy: Policy) -> list[VersionRow]:
    """Every version of the policy, newest first, each with its publish events."""
    versions = list(policy.versions.order_by("-number"))
    used = set(ExtractionRun.objects.filter(policy_version__policy=policy).values_list("policy_version_id", flat=True))
    publications: dict[int, list[PublishEvent]] = {}
    for event in policy_publish_history(policy=policy):
        publications.setdefault(event.to_version_id, []).append(event)
    return [
        VersionRow(
            version=version,
            is_published=version.pk == policy.published_version_id,
            is_used=version.pk in used,
            publications=publications.get(version.pk, []),
        )
        for version in versions
    ]


def policy_publish_history(*, policy: Policy) -> list[PublishEvent]:
    """The policy's publishes and rollbacks, newest first."""
    return list(PublishEvent.objects.filter(policy=policy).select_related("from_version", "to_version"))


def policy_version_instructions(*, version: PolicyVersion) -> str:
    """The instructions a version sends the model: its own template when custom, else its
    strategy's built-in text; "" for `messages`, which sends nothing. A summary version
    sends its prompt, or with none the default one."""
    if version.strategy == Strategy.CUSTOM:
        return version.prompt_template
    if version.strategy == Strategy.SUMMARIZE:
        return version.prompt_template or SUMMARIZE_DEFAULT_PROMPT
    return INSTRUCTIONS.get(version.strategy, "")


@dataclass(frozen=True)
class FieldDifference:
    field: str
    left: str
    right: str

    @property
    def changed(self) -> bool:
        return self.left != self.right


def policy_version_differences(*, left: PolicyVersion, right: PolicyVersion) -> list[FieldDifference]:
    """Strategy, model, review mode and every param (resolved: what each version runs
    with), side by side; the prompt text is diffed line by line by the page."""
    rows = [
        FieldDifference("strategy", left.get_strategy_display(), right.get_strategy_display()),
        FieldDifference("model", left.model or "(LLM_MODEL)", right.model or "(LLM_MODEL)"),
        FieldDifference("review mode", left.get_review_mode_display(), right.get_review_mode_display()),
    ]
    left_params = params_resolve(strategy=left.strategy, params=left.params)
    right_params = params_resolve(strategy=right.strategy, params=right.params)
    for name in PARAMS:
        rows.append(
            FieldDifference(
                f"params.{name}",
                _param(left_params[name], own=name in left.params),
                _param(right_params[name], own=name in right.params),
            )
        )
    return rows


def _param(value: object, *, own: bool) -> str:
    return str(value) if own else f"{value} (default)"

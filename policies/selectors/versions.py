"""Reads of extraction policies."""

from dataclasses import dataclass

from policies.models import Experiment, ExtractionRun, Policy, PolicyVersion, Purpose, SummaryRun, Variant
from policies.selectors.experiments import assignment_variant, experiment_for_session, variant_by_weight

DEFAULT_POLICY_NAME = "default"


class NoPublishedPolicyError(LookupError):
    """No policy version to extract with: the default policy is missing or unpublished."""


@dataclass(frozen=True)
class SessionPolicy:
    """What extracts a session: the version, and the experiment and variant that chose it
    (None when the published version does). `assigned`: the variant is the session's
    stored one; if False, promotion stores it (`experiment_assign`) before the run."""

    version: PolicyVersion
    experiment: Experiment | None = None
    variant: Variant | None = None
    assigned: bool = False


def policy_version_for_session(*, namespace: str | None, user_id: str | None, session_id: str) -> SessionPolicy:
    """The policy version that extracts this session.

    A running experiment whose scope holds the namespace decides first: the session's
    stored variant, else the one its hash picks under today's weights (read only; the
    write is `experiment_assign`'s). Otherwise, and once the experiment stops, the
    default policy's published version.
    """
    experiment = experiment_for_session(namespace=namespace)
    if experiment is not None:
        stored = assignment_variant(experiment=experiment, namespace=namespace, session_id=session_id)
        variant = stored or variant_by_weight(experiment=experiment, namespace=namespace, session_id=session_id)
        return SessionPolicy(version=variant.version, experiment=experiment, variant=variant, assigned=bool(stored))
    policy = (
        Policy.objects.select_related("published_version__policy")
        .filter(name=DEFAULT_POLICY_NAME, purpose=Purpose.EXTRACTION)
        .first()
    )
    if policy is None or policy.published_version is None:
        raise NoPublishedPolicyError(
            f"no published version of policy {DEFAULT_POLICY_NAME!r}; run `manage.py seed_defaults`"
        )
    return SessionPolicy(version=policy.published_version)


def policy_version_is_used(*, version: PolicyVersion) -> bool:
    """Used = an extraction or summary run has referenced it, or a summary view summarises
    with it (editing it would change that view's prompt behind its back); from then on it
    is immutable."""
    return (
        ExtractionRun.objects.filter(policy_version=version).exists()
        or SummaryRun.objects.filter(policy_version=version).exists()
        or version.summary_views.exists()
    )

"""Reads of extraction policies."""

from policies.models import ExtractionRun, Policy, PolicyVersion

DEFAULT_POLICY_NAME = "default"


class NoPublishedPolicyError(LookupError):
    """No policy version to extract with: the default policy is missing or unpublished."""


def policy_version_for_session(*, namespace: str | None, user_id: str | None, session_id: str) -> PolicyVersion:
    """The policy version that extracts this session.

    Today that is the default policy's published version. The A/B issue puts the
    session's sticky experiment assignment in front of it, behind this same call.
    """
    policy = Policy.objects.select_related("published_version__policy").filter(name=DEFAULT_POLICY_NAME).first()
    if policy is None or policy.published_version is None:
        raise NoPublishedPolicyError(
            f"no published version of policy {DEFAULT_POLICY_NAME!r}; run `manage.py seed_defaults`"
        )
    return policy.published_version


def policy_version_is_used(*, version: PolicyVersion) -> bool:
    """Used = an extraction run has referenced it; from then on it is immutable."""
    return ExtractionRun.objects.filter(policy_version=version).exists()

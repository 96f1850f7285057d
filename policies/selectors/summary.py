"""Reads of the summary policy: the version a summary view summarises with."""

from policies.models import Policy, PolicyVersion, Purpose

# The one policy of purpose `summary`; its published version serves every view without its own.
SUMMARY_POLICY_NAME = "summary-views"


def summary_version_published() -> PolicyVersion | None:
    """The summary policy's published version; None before `policy_defaults_ensure` has seeded it."""
    policy = (
        Policy.objects.select_related("published_version__policy")
        .filter(name=SUMMARY_POLICY_NAME, purpose=Purpose.SUMMARY)
        .first()
    )
    return policy.published_version if policy is not None else None

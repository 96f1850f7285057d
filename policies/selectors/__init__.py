"""Reads of extraction policies, one module per concern: `versions` (which version extracts
a session, whether a version is used), `experiments` (results and their statistics)."""

from policies.selectors.versions import (  # noqa: F401
    DEFAULT_POLICY_NAME,
    NoPublishedPolicyError,
    policy_version_for_session,
    policy_version_is_used,
)

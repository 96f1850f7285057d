"""Reads of extraction policies, one module per concern: `versions` (which version extracts
a session, whether a version is used), `experiments` (which experiment and variant a
session falls in, an experiment's variants, control and events), `publishing` (a
policy's versions and publish history for its admin page). An experiment's results and
their statistics are read in `memory.selectors.experiment_results` (they read memory's
review state)."""

from policies.selectors.versions import (
    DEFAULT_POLICY_NAME,
    NoPublishedPolicyError,
    policy_version_for_session,
    policy_version_is_used,
)

__all__ = ["DEFAULT_POLICY_NAME", "NoPublishedPolicyError", "policy_version_for_session", "policy_version_is_used"]

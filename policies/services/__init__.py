"""Writes of extraction policies, one module per concern: `versions` (create, edit, publish,
roll back), `experiments` (A/B experiments and their sticky assignments)."""

from policies.services.versions import (
    EDITABLE_FIELDS,
    PolicyVersionImmutableError,
    RollbackNotPossibleError,
    policy_defaults_ensure,
    policy_rollback,
    policy_version_create,
    policy_version_publish,
    policy_version_update,
    prompt_template_problems,
)

__all__ = [
    "EDITABLE_FIELDS",
    "PolicyVersionImmutableError",
    "RollbackNotPossibleError",
    "policy_defaults_ensure",
    "policy_rollback",
    "policy_version_create",
    "policy_version_publish",
    "policy_version_update",
    "prompt_template_problems",
]

"""The admin's roles as Django groups: what a reviewer and a policy editor may do.

- **Reviewer**: see memories, their history and source turns and the extraction runs
  (with their retries), and act on memories (approve, reject, edit, pin, delete: the
  change and delete permissions). Nothing about policies.
- **Policy editor**: everything a reviewer may, plus creating, editing and publishing
  policies and their versions, running A/B experiments (with their variants) and offline
  evaluations, reading the publish history and assignments, and retrying failed
  extraction runs. Not API keys.

Superusers do everything without a group. Staff users get a role by joining a group
(`is_staff` is still needed to reach the admin at all).
"""

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

REVIEWER = "Reviewer"
POLICY_EDITOR = "Policy editor"

REVIEWER_PERMISSIONS = (
    "memory.view_memoryrecord",
    "memory.change_memoryrecord",
    "memory.delete_memoryrecord",
    "memory.view_memoryhistory",
    "memory.view_sourcemessage",
    "policies.view_extractionrun",
    "policies.view_extractionrunretry",
)
POLICY_EDITOR_PERMISSIONS = (
    REVIEWER_PERMISSIONS
    + tuple(
        f"policies.{action}_{model}"
        for model in ("policy", "policyversion", "experiment", "variant", "policyevaluation")
        for action in ("add", "change", "view", "delete")
    )
    + (
        "policies.view_publishevent",
        "policies.view_assignment",
        "policies.view_policyevaluationexample",
        "policies.view_experimentevent",
        "policies.retry_extractionrun",
    )
)
ROLES = {REVIEWER: REVIEWER_PERMISSIONS, POLICY_EDITOR: POLICY_EDITOR_PERMISSIONS}


class MissingPermissionError(LookupError):
    """A role names a permission that does not exist (migrations not run?)."""


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    wanted = Q()
    for name in names:
        app_label, codename = name.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(wanted).select_related("content_type"))
    missing = set(names) - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise MissingPermissionError(f"unknown permissions {sorted(missing)}; run `manage.py migrate` first")
    return found


@transaction.atomic
def roles_ensure() -> dict[str, Group]:
    """Create the role groups, or reset them to exactly their permissions (idempotent).

    The groups are defined here, so `seed_defaults` puts back whatever was changed by
    hand; a deployment that wants another mix makes a group of its own."""
    groups = {}
    for name, permission_names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(permission_names))
        groups[name] = group
    return groups

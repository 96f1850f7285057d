"""The role groups: exactly their permissions, created idempotently by seed_defaults."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from memory.services.roles import POLICY_EDITOR, REVIEWER, roles_ensure

pytestmark = pytest.mark.django_db(transaction=True)


def permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


REVIEWER_SET = {
    "memory.view_memoryrecord",
    "memory.change_memoryrecord",
    "memory.delete_memoryrecord",
    "memory.view_memoryhistory",
    "memory.view_sourcemessage",
    "policies.view_extractionrun",
    "policies.view_extractionrunretry",
}
POLICY_SET = {
    *(f"policies.{a}_{m}" for m in ("policy", "policyversion") for a in ("add", "change", "view", "delete")),
    *(f"policies.{a}_experiment" for a in ("add", "change", "view", "delete")),
    *(f"policies.{a}_variant" for a in ("add", "change", "view", "delete")),
    *(f"policies.{a}_policyevaluation" for a in ("add", "change", "view", "delete")),
    "policies.view_publishevent",
    "policies.view_assignment",
    "policies.view_policyevaluationexample",
    "policies.view_experimentevent",
    "policies.retry_extractionrun",
}


def test_seed_defaults_creates_both_roles_with_exactly_their_permissions():
    call_command("seed_defaults")
    assert permissions(REVIEWER) == REVIEWER_SET
    assert permissions(POLICY_EDITOR) == REVIEWER_SET | POLICY_SET


def test_roles_ensure_is_idempotent_and_puts_back_a_changed_group():
    roles_ensure()
    reviewer = Group.objects.get(name=REVIEWER)
    reviewer.permissions.add(Permission.objects.get(codename="change_policy"))
    reviewer.permissions.remove(Permission.objects.get(codename="view_memoryhistory"))

    roles_ensure()
    roles_ensure()

    assert Group.objects.filter(name__in=[REVIEWER, POLICY_EDITOR]).count() == 2
    assert permissions(REVIEWER) == REVIEWER_SET

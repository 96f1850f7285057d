"""Fixtures the experiment tests share."""

import pytest

from policies.models import Policy
from policies.services import policy_version_create, policy_version_publish


@pytest.fixture
def versions(db):
    """The default policy publishing v1, and a v2 to try against it."""
    policy = Policy.objects.create(name="default")
    first = policy_version_create(policy=policy, strategy="discrete", actor="test")
    second = policy_version_create(policy=policy, strategy="discrete", params={"max_memories": 3}, actor="test")
    policy_version_publish(version=first, actor="test")
    return first, second

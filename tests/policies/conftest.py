"""Fixtures the policy, version and experiment tests share; the data comes from
tests/factories.py."""

import pytest

from policies.services import policy_version_publish
from tests.factories import PolicyFactory, PolicyVersionFactory


@pytest.fixture
def policy():
    """A policy other than the default one: promotion never uses it."""
    return PolicyFactory(name="editorial")


@pytest.fixture
def default_policy():
    """The default policy, the one promotion uses; no version yet."""
    return PolicyFactory()


@pytest.fixture
def versions(db):
    """The default policy publishing v1, and a v2 to try against it."""
    first = PolicyVersionFactory()
    second = PolicyVersionFactory(params={"max_memories": 3})
    policy_version_publish(version=first, actor="test")  # after v2 exists, as an editor would
    return first, second

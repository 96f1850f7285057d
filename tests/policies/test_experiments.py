"""A/B experiments: creation and its refusals, status moves with their dates and actors,
publishing the winner, and the sticky, deterministic assignment of sessions."""

import hashlib

import pytest
from django.core.exceptions import ValidationError

from policies.models import Assignment, Experiment, Policy, PublishEvent
from policies.selectors import policy_version_for_session
from policies.selectors.experiments import experiment_bucket
from policies.services import policy_version_create, policy_version_publish
from policies.services.experiments import (
    ExperimentStatusError,
    experiment_assign,
    experiment_conclude,
    experiment_create,
    experiment_publish_winner,
    experiment_start,
    experiment_stop,
    experiment_variant_weights_set,
)

pytestmark = pytest.mark.django_db

EDITOR = "admin:erin"


@pytest.fixture
def versions():
    """The default policy publishing v1, and a v2 to try against it."""
    policy = Policy.objects.create(name="default")
    first = policy_version_create(policy=policy, strategy="discrete", actor="test")
    second = policy_version_create(policy=policy, strategy="discrete", params={"max_memories": 3}, actor="test")
    policy_version_publish(version=first, actor="test")
    return first, second


def create(versions, key="checkout", weights=(1, 1), namespaces=(), start=True):
    experiment = experiment_create(
        key=key,
        description="fewer, sharper memories?",
        namespaces=namespaces,
        variants=[("A", versions[0], weights[0]), ("B", versions[1], weights[1])],
        actor=EDITOR,
    )
    return experiment_start(experiment=experiment, actor=EDITOR) if start else experiment


def assign_all(experiment, sessions, namespace="shop"):
    return {s: experiment_assign(experiment=experiment, namespace=namespace, session_id=s).name for s in sessions}


def test_create_records_the_variants_the_control_and_who_created_it(versions):
    experiment = create(versions, namespaces=[" shop ", "shop", "travel"], start=False)
    assert (experiment.status, experiment.created_by, experiment.namespaces) == ("draft", EDITOR, ["shop", "travel"])
    assert list(experiment.variants.values_list("name", "version", "weight", "is_control")) == [
        ("A", versions[0].pk, 1, True),
        ("B", versions[1].pk, 1, False),
    ]


@pytest.mark.parametrize(
    "variants, field",
    [
        ([("A", "v1", 1)], "variants"),
        ([("A", "v1", 1), ("A", "v2", 1)], "variants"),
        ([("A", "v1", 1), ("B", 999_999, 1)], "version"),
        ([("A", "v1", 1), ("B", "v2", 0)], "weight"),
        ([("A", "v1", 1), ("B", "v2", "2")], "weight"),
    ],
)
def test_create_refuses_bad_variants_naming_the_field(versions, variants, field):
    named = {"v1": versions[0], "v2": versions[1]}
    variants = [(name, named.get(version, version), weight) for name, version, weight in variants]
    with pytest.raises(ValidationError) as refused:
        experiment_create(key="bad", namespaces=[], variants=variants, actor=EDITOR)
    assert list(refused.value.message_dict) == [field]
    assert not Experiment.objects.exists()


def test_status_moves_are_dated_and_validated(versions):
    experiment = create(versions, start=False)
    with pytest.raises(ExperimentStatusError, match="cannot stop experiment 'checkout': it is draft"):
        experiment_stop(experiment=experiment, actor=EDITOR)
    started = experiment_start(experiment=experiment, actor=EDITOR)
    assert (started.status, started.started_at is not None, started.stopped_at) == ("running", True, None)
    with pytest.raises(ExperimentStatusError, match="it is running, not draft"):
        experiment_start(experiment=experiment, actor=EDITOR)
    stopped = experiment_stop(experiment=experiment, actor=EDITOR)
    assert (stopped.status, stopped.stopped_at >= stopped.started_at) == ("stopped", True)
    with pytest.raises(ExperimentStatusError, match="cannot publish the winner of"):
        experiment_publish_winner(experiment=experiment, actor=EDITOR)


def test_two_running_experiments_may_not_share_a_namespace(versions):
    create(versions, key="one", namespaces=["shop"])
    create(versions, key="two", namespaces=["travel"])
    third = create(versions, key="three", namespaces=[], start=False)
    with pytest.raises(ValidationError) as refused:
        experiment_start(experiment=third, actor=EDITOR)
    assert refused.value.message_dict == {"namespaces": ["experiment 'one' is running on the same namespaces"]}


def test_conclude_then_publish_the_winner_in_one_step(versions):
    experiment = create(versions)
    winner = experiment.variants.get(name="B")
    other = create(versions, key="other", namespaces=["elsewhere"], start=False)
    with pytest.raises(ValidationError, match="one of the variants of 'checkout'"):
        experiment_conclude(experiment=experiment, winner=other.variants.get(name="B"), actor=EDITOR)

    concluded = experiment_conclude(experiment=experiment, winner=winner, actor=EDITOR)
    assert (concluded.status, concluded.winner, concluded.stopped_at is not None) == ("concluded", winner, True)
    policy = experiment_publish_winner(experiment=experiment, actor=EDITOR)

    assert policy.published_version == versions[1]
    event = PublishEvent.objects.first()
    assert (event.kind, event.from_version, event.to_version, event.actor) == ("conclude", *versions, EDITOR)
    assert policy_version_for_session(namespace="shop", user_id="u", session_id="new").version == versions[1]


def test_the_bucket_is_sha256_of_key_namespace_and_session_mod_the_total_weight():
    expected = int(hashlib.sha256(b"checkout:shop:s-42").hexdigest(), 16) % 7
    assert experiment_bucket(key="checkout", namespace="shop", session_id="s-42", total_weight=7) == expected


def test_ten_thousand_sessions_split_evenly_and_keep_their_variant_when_the_weights_change(versions):
    experiment = create(versions)
    first = [f"s-{n}" for n in range(10_000)]
    assigned = assign_all(experiment, first)
    share_a = sum(name == "A" for name in assigned.values()) / len(first)
    assert 0.48 <= share_a <= 0.52
    assert Assignment.objects.filter(experiment=experiment).count() == 10_000

    experiment_variant_weights_set(experiment=experiment, weights={"A": 9, "B": 1}, actor=EDITOR)

    assert assign_all(experiment, first) == assigned
    assert Assignment.objects.filter(experiment=experiment).count() == 10_000
    # New sessions follow the new weights (2,000 of them: a share within 2 points of 90%).
    later = assign_all(experiment, [f"t-{n}" for n in range(2_000)])
    assert 0.88 <= sum(name == "A" for name in later.values()) / 2_000 <= 0.92
    assert Assignment.objects.filter(experiment=experiment).count() == 12_000


def test_the_same_session_gets_the_same_variant_in_two_experiments_only_by_chance(versions):
    # The key is in the hash: a session is not always in the control of every experiment.
    one = create(versions, key="one", namespaces=["shop"])
    two = create(versions, key="two", namespaces=["travel"])
    sessions = [f"s-{n}" for n in range(200)]
    in_one, in_two = assign_all(one, sessions, "shop"), assign_all(two, sessions, "travel")
    assert 60 <= sum(in_one[s] == in_two[s] for s in sessions) <= 140


def test_weights_must_name_variants_and_be_at_least_one(versions):
    experiment = create(versions)
    for weights, message in [({"C": 1}, "no variant named 'C'"), ({"A": 0}, "at least 1")]:
        with pytest.raises(ValidationError, match=message):
            experiment_variant_weights_set(experiment=experiment, weights=weights, actor=EDITOR)
    assert list(experiment.variants.values_list("weight", flat=True)) == [1, 1]


def test_scope_only_the_listed_namespaces_are_assigned(versions):
    experiment = create(versions, namespaces=["shop"])
    assert experiment_assign(experiment=experiment, namespace="travel", session_id="s-1") is None
    chosen = policy_version_for_session(namespace="travel", user_id="u", session_id="s-1")
    assert (chosen.version, chosen.experiment, chosen.variant) == (versions[0], None, None)

    inside = policy_version_for_session(namespace="shop", user_id="u", session_id="s-1")
    assert (inside.experiment, inside.assigned) == (experiment, False)
    assert not Assignment.objects.exists()  # the selector reads only
    variant = experiment_assign(experiment=experiment, namespace="shop", session_id="s-1")
    assert variant == inside.variant
    stored = policy_version_for_session(namespace="shop", user_id="u", session_id="s-1")
    assert (stored.version, stored.variant, stored.assigned) == (variant.version, variant, True)


@pytest.mark.parametrize("status", ["draft", "stopped", "concluded"])
def test_an_experiment_not_running_assigns_nobody_and_sessions_get_the_published_version(versions, status):
    experiment = create(versions, start=False)
    already = None
    if status != "draft":
        experiment_start(experiment=experiment, actor=EDITOR)
        already = experiment_assign(experiment=experiment, namespace="shop", session_id="before")
        experiment_stop(experiment=experiment, actor=EDITOR)
    if status == "concluded":
        experiment_conclude(experiment=experiment, winner=already, actor=EDITOR)
    rows = Assignment.objects.count()

    for session in ("before", "after"):
        assert experiment_assign(experiment=experiment, namespace="shop", session_id=session) is None
        chosen = policy_version_for_session(namespace="shop", user_id="u", session_id=session)
        assert (chosen.version, chosen.experiment, chosen.variant) == (versions[0], None, None)
    assert Assignment.objects.count() == rows == (0 if status == "draft" else 1)

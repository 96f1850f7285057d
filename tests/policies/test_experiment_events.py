"""Every change to an experiment leaves one ExperimentEvent with its actor, whoever makes
it (admin, API, an agent in a shell); a refused change leaves none; the experiment's page
shows them as its trail."""

import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from policies.models import Experiment, ExperimentEvent, Policy
from policies.services import policy_version_create, policy_version_publish
from policies.services.experiments import (
    experiment_conclude,
    experiment_create,
    experiment_publish_winner,
    experiment_start,
    experiment_stop,
    experiment_variant_weights_set,
)

pytestmark = pytest.mark.django_db

EDITOR = "admin:erin"
AGENT = "agent:planner"


@pytest.fixture
def versions():
    policy = Policy.objects.create(name="default")
    first = policy_version_create(policy=policy, strategy="discrete", actor="test")
    second = policy_version_create(policy=policy, strategy="discrete", params={"max_memories": 3}, actor="test")
    policy_version_publish(version=first, actor="test")
    return first, second


def draft(versions, key="checkout", namespaces=("shop",)):
    return experiment_create(
        key=key, namespaces=namespaces, variants=[("A", versions[0], 1), ("B", versions[1], 3)], actor=EDITOR
    )


def events(experiment):
    return list(ExperimentEvent.objects.filter(experiment=experiment).values_list("kind", "actor", "detail"))


def to_status(experiment, status):
    """Move a draft on to `status` with the services (each move leaving its own event)."""
    if status in ("running", "stopped", "concluded"):
        experiment_start(experiment=experiment, actor=EDITOR)
    if status in ("stopped", "concluded"):
        experiment_stop(experiment=experiment, actor=EDITOR)
    if status == "concluded":
        experiment_conclude(experiment=experiment, winner=experiment.variants.get(name="B"), actor=EDITOR)
    return Experiment.objects.get(pk=experiment.pk)


def test_create_writes_one_created_event_with_the_scope_and_weights(versions):
    experiment = draft(versions, namespaces=["travel", " shop "])
    assert events(experiment) == [
        ("created", EDITOR, {"namespaces": ["shop", "travel"], "weights": {"A": 1, "B": 3}}),
    ]


@pytest.mark.parametrize(
    "status, change, expected",
    [
        ("draft", lambda e: experiment_start(experiment=e, actor=AGENT), ("started", AGENT, {})),
        ("running", lambda e: experiment_stop(experiment=e, actor=AGENT), ("stopped", AGENT, {})),
        (
            "running",
            lambda e: experiment_conclude(experiment=e, winner=e.variants.get(name="B"), actor=AGENT),
            ("concluded", AGENT, {"winner": "B"}),
        ),
        (
            "stopped",
            lambda e: experiment_conclude(experiment=e, winner=e.variants.get(name="A"), actor=AGENT),
            ("concluded", AGENT, {"winner": "A"}),
        ),
        (
            "concluded",
            lambda e: experiment_publish_winner(experiment=e, actor=AGENT),
            ("winner_published", AGENT, {"winner": "B", "policy": "default", "version": 2, "from_version": 1}),
        ),
        (
            "running",
            lambda e: experiment_variant_weights_set(experiment=e, weights={"B": 7}, actor=AGENT),
            ("reweighted", AGENT, {"old": {"B": 3}, "new": {"B": 7}}),
        ),
        (
            "draft",
            lambda e: experiment_variant_weights_set(experiment=e, weights={"A": 2, "B": 2}, actor=AGENT),
            ("reweighted", AGENT, {"old": {"A": 1, "B": 3}, "new": {"A": 2, "B": 2}}),
        ),
    ],
)
def test_each_change_writes_exactly_one_event_with_its_actor(versions, status, change, expected):
    experiment = to_status(draft(versions), status)
    before = events(experiment)

    change(experiment)

    assert events(experiment) == [*before, expected]


@pytest.mark.parametrize(
    "status, change",
    [
        ("draft", lambda e: experiment_stop(experiment=e, actor=AGENT)),
        ("draft", lambda e: experiment_conclude(experiment=e, winner=e.variants.get(name="B"), actor=AGENT)),
        ("draft", lambda e: experiment_publish_winner(experiment=e, actor=AGENT)),
        ("running", lambda e: experiment_start(experiment=e, actor=AGENT)),
        ("running", lambda e: experiment_publish_winner(experiment=e, actor=AGENT)),
        ("running", lambda e: experiment_conclude(experiment=e, winner=None, actor=AGENT)),
        ("running", lambda e: experiment_variant_weights_set(experiment=e, weights={"C": 1}, actor=AGENT)),
        ("running", lambda e: experiment_variant_weights_set(experiment=e, weights={"A": 0}, actor=AGENT)),
        ("stopped", lambda e: experiment_stop(experiment=e, actor=AGENT)),
        ("concluded", lambda e: experiment_variant_weights_set(experiment=e, weights={"A": 2}, actor=AGENT)),
        ("concluded", lambda e: experiment_conclude(experiment=e, winner=e.variants.get(name="A"), actor=AGENT)),
    ],
)
def test_a_refused_change_writes_no_event(versions, status, change):
    experiment = to_status(draft(versions), status)
    before = events(experiment)

    with pytest.raises(ValidationError):
        change(experiment)

    assert events(experiment) == before
    assert Experiment.objects.get(pk=experiment.pk).status == status


def test_starting_over_a_running_experiment_writes_no_event(versions):
    to_status(draft(versions, key="one"), "running")
    other = draft(versions, key="two", namespaces=())
    with pytest.raises(ValidationError, match="experiment 'one' is running on the same namespaces"):
        experiment_start(experiment=other, actor=AGENT)
    assert [kind for kind, _, _ in events(other)] == ["created"]


def test_a_refused_create_writes_no_event(versions):
    with pytest.raises(ValidationError):
        experiment_create(key="bad", variants=[("A", versions[0], 1)], actor=AGENT)
    assert (Experiment.objects.count(), ExperimentEvent.objects.count()) == (0, 0)


def trail_rows(client, experiment):
    page = client.get(f"/admin/policies/experiment/{experiment.pk}/change/").content.decode()
    trail = re.search(r'<table id="experiment-trail">.*?</table>', page, re.S).group(0)
    cells = r'<tr class="trail-row"><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>'
    return re.findall(cells, trail)


@pytest.fixture
def editor(client):
    client.force_login(User.objects.create_superuser("erin"))
    return client


def test_the_trail_shows_changes_made_outside_the_admin_with_their_actor(editor, versions):
    experiment = draft(versions)
    experiment_start(experiment=experiment, actor=AGENT)
    experiment_variant_weights_set(experiment=experiment, weights={"A": 5}, actor="api:ops")
    experiment_conclude(experiment=experiment, winner=experiment.variants.get(name="B"), actor=AGENT)
    experiment_publish_winner(experiment=experiment, actor=EDITOR)

    rows = trail_rows(editor, experiment)

    stamps = [e.created_at.strftime("%Y-%m-%d %H:%M:%S") for e in ExperimentEvent.objects.order_by("created_at", "id")]
    assert [when for when, *_ in rows] == stamps
    assert [tuple(rest) for _, *rest in rows] == [
        (EDITOR, "Created", "A ×1, B ×3; namespaces: shop"),
        (AGENT, "Started", ""),
        ("api:ops", "Reweighted", "A 1 → 5"),
        (AGENT, "Concluded", "winner B"),
        (EDITOR, "Winner published", "winner B: default v1 → v2"),
    ]


def test_a_button_shows_once_in_the_trail_though_the_admin_history_also_keeps_it(editor, versions):
    experiment = draft(versions)
    assert editor.post(f"/admin/policies/experiment/{experiment.pk}/start/").status_code == 302

    assert LogEntry.objects.get().change_message == "Started by admin:erin"
    assert [tuple(rest) for _, *rest in trail_rows(editor, experiment)] == [
        (EDITOR, "Created", "A ×1, B ×3; namespaces: shop"),
        (EDITOR, "Started", ""),
    ]


def test_an_experiment_older_than_its_events_keeps_its_admin_history_in_the_trail(editor, versions):
    experiment = to_status(draft(versions), "running")
    ExperimentEvent.objects.all().delete()  # as an experiment made before the events existed
    LogEntry.objects.log_actions(
        user_id=User.objects.get().pk,
        queryset=[experiment],
        action_flag=CHANGE,
        change_message="Started by admin:erin",
        single_object=True,
    )
    experiment_stop(experiment=experiment, actor=AGENT)

    assert [tuple(rest) for _, *rest in trail_rows(editor, experiment)] == [
        (EDITOR, "Created", ""),
        (EDITOR, "Started by admin:erin", ""),
        (AGENT, "Stopped", ""),
    ]


def test_the_events_admin_lists_them_and_writes_nothing(editor, versions):
    draft(versions)
    listing = editor.get("/admin/policies/experimentevent/")
    assert listing.status_code == 200
    assert EDITOR in listing.content.decode()
    event = ExperimentEvent.objects.get()
    assert editor.get("/admin/policies/experimentevent/add/").status_code == 403
    assert editor.post(f"/admin/policies/experimentevent/{event.pk}/delete/").status_code == 403
    assert ExperimentEvent.objects.count() == 1

"""Versions through the services: who created them, templates validated on every
write, used versions frozen, and each publish and rollback recorded exactly."""

import pytest
from django.core.exceptions import ValidationError

from policies.models import ExtractionRun, Policy, PolicyVersion, PublishEvent
from policies.selectors.publishing import policy_rollback_target, policy_version_differences, policy_version_rows
from policies.services import (
    PolicyVersionImmutableError,
    RollbackNotPossibleError,
    policy_rollback,
    policy_version_create,
    policy_version_publish,
    policy_version_update,
)

pytestmark = pytest.mark.django_db


def events(policy) -> list[tuple]:
    """(kind, from number, to number, actor), oldest first."""
    rows = PublishEvent.objects.filter(policy=policy).order_by("created_at", "id")
    return [(e.kind, e.from_version.number if e.from_version else None, e.to_version.number, e.actor) for e in rows]


def test_a_version_names_who_created_it(policy):
    version = policy_version_create(policy=policy, strategy="discrete", actor="admin:pete")
    assert PolicyVersion.objects.get(pk=version.pk).created_by == "admin:pete"


@pytest.mark.parametrize(
    "template, message",
    [
        ("{{ user }}", "unknown variable 'user'"),
        ("{{ turns.__class__ }}", "attribute access 'turns.__class__' is not allowed"),
        ("{{ turns|e }}", "filter 'e' is not allowed"),
        ("{% if %}", "syntax error on line 1"),
    ],
)
def test_create_and_update_refuse_a_bad_template(policy, template, message):
    with pytest.raises(ValidationError) as raised:
        policy_version_create(policy=policy, strategy="custom", prompt_template=template, actor="test")
    assert message in raised.value.message_dict["prompt_template"][0]
    version = policy_version_create(policy=policy, strategy="custom", prompt_template="Facts: {{ turns }}", actor="t")
    with pytest.raises(ValidationError) as raised:
        policy_version_update(version=version, data={"prompt_template": template})
    assert message in raised.value.message_dict["prompt_template"][0]
    assert PolicyVersion.objects.get().prompt_template == "Facts: {{ turns }}"


def test_a_used_version_refuses_every_update(policy):
    version = policy_version_create(policy=policy, strategy="custom", prompt_template="Facts.", actor="test")
    ExtractionRun.objects.create(session_id="s", policy_version=version, strategy=version.strategy)
    for data in ({"prompt_template": "Other."}, {"model": "openai/x"}, {"review_mode": "pending"}):
        with pytest.raises(PolicyVersionImmutableError):
            policy_version_update(version=version, data=data)
    version.refresh_from_db()
    assert (version.prompt_template, version.model, version.review_mode) == ("Facts.", "", "approved")


def test_publish_then_rollback_are_recorded_with_from_to_and_actor(policy):
    v1 = policy_version_create(policy=policy, strategy="messages", actor="test")
    v2 = policy_version_create(policy=policy, strategy="discrete", actor="test")
    policy_version_publish(version=v1, actor="admin:ann")
    policy_version_publish(version=v2, actor="admin:bob")
    assert policy_rollback_target(policy=policy) == v1

    rolled = policy_rollback(policy=policy, actor="admin:cat")
    assert rolled.published_version == v1
    assert Policy.objects.get(pk=policy.pk).published_version_id == v1.pk
    assert events(policy) == [
        ("publish", None, 1, "admin:ann"),
        ("publish", 1, 2, "admin:bob"),
        ("rollback", 2, 1, "admin:cat"),
    ]
    # A second rollback undoes the first: back to v2.
    policy_rollback(policy=policy, actor="admin:dan")
    assert events(policy)[-1] == ("rollback", 1, 2, "admin:dan")
    assert Policy.objects.get(pk=policy.pk).published_version_id == v2.pk


@pytest.mark.parametrize("published", [False, True])
def test_rollback_without_an_earlier_version_is_a_clear_error(policy, published):
    version = policy_version_create(policy=policy, strategy="messages", actor="test")
    if published:
        policy_version_publish(version=version, actor="admin:ann")
    with pytest.raises(RollbackNotPossibleError, match="editorial has no earlier published version to roll back to"):
        policy_rollback(policy=policy, actor="admin:bob")
    assert PublishEvent.objects.filter(kind="rollback").count() == 0
    assert PublishEvent.objects.count() == (1 if published else 0)


def test_version_rows_are_newest_first_with_who_published_each(policy):
    v1 = policy_version_create(policy=policy, strategy="messages", actor="admin:ann")
    v2 = policy_version_create(policy=policy, strategy="discrete", actor="admin:bob")
    policy_version_publish(version=v1, actor="admin:cat")
    policy_version_publish(version=v2, actor="admin:dan")
    policy_rollback(policy=policy, actor="admin:eve")
    ExtractionRun.objects.create(session_id="s", policy_version=v2, strategy="discrete")
    rows = policy_version_rows(policy=Policy.objects.get(pk=policy.pk))
    assert [(r.version.number, r.version.created_by, r.is_published, r.is_used) for r in rows] == [
        (2, "admin:bob", False, True),
        (1, "admin:ann", True, False),
    ]
    assert [[(e.actor, e.kind) for e in r.publications] for r in rows] == [
        [("admin:dan", "publish")],
        [("admin:eve", "rollback"), ("admin:cat", "publish")],
    ]


def test_differences_compare_strategy_model_review_mode_and_every_param(policy, settings):
    settings.LLM_ALLOWED_MODELS = ["openai/gpt-4o-mini"]
    left = policy_version_create(policy=policy, strategy="discrete", actor="t")
    right = policy_version_create(
        policy=policy, strategy="summary", model="openai/gpt-4o-mini", params={"temperature": 0.5}, actor="t"
    )
    rows = {row.field: (row.left, row.right, row.changed) for row in policy_version_differences(left=left, right=right)}
    assert rows == {
        "strategy": ("Discrete facts and events", "Summary", True),
        "model": ("(LLM_MODEL)", "openai/gpt-4o-mini", True),
        "review mode": ("New memories start approved", "New memories start approved", False),
        "params.temperature": ("0.0 (default)", "0.5", True),
        "params.max_tokens": ("2000 (default)", "2000 (default)", False),
        "params.max_memories": ("50 (default)", "1 (default)", True),
        "params.max_memory_chars": ("1000 (default)", "4000 (default)", True),
        "params.context_messages": ("20 (default)", "20 (default)", False),
    }


def test_a_template_that_could_render_past_prompt_max_chars_is_refused(policy, settings):
    """Each variable brings up to WORKING_MEMORY_MAX_BODY_BYTES characters (the largest
    session write); the default cap is four of them."""
    longest = settings.WORKING_MEMORY_MAX_BODY_BYTES
    assert 4 * longest == settings.PROMPT_MAX_CHARS
    policy_version_create(policy=policy, strategy="custom", prompt_template="{{ turns }}" * 4, actor="t")
    for template, printed in (("{{ turns }}" * 5, "turns 5x"), ("{{ turns }}\n" * 1000, "turns 1000x")):
        with pytest.raises(ValidationError) as raised:
            policy_version_create(policy=policy, strategy="custom", prompt_template=template, actor="t")
        longest_render = template.count("turns") * longest + template.count("\n")
        assert raised.value.message_dict == {
            "prompt_template": [
                f"the prompt can render to {longest_render:,} characters with the largest input allowed ({printed}; "
                f"each variable brings up to {longest:,} characters); at most {4 * longest:,} are allowed "
                "(PROMPT_MAX_CHARS): print the variables fewer times"
            ]
        }
    assert PolicyVersion.objects.count() == 1
    version = PolicyVersion.objects.get()
    with pytest.raises(ValidationError, match="can render to"):
        policy_version_update(version=version, data={"prompt_template": "Facts: {{ turns }}" * 5})
    assert PolicyVersion.objects.get().prompt_template == "{{ turns }}" * 4

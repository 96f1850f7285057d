"""Extraction policies: which version extracts a session, immutability once used, the
seeded default, and the read-only admin of extraction runs."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from policies.models import ExtractionRun, Policy, PolicyVersion
from policies.selectors import NoPublishedPolicyError, policy_version_for_session
from policies.services import (
    PolicyVersionImmutableError,
    policy_defaults_ensure,
    policy_version_create,
    policy_version_publish,
    policy_version_update,
)

pytestmark = pytest.mark.django_db


def test_a_session_gets_the_published_version_of_the_default_policy(default_policy):
    first = policy_version_create(policy=default_policy, strategy="messages", actor="test")
    second = policy_version_create(policy=default_policy, strategy="discrete", params={"max_memories": 5}, actor="test")
    assert (first.number, second.number) == (1, 2)
    policy_version_publish(version=first, actor="test")
    assert policy_version_for_session(namespace="a", user_id="u", session_id="s").version == first
    policy_version_publish(version=second, actor="test")
    assert policy_version_for_session(namespace=None, user_id=None, session_id="s").version == second


def test_no_published_version_is_a_clear_error(default_policy):
    policy_version_create(policy=default_policy, strategy="messages", actor="test")
    with pytest.raises(NoPublishedPolicyError, match="seed_defaults"):
        policy_version_for_session(namespace=None, user_id=None, session_id="s")


def test_a_version_is_editable_until_a_run_uses_it_then_frozen(default_policy):
    version = policy_version_create(policy=default_policy, strategy="discrete", actor="test")
    policy_version_update(version=version, data={"prompt_template": "", "params": {"temperature": 0.3}})
    version.refresh_from_db()
    assert version.params == {"temperature": 0.3}

    ExtractionRun.objects.create(session_id="s", policy_version=version, strategy=version.strategy)
    with pytest.raises(PolicyVersionImmutableError, match="create a new version"):
        policy_version_update(version=version, data={"params": {"temperature": 0.9}})
    version.refresh_from_db()
    assert version.params == {"temperature": 0.3}


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"strategy": "custom"}, "prompt_template"),
        ({"strategy": "discrete", "params": {"max_memories": 0}}, "params"),
        ({"strategy": "discrete", "params": {"nonsense": 1}}, "params"),
        ({"strategy": "telepathy"}, "strategy"),
        ({"strategy": "discrete", "review_mode": "maybe"}, "review_mode"),
    ],
)
def test_an_invalid_version_is_refused_naming_the_field(default_policy, fields, field):
    with pytest.raises(ValidationError) as raised:
        policy_version_create(policy=default_policy, **fields, actor="test")
    assert field in raised.value.message_dict
    assert PolicyVersion.objects.count() == 0


def test_defaults_follow_the_llm_setting_until_an_operator_publishes_their_own():
    messages = policy_defaults_ensure(llm_configured=False)
    assert (messages.strategy, messages.number) == ("messages", 1)
    assert policy_defaults_ensure(llm_configured=False) == messages  # idempotent

    discrete = policy_defaults_ensure(llm_configured=True)
    assert (discrete.strategy, discrete.number) == ("discrete", 2)
    assert policy_defaults_ensure(llm_configured=False) == messages  # back to the stock version, not a third
    assert messages.policy.versions.count() == 2

    own = policy_version_create(policy=messages.policy, strategy="discrete", review_mode="pending", actor="test")
    policy_version_publish(version=own, actor="test")
    assert policy_defaults_ensure(llm_configured=False) == own
    assert Policy.objects.get(name="default").published_version == own


def test_seed_defaults_publishes_messages_when_no_llm_is_configured(settings, capsys):
    settings.LLM_MODEL = ""
    call_command("seed_defaults")
    assert Policy.objects.get(name="default").published_version.strategy == "messages"
    assert "LLM extraction is off" in capsys.readouterr().out


def test_run_admin_is_read_only_and_shows_a_failed_runs_error(admin_client, settings):
    settings.LLM_MODEL = "openai/scripted"
    run = ExtractionRun.objects.create(
        session_id="s-9",
        strategy="discrete",
        status="failed",
        error="attempt 3 of at most 3: LLMUnavailableError: RateLimitError: 429",
    )
    listing = admin_client.get("/admin/policies/extractionrun/")
    assert listing.status_code == 200
    assert b"LLMUnavailableError: RateLimitError: 429" in listing.content
    assert b"LLM extraction is off" not in listing.content
    detail = admin_client.get(f"/admin/policies/extractionrun/{run.pk}/change/")
    assert detail.status_code == 200 and b"RateLimitError: 429" in detail.content
    assert b'name="_save"' not in detail.content  # nothing to save: view only
    assert admin_client.get("/admin/policies/extractionrun/add/").status_code == 403
    assert admin_client.post(f"/admin/policies/extractionrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ExtractionRun.objects.filter(pk=run.pk).exists()


def test_run_admin_says_plainly_when_llm_extraction_is_off(admin_client, settings):
    settings.LLM_MODEL = ""
    listing = admin_client.get("/admin/policies/extractionrun/")
    assert b"LLM extraction is off: LLM_MODEL is not set" in listing.content

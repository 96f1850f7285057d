"""The summary policy: seeded beside extraction's, a view's own prompt or model made into a
(reused) version, frozen once used, and never taken for an extraction policy."""

import pytest
from django.core.exceptions import ValidationError

from memory.models import SummaryView
from policies.models import Policy, SummaryRun
from policies.selectors import NoPublishedPolicyError, policy_version_for_session
from policies.selectors.summary import summary_version_published
from policies.services import PolicyVersionImmutableError, policy_defaults_ensure, policy_version_update
from policies.services.experiments import experiment_create
from policies.services.summary import summary_version_for_view
from policies.services.versions import summary_policy_ensure
from policies.strategies import SUMMARIZE_DEFAULT_PROMPT
from tests.factories import PolicyVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def allowed_models(settings):
    settings.LLM_ALLOWED_MODELS = ["openai/gpt-4o-mini"]


def test_the_defaults_seed_the_summary_policy_with_the_references_prompt():
    policy_defaults_ensure(llm_configured=False)
    policy_defaults_ensure(llm_configured=False)  # idempotent
    policy = Policy.objects.get(name="summary-views")
    version = policy.published_version
    assert (policy.purpose, policy.versions.count()) == ("summary", 1)
    assert (version.number, version.strategy, version.prompt_template, version.model, version.created_by) == (
        1,
        "summarize",
        SUMMARIZE_DEFAULT_PROMPT,
        "",
        "system:defaults",
    )


def test_a_view_naming_neither_prompt_nor_model_follows_the_published_version():
    assert summary_version_for_view(prompt=None, model_name=None, actor="test") is None
    assert not Policy.objects.filter(name="summary-views").exists()


def test_a_views_prompt_makes_one_unpublished_version_reused_by_the_same_prompt():
    first = summary_version_for_view(prompt="Only dates.", model_name=None, actor="api:key-1")
    again = summary_version_for_view(prompt="Only dates.", model_name=None, actor="api:key-2")
    other = summary_version_for_view(prompt="Only dates.", model_name="openai/gpt-4o-mini", actor="api:key-2")
    assert again == first
    assert (first.number, first.prompt_template, first.model, first.created_by) == (2, "Only dates.", "", "api:key-1")
    assert (other.number, other.prompt_template, other.model) == (3, "Only dates.", "openai/gpt-4o-mini")
    assert summary_version_published().number == 1  # neither is published


def test_a_model_only_view_keeps_the_published_prompt():
    version = summary_version_for_view(prompt=None, model_name="openai/gpt-4o-mini", actor="test")
    assert (version.prompt_template, version.model) == (SUMMARIZE_DEFAULT_PROMPT, "openai/gpt-4o-mini")


def test_a_model_the_operator_does_not_allow_is_refused_naming_model():
    with pytest.raises(ValidationError) as refused:
        summary_version_for_view(prompt=None, model_name="openai/o3-pro", actor="test")
    assert list(refused.value.message_dict) == ["model"]


def test_a_summary_version_used_by_a_run_or_a_view_cannot_be_edited():
    by_run = summary_version_for_view(prompt="A.", model_name=None, actor="test")
    by_view = summary_version_for_view(prompt="B.", model_name=None, actor="test")
    free = summary_version_for_view(prompt="C.", model_name=None, actor="test")
    SummaryRun.objects.create(view_id="v1", group_key="", policy_version=by_run, kind="extractive")
    SummaryView.objects.create(name="v2", policy_version=by_view)
    for used in (by_run, by_view):
        with pytest.raises(PolicyVersionImmutableError):
            policy_version_update(version=used, data={"prompt_template": "changed"})
    policy_version_update(version=free, data={"prompt_template": "C, edited."})
    free.refresh_from_db()
    assert free.prompt_template == "C, edited."


def test_a_policy_takes_only_versions_of_its_purpose():
    summary = summary_policy_ensure().policy
    with pytest.raises(ValidationError) as refused:
        PolicyVersionFactory(policy=summary, strategy="discrete")
    assert refused.value.message_dict == {"strategy": ["a summary policy's versions use the summarize strategy"]}
    with pytest.raises(ValidationError) as refused:
        PolicyVersionFactory(strategy="summarize")
    assert refused.value.message_dict == {
        "strategy": ["the summarize strategy is for the summary policy; an extraction policy's versions extract"]
    }


def test_a_summary_prompt_is_plain_text_not_a_template():
    version = summary_version_for_view(prompt="Use {{ braces }} freely.", model_name=None, actor="test")
    assert version.prompt_template == "Use {{ braces }} freely."


def test_a_summary_policy_never_extracts_a_session():
    summary_policy_ensure()
    with pytest.raises(NoPublishedPolicyError):
        policy_version_for_session(namespace="ns", user_id="u", session_id="s")
    extraction = PolicyVersionFactory(strategy="messages", publish=True)
    assert policy_version_for_session(namespace="ns", user_id="u", session_id="s").version == extraction


def test_an_experiment_refuses_a_summary_version():
    extraction = PolicyVersionFactory(publish=True)
    summary = summary_policy_ensure()
    with pytest.raises(ValidationError) as refused:
        experiment_create(key="mixed", variants=[("A", extraction, 1), ("B", summary, 1)], actor="test")
    assert refused.value.message_dict == {"version": [f"variant 'B': policy version {summary.pk} does not extract"]}

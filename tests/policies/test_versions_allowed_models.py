"""A version may only name a model the operator allowed (LLM_MODEL, LLM_ALLOWED_MODELS),
and never one with a URL in it: the services refuse it on create, edit and publish, the
admin form shows why, "Try it" does not call it, and neither does the worker for a version
saved before the list changed. The scripted provider's request log proves no call was made."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from memory.models import MemoryRecord
from memory.services.promotion import promotion_run
from memory.services.roles import POLICY_EDITOR, roles_ensure
from policies.models import ExtractionRun, Policy, PolicyVersion, PublishEvent
from policies.services import policy_version_create, policy_version_publish, policy_version_update
from tests.helpers import put_session

# Every test here runs against the scripted provider (its model is LLM_MODEL).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("llm_settings")]

SSRF = "oobabooga/http://10.0.0.7:8080/x"
ONLY_LLM_MODEL = "allowed: openai/scripted (LLM_MODEL) only (LLM_ALLOWED_MODELS is empty)"
URL_REFUSED = f"model '{SSRF}' has a URL in it; name a model, and the operator's LLM_API_BASE says where it is served"


def refusal(call) -> dict:
    with pytest.raises(ValidationError) as raised:
        call()
    return raised.value.message_dict


def editor() -> Client:
    roles_ensure()
    user = User.objects.create_user("pete", is_staff=True)
    user.groups.add(user.groups.model.objects.get(name=POLICY_EDITOR))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model", ["ollama/llama3.1", "bedrock/anthropic.claude-3", "sagemaker/endpoint", "vertex_ai/gemini-pro"]
)
def test_by_default_only_llm_model_is_allowed(policy, model):
    assert refusal(lambda: policy_version_create(policy=policy, strategy="discrete", model=model, actor="t")) == {
        "model": [f"model '{model}' is not allowed; {ONLY_LLM_MODEL}"]
    }
    assert PolicyVersion.objects.count() == 0
    for allowed in ("", "openai/scripted"):  # empty means LLM_MODEL
        policy_version_create(policy=policy, strategy="discrete", model=allowed, actor="t")
    assert PolicyVersion.objects.count() == 2


def test_a_model_with_a_url_is_refused_whatever_the_patterns_allow(policy, settings):
    settings.LLM_ALLOWED_MODELS = ["oobabooga/*", "openai/*"]
    for model in (SSRF, "openai///10.0.0.7", "oobabooga/https://internal"):
        message = refusal(lambda m=model: policy_version_create(policy=policy, strategy="discrete", model=m, actor="t"))
        assert message == {"model": [URL_REFUSED.replace(SSRF, model)]}
    assert refusal(
        lambda: policy_version_create(policy=policy, strategy="discrete", model="openai/a b", actor="t")
    ) == {"model": ["model 'openai/a b' is not a model name: use letters, digits and . _ : @ / + - only"]}
    assert PolicyVersion.objects.count() == 0
    version = policy_version_create(policy=policy, strategy="discrete", model="openai/gpt-4o-mini", actor="t")
    assert version.model == "openai/gpt-4o-mini"


def test_an_exact_entry_is_the_operators_choice_and_a_pattern_matches_its_provider_only(policy, settings):
    settings.LLM_ALLOWED_MODELS = ["anthropic/claude-3-5-haiku-20241022", "openai/*"]
    for model in ("anthropic/claude-3-5-haiku-20241022", "openai/gpt-4o"):
        policy_version_create(policy=policy, strategy="discrete", model=model, actor="t")
    message = refusal(lambda: policy_version_create(policy=policy, strategy="discrete", model="anthropic/x", actor="t"))
    assert message == {
        "model": [
            "model 'anthropic/x' is not allowed; allowed: openai/scripted (LLM_MODEL), "
            "anthropic/claude-3-5-haiku-20241022, openai/* (LLM_ALLOWED_MODELS)"
        ]
    }
    assert PolicyVersion.objects.count() == 2


def test_an_edit_to_a_refused_model_changes_nothing(policy):
    version = policy_version_create(policy=policy, strategy="discrete", actor="t")
    assert refusal(lambda: policy_version_update(version=version, data={"model": SSRF})) == {"model": [URL_REFUSED]}
    assert PolicyVersion.objects.get().model == ""


def test_a_version_whose_model_is_no_longer_allowed_is_not_published(policy, settings):
    settings.LLM_ALLOWED_MODELS = ["openai/*"]
    first = policy_version_create(policy=policy, strategy="discrete", actor="t")
    second = policy_version_create(policy=policy, strategy="discrete", model="openai/other", actor="t")
    policy_version_publish(version=first, actor="t")
    settings.LLM_ALLOWED_MODELS = []

    assert refusal(lambda: policy_version_publish(version=second, actor="t")) == {
        "model": [f"editorial v2 (discrete) cannot be published: model 'openai/other' is not allowed; {ONLY_LLM_MODEL}"]
    }
    policy.refresh_from_db()
    assert policy.published_version_id == first.pk
    assert PublishEvent.objects.count() == 1


def test_a_policy_editor_sees_why_the_form_refuses_the_model_and_nothing_is_saved(policy):
    form = {"policy": policy.pk, "strategy": "discrete", "prompt_template": "", "model": SSRF, "params": "{}"}
    response = editor().post("/admin/policies/policyversion/add/", {**form, "review_mode": "approved"})
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        '<ul class="errorlist" id="id_model_error"><li>model &#x27;oobabooga/http://10.0.0.7:8080/x&#x27; has a URL '
        "in it; name a model, and the operator&#x27;s LLM_API_BASE says where it is served</li></ul>"
    ) in html
    assert PolicyVersion.objects.count() == 0


def test_the_publish_button_says_why_and_publishes_nothing(policy, settings, admin_client):
    settings.LLM_ALLOWED_MODELS = ["openai/*"]
    version = policy_version_create(policy=policy, strategy="discrete", model="openai/other", actor="t")
    settings.LLM_ALLOWED_MODELS = []
    response = admin_client.post(f"/admin/policies/policyversion/{version.pk}/publish/", follow=True)
    assert response.status_code == 200
    assert (
        "Not published: editorial v1 (discrete) cannot be published: model &#x27;openai/other&#x27; is not allowed"
    ) in response.content.decode()
    assert (Policy.objects.get().published_version_id, PublishEvent.objects.count()) == (None, 0)


def test_try_it_does_not_call_a_model_no_longer_allowed(policy, settings, admin_client, llm_server):
    settings.LLM_ALLOWED_MODELS = ["openai/*"]
    version = policy_version_create(policy=policy, strategy="discrete", model="openai/other", actor="t")
    settings.LLM_ALLOWED_MODELS = []
    url = f"/admin/policies/policyversion/{version.pk}/try/"

    html = admin_client.get(url).content.decode()
    assert (
        '<p class="errornote" id="try-it-model-refused">This version cannot be tried: model &#x27;openai/other&#x27; '
        f"is not allowed; {ONLY_LLM_MODEL}.</p>"
    ) in html
    assert 'id="try-it-form"' not in html
    posted = admin_client.post(url, {"conversation": "user: I live in Lisbon."}).content.decode()
    assert 'id="try-it-memories"' not in posted and 'id="try-it-error"' not in posted
    assert llm_server.requests == []


@pytest.mark.django_db(transaction=True)
def test_the_worker_fails_the_run_plainly_and_calls_nothing_for_a_model_no_longer_allowed(
    client, llm_settings, llm_server, publish_policy
):
    llm_settings.LLM_ALLOWED_MODELS = ["openai/*"]
    publish_policy("discrete", model="openai/other")
    llm_settings.LLM_ALLOWED_MODELS = []
    put_session(client, "s-1", [{"id": "m1", "role": "user", "content": "I live in Lisbon."}], namespace="ns")

    run = promotion_run(namespace="ns", user_id=None, session_id="s-1")

    assert (run.status, run.failure, run.attempt) == (ExtractionRun.Status.FAILED, ExtractionRun.Failure.REFUSED, 1)
    assert run.error == (
        f"attempt 1, not retryable: LLMModelRefusedError: model 'openai/other' is not allowed; {ONLY_LLM_MODEL}"
    )
    assert llm_server.requests == []
    assert MemoryRecord.objects.count() == 0

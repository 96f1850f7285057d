"""Policy, version and extraction-run admins: who may reach them, versions saved through
the services and frozen once used, and runs leading to what they produced."""

import re

import pytest
from django.contrib.auth.models import User

from memory.models import MemoryRecord, SourceMessage
from memory.services.promotion import promotion_run
from memory.services.roles import POLICY_EDITOR, REVIEWER, roles_ensure
from policies.models import ExtractionRun, Policy, PolicyVersion
from tests.helpers import put_session

pytestmark = pytest.mark.django_db(transaction=True)

POLICY_PAGES = (
    "/admin/policies/policy/",
    "/admin/policies/policy/add/",
    "/admin/policies/policyversion/",
    "/admin/policies/policyversion/add/",
)
TURNS = [{"id": f"m{i}", "role": "user", "content": f"turn number {i}"} for i in range(3)]


def login(client, username: str, group: str | None = None, **flags):
    roles_ensure()
    user = User.objects.create_user(username, is_staff=True, **flags)
    if group:
        user.groups.add(user.groups.model.objects.get(name=group))
    client.force_login(user)
    return client


@pytest.fixture
def run(client, settings, publish_policy) -> ExtractionRun:
    settings.LLM_MODEL = ""
    publish_policy("messages", review_mode="pending")
    put_session(client, "s-1", TURNS, namespace="n", user_id="u")
    return promotion_run(namespace="n", user_id="u", session_id="s-1")


@pytest.mark.parametrize("path", POLICY_PAGES)
def test_a_reviewer_gets_403_on_policy_pages(client, path):
    assert login(client, "rita", REVIEWER).get(path).status_code == 403


def test_a_reviewer_cannot_open_or_change_a_version(client, publish_policy):
    version = publish_policy("discrete")
    login(client, "rita", REVIEWER)
    url = f"/admin/policies/policyversion/{version.pk}/change/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"strategy": "summary"}).status_code == 403
    assert PolicyVersion.objects.get(pk=version.pk).strategy == "discrete"


def test_a_reviewer_may_see_runs_but_not_change_them(client, run):
    login(client, "rita", REVIEWER)
    assert client.get("/admin/policies/extractionrun/").status_code == 200
    assert client.get(f"/admin/policies/extractionrun/{run.pk}/change/").status_code == 200
    assert client.post(f"/admin/policies/extractionrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ExtractionRun.objects.filter(pk=run.pk).exists()


@pytest.mark.parametrize("path", POLICY_PAGES)
def test_a_policy_editor_reaches_policy_pages(client, path):
    assert login(client, "pete", POLICY_EDITOR).get(path).status_code == 200


def test_a_policy_editor_also_reviews(client):
    login(client, "pete", POLICY_EDITOR)
    assert client.get("/admin/memory/memoryrecord/review/").status_code == 200


def test_a_new_version_is_numbered_by_the_service(client, publish_policy):
    first = publish_policy("messages")
    login(client, "pete", POLICY_EDITOR)
    form = {"policy": first.policy_id, "strategy": "summary", "prompt_template": "", "model": "", "params": "{}"}
    response = client.post("/admin/policies/policyversion/add/", {**form, "review_mode": "pending"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    created = PolicyVersion.objects.exclude(pk=first.pk).get()
    assert (created.number, created.strategy, created.review_mode) == (first.number + 1, "summary", "pending")


def test_bad_params_and_a_custom_strategy_without_a_template_are_form_errors(client, publish_policy):
    policy = publish_policy("messages").policy_id
    login(client, "pete", POLICY_EDITOR)
    base = {"policy": policy, "prompt_template": "", "model": "", "review_mode": "approved"}
    bad_params = client.post(
        "/admin/policies/policyversion/add/", {**base, "strategy": "summary", "params": '{"x": 1}'}
    )
    assert bad_params.status_code == 200 and "unknown param" in bad_params.content.decode()
    no_template = client.post("/admin/policies/policyversion/add/", {**base, "strategy": "custom", "params": "{}"})
    assert no_template.status_code == 200 and "needs a prompt template" in no_template.content.decode()
    assert PolicyVersion.objects.count() == 1


def test_an_unused_version_is_edited_through_the_service(client, settings, publish_policy):
    settings.LLM_ALLOWED_MODELS = ["gpt-x"]
    version = publish_policy("summary")
    login(client, "pete", POLICY_EDITOR)
    form = {"strategy": "summary", "prompt_template": "", "model": "gpt-x", "params": "{}", "review_mode": "pending"}
    response = client.post(f"/admin/policies/policyversion/{version.pk}/change/", form)
    assert response.status_code == 302
    version.refresh_from_db()
    assert (version.model, version.review_mode) == ("gpt-x", "pending")


def test_a_used_version_is_read_only(client, run):
    version = run.policy_version
    login(client, "pete", POLICY_EDITOR)
    url = f"/admin/policies/policyversion/{version.pk}/change/"
    html = client.get(url).content.decode()
    assert "can no longer change" in html
    assert 'name="strategy"' not in html and 'name="model"' not in html
    client.post(url, {"strategy": "summary", "model": "gpt-x", "params": "{}", "review_mode": "approved"})
    version.refresh_from_db()
    assert (version.strategy, version.model) == ("messages", "")


def test_publish_action_publishes_one_version(client, publish_policy):
    first = publish_policy("messages")
    second = publish_policy("summary")
    login(client, "pete", POLICY_EDITOR)
    client.post("/admin/policies/policyversion/", {"action": "publish_version", "_selected_action": [first.pk]})
    assert Policy.objects.get().published_version_id == first.pk
    client.post(
        "/admin/policies/policyversion/", {"action": "publish_version", "_selected_action": [first.pk, second.pk]}
    )
    assert Policy.objects.get().published_version_id == first.pk  # two at once: refused


def test_a_run_links_to_its_memories_its_turns_and_its_version(client, run):
    login(client, "root", is_superuser=True)
    html = client.get(f"/admin/policies/extractionrun/{run.pk}/change/").content.decode()

    memories = re.search(r'href="([^"]+)" id="run-memories"', html).group(1).replace("&amp;", "&")
    listed = client.get(memories).content.decode()
    ids = re.findall(r'name="_selected_action" value="([^"]+)"', listed)
    assert sorted(ids) == sorted(MemoryRecord.objects.filter(extraction_run=run).values_list("id", flat=True))
    assert len(ids) == 3

    turns = re.search(r'href="([^"]+)" id="run-source-messages"', html).group(1).replace("&amp;", "&")
    SourceMessage.objects.create(
        namespace="n", session_id="other", message_id="x", seq=1, role="user", content="-", created_at=run.started_at
    )
    shown = client.get(turns).context["cl"].result_list
    assert [(m.session_id, m.message_id) for m in shown] == [("s-1", "m0"), ("s-1", "m1"), ("s-1", "m2")]

    assert f'href="/admin/policies/policyversion/{run.policy_version_id}/change/" id="run-policy-version"' in html


def test_the_status_filter_lists_failed_first_and_the_error_is_readable(client, run):
    ExtractionRun.objects.create(
        session_id="s-2", strategy="discrete", status="failed", error="attempt 3 of at most 3: <Timeout>\nline two"
    )
    login(client, "root", is_superuser=True)
    listing = client.get("/admin/policies/extractionrun/").content.decode()
    filter_links = re.findall(r'href="\?status=(\w+)"', listing)
    assert filter_links == ["failed", "running", "skipped", "succeeded"]
    failed = client.get("/admin/policies/extractionrun/?status=failed")
    assert [r.session_id for r in failed.context["cl"].result_list] == ["s-2"]
    failed_run = ExtractionRun.objects.get(session_id="s-2")
    detail = client.get(f"/admin/policies/extractionrun/{failed_run.pk}/change/").content.decode()
    assert "<pre style='white-space: pre-wrap'>attempt 3 of at most 3: &lt;Timeout&gt;\nline two</pre>" in detail

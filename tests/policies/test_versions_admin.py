"""The policy editor in the admin, through Django's test client: a policy's page, a new
version from an existing one, publish and roll back (POST, CSRF, permission), the diff
of two versions, and a used version frozen."""

import json
import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from memory.services.roles import POLICY_EDITOR, REVIEWER, roles_ensure
from policies.models import ExtractionRun, Policy, PolicyVersion, PublishEvent
from policies.services import policy_version_create, policy_version_publish
from policies.strategies import PARAMS

pytestmark = pytest.mark.django_db

CUSTOM = "Extract facts about food.\nOne per memory.\nThe turns:\n{{ turns }}"


@pytest.fixture
def versions(policy, settings):
    """v1 (discrete, created and published by ann) and v2 (custom, by bob, unpublished)."""
    settings.LLM_ALLOWED_MODELS = ["openai/*"]
    v1 = policy_version_create(policy=policy, strategy="discrete", actor="admin:ann")
    v2 = policy_version_create(
        policy=policy,
        strategy="custom",
        prompt_template=CUSTOM,
        model="openai/gpt-4o-mini",
        params={"temperature": 0.4, "max_memories": 5},
        review_mode="pending",
        actor="admin:bob",
    )
    policy_version_publish(version=v1, actor="admin:ann")
    return v1, v2


def staff(username: str, group: str | None = None, permissions: tuple[str, ...] = (), **flags) -> Client:
    roles_ensure()
    user = User.objects.create_user(username, is_staff=True, **flags)
    if group:
        user.groups.add(user.groups.model.objects.get(name=group))
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="policies", codename=codename))
    client = Client()
    client.force_login(user)
    return client


def tag(html: str, element_id: str) -> str:
    """The opening tag of the element with this id."""
    match = re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', html)
    assert match, f"no element #{element_id}"
    return match.group(0)


def text(fragment: str) -> str:
    fragment = re.sub(r"<br>", " | ", fragment)
    return " ".join(unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def table(html: str, table_id: str) -> list[list[str]]:
    """The text of the cells of each body row of table#table_id."""
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [
        [text(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def events(policy) -> list[tuple]:
    rows = PublishEvent.objects.filter(policy=policy).order_by("created_at", "id")
    return [(e.kind, e.from_version.number if e.from_version else None, e.to_version.number, e.actor) for e in rows]


def minute(actor: str) -> str:
    return f"{PublishEvent.objects.get(actor=actor).created_at:%Y-%m-%d %H:%M}"


def test_the_policy_page_lists_versions_newest_first_with_creators_publishers_and_history(admin_client, versions):
    v1, v2 = versions
    policy_version_publish(version=v2, actor="admin:cat")
    html = admin_client.get(f"/admin/policies/policy/{v1.policy_id}/change/").content.decode()
    rows = [row[:4] + row[5:8] for row in table(html, "policy-versions")]
    assert rows == [
        [
            "v2 (published)",
            "Custom template",
            "openai/gpt-4o-mini",
            "New memories wait for review",
            "admin:bob",
            f"admin:cat (publish, {minute('admin:cat')})",
            "no",
        ],
        [
            "v1",
            "Discrete facts and events",
            "(LLM_MODEL)",
            "New memories start approved",
            "admin:ann",
            f"admin:ann (publish, {minute('admin:ann')})",
            "no",
        ],
    ]
    assert [row[1:] for row in table(html, "publish-history")] == [
        ["admin:cat", "publish", "v1", "v2"],
        ["admin:ann", "publish", "—", "v1"],
    ]
    assert "Roll back to v1" in html and "disabled" not in tag(html, "rollback-policy")
    assert 'id="publish-version-1"' in html and 'id="publish-version-2"' not in html  # v2 is published


def test_publish_then_roll_back_through_the_buttons(admin_client, versions):
    v1, v2 = versions
    page = admin_client.get(f"/admin/policies/policyversion/{v2.pk}/change/").content.decode()
    assert tag(page, "publish-version")
    action = re.search(r'<form method="post" action="([^"]+)" id="publish-version-form"', page).group(1)
    response = admin_client.post(action)
    assert response.status_code == 302 and response.url == f"/admin/policies/policy/{v1.policy_id}/change/"
    assert Policy.objects.get().published_version_id == v2.pk

    response = admin_client.post(f"/admin/policies/policy/{v1.policy_id}/rollback/", follow=True)
    assert "Rolled back: editorial publishes v1 again." in response.content.decode()
    assert Policy.objects.get().published_version_id == v1.pk
    assert events(v1.policy) == [
        ("publish", None, 1, "admin:ann"),
        ("publish", 1, 2, "admin:admin"),
        ("rollback", 2, 1, "admin:admin"),
    ]


def test_rolling_back_with_nothing_earlier_says_so_and_changes_nothing(admin_client, policy):
    only = policy_version_create(policy=policy, strategy="messages", actor="t")
    policy_version_publish(version=only, actor="admin:ann")
    html = admin_client.get(f"/admin/policies/policy/{policy.pk}/change/").content.decode()
    assert "disabled" in tag(html, "rollback-policy")
    response = admin_client.post(f"/admin/policies/policy/{policy.pk}/rollback/", follow=True)
    assert "Not rolled back: editorial has no earlier published version to roll back to." in response.content.decode()
    assert events(policy) == [("publish", None, 1, "admin:ann")]


def test_publishing_the_published_version_records_nothing(admin_client, versions):
    v1, _ = versions
    response = admin_client.post(f"/admin/policies/policyversion/{v1.pk}/publish/", follow=True)
    assert "is already published; nothing changed." in response.content.decode()
    assert PublishEvent.objects.count() == 1


def test_publish_and_rollback_need_post_and_a_csrf_token(versions):
    v1, v2 = versions
    roles_ensure()
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root"))
    assert client.get(f"/admin/policies/policyversion/{v2.pk}/publish/").status_code == 405
    assert client.post(f"/admin/policies/policyversion/{v2.pk}/publish/").status_code == 403
    assert client.post(f"/admin/policies/policy/{v1.policy_id}/rollback/").status_code == 403
    assert (Policy.objects.get().published_version_id, PublishEvent.objects.count()) == (v1.pk, 1)


@pytest.mark.parametrize(
    "client_of",
    [
        lambda: staff("rita", REVIEWER),
        lambda: staff("vic", permissions=("view_policy", "view_policyversion", "change_policyversion")),
    ],
    ids=["reviewer", "without-change_policy"],
)
def test_publish_and_rollback_need_the_change_policy_permission(versions, client_of):
    v1, v2 = versions
    policy_version_publish(version=v2, actor="admin:ann")
    client = client_of()
    assert client.post(f"/admin/policies/policyversion/{v1.pk}/publish/").status_code == 403
    assert client.post(f"/admin/policies/policy/{v1.policy_id}/rollback/").status_code == 403
    assert (Policy.objects.get().published_version_id, PublishEvent.objects.count()) == (v2.pk, 2)


def test_a_policy_editor_may_publish(versions):
    _, v2 = versions
    response = staff("pete", POLICY_EDITOR).post(f"/admin/policies/policyversion/{v2.pk}/publish/")
    assert response.status_code == 302
    assert events(v2.policy)[-1] == ("publish", 1, 2, "admin:pete")


def test_new_version_from_this_one_is_prefilled_and_documented(admin_client, versions):
    _, v2 = versions
    page = admin_client.get(f"/admin/policies/policyversion/{v2.pk}/change/").content.decode()
    link = re.search(r'<a href="([^"]+)" id="new-version-from"', page).group(1)
    html = admin_client.get(link).content.decode()
    form = admin_client.get(link).context["form"]
    assert {name: form[name].value() for name in ("strategy", "prompt_template", "model", "review_mode")} == {
        "strategy": "custom",
        "prompt_template": CUSTOM,
        "model": "openai/gpt-4o-mini",
        "review_mode": "pending",
    }
    assert json.loads(form["params"].value()) == {"temperature": 0.4, "max_memories": 5}
    assert f">\n{CUSTOM}</textarea>" in html
    assert '<option value="custom" selected>' in html and '<option value="pending" selected>' in html
    help_text = text(html)
    for name, (default, low, high) in PARAMS.items():
        assert f"{name}:" in help_text and f"{low} to {high}, default {default}" in help_text
    max_memories = "max_memories: memories kept from one run; items past it are dropped and counted"
    assert f"{max_memories}; 1 to 500, default 50 (summary 1)" in help_text
    for variable in ("{{ turns }}", "{{ earlier_turns }}", "{{ now }}", "{{ known_memories }}"):
        assert variable in help_text
    assert "A LiteLLM model name" in help_text and "Empty means the LLM_MODEL setting" in help_text


def test_saving_a_new_version_from_one_creates_the_next_number(admin_client, versions):
    _, v2 = versions
    form = {
        "strategy": "custom",
        "prompt_template": CUSTOM + "\nBe brief.",
        "model": "",
        "params": '{"temperature": 0.2}',
        "review_mode": "approved",
    }
    response = admin_client.post(f"/admin/policies/policyversion/{v2.pk}/new-version/", form)
    created = PolicyVersion.objects.get(number=3)
    assert response.status_code == 302 and response.url == f"/admin/policies/policyversion/{created.pk}/change/"
    assert (created.policy_id, created.strategy, created.prompt_template, created.model) == (
        v2.policy_id,
        "custom",
        CUSTOM + "\nBe brief.",
        "",
    )
    assert (created.params, created.review_mode, created.created_by) == (
        {"temperature": 0.2},
        "approved",
        "admin:admin",
    )
    v2.refresh_from_db()
    assert (v2.prompt_template, v2.number) == (CUSTOM, 2)  # the source is untouched
    assert Policy.objects.get().published_version.number == 1  # nothing published


@pytest.mark.parametrize(
    "template, problem",
    [
        (
            "Facts about {{ user }}",
            "unknown variable &#x27;user&#x27;; known: turns, earlier_turns, now, known_memories",
        ),
        ("{{ turns.__class__ }}", "attribute access &#x27;turns.__class__&#x27; is not allowed"),
        ("{{ turns[0] }}", "item access &#x27;turns[0]&#x27; is not allowed"),
        ("{{ turns|upper }}", "filter &#x27;upper&#x27; is not allowed"),
        ("{{ lipsum() }}", "call &#x27;lipsum(...)&#x27; is not allowed"),
        ("x\n{% if turns %}", "syntax error on line 2"),
    ],
)
@pytest.mark.parametrize("page", ["new-from", "add"])
def test_a_bad_template_is_a_form_error_naming_the_problem(admin_client, versions, template, problem, page):
    _, v2 = versions
    form = {"strategy": "custom", "prompt_template": template, "model": "", "params": "{}", "review_mode": "approved"}
    if page == "add":
        response = admin_client.post("/admin/policies/policyversion/add/", {**form, "policy": v2.policy_id})
    else:
        response = admin_client.post(f"/admin/policies/policyversion/{v2.pk}/new-version/", form)
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert PolicyVersion.objects.count() == 2


def test_the_diff_shows_the_prompts_side_by_side_and_every_setting(admin_client, versions):
    v1, v2 = versions
    page = admin_client.get(f"/admin/policies/policyversion/{v2.pk}/change/").content.decode()
    link = unescape(re.search(r'<a href="([^"]+)" id="diff-with-published"', page).group(1))
    assert link == f"/admin/policies/policy/{v1.policy_id}/diff/?a={v1.pk}&b={v2.pk}"
    html = admin_client.get(link).content.decode()
    assert table(html, "version-diff-fields") == [
        ["strategy", "Discrete facts and events", "Custom template"],
        ["model", "(LLM_MODEL)", "openai/gpt-4o-mini"],
        ["review mode", "New memories start approved", "New memories wait for review"],
        ["params.temperature", "0.0 (default)", "0.4"],
        ["params.max_tokens", "2000 (default)", "2000 (default)"],
        ["params.max_memories", "50 (default)", "5"],
        ["params.max_memory_chars", "1000 (default)", "1000 (default)"],
        ["params.context_messages", "20 (default)", "20 (default)"],
    ]
    changed = re.findall(r'<tr data-field="([^"]+)" class="changed">', html)
    assert changed == ["strategy", "model", "review mode", "params.temperature", "params.max_memories"]
    diff = re.search(r'<div id="version-diff">(.*?)</div>', html, re.S).group(1)
    assert '<table class="diff"' in diff and "v1" in diff and "v2" in diff
    assert "The&nbsp;turns:" in diff and "{{&nbsp;turns&nbsp;}}" in diff  # v2's template, right side
    assert "You&nbsp;extract&nbsp;durable&nbsp;memories" in diff  # v1's built-in instructions, left side
    assert 'id="version-diff-same"' not in html


def test_the_policy_page_picks_any_two_versions_to_diff(admin_client, versions):
    v1, v2 = versions
    html = admin_client.get(f"/admin/policies/policy/{v1.policy_id}/change/").content.decode()
    assert re.search(
        rf'<form method="get" action="/admin/policies/policy/{v1.policy_id}/diff/" id="diff-picker">', html
    )
    same = admin_client.get(f"/admin/policies/policy/{v1.policy_id}/diff/", {"a": v2.pk, "b": v2.pk}).content.decode()
    assert 'id="version-diff-same"' in same
    assert re.findall(r'<tr data-field="[^"]+" class="changed">', same) == []


def test_a_version_of_another_policy_is_not_diffed(admin_client, versions):
    v1, v2 = versions
    stranger = policy_version_create(policy=Policy.objects.create(name="other"), strategy="summary", actor="t")
    response = admin_client.get(f"/admin/policies/policy/{v1.policy_id}/diff/", {"a": stranger.pk, "b": v2.pk})
    html = response.content.decode()
    assert "Only versions of editorial can be compared" in html
    assert table(html, "version-diff-fields")[0] == ["strategy", "Discrete facts and events", "Custom template"]


def test_a_used_version_is_read_only_but_can_be_copied(admin_client, versions):
    _, v2 = versions
    ExtractionRun.objects.create(session_id="s", policy_version=v2, strategy=v2.strategy)
    url = f"/admin/policies/policyversion/{v2.pk}/change/"
    html = admin_client.get(url).content.decode()
    assert "can no longer change" in html
    assert 'name="prompt_template"' not in html and 'name="model"' not in html
    assert tag(html, "new-version-from") and tag(html, "try-it")
    admin_client.post(url, {"strategy": "summary", "prompt_template": "", "model": "", "params": "{}"})
    v2.refresh_from_db()
    assert (v2.strategy, v2.prompt_template) == ("custom", CUSTOM)
    assert admin_client.post(f"/admin/policies/policyversion/{v2.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PolicyVersion.objects.filter(pk=v2.pk).exists()

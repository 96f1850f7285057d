"""API keys in the admin (memory.admin.keys): superusers create (the key shown once), list
and revoke; reviewers and policy editors cannot manage keys; admin logins are throttled
by django-axes."""

import re

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.test import Client

from memory.models import ApiKey
from memory.services.api_keys import api_key_create
from memory.services.roles import POLICY_EDITOR, REVIEWER, roles_ensure

pytestmark = pytest.mark.django_db

KEYS = "/admin/memory/apikey/"


def staff(username: str, group: str | None = None, **flags) -> Client:
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True, **flags)
    if group:
        roles_ensure()
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("group", [REVIEWER, POLICY_EDITOR])
@pytest.mark.parametrize("path", [KEYS, f"{KEYS}add/"])
def test_reviewers_and_policy_editors_cannot_reach_the_keys(group, path):
    api_key_create(name="k", tenant="acme", namespaces=["ns"], actor="test")
    response = staff("rita", group).get(path)
    assert response.status_code == 403
    index = staff("rita2", group).get("/admin/").content.decode()
    assert "API keys" not in index


def test_a_superuser_creates_a_key_and_sees_it_once():
    root = staff("root", is_superuser=True)
    response = root.post(
        f"{KEYS}add/",
        {"name": "bot", "tenant": "acme", "namespaces": "support, sales", "user_ids": "", "permissions": ["read"]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key = ApiKey.objects.get()
    (message,) = [str(m) for m in get_messages(response.wsgi_request) if "shown once" in str(m)]
    secret = re.search(r"is: (\S+) \(shown once", message).group(1)
    assert key.is_valid(secret) and key.created_by == "admin:root"
    assert (key.tenant, key.namespaces, key.permissions) == ("acme", ["sales", "support"], ("read",))
    assert secret in root.get(KEYS).content.decode()  # the page after the redirect shows it, once
    page = root.get(f"{KEYS}{key.pk}/change/").content.decode()
    assert key.prefix in page and secret not in page
    assert secret not in root.get(KEYS).content.decode()


def test_the_form_refuses_a_namespace_of_another_tenant():
    api_key_create(name="k", tenant="acme", namespaces=["support"], actor="test")
    root = staff("root", is_superuser=True)
    response = root.post(
        f"{KEYS}add/", {"name": "x", "tenant": "globex", "namespaces": "support", "permissions": ["read"]}
    )
    assert response.status_code == 200
    assert "Namespaces support belong to another tenant." in response.content.decode()
    assert ApiKey.objects.count() == 1


def test_a_superuser_revokes_keys_with_the_action():
    key, _ = api_key_create(name="k", tenant="acme", namespaces=["ns"], actor="test")
    root = staff("root", is_superuser=True)
    response = root.post(KEYS, {"action": "revoke", "_selected_action": [key.pk]})
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.revoked, key.revoked_by) == (True, "admin:root")


def test_admin_logins_lock_out_after_the_failure_limit(settings):
    User.objects.create_user("root", "root@example.com", "right", is_staff=True, is_superuser=True)
    client = Client()
    statuses = [
        client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the form again, then locked
    locked = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "right"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session

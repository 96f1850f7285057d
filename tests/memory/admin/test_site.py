"""The admin site itself (issue 23): the product's name from ADMIN_SITE_HEADER, the
navigation grouped into Memory, Policies, Access and Operations (superusers only), the
same groups in the sidebar, group pages, Django's app pages unchanged, and the
third-party tables refused to everyone else."""

import re
from html import unescape

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client

from memory.admin.site import GROUPS, MemoryAdminSite
from memory.services.roles import POLICY_EDITOR, REVIEWER
from tests.memory.admin.conftest import staff_client

pytestmark = pytest.mark.django_db(transaction=True)

RECORDS = "/admin/memory/memoryrecord/"
MEMORY_FOR_ROLES = ["Memory records", "Review desk", "Memory history", "Source messages"]
REVIEWER_GROUPS = [("Memory", MEMORY_FOR_ROLES), ("Policies", ["Extraction runs"])]
POLICY_EDITOR_GROUPS = [
    ("Memory", MEMORY_FOR_ROLES),
    (
        "Policies",
        ["Policies", "Policy versions", "Experiments", "Experiment events", "Policy evaluations", "Extraction runs"],
    ),
]
SUPERUSER_GROUPS = [
    (
        "Memory",
        [
            "Memory records",
            "Review desk",
            "Memory history",
            "Erasure receipts",
            "Source messages",
            "Summary views",
            "Summary partitions",
            "Summary view tasks",
        ],
    ),
    (
        "Policies",
        [
            "Policies",
            "Policy versions",
            "Experiments",
            "Experiment events",
            "Policy evaluations",
            "Extraction runs",
            "Summary runs",
        ],
    ),
    ("Access", ["API keys", "Users", "Groups"]),
    ("Operations", ["Access attempts", "Access failures", "Access logs", "Tasks"]),
]
OPERATIONS_URLS = [
    "/admin/axes/accessattempt/",
    "/admin/axes/accessfailurelog/",
    "/admin/axes/accesslog/",
    "/admin/django_dramatiq/task/",
]


def names(app_list) -> list[tuple[str, list[str]]]:
    return [(app["name"], [model["name"] for model in app["models"]]) for app in app_list]


def sidebar(html: str) -> list[tuple[str, list[str]]]:
    """The groups and their rows as the sidebar (nav_sidebar.html) renders them."""
    nav = re.search(r'<nav class="sticky" id="nav-sidebar".*?</nav>', html, re.S).group(0)
    groups = []
    for block in nav.split('<div class="app-')[1:]:
        caption = re.search(r'class="section"[^>]*>([^<]+)</a>', block).group(1)
        rows = re.findall(r'<th scope="row"[^>]*>\s*<a href="[^"]+"[^>]*>([^<]+)</a>', block)
        groups.append((unescape(caption), [unescape(row) for row in rows]))
    return groups


@pytest.fixture
def role_client(request, client):
    role = request.param
    if role == "superuser":
        return staff_client(client, "root", is_superuser=True), SUPERUSER_GROUPS
    return staff_client(client, "rita", role), {REVIEWER: REVIEWER_GROUPS, POLICY_EDITOR: POLICY_EDITOR_GROUPS}[role]


def test_django_makes_our_site_its_default_with_every_admin_on_it():
    assert isinstance(admin.site._wrapped, MemoryAdminSite)  # admin.site is Django's lazy proxy
    assert len(admin.site._registry) == 21


def test_every_registered_model_has_a_deliberate_group():
    registered = {f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry}
    placed = [key for group in GROUPS for key in group.models]
    assert len(placed) == len(set(placed)) == 21
    assert set(placed) == registered


def test_the_header_and_titles_name_the_product_by_default(client):
    page = client.get("/admin/login/").content.decode()
    assert '<div id="site-name"><a href="/admin/">Agent memory server</a></div>' in page
    assert "<title>Log in | Agent memory server</title>" in page
    assert "Django" not in page


def test_the_header_comes_from_the_setting(client, settings):
    settings.ADMIN_SITE_HEADER = "Acme recall"
    page = staff_client(client, "rita", REVIEWER).get(RECORDS).content.decode()
    assert '<div id="site-name"><a href="/admin/">Acme recall</a></div>' in page
    assert "<title>Memories | Acme recall</title>" in page
    assert "Agent memory server" not in page and "Django administration" not in page


def test_the_index_is_titled_what_needs_attention(superuser_client):
    response = superuser_client.get("/admin/")
    assert response.status_code == 200
    assert response.context["title"] == "What needs attention"
    assert names(response.context["app_list"]) == SUPERUSER_GROUPS


@pytest.mark.parametrize("role_client", [REVIEWER, POLICY_EDITOR, "superuser"], indirect=True)
def test_each_role_sees_exactly_its_groups_in_the_index_and_the_sidebar(role_client):
    client, expected = role_client
    assert names(client.get("/admin/").context["app_list"]) == expected
    response = client.get(RECORDS)
    assert names(response.context["available_apps"]) == expected
    assert sidebar(response.content.decode()) == expected


@pytest.mark.parametrize("role", [REVIEWER, POLICY_EDITOR])
def test_operations_are_neither_listed_nor_reachable_for_other_roles(client, role):
    staff = staff_client(client, "rita", role)
    page = staff.get(RECORDS).content.decode()
    assert "Operations" not in page and "Access attempts" not in page
    assert [staff.get(url).status_code for url in OPERATIONS_URLS] == [403, 403, 403, 403]
    assert staff.get("/admin/axes/").status_code == 404
    assert staff.get("/admin/django_dramatiq/").status_code == 404
    assert staff.get("/admin/group/operations/").status_code == 404
    assert staff.get("/admin/group/access/").status_code == 404


def test_a_superuser_reaches_every_operations_table(superuser_client):
    assert [superuser_client.get(url).status_code for url in OPERATIONS_URLS] == [200, 200, 200, 200]
    response = superuser_client.get("/admin/group/operations/")
    assert response.status_code == 200
    assert names(response.context["app_list"]) == [SUPERUSER_GROUPS[3]]


def test_a_group_page_lists_the_group_and_links_each_row(reviewer_client):
    response = reviewer_client.get("/admin/group/memory/")
    assert response.status_code == 200
    assert names(response.context["app_list"]) == [REVIEWER_GROUPS[0]]
    links = [model["admin_url"] for model in response.context["app_list"][0]["models"]]
    assert links == [RECORDS, f"{RECORDS}review/", "/admin/memory/memoryhistory/", "/admin/memory/sourcemessage/"]
    assert [reviewer_client.get(link).status_code for link in links] == [200, 200, 200, 200]
    assert reviewer_client.get("/admin/group/nothing/").status_code == 404


def test_a_user_who_may_only_view_records_gets_no_review_desk(client):
    user = User.objects.create_user("vera", "vera@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_memoryrecord"))
    client.force_login(user)
    assert names(client.get(RECORDS).context["available_apps"]) == [("Memory", ["Memory records"])]


def test_a_staff_user_without_a_role_sees_no_group(no_role_client):
    response = no_role_client.get("/admin/")
    assert response.status_code == 200
    assert response.context["app_list"] == []
    assert no_role_client.get("/admin/group/memory/").status_code == 404


def test_the_app_pages_keep_djangos_list_of_the_app(superuser_client):
    response = superuser_client.get("/admin/memory/")
    assert response.status_code == 200
    assert names(response.context["app_list"]) == [
        (
            "Memory",
            [
                "API keys",
                "Erasure receipts",
                "Memory history",
                "Memory records",
                "Source messages",
                "Summary partitions",
                "Summary view tasks",
                "Summary views",
            ],
        )
    ]
    reviewer_client = staff_client(Client(), "rita", REVIEWER)
    assert names(reviewer_client.get("/admin/policies/").context["app_list"]) == [("Policies", ["Extraction runs"])]
    assert reviewer_client.get("/admin/auth/").status_code == 404

"""The admin site itself (issue 23): named after the product, opening on what needs
attention (`home.home_context`), its navigation grouped by what a person came to do
instead of by Django app: Memory, Policies, Access, and Operations (the third-party
tables, for superusers only).

Django makes it the default site (`memoryproject.admin_config.AdminConfig`), so every
`@admin.register` and `admin.site` lands on it unchanged. The app index pages
(/admin/memory/ ...) keep Django's per-app lists; each group has a page of its own
(/admin/group/<slug>/), which its caption in the index and the sidebar links to."""

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse

from memory.admin.home import home_context


@dataclass(frozen=True)
class Group:
    slug: str
    name: str
    # "app_label.model_name", in the order the group lists them: the thing people come
    # for first, then what explains it.
    models: tuple[str, ...]
    superusers_only: bool = False


GROUPS = (
    Group(
        "memory",
        "Memory",
        (
            "memory.memoryrecord",
            "memory.memoryhistory",
            "memory.erasurereceipt",
            "memory.sourcemessage",
            "memory.summaryview",
            "memory.summarypartition",
            # A summary view's full runs, which clients poll (GET /v1/tasks/{id}); not the queue's messages.
            "memory.task",
        ),
    ),
    Group(
        "policies",
        "Policies",
        (
            "policies.policy",
            "policies.policyversion",
            "policies.experiment",
            "policies.experimentevent",
            "policies.policyevaluation",
            "policies.extractionrun",
            "policies.summaryrun",
        ),
    ),
    Group("access", "Access", ("memory.apikey", "auth.user", "auth.group")),
    Group(
        "operations",
        "Operations",
        (
            "axes.accessattempt",
            "axes.accessfailurelog",
            "axes.accesslog",
            "django_dramatiq.task",
        ),
        superusers_only=True,
    ),
)
# A model registered later without a place above still shows, at the end of its app's group.
FALLBACK_GROUP = {"memory": "memory", "policies": "policies", "auth": "access"}
OTHER_GROUP = "operations"
REVIEW_DESK = "Review desk"


def group_of(model_key: str) -> Group:
    """The group a registered model ("app_label.model_name") is listed under."""
    by_slug = {group.slug: group for group in GROUPS}
    for group in GROUPS:
        if model_key in group.models:
            return group
    return by_slug[FALLBACK_GROUP.get(model_key.split(".")[0], OTHER_GROUP)]


class MemoryAdminSite(admin.AdminSite):
    index_title = "What needs attention"

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        # Read from settings on each request (not at import), so a test can override them.
        return {
            **super().each_context(request),
            "site_header": settings.ADMIN_SITE_HEADER,
            "site_title": settings.ADMIN_SITE_HEADER,
        }

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        return super().index(request, {**home_context(request), **(extra_context or {})})

    def get_urls(self) -> list[URLResolver | URLPattern]:
        group_page = path("group/<slug:slug>/", self.admin_view(self.group_index), name="group_index")
        return [group_page, *super().get_urls()]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        """The groups the user may see, each with the models they may see; an app's own
        page (`app_label` given) keeps Django's list of that app's models."""
        if app_label is not None:
            return super().get_app_list(request, app_label)
        return self._groups(request)

    def group_index(self, request: HttpRequest, slug: str) -> TemplateResponse:
        groups = [group for group in self._groups(request) if group["slug"] == slug]
        if not groups:
            raise Http404("The requested admin page does not exist.")
        context = {
            **self.each_context(request),
            "title": groups[0]["name"],
            "subtitle": None,
            "app_list": groups,
            "app_label": groups[0]["app_label"],
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/app_index.html", context)

    def _groups(self, request: HttpRequest) -> list[dict[str, Any]]:
        rows: dict[str, list[tuple[int, dict[str, Any]]]] = {group.slug: [] for group in GROUPS}
        for app in self._build_app_dict(request).values():
            for model_dict in app["models"]:
                meta = model_dict["model"]._meta
                key = f"{meta.app_label}.{meta.model_name}"
                group = group_of(key)
                position = group.models.index(key) if key in group.models else len(group.models)
                rows[group.slug].append((position, model_dict))
                if key == "memory.memoryrecord" and model_dict["perms"].get("change"):
                    rows[group.slug].append((position, _review_desk_row(self)))
        return [
            {
                "name": group.name,
                "slug": group.slug,
                # The CSS class and element ids the templates derive from it: "app-group-memory".
                "app_label": f"group-{group.slug}",
                "app_url": reverse("admin:group_index", kwargs={"slug": group.slug}, current_app=self.name),
                "has_module_perms": True,
                "models": [row for _, row in sorted(rows[group.slug], key=lambda item: item[0])],
            }
            for group in GROUPS
            if rows[group.slug] and (request.user.is_superuser or not group.superusers_only)
        ]


def _review_desk_row(site: admin.AdminSite) -> dict[str, Any]:
    """The review desk, listed under memory records: a view of them, not a table of its own."""
    return {
        "name": REVIEW_DESK,
        "object_name": "ReviewDesk",
        "perms": {"change": True},
        "admin_url": reverse("admin:memory_memoryrecord_review", current_app=site.name),
        "add_url": None,
        "view_only": False,
    }


@functools.cache
def default_site() -> MemoryAdminSite:
    """Django's default site (`AdminConfig.default_site` names this function).

    One instance even when Django asks twice: importing this module imports the
    `memory.admin` package, whose admins register on `admin.site` while Django is still
    making it, so a second instance would lose their registrations."""
    return MemoryAdminSite()

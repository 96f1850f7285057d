"""The admin's home page: what needs attention, by role (issue 23). A stub until built."""

from typing import Any

from django.http import HttpRequest


def home_context(request: HttpRequest) -> dict[str, Any]:
    """The figures the signed-in user's roles may see, for templates/admin/index.html."""
    return {}

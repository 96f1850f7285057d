"""The browser-only middleware (sessions, CSRF, the admin's user, messages)
wrapped so that API routes pass by it.

The API authenticates every request by its Bearer credential (memory.api.auth) and keeps
no session, cookie or flash message, so loading a session, checking a CSRF cookie and
wrapping the response for those costs CPU on every call for nothing. The admin, which
is served from the same process, keeps the full stack.
"""

from inspect import iscoroutinefunction
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

# Every route under it serves token-authenticated JSON (memoryproject.urls). Not /metrics:
# a staff member's admin session may read it.
API_PREFIXES = ("/v1/",)


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIXES)


def browser_only(dotted_path: str) -> type:
    """A subclass of the middleware at `dotted_path` that API requests skip (hooks and all)."""
    base = import_string(dotted_path)
    namespace: dict[str, Any] = {"__module__": __name__, "__doc__": f"{dotted_path}, skipped on API routes."}

    def __init__(self: Any, get_response: Any) -> None:
        base.__init__(self, get_response)
        # Whether this instance serves sync requests is settled here (MiddlewareMixin marks it
        # a coroutine function or not): asking on every request cost 4 inspections each.
        self.api_passes_by = not iscoroutinefunction(self)

    def __call__(self: Any, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase
        if self.api_passes_by and _is_api(request):
            response = self.get_response(request)
        else:
            response = base.__call__(self, request)
        return response

    namespace["__init__"] = __init__
    namespace["__call__"] = __call__
    if hasattr(base, "process_view"):
        # Django collects process_view from every instance and calls it apart from __call__.
        def process_view(
            self: Any, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
        ) -> HttpResponseBase | None:
            if _is_api(request):
                return None
            response: HttpResponseBase | None = base.process_view(self, request, view_func, view_args, view_kwargs)
            return response

        namespace["process_view"] = process_view
    return type(f"BrowserOnly{base.__name__}", (base,), namespace)


SessionMiddleware = browser_only("django.contrib.sessions.middleware.SessionMiddleware")
CsrfViewMiddleware = browser_only("django.middleware.csrf.CsrfViewMiddleware")
AuthenticationMiddleware = browser_only("django.contrib.auth.middleware.AuthenticationMiddleware")
MessageMiddleware = browser_only("django.contrib.messages.middleware.MessageMiddleware")

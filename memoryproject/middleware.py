"""Per-request id and latency: the first middleware, so it times everything after it."""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from memoryproject.metrics import REQUEST_LATENCY
from memoryproject.request_context import bind_request_id, request_id_from

REQUEST_ID_HEADER = "X-Request-ID"


def _route(request: HttpRequest) -> str:
    """The URL pattern that matched (e.g. `v1/working-memory/<str:session_id>`), so each
    route is one series whatever its ids; `unmatched` for a 404 outside every pattern."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


class RequestObservabilityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]  # our own attribute on Django's request
        # Left bound after the response: Django logs a 4xx/5xx ("django.request") only
        # once every middleware has returned, and that line should carry the id too.
        # The next request on this thread binds its own.
        bind_request_id(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_LATENCY.labels(
            route=_route(request), method=request.method, status=f"{response.status_code // 100}xx"
        ).observe(time.perf_counter() - started)
        response[REQUEST_ID_HEADER] = request_id
        return response

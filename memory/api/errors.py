"""Every API error is JSON and names the field, in FastAPI's 422 shape for validation.

agent-memory-client expects the reference server's (FastAPI's) error bodies:
`{"detail": [{"loc": [...], "msg": ..., "type": ...}]}` for invalid input and
`{"detail": "..."}` otherwise.
"""

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django_redis.exceptions import ConnectionInterrupted
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from memory.services.quotas import QuotaExceeded


def validation_detail(errors: object, loc: tuple[str | int, ...] = ("body",)) -> list[dict[str, Any]]:
    """Flatten DRF's nested error structure into a list of {loc, msg, type}."""
    out: list[dict[str, Any]] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            sub = loc if key == "non_field_errors" else (*loc, key)
            out += validation_detail(value, sub)
        return out
    if isinstance(errors, list):
        if all(not isinstance(e, (dict, list)) for e in errors):
            return [{"loc": list(loc), "msg": str(e), "type": getattr(e, "code", "invalid")} for e in errors]
        for index, value in enumerate(errors):
            if value:
                out += validation_detail(value, (*loc, index))
        return out
    return [{"loc": list(loc), "msg": str(errors), "type": getattr(errors, "code", "invalid")}]


logger = logging.getLogger(__name__)

# A dependency that does not answer is the server's outage, not the caller's mistake:
# 503 with a JSON body naming it (and a Retry-After), never a 500 HTML page.
UNAVAILABLE = (
    ((redis.ConnectionError, redis.TimeoutError, ConnectionInterrupted), "redis"),
    ((OperationalError, InterfaceError), "database"),
)
RETRY_AFTER_SECONDS = "5"


def unavailable_response(exc: Exception) -> Response | None:
    """503 naming the component that is down, or None when `exc` is no outage."""
    for classes, component in UNAVAILABLE:
        if isinstance(exc, classes):
            logger.warning("%s unavailable: %s", component, exc)
            return Response(
                {
                    "detail": f"Service unavailable: {component} is not answering; retry shortly.",
                    "down": {component: f"{component} is not answering"},
                },
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"detail": validation_detail(exc.detail, getattr(exc, "loc", ("body",)))},
            status=exc.status_code if isinstance(exc, FieldConflict) else status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if isinstance(exc, exceptions.ParseError):
        return Response(
            {"detail": [{"loc": ["body"], "msg": f"Malformed JSON body: {exc.detail}", "type": "json_invalid"}]},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if isinstance(exc, QuotaExceeded):
        return quota_response(exc)
    if isinstance(exc, RequestDataTooBig):  # Django's own cap, before any serializer runs
        return Response(
            {"detail": f"Request body too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return drf_exception_handler(exc, context) or unavailable_response(exc)


def quota_response(exc: QuotaExceeded) -> Response:
    """429 naming the quota (its setting) and the numbers: the namespace is full, so the
    same write fails until something in it is deleted or expires (no Retry-After)."""
    return Response(
        {
            "detail": [
                {
                    "loc": ["body"],
                    "type": "quota_exceeded",
                    "msg": str(exc),
                    "limit": exc.limit,
                    "quota": exc.quota,
                    "used": exc.used,
                    "requested": exc.requested,
                }
            ]
        },
        status=status.HTTP_429_TOO_MANY_REQUESTS,
    )


_Located = TypeVar("_Located", bound=exceptions.APIException)


def located(error: _Located, loc: Sequence[str | int]) -> _Located:
    """`error` naming the field at `loc` (read back by exception_handler and by MCP's
    `memory.mcp.calls`)."""
    error.loc = tuple(loc)  # type: ignore[attr-defined]  # our own attribute on DRF's exception
    return error


def field_error(loc: Sequence[str | int], msg: str, code: str = "invalid") -> exceptions.ValidationError:
    """A 422 naming one field by its path, e.g. field_error(["query", "limit"], "...")."""
    error = exceptions.ValidationError({"_": [msg]})
    error.detail = [exceptions.ErrorDetail(msg, code=code)]
    return located(error, loc)


def not_found_error(detail: str, *, loc: Sequence[str | int], msg: str) -> exceptions.NotFound:
    """A 404 whose body is `{"detail": detail}` (the reference server's words); `loc` and
    `msg` name the field as a 422 does, for a caller that names arguments (MCP's tool
    errors, `memory.mcp.calls`)."""
    error = located(exceptions.NotFound(detail), loc)
    error.msg = msg  # type: ignore[attr-defined]  # our own attribute, as `loc`
    return error


class FieldConflict(exceptions.ValidationError):
    """A 409 in the 422's shape, naming the field: the request is valid but collides
    with what is stored (a session id that belongs to another user)."""

    status_code = status.HTTP_409_CONFLICT


def field_conflict(loc: Sequence[str | int], msg: str) -> FieldConflict:
    return located(FieldConflict([msg]), loc)


# Django's own 400, 404 and 500 pages are HTML; under /v1/ an agent gets JSON instead (a path
# that matches no route, e.g. a history id that is not a number, found by fuzzing).
API_PREFIX = "/v1/"


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": f"No route {request.path}"}, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": f"Bad request: {exception}"}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Internal server error; it was logged."}, status=500)
    return defaults.server_error(request)

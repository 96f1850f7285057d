"""The error responses of every operation, added to the OpenAPI schema.

drf-spectacular documents each view's success; the errors come from the shared layers
(auth, scope, rate limits, validation, errors.py's 503), so one hook declares them
for every operation, with the one body shape they all share: `{"detail": ...}`, a
message or FastAPI's list of `{loc, msg, type}`. Schema fuzzing checks responses
against this.

Views name their own error statuses with `declared`, so each operation's page lists
them beside its success; the hook adds the shared ones (401, 429, 503, ...) to every
operation.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.request import Request

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["loc", "msg", "type"],
                        "properties": {
                            "loc": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
                            "msg": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                },
            ]
        },
        "down": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
DESCRIPTIONS = {
    "401": "No credential, or one that is invalid, revoked or expired.",
    "403": "The credential lacks the permission, or names a namespace or user outside its scope.",
    "404": "No such session, record or history entry in the credential's scope.",
    "409": "The session belongs to another user_id, or the history entry cannot be undone.",
    "413": "The body is too large (WORKING_MEMORY_MAX_BODY_BYTES for a session, DATA_UPLOAD_MAX_MEMORY_SIZE else).",
    "414": "The request line is over gunicorn's limit (8190 bytes); gunicorn answers it, as HTML.",
    "422": "Invalid input: `detail` lists each field (`loc`) and what is wrong with it.",
    "429": (
        "Over the credential's rate limit (see Retry-After), or over a namespace's quota "
        "(`limit` names the setting; `used`, `requested` and `quota` the counts)."
    ),
    "503": "Redis or the database is not answering (`down` names it); retry shortly.",
}


class ErrorSerializer(serializers.Serializer[Any]):
    """The error body (its schema component, "Error", is ERROR_SCHEMA: the hook sets it)."""

    detail = serializers.JSONField()


def declared(ok: object, *statuses: int) -> dict[int, object]:
    """`extend_schema(responses=...)` of an operation: 200 with `ok`, and each error
    status in `statuses` with the shared error body."""
    errors = {status: OpenApiResponse(ErrorSerializer, description=DESCRIPTIONS[str(status)]) for status in statuses}
    return {200: ok, **errors}


AUTHENTICATED = ("401", "403", "414", "422", "429", "503")
WITH_BODY = ("post", "put", "patch")
# Answered before Django sees the request, so not in our JSON shape.
GUNICORN_HTML = {"414": {"text/html": {"schema": {"type": "string"}}}}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    if {} in operation.get("security", []):
        return ["503"]  # the unauthenticated health check
    statuses = list(AUTHENTICATED)
    if "{" in path or method == "delete":
        statuses.append("404")
    if method in WITH_BODY:
        statuses.append("413")
    if path.startswith("/v1/working-memory/{") and method == "put":
        statuses.append("409")
    if path.endswith("/undo"):
        statuses.append("409")
    return statuses


def add_error_responses(
    result: dict[str, Any], generator: object, request: Request | None, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}}
    for path, methods in result.get("paths", {}).items():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method, operation):
                content = GUNICORN_HTML.get(status, reference)
                responses.setdefault(status, {"description": DESCRIPTIONS[status], "content": content})
    return result

"""Credentials on the REST doors: `Authorization: Bearer <credential>` becomes a `Scope`.

- An **API key** (`memory.models.ApiKey`, djangorestframework-api-key): "<prefix>.<secret>",
  found by its prefix in one indexed query and checked against its SHA-512 hash.
- A **JWT** (three dot-separated parts), when JWT_JWKS_URL is set: see `memory.api.jwt_auth`.

AUTH_MODE=required (the default) refuses a request without a credential with 401;
AUTH_MODE=disabled (loopback only, see settings) lets every request act unrestricted.
What each method of a view needs (a permission, and which rate limit counts it) is the
view's `access` table, defaulting to `DEFAULT_ACCESS`.
"""

import logging
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError
from django.utils import timezone
from django_redis import get_redis_connection
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from memory import redis_keys
from memory.api import jwt_auth
from memory.api.scope import Scope, request_scope
from memory.selectors.api_keys import KnownKey
from memory.services.api_keys import api_key_lookup, api_key_mark_used

if TYPE_CHECKING:  # at run time rest_framework.views loads this module (DEFAULT_AUTHENTICATION_CLASSES)
    from drf_spectacular.openapi import AutoSchema
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# Method -> (permission needed, rate limit that counts it or None).
DEFAULT_ACCESS = {
    "GET": ("read", None),
    "POST": ("write", "writes"),
    "PUT": ("write", "writes"),
    "PATCH": ("write", "writes"),
    "DELETE": ("delete", "writes"),
}
RATE_SETTINGS = {"writes": "RATE_LIMIT_WRITES", "searches": "RATE_LIMIT_SEARCHES"}
RATE_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# last_used_at is written at most once per key in this many seconds (a cache check).
LAST_USED_EVERY_SECONDS = 60


def _access(request: "Request", view: "APIView") -> tuple[str, str | None]:
    table: dict[str, tuple[str, str | None]] = {**DEFAULT_ACCESS, **getattr(view, "access", {})}
    return table.get(request.method or "", ("read", None))  # Django types the method as optional


def key_scope(key: KnownKey) -> Scope:
    namespaces = None if "*" in key.namespaces else frozenset(key.namespaces)
    return Scope(
        tenant=key.tenant,
        namespaces=namespaces,
        user_ids=frozenset(key.user_ids) if key.user_ids else None,
        permissions=frozenset(key.permissions),
        credential=f"key-{key.prefix}",
        throttle_id=f"key-{key.prefix}",
    )


# When this process last asked the cache about a key's use: most requests ask nothing.
_noted_at: dict[str, float] = {}


def _note_use(key: KnownKey) -> None:
    """Record the key's use once a minute at most: this process asks the shared cache at
    most once a minute per key, and the cache lets one process of all write the row."""
    now = time.monotonic()
    if now - _noted_at.get(key.prefix, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
        return
    _noted_at[key.prefix] = now
    if caches["auth"].add(redis_keys.api_key_used_key(key.prefix), 1, timeout=LAST_USED_EVERY_SECONDS):
        try:
            api_key_mark_used(prefix=key.prefix, at=timezone.now())
        except DatabaseError as exc:
            # Bookkeeping only: a working-memory PUT must not fail because the DB is down.
            logger.warning("could not record the use of API key %s: %s", key.prefix, exc)


def _api_key_scope(secret: str) -> Scope:
    key = api_key_lookup(secret=secret)
    if key is None:
        raise exceptions.AuthenticationFailed("Invalid API key.")
    if key.revoked:
        raise exceptions.AuthenticationFailed("This API key was revoked.")
    if key.expiry_date is not None and key.has_expired:
        raise exceptions.AuthenticationFailed(f"This API key expired at {key.expiry_date.isoformat()}.")
    _note_use(key)
    return key_scope(key)


def header_scope(header: str | None, *, door: str = "api") -> Scope | None:
    """The scope an Authorization header carries; None without one. A credential that is
    refused raises AuthenticationFailed saying why (PermissionDenied for a JWT naming
    another tenant's namespace). The MCP doors use it too (`door` "mcp")."""
    if header is None:
        return None
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise exceptions.AuthenticationFailed("Use the Bearer scheme: Authorization: Bearer <API key or JWT>.")
    return secret_scope(credential.strip(), door=door)


def secret_scope(credential: str, *, door: str = "api") -> Scope:
    """The scope of an API key or JWT given bare (the MCP stdio transport's MCP_API_KEY).
    `door` ("api", "mcp") is the actor's prefix when a JWT claims its namespaces."""
    if not credential or " " in credential:
        raise exceptions.AuthenticationFailed("Malformed bearer credential.")
    if credential.count(".") == 2:
        return jwt_auth.jwt_scope(credential, door=door)
    if credential.count(".") != 1:
        raise exceptions.AuthenticationFailed("Malformed API key: expected <prefix>.<secret>.")
    return _api_key_scope(credential)


class BearerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: "Request") -> tuple[None, Scope] | None:
        if settings.AUTH_MODE == "disabled":
            return None
        scope = header_scope(request.headers.get("Authorization"))
        # None: HasScopePermission answers 401 "credentials were not provided".
        return None if scope is None else (None, scope)

    def authenticate_header(self, request: "Request") -> str:
        return 'Bearer realm="memory"'


class HasScopePermission(permissions.BasePermission):
    """A credential is required (unless AUTH_MODE is disabled), and it must hold the
    permission the method needs: a read-only key gets 403 on a write."""

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        if settings.AUTH_MODE == "disabled":
            return True
        if not isinstance(request.auth, Scope):
            raise exceptions.NotAuthenticated()
        request.auth.require(_access(request, view)[0])
        return True


def _parse_rate(rate: str) -> tuple[int, int]:
    """DRF's rate strings: "1200/min" -> (1200, 60); the period's first letter counts."""
    count, _, period = rate.partition("/")
    return int(count), RATE_PERIODS[period[:1]]


def rate_limit_wait(*, kind: str, throttle_id: str) -> float | None:
    """Count one call of `kind` (writes, searches) by this credential: None while it is
    within its limit, else the seconds until its window ends. A fixed-window counter in
    the Redis of the cache THROTTLE_CACHE names, one INCR per call whatever the limit
    (DRF's own throttles keep a list of every request's time in the window, read and
    rewritten on each one); a burst across a window's end may reach twice the rate for a
    moment. The REST doors and the MCP tools count in the same keys: one budget per
    credential. The rate is read per call, so a settings change applies at once."""
    allowed, duration = _parse_rate(getattr(settings, RATE_SETTINGS[kind]))
    now = time.time()
    window = int(now // duration)
    key = redis_keys.throttle_key(kind=kind, credential=throttle_id, window=window)
    # One round trip: count, and let the window's key expire after it.
    pipeline = get_redis_connection(settings.THROTTLE_CACHE).pipeline(transaction=False)
    pipeline.incr(key).expire(key, duration + 1, nx=True)
    count, _ = pipeline.execute()
    return None if count <= allowed else (window + 1) * duration - now


def rate_limited_detail(kind: str) -> str:
    """What a refusal says, naming the limit: "... over RATE_LIMIT_WRITES (1200/min)."."""
    name = RATE_SETTINGS[kind]
    return f"Request was throttled. This credential is over {name} ({getattr(settings, name)})."


class CredentialRateThrottle(throttling.BaseThrottle):
    """REST's door to `rate_limit_wait`: the kind is the view's `access` entry for the
    method. Over the limit is a 429 naming it, with Retry-After."""

    def allow_request(self, request: "Request", view: "APIView") -> bool:
        kind = _access(request, view)[1]
        throttle_id = request_scope(request).throttle_id
        if kind is None or throttle_id is None:
            return True
        wait = rate_limit_wait(kind=kind, throttle_id=throttle_id)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail=rate_limited_detail(kind))
        return True


def request_actor(request: "Request") -> str:
    """The actor a REST caller's changes are recorded under (see `memory.actor_names`): the
    credential's public part only (a key's prefix, a JWT's tenant and subject)."""
    return request_scope(request).actor


# drf-spectacular's extension classes register themselves in an unannotated __init_subclass__.
class BearerScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = BearerAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: "AutoSchema") -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`manage.py apikey create`) or, in JWT mode, a JWT.",
        }

"""Static bearer-token authentication, off by default for local development.

This is the seam the auth issue replaces with per-tenant credentials; views only
ever see `request.auth`.
"""

import hashlib
import hmac

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        if settings.AUTH_MODE == "disabled":
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        if not any(hmac.compare_digest(token, known) for known in settings.AUTH_TOKENS):
            raise exceptions.AuthenticationFailed("Invalid bearer token.")
        return (None, token)

    def authenticate_header(self, request):
        return 'Bearer realm="memory"'


def request_actor(request) -> str:
    """The actor a REST caller's changes are recorded under (see `memory.audit`): the
    token itself never reaches history, only the start of its sha256."""
    if isinstance(request.auth, str):
        return f"api:token-{hashlib.sha256(request.auth.encode()).hexdigest()[:12]}"
    return "api:anonymous"


class HasValidToken(permissions.BasePermission):
    def has_permission(self, request, view):
        return settings.AUTH_MODE == "disabled" or request.auth is not None


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}

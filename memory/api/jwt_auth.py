"""JWT mode (on when JWT_JWKS_URL is set): bearer JWTs verified with PyJWT.

The signing key comes from the JWKS URL (`PyJWKClient`, keys cached for 5 minutes and
refetched for an unknown `kid`); issuer, audience, `exp` and `nbf` are checked (`exp`
is required). Claims name the scope through settings:

- JWT_TENANT_CLAIM (default "tenant"): a non-empty string;
- JWT_NAMESPACES_CLAIM ("namespaces"): a non-empty list of namespace names ("*" is
  refused: an operator scope comes only from an API key);
- JWT_USER_IDS_CLAIM ("user_ids"): optional list; absent means any user;
- JWT_PERMISSIONS_CLAIM ("permissions"): optional list of read/write/delete/review;
  absent means read and write.

A namespace another tenant owns (`memory.models.TenantNamespace`) is refused.
"""

import functools

import jwt
from django.conf import settings
from rest_framework import exceptions

from memory.api.scope import PERMISSIONS, Scope
from memory.selectors.api_keys import namespaces_owned_elsewhere

DEFAULT_PERMISSIONS = ("read", "write")


@functools.lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def _claims(token: str) -> dict:
    if not settings.JWT_JWKS_URL:
        raise exceptions.AuthenticationFailed("JWTs are not accepted here (JWT_JWKS_URL is not set).")
    try:
        signing_key = _jwks_client(settings.JWT_JWKS_URL).get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            signing_key.key,
            algorithms=settings.JWT_ALGORITHMS,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            leeway=settings.JWT_LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise exceptions.AuthenticationFailed("JWT expired.") from exc
    except jwt.ImmatureSignatureError as exc:
        raise exceptions.AuthenticationFailed("JWT not valid yet (nbf).") from exc
    except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
        raise exceptions.AuthenticationFailed(f"Invalid JWT: {exc}") from exc


def _string_list(claims: dict, name: str, *, default=None) -> list[str] | None:
    value = claims.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise exceptions.AuthenticationFailed(f"JWT claim {name!r} must be a list of non-empty strings.")
    return value


def jwt_scope(token: str) -> Scope:
    claims = _claims(token)
    tenant = claims.get(settings.JWT_TENANT_CLAIM)
    if not isinstance(tenant, str) or not tenant:
        raise exceptions.AuthenticationFailed(f"JWT claim {settings.JWT_TENANT_CLAIM!r} (the tenant) is missing.")
    namespaces = _string_list(claims, settings.JWT_NAMESPACES_CLAIM)
    if not namespaces or "*" in namespaces:
        raise exceptions.AuthenticationFailed(
            f'JWT claim {settings.JWT_NAMESPACES_CLAIM!r} must list the namespaces ("*" only on API keys).'
        )
    foreign = namespaces_owned_elsewhere(tenant=tenant, namespaces=namespaces)
    if foreign:
        raise exceptions.AuthenticationFailed(f"Namespaces {', '.join(foreign)} belong to another tenant.")
    user_ids = _string_list(claims, settings.JWT_USER_IDS_CLAIM)
    granted = _string_list(claims, settings.JWT_PERMISSIONS_CLAIM, default=list(DEFAULT_PERMISSIONS))
    unknown = sorted(set(granted) - set(PERMISSIONS))
    if unknown:
        raise exceptions.AuthenticationFailed(f"JWT permissions {unknown} are not {', '.join(PERMISSIONS)}.")
    subject = str(claims.get("sub", ""))[:64]
    return Scope(
        tenant=tenant,
        namespaces=frozenset(namespaces),
        user_ids=frozenset(user_ids) if user_ids else None,
        permissions=frozenset(granted),
        credential=f"jwt-{tenant}/{subject}",
        throttle_id=f"jwt-{tenant}/{subject}",
    )

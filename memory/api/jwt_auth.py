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

A namespace belongs to one tenant (`memory.models.TenantNamespace`): a token's
namespaces that no tenant owns yet are claimed for its tenant on first use, as a new
API key's are, and a token naming a namespace another tenant owns is refused (403).
"""

import functools
from typing import Any

import jwt
from django.conf import settings
from rest_framework import exceptions

from memory.api.scope import PERMISSIONS, Scope
from memory.selectors.api_keys import namespace_owners
from memory.services.api_keys import NamespaceOwnedElsewhere, tenant_namespaces_claim

DEFAULT_PERMISSIONS = ("read", "write")
_OWN_ONLY = "A JWT acts only in its own tenant's namespaces."


@functools.lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def _claims(token: str) -> dict[str, Any]:
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


def _string_list(claims: dict[str, Any], name: str, *, default: list[str] | None = None) -> list[str] | None:
    value = claims.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise exceptions.AuthenticationFailed(f"JWT claim {name!r} must be a list of non-empty strings.")
    return value


def _claim_namespaces(*, tenant: str, namespaces: list[str], actor: str) -> None:
    """The token's namespaces are its tenant's: those no tenant owns yet are claimed for
    it now, as a new API key's are, so another tenant's token naming them is refused
    (403). Checked last, so a token refused for anything else claims nothing."""
    owners = namespace_owners(namespaces=namespaces)
    foreign = sorted(n for n, owner in owners.items() if owner != tenant)
    if foreign:
        raise exceptions.PermissionDenied(f"Namespaces {', '.join(foreign)} belong to another tenant. {_OWN_ONLY}")
    unclaimed = [n for n in namespaces if n not in owners]
    if unclaimed:  # its first use; later ones find them claimed by the one query above
        try:
            tenant_namespaces_claim(tenant=tenant, namespaces=unclaimed, actor=actor)
        except NamespaceOwnedElsewhere as exc:  # another tenant claimed one meanwhile
            raise exceptions.PermissionDenied(f"{exc} {_OWN_ONLY}") from exc


def jwt_scope(token: str, *, door: str = "api") -> Scope:
    """The scope a JWT's claims name; `door` ("api", "mcp") names the actor of a
    namespace it claims on first use."""
    claims = _claims(token)
    tenant = claims.get(settings.JWT_TENANT_CLAIM)
    if not isinstance(tenant, str) or not tenant:
        raise exceptions.AuthenticationFailed(f"JWT claim {settings.JWT_TENANT_CLAIM!r} (the tenant) is missing.")
    namespaces = _string_list(claims, settings.JWT_NAMESPACES_CLAIM)
    if not namespaces or "*" in namespaces:
        raise exceptions.AuthenticationFailed(
            f'JWT claim {settings.JWT_NAMESPACES_CLAIM!r} must list the namespaces ("*" only on API keys).'
        )
    user_ids = _string_list(claims, settings.JWT_USER_IDS_CLAIM)
    granted = _string_list(claims, settings.JWT_PERMISSIONS_CLAIM, default=list(DEFAULT_PERMISSIONS)) or []
    unknown = sorted(set(granted) - set(PERMISSIONS))
    if unknown:
        raise exceptions.AuthenticationFailed(f"JWT permissions {unknown} are not {', '.join(PERMISSIONS)}.")
    credential = f"jwt-{tenant}/{str(claims.get('sub', ''))[:64]}"
    _claim_namespaces(tenant=tenant, namespaces=namespaces, actor=f"{door}:{credential}")
    return Scope(
        tenant=tenant,
        namespaces=frozenset(namespaces),
        user_ids=frozenset(user_ids) if user_ids else None,
        permissions=frozenset(granted),
        credential=credential,
        throttle_id=credential,
    )

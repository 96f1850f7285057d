"""Credentials: create, revoke, and note the use of API keys.

A key's secret is returned once, by `api_key_create`; only its hash is stored. Creating
a key claims its namespaces for its tenant (`TenantNamespace`): a namespace belongs to
one tenant, so a key of another tenant on it is refused. Each change is logged with
its actor and kept on the row (`created_by`, `revoked_by`, `revoked_at`).
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from memory.models import ALL_NAMESPACES, ApiKey, TenantNamespace
from memory.redis_keys import api_key_cache_key
from memory.selectors.api_keys import KnownKey, api_key_by_prefix, namespaces_owned_elsewhere

logger = logging.getLogger(__name__)
PERMISSIONS = ("read", "write", "delete", "review")
KEY_CACHE_SECONDS = 300


def api_key_lookup(*, secret: str) -> KnownKey | None:
    """The key this secret belongs to (revoked and expired ones too, so the caller can
    say why it is refused), or None. Found by its prefix in the auth cache (Redis), so an
    authenticated working-memory write still makes no database query; a miss reads the
    row (one indexed query) and caches it for KEY_CACHE_SECONDS (revoking drops the entry
    at once, `api_key_revoke`). Checked against its SHA-512 hash by the library: the cost
    does not grow with the number of keys."""
    prefix, _, _ = secret.partition(".")
    cache = caches["auth"]
    known: KnownKey | None = cache.get(api_key_cache_key(prefix))  # the cache holds what set() put: a KnownKey
    if known is None:
        known = api_key_by_prefix(prefix=prefix)
        if known is None:
            return None
        cache.set(api_key_cache_key(prefix), known, timeout=KEY_CACHE_SECONDS)
    if not ApiKey.objects.key_generator.verify(secret, known.hashed_key):
        return None
    return known


class ApiKeyError(ValueError):
    """A key that cannot be created or revoked as asked; the message says why."""


class NamespaceOwnedElsewhere(ApiKeyError):
    """A namespace to claim belongs to another tenant."""


def api_key_check(*, tenant: str, namespaces: list[str], permissions: list[str]) -> None:
    """Raise ApiKeyError when a key of this scope cannot be made (forms check early with it)."""
    if not tenant.strip():
        raise ApiKeyError("A key needs a tenant.")
    # A form or a JSON body may send anything, whatever the annotation says.
    if not namespaces or any(not isinstance(n, str) or not n for n in namespaces):  # type: ignore[redundant-expr]
        raise ApiKeyError('A key needs its namespaces (or ["*"] for an operator key over every namespace).')
    if ALL_NAMESPACES in namespaces and len(namespaces) > 1:
        raise ApiKeyError('"*" stands alone: it already means every namespace.')
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown or not permissions:
        raise ApiKeyError(f"Permissions are some of {', '.join(PERMISSIONS)}; got {sorted(permissions)}.")
    foreign = namespaces_owned_elsewhere(tenant=tenant, namespaces=namespaces)
    if foreign:
        raise ApiKeyError(f"Namespaces {', '.join(foreign)} belong to another tenant.")


@transaction.atomic
def tenant_namespaces_claim(*, tenant: str, namespaces: list[str], actor: str) -> list[str]:
    """Claim for `tenant` those of `namespaces` no tenant owns yet (a new key's, a JWT's on
    first use); returns the ones claimed now. One that another tenant owns, even one it
    claimed a moment ago, raises NamespaceOwnedElsewhere and nothing is claimed."""
    claimed = []
    for namespace in namespaces:
        # A concurrent claim between get_or_create's lookup and insert is found by it again.
        row, created = TenantNamespace.objects.get_or_create(
            namespace=namespace, defaults={"tenant": tenant, "claimed_by": actor}
        )
        if row.tenant != tenant:
            raise NamespaceOwnedElsewhere(f"Namespace {namespace} belongs to another tenant.")
        if created:
            claimed.append(namespace)
    if claimed:
        logger.info("namespaces %s claimed for tenant %s by %s", ", ".join(claimed), tenant, actor)
    return claimed


@transaction.atomic
def api_key_create(
    *,
    name: str,
    tenant: str,
    namespaces: list[str],
    actor: str,
    user_ids: Sequence[str] = (),
    permissions: Sequence[str] = ("read", "write"),
    expiry_date: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret (shown once: only the hash is stored)."""
    namespaces, permissions = sorted(set(namespaces)), sorted(set(permissions))
    api_key_check(tenant=tenant, namespaces=namespaces, permissions=permissions)
    tenant_namespaces_claim(tenant=tenant, namespaces=[n for n in namespaces if n != ALL_NAMESPACES], actor=actor)
    key, secret = ApiKey.objects.create_key(
        name=name[:50],
        tenant=tenant,
        namespaces=namespaces,
        user_ids=sorted(set(user_ids)),
        can_read="read" in permissions,
        can_write="write" in permissions,
        can_delete="delete" in permissions,
        can_review="review" in permissions,
        expiry_date=expiry_date,
        created_by=actor,
    )
    logger.info("API key %s created for tenant %s by %s", key.prefix, tenant, actor)
    return cast(ApiKey, key), secret  # the library's manager is typed by its abstract base


@transaction.atomic
def api_key_revoke(*, prefix: str, actor: str) -> ApiKey:
    """Revoke a key (it cannot be un-revoked); revoking a revoked key changes nothing."""
    # The library's manager is typed by its abstract base: its rows read as Any.
    key: ApiKey | None = ApiKey.objects.select_for_update().filter(prefix=prefix).first()
    if key is None:
        raise ApiKeyError(f"No API key with prefix {prefix!r}.")
    if not key.revoked:
        key.revoked, key.revoked_by, key.revoked_at = True, actor, timezone.now()
        key.save(update_fields=["revoked", "revoked_by", "revoked_at"])
        # The request path reads keys from this cache: the revocation applies at once.
        transaction.on_commit(lambda: caches["auth"].delete(api_key_cache_key(key.prefix)))
        logger.info("API key %s revoked by %s", key.prefix, actor)
    return key


def api_key_mark_used(*, prefix: str, at: datetime) -> None:
    """One UPDATE; the auth layer calls it at most once a minute per key."""
    ApiKey.objects.filter(prefix=prefix).update(last_used_at=at)

"""Reads of credentials: a key by its secret, keys for listing, namespace ownership.

The request path finds a key in the auth cache (Redis) by its prefix, so an
authenticated working-memory write still makes no database query; the first use after
`KEY_CACHE_SECONDS` reads the row again. Revoking a key drops its cache entry at once
(`memory.services.api_keys.api_key_revoke`).
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import caches
from django.utils import timezone

from memory.models import ApiKey, TenantNamespace
from memory.redis_keys import api_key_cache_key

KEY_CACHE_SECONDS = 300


@dataclass(frozen=True)
class KnownKey:
    """What authenticating needs of a key row, small enough to cache."""

    prefix: str
    hashed_key: str
    tenant: str
    namespaces: tuple[str, ...]
    user_ids: tuple[str, ...]
    permissions: tuple[str, ...]
    revoked: bool
    expiry_date: datetime | None

    @property
    def has_expired(self) -> bool:
        return self.expiry_date is not None and self.expiry_date < timezone.now()


def _known(key: ApiKey) -> KnownKey:
    return KnownKey(
        prefix=key.prefix,
        hashed_key=key.hashed_key,
        tenant=key.tenant,
        namespaces=tuple(key.namespaces),
        user_ids=tuple(key.user_ids),
        permissions=key.permissions,
        revoked=key.revoked,
        expiry_date=key.expiry_date,
    )


def api_key_lookup(*, secret: str) -> KnownKey | None:
    """The key this secret belongs to (revoked and expired ones too, so the caller can
    say why it is refused), or None. Found by its prefix (cache, else one indexed query)
    and checked against its SHA-512 hash by the library: the cost does not grow with
    the number of keys."""
    prefix, _, _ = secret.partition(".")
    cache = caches["auth"]
    known = cache.get(api_key_cache_key(prefix))
    if known is None:
        row = ApiKey.objects.filter(prefix=prefix).first()
        if row is None:
            return None
        known = _known(row)
        cache.set(api_key_cache_key(prefix), known, timeout=KEY_CACHE_SECONDS)
    if not ApiKey.objects.key_generator.verify(secret, known.hashed_key):
        return None
    return known


def api_keys_list(*, tenant: str | None = None) -> list[ApiKey]:
    rows = ApiKey.objects.order_by("tenant", "-created")
    return list(rows.filter(tenant=tenant) if tenant else rows)


def namespaces_owned_elsewhere(*, tenant: str, namespaces: list[str]) -> list[str]:
    """Those of `namespaces` that belong to a tenant other than `tenant`, sorted."""
    owned = TenantNamespace.objects.filter(namespace__in=namespaces).exclude(tenant=tenant)
    return sorted(owned.values_list("namespace", flat=True))


def namespace_owners(*, namespaces: list[str]) -> dict[str, str]:
    """The tenant owning each of `namespaces` that is claimed (one query)."""
    return dict(TenantNamespace.objects.filter(namespace__in=namespaces).values_list("namespace", "tenant"))

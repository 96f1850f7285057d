"""Reads of credentials: a key by its prefix, keys for listing, namespace ownership.

The request path finds a key through the auth cache (`memory.services.api_keys.api_key_lookup`,
which fills it: a write); `KnownKey` is what the cache holds (pickled: keep it here, where
cached entries name it).
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from memory.models import ApiKey, TenantNamespace


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


def api_key_by_prefix(*, prefix: str) -> KnownKey | None:
    """What authenticating needs of the key with this prefix (one indexed query), or None."""
    row = ApiKey.objects.filter(prefix=prefix).first()
    return _known(row) if row is not None else None


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

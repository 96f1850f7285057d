"""`manage.py apikey create|list|revoke|dev`: API keys from the command line.

    apikey create --name agent-1 --tenant acme --namespace support --namespace sales \
                  [--user u1] [--read-only | --permissions read,write,delete[,review]] [--expires 2027-01-01]
    apikey list [--tenant acme]           (each key's state, expiry and last use; never its secret)
    apikey revoke <prefix>
    apikey dev --path var/dev-api-key     (bin/serve: a local key on first start)

`create` prints the key once; only its hash is stored. `review` (approving or rejecting a
memory through the API) is left out unless named: an agent's key cannot overrule the
review desk.
"""

import os
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from memory.actor_names import COMMAND_LINE
from memory.models import ALL_NAMESPACES
from memory.selectors.api_keys import api_keys_list
from memory.services.api_keys import ApiKeyError, api_key_create, api_key_lookup, api_key_revoke

DEV_TENANT = "local-dev"


class Command(BaseCommand):
    help = "Create, list and revoke API keys (create prints the key once)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key and print it once")
        create.add_argument("--name", required=True)
        create.add_argument("--tenant", required=True)
        create.add_argument("--namespace", action="append", dest="namespaces", default=[], help='repeat; "*": all')
        create.add_argument("--user", action="append", dest="user_ids", default=[], help="repeat; bind to users")
        create.add_argument(
            "--permissions",
            default="read,write,delete",
            help="comma-separated: read,write,delete,review (review: approve or reject memories; not by default)",
        )
        create.add_argument("--read-only", action="store_true", help="same as --permissions read")
        create.add_argument("--expires", default=None, help="ISO 8601 datetime or date (UTC when no offset is given)")
        listing = sub.add_parser("list", help="list keys (never their secrets)")
        listing.add_argument("--tenant", default=None)
        revoke = sub.add_parser("revoke", help="revoke a key by its prefix (cannot be undone)")
        revoke.add_argument("prefix")
        dev = sub.add_parser("dev", help="create the local development key unless the file holds a valid one")
        dev.add_argument("--path", required=True)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from exc

    def _create(
        self,
        *,
        name: str,
        tenant: str,
        namespaces: list[str],
        user_ids: list[str],
        permissions: str,
        read_only: bool,
        expires: str | None,
        **_: Any,
    ) -> None:
        expiry = _expiry(expires) if expires else None
        chosen = ["read"] if read_only else [p.strip() for p in permissions.split(",") if p.strip()]
        key, secret = api_key_create(
            name=name,
            tenant=tenant,
            namespaces=namespaces,
            user_ids=user_ids,
            permissions=chosen,
            expiry_date=expiry,
            actor=COMMAND_LINE,
        )
        self.stdout.write(f"API key {key.prefix} for tenant {key.tenant} ({', '.join(key.permissions)}):")
        self.stdout.write(secret)
        self.stdout.write("Shown once: only its hash is stored. Send it as `Authorization: Bearer <key>`.")

    def _list(self, *, tenant: str | None, **_: Any) -> None:
        for key in api_keys_list(tenant=tenant):
            state = "revoked" if key.revoked else ("expired" if key.has_expired else "active")
            # Beside the state, so a key about to lapse shows before it does.
            expires = key.expiry_date.isoformat(timespec="minutes") if key.expiry_date else "never"
            used = key.last_used_at.isoformat(timespec="minutes") if key.last_used_at else "never"
            users = f" users={','.join(key.user_ids)}" if key.user_ids else ""
            self.stdout.write(
                f"{key.prefix}  {state:<7}  expires={expires}  tenant={key.tenant}  "
                f"namespaces={','.join(key.namespaces)}{users}  "
                f"permissions={','.join(key.permissions)}  last_used={used}  name={key.name}"
            )

    def _revoke(self, *, prefix: str, **_: Any) -> None:
        key = api_key_revoke(prefix=prefix, actor=COMMAND_LINE)
        self.stdout.write(f"API key {key.prefix} revoked ({key.revoked_at:%Y-%m-%d %H:%M:%S %Z}).")

    def _dev(self, *, path: str, **_: Any) -> None:
        """Idempotent: a file holding a usable key is kept; otherwise a new operator key is
        written there (mode 600) and printed once."""
        target = Path(path)
        if target.exists():
            known = api_key_lookup(secret=target.read_text().strip())
            if known is not None and not known.revoked and not known.has_expired:
                self.stdout.write(f"Development API key: in {target} (key {known.prefix}).")
                return
        key, secret = api_key_create(
            name="local development",
            tenant=DEV_TENANT,
            namespaces=[ALL_NAMESPACES],
            permissions=["read", "write", "delete"],
            actor=COMMAND_LINE,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secret + "\n")
        os.chmod(target, 0o600)  # an existing file keeps its old mode through O_CREAT
        self.stdout.write(f"Development API key (shown once, kept in {target}, mode 600):\n  {secret}")


def _expiry(text: str) -> datetime:
    """An ISO 8601 datetime, or a date (its first moment); UTC unless an offset is given."""
    try:
        day = parse_date(text) if "T" not in text and " " not in text else None
        moment = datetime.combine(day, time.min) if day else parse_datetime(text)
    except ValueError:  # well formed, but no such day or time (2027-02-30)
        moment = None
    if moment is None:
        raise CommandError(f"--expires {text!r} is not an ISO 8601 datetime or date")
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment

from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from memory.redis_keys.ams import DEFAULT_RECORD_PREFIX
from memory.services.ams_import import KINDS, ImportReport, ams_import
from memory.services.ams_import.apply import VectorsOfAnotherModel
from memory.services.ams_import.source import Reference
from memory.services.api_keys import NamespaceOwnedElsewhere

OUTCOMES = ("imported", "unchanged", "changed", "deleted", "taken", "unmapped")


class Command(BaseCommand):
    help = (
        "Import a running agent-memory-server 0.15.x deployment from its Redis: long-term records, "
        "working-memory sessions, summary views and their partition results, for one tenant. "
        "Idempotent: a second run imports nothing new; an interrupted one resumes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--redis-url", required=True, help="the reference's Redis, e.g. redis://host:6379/0")
        parser.add_argument(
            "--namespace",
            action="append",
            dest="namespaces",
            default=None,
            help="import only this namespace (repeat for more); default: every namespace, and none",
        )
        parser.add_argument(
            "--tenant",
            default=None,
            help="the tenant the namespaces are claimed for (required unless AUTH_MODE=disabled)",
        )
        parser.add_argument("--dry-run", action="store_true", help="write nothing; print the same counts")
        parser.add_argument(
            "--index-prefix",
            default=DEFAULT_RECORD_PREFIX,
            help="the reference's REDISVL_INDEX_PREFIX (default: memory_idx)",
        )
        parser.add_argument("--batch-size", type=int, default=200, help="keys per SCAN batch and per commit")
        parser.add_argument(
            "--reuse-vectors",
            action="store_true",
            help="keep the reference's vectors instead of embedding again (it ran this server's EMBEDDING_MODEL; "
            "checked on each batch)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = options["tenant"] or ""
        if not tenant and settings.AUTH_MODE != "disabled":
            raise CommandError(
                "--tenant is required: the imported namespaces are claimed for one tenant, whose keys then "
                "reach them (only AUTH_MODE=disabled imports without one)"
            )
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        reference = Reference.connect(
            options["redis_url"],
            record_prefix=options["index_prefix"],
            batch_size=options["batch_size"],
            namespaces=set(options["namespaces"]) if options["namespaces"] else None,
        )
        dry_run = options["dry_run"]
        self.stdout.write(f"{'Dry run: nothing is written. ' if dry_run else ''}Reading {options['redis_url']} ...")
        bar = tqdm(total=0, unit="key", disable=None, file=self.stderr._out)
        try:
            report = ams_import(
                reference=reference,
                tenant=tenant,
                dry_run=dry_run,
                reuse_vectors=options["reuse_vectors"],
                progress=lambda kind, done, total: _advance(bar, kind, done, total),
            )
        except NamespaceOwnedElsewhere as exc:
            raise CommandError(f"{exc} Nothing was imported.") from exc
        except VectorsOfAnotherModel as exc:
            raise CommandError(f"{exc} (the batches before it are imported; a run without it resumes)") from exc
        except redis.RedisError as exc:
            raise CommandError(f"Redis failed ({exc}); run the command again to resume") from exc
        finally:
            bar.close()
        self._print(report, tenant=tenant, dry_run=dry_run, outside=reference.skipped_outside)

    def _print(self, report: ImportReport, *, tenant: str, dry_run: bool, outside: dict[str, int]) -> None:
        claimed = ", ".join(report.namespaces) or "none"
        verb = "would be claimed" if dry_run else "claimed"
        self.stdout.write(f"Namespaces {verb} for tenant {tenant!r}: {claimed}" if tenant else f"Namespaces: {claimed}")
        width = max(len(kind) for kind in KINDS)
        self.stdout.write(f"  {'kind':<{width}}  " + "  ".join(f"{o:>9}" for o in OUTCOMES))
        for kind in KINDS:
            counts = report.counts[kind]
            self.stdout.write(f"  {kind:<{width}}  " + "  ".join(f"{counts[o]:>9}" for o in OUTCOMES))
        if dry_run:
            self.stdout.write("(imported: would be imported)")
        for kind, count in sorted(outside.items()):
            self.stdout.write(f"{count} {kind} outside --namespace were left out.")
        if report.without_namespace:
            self.stdout.write(
                f"{report.without_namespace} records or sessions have no namespace: only operator keys reach them."
            )
        for label, items in (
            ("Not imported", report.unmapped),
            ("Imported without", report.notes),
            ("Kept ours", report.listed),
        ):
            for item in items:
                self.stdout.write(f"{label}: {item.key}: {item.reason}")


def _advance(bar: Any, kind: str, done: int, total: int) -> None:
    bar.set_description(kind)
    bar.total = max(total, bar.n + done)  # partitions are not counted beforehand
    bar.update(done)

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from memory.actor_names import COMMAND_LINE
from memory.services.erasure import KINDS, REDIS_ERRORS, user_erase


class Command(BaseCommand):
    help = (
        "Erase every trace of one user in one namespace (long-term records, index documents, history, "
        "source messages, extraction runs, working memory, debounce and cache entries) and print the receipt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--namespace", default=None, help="the namespace (leave out for no namespace)")
        # Checked in handle(), so a missing user gets one plain sentence, not argparse's usage dump.
        parser.add_argument("--user", default=None, help="the user id to erase (required)")

    def handle(self, *args: Any, namespace: str | None, user: str | None, **options: Any) -> None:
        if not user:
            raise CommandError("--user is required: erase_user acts on one named user, never on every user")
        where = f"namespace {namespace!r}" if namespace else "no namespace"
        self.stdout.write(
            f"Erasing user {user!r} in {where}: working memory first, then the database with the cache, then the index."
        )
        try:
            receipt = user_erase(namespace=namespace, user_id=user, actor=COMMAND_LINE)
        except REDIS_ERRORS as exc:
            raise CommandError(
                f"Redis failed ({exc}): nothing was erased from the database "
                "(working memory may be partly erased); run the command again once Redis answers"
            ) from exc
        self.stdout.write(f"Erasure receipt {receipt.pk} ({receipt.actor}, {receipt.created_at:%Y-%m-%d %H:%M:%S %Z})")
        width = max(len(kind) for kind in KINDS)
        self.stdout.write(f"  {'kind':<{width}}  count")
        for kind in KINDS:
            self.stdout.write(f"  {kind:<{width}}  {receipt.counts.get(kind, 0):>5}")
        self.stdout.write(f"The receipt keeps no personal text; the user is kept only as digest {receipt.user_digest}.")
        incomplete = receipt.counts.get("incomplete")
        if incomplete:
            # A failing exit status, so a script that runs the erase notices and runs it again.
            raise CommandError(f"incomplete: {', '.join(incomplete)} not erased (Redis failed); run the command again")

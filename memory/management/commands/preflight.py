import sys
from typing import Any

from django.core.management.base import BaseCommand

from memory.selectors.health import dependency_problems


class Command(BaseCommand):
    help = "Check the database, Redis and the search module; one clear line per problem."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = dependency_problems()
        for reason in problems.values():
            self.stderr.write(f"error: {reason}")
        if problems:
            sys.exit(1)
        self.stdout.write("preflight: database, redis and search module OK")

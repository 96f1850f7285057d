from django.core.management.base import BaseCommand

from memory import index


class Command(BaseCommand):
    help = "Create what a fresh deployment needs (idempotent): the vector index."

    def handle(self, *args, **options):
        index.ensure_index()
        self.stdout.write("seed_defaults: vector index ready")

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from memory.models import MemoryRecord
from memory.services.long_term import memories_reindex


class Command(BaseCommand):
    help = "Rebuild the long-term memory vector index from the database (the source of truth)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        with tqdm(total=MemoryRecord.objects.count(), unit="memory", desc="reindex", file=sys.stderr) as bar:
            written = memories_reindex(batch_size=batch_size, progress=bar.update)
        self.stdout.write(f"reindex_memories: {written} memories indexed")

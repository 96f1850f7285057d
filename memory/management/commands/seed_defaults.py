from typing import Any

from django.core.management.base import BaseCommand

from memory import index, llm
from memory.services.roles import roles_ensure
from policies.services import policy_defaults_ensure
from workers.queue import enqueue_index_sweep


class Command(BaseCommand):
    help = "Create what a fresh deployment needs (idempotent): the vector index, the default policy, the admin roles."

    def handle(self, *args: Any, **options: Any) -> None:
        index.ensure_index()
        self.stdout.write("seed_defaults: vector index ready")
        # Start the periodic index sweep; its Redis lock keeps a single chain alive.
        enqueue_index_sweep()
        self.stdout.write("seed_defaults: index sweep scheduled")
        version = policy_defaults_ensure(llm_configured=llm.is_configured())
        self.stdout.write(
            f"seed_defaults: default policy publishes {version}"
            + ("" if llm.is_configured() else "; LLM extraction is off (LLM_MODEL is not set)")
        )
        roles = roles_ensure()
        self.stdout.write(f"seed_defaults: admin roles ready ({', '.join(roles)})")

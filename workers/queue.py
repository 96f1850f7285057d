"""Enqueue Dramatiq actors by name, so services never import `workers.actors`.

Imports run one way: actors import services, services name actors through this module.
Two entry points:

- `send_on_commit(name, *args)`: from inside a write. The message goes out once the
  outermost transaction commits, and never if it rolls back, so a job never sees rows
  that are not there yet (Zulip's `queue_event_on_commit`).
- `send_now(name, *args)`: when there is nothing to commit: a Redis-only path, or code
  already running after the commit.

With WORKERS_INLINE on, both run the actor in this process instead (local development
with no worker). A delay then does not apply: it only matters when writes from many
processes must be coalesced. As with a worker, a failed inline job is logged and never
fails the request that scheduled it.
"""

import logging

import dramatiq
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def send_now(actor_name: str, *args, delay_seconds: float = 0) -> None:
    """Send the message now (or, inline, run the actor now)."""
    actor = dramatiq.get_broker().get_actor(actor_name)
    if settings.WORKERS_INLINE:
        try:
            actor.fn(*args)
        except Exception:
            logger.exception("inline job %s%r failed", actor_name, args)
        return
    actor.send_with_options(args=args, delay=int(delay_seconds * 1000) or None)


def send_on_commit(actor_name: str, *args, delay_seconds: float = 0) -> None:
    """Send the message after the current transaction commits; nothing if it rolls back."""
    transaction.on_commit(lambda: send_now(actor_name, *args, delay_seconds=delay_seconds))

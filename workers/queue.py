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
from dramatiq.common import dq_name

from memoryproject.request_context import current_request_id

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
    # The request id rides along so the worker's log lines name the request behind the job.
    actor.send_with_options(args=args, delay=int(delay_seconds * 1000) or None, request_id=current_request_id())


def send_on_commit(actor_name: str, *args, delay_seconds: float = 0) -> None:
    """Send the message after the current transaction commits; nothing if it rolls back."""
    transaction.on_commit(lambda: send_now(actor_name, *args, delay_seconds=delay_seconds))


def queue_depths() -> dict[str, int]:
    """Messages sent and not yet acknowledged (waiting or running), per Dramatiq queue:
    `default`, and `default.DQ` for the delayed ones. The Redis broker keeps each such
    message in the `{namespace}:{queue}.msgs` hash until it is acknowledged."""
    broker = dramatiq.get_broker()
    client = getattr(broker, "client", None)
    if client is None:  # a broker without Redis (none configured here): nothing to read
        return {}
    names = sorted({q for queue in broker.get_declared_queues() for q in (queue, dq_name(queue))})
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hlen(f"{broker.namespace}:{name}.msgs")
    return dict(zip(names, pipe.execute(), strict=True))

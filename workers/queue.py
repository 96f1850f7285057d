"""Send a Dramatiq message, or run the actor in-process when WORKERS_INLINE is on."""

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def enqueue(actor, *args, delay_seconds: float = 0) -> None:
    """Call only from `transaction.on_commit`, so a job never sees uncommitted rows."""
    if settings.WORKERS_INLINE:
        # Inline mode is for a single local process: run now; a delay only matters
        # when writes from many processes must be coalesced. As with a worker, a failed
        # job is logged and never fails the request that scheduled it.
        try:
            actor.fn(*args)
        except Exception:
            logger.exception("inline job %s%r failed", actor.actor_name, args)
        return
    actor.send_with_options(args=args, delay=int(delay_seconds * 1000) or None)

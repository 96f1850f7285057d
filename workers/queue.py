"""Enqueue the Dramatiq actors: one function per message, so services never import `workers.actors`.

Imports run one way: actors import services, services send through this module. The
actor names live here and nowhere else; `tests/workers/test_queue.py` checks that each
function reaches a registered actor with arguments its signature binds, and that every
registered actor is reached. Each function keeps its callers' timing:

- after the commit (`enqueue_policy_evaluation`, `enqueue_promotion(on_commit=True)`):
  from inside a write. The message goes out once the outermost transaction commits,
  and never if it rolls back, so a job never sees rows that are not there yet (Zulip's
  `queue_event_on_commit`).
- now (the rest): when there is nothing to commit: a Redis-only path, or code already
  running after the commit.

With WORKERS_INLINE on, both run the actor in this process instead (local development
with no worker). A delay then does not apply: it only matters when writes from many
processes must be coalesced. As with a worker, a failed inline job is logged and never
fails the request that scheduled it.
"""

import logging

import dramatiq
from django.conf import settings
from django.db import transaction
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name

from memory import redis_keys
from memoryproject.request_context import current_request_id

logger = logging.getLogger(__name__)


def enqueue_index(*, memory_ids: list[str]) -> None:
    """Make these records' index documents match their rows in the worker (the inline
    write failed, or a search met stale documents)."""
    _send_now("memories_index", memory_ids)


def enqueue_access_flush(*, delay_seconds: float) -> None:
    """Write the search hits counted in Redis to the DB once the window has passed."""
    _send_now("memories_access_flush", delay_seconds=delay_seconds)


def enqueue_index_sweep(*, delay_seconds: float = 0) -> None:
    """Run the periodic index sweep (a deploy starts the chain, each sweep sends the next)."""
    _send_now("memories_index_sweep", delay_seconds=delay_seconds)


def enqueue_summary(*, namespace: str | None, session_id: str, window: int) -> None:
    """Fold a session's oldest turns into its running summary (its PUT claimed the job)."""
    _send_now("working_memory_summarize", namespace, session_id, window)


def enqueue_promotion(
    *,
    namespace: str | None,
    user_id: str | None,
    session_id: str,
    token: str,
    delay_seconds: float = 0,
    on_commit: bool = False,
) -> None:
    """Promote a session's turns to long-term memory. `token` names the debounce window
    the message answers for ("": none, it runs unless a newer window is pending);
    `on_commit` from inside a write (a re-armed run)."""
    args = (namespace, user_id, session_id, token)
    if on_commit:
        _send_on_commit("promote_session", *args, delay_seconds=delay_seconds)
    else:
        _send_now("promote_session", *args, delay_seconds=delay_seconds)


def enqueue_policy_evaluation(*, evaluation_id: int) -> None:
    """Replay an evaluation's data set in the worker, once the write that created it commits."""
    _send_on_commit("policy_evaluate", evaluation_id)


def enqueue_summary_view_run(*, task_id: str, offset: int, force: bool) -> None:
    """Run a summary view task's chunk starting at partition `offset`, once the write that
    created the task (or ran the chunk before) commits."""
    _send_on_commit("summary_view_run", task_id, offset, force)


def enqueue_summary_views_refresh() -> None:
    """Refresh continuous summary views' stale partitions (the sweep claimed the interval)."""
    _send_now("summary_views_refresh")


def _send_now(actor_name: str, *args: object, delay_seconds: float = 0) -> None:
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


def _send_on_commit(actor_name: str, *args: object, delay_seconds: float = 0) -> None:
    """Send the message after the current transaction commits; nothing if it rolls back."""
    transaction.on_commit(lambda: _send_now(actor_name, *args, delay_seconds=delay_seconds))


def queue_depths() -> dict[str, int]:
    """Messages sent and not yet acknowledged (waiting or running), per Dramatiq queue:
    `default`, and `default.DQ` for the delayed ones. The Redis broker keeps each such
    message in its queue's messages hash until it is acknowledged."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, RedisBroker):  # a broker without Redis (none configured here): nothing to read
        return {}
    client = broker.client
    names = sorted({q for queue in broker.get_declared_queues() for q in (queue, dq_name(queue))})
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hlen(redis_keys.dramatiq_messages_key(namespace=broker.namespace, queue=name))
    return dict(zip(names, pipe.execute(), strict=True))

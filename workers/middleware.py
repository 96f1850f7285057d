"""Dramatiq middleware: each job runs under the request id of the request that sent it
(`workers.queue` puts it in the message's options), so its log lines carry that id; and
each worker process names its broker as a consumer, for the admin's worker health."""

from typing import Any

from dramatiq import Broker, MessageProxy, Worker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from memory import redis_keys
from memoryproject.request_context import bind_request_id, unbind_request_id


class RequestIdMiddleware(Middleware):
    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        token = bind_request_id(message.options.get("request_id"))
        message._request_id_token = token  # type: ignore[attr-defined]  # ours, read back after the message

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        token = getattr(message, "_request_id_token", None)
        if token is not None:
            unbind_request_id(token)

    after_skip_message = after_process_message


class WorkerRegistryMiddleware(Middleware):
    """Adds this worker process's broker id to the consumers set at boot. Dramatiq's
    heartbeats cannot tell a worker from a web process that enqueued a moment ago; the
    admin home page reads the consumers' heartbeats only. A stopped or killed worker's
    heartbeat ages and Dramatiq's maintenance drops it; the next boot drops its id too."""

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if not isinstance(broker, RedisBroker):
            return
        consumers = redis_keys.dramatiq_consumers_key(namespace=broker.namespace)
        heartbeats = redis_keys.dramatiq_heartbeats_key(namespace=broker.namespace)
        broker.client.sadd(consumers, broker.broker_id)
        members = list(broker.client.smembers(consumers))
        scores = broker.client.zmscore(heartbeats, members)
        gone = [m for m, score in zip(members, scores, strict=True) if score is None and _text(m) != broker.broker_id]
        if gone:
            broker.client.srem(consumers, *gone)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

"""Dramatiq middleware: each job runs under the request id of the request that sent it
(`workers.queue` puts it in the message's options), so its log lines carry that id."""

from typing import Any

from dramatiq import Broker, MessageProxy
from dramatiq.middleware import Middleware

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

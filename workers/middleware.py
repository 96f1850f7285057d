"""Dramatiq middleware: each job runs under the request id of the request that sent it
(`workers.queue` puts it in the message's options), so its log lines carry that id."""

from dramatiq.middleware import Middleware

from memoryproject.request_context import bind_request_id, unbind_request_id


class RequestIdMiddleware(Middleware):
    def before_process_message(self, broker, message):
        message._request_id_token = bind_request_id(message.options.get("request_id"))

    def after_process_message(self, broker, message, *, result=None, exception=None):
        token = getattr(message, "_request_id_token", None)
        if token is not None:
            unbind_request_id(token)

    after_skip_message = after_process_message

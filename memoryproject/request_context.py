"""The request id one unit of work carries, from the API request through the worker.

The API's middleware sets it for each request (the caller's `X-Request-ID`, else a new
one); `workers.queue` copies it into every message it sends, and the worker's
middleware restores it while that message runs, so the worker's log lines for a
session carry the id of the request that armed its promotion. Log records get it
through `RequestIdFilter`; `JsonFormatter` writes one JSON object per line.
"""

import contextvars
import json
import logging
import re
import time
import uuid

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# A caller's id is echoed into logs and headers, so only a plain token is taken over.
_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> contextvars.Token[str | None]:
    return _request_id.set(request_id)


def unbind_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


def request_id_from(header_value: str | None) -> str:
    """The caller's id when it is a plain token, else a new one."""
    if header_value and _ACCEPTED_ID.match(header_value):
        return header_value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a request or job) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


# Attributes every LogRecord has; anything else was passed in `extra=` and is kept.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, extras, exc_info."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "process": record.process,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)

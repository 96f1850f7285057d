"""A request's id reaches the worker: the promotion it armed logs under the same id."""

import logging

import pytest

from memory.models import MemoryRecord
from memoryproject.request_context import JsonFormatter, RequestIdFilter
from tests.helpers import queued_messages, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_logs_a_promotion_under_the_request_id_of_the_put_that_armed_it(
    api, settings, publish_policy, dramatiq_worker, redis_client, caplog
):
    settings.PROMOTION_DEBOUNCE_SECONDS = 1
    publish_policy("messages")
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="memory.services.promotion")
    body = {"messages": [{"id": "m0", "role": "user", "content": "I keep bees."}]}
    response = api.put("/v1/working-memory/s-1", body, format="json", HTTP_X_REQUEST_ID="req-bees-1")
    assert response["X-Request-ID"] == "req-bees-1"
    [message] = queued_messages(redis_client, "promote_session")
    assert message["options"]["request_id"] == "req-bees-1"

    wait_until(lambda: MemoryRecord.objects.exists(), what="the promotion")
    [line] = wait_until(
        lambda: [
            r for r in caplog.records if r.name == "memory.services.promotion" and "promotion run" in r.getMessage()
        ]
    )
    assert line.request_id == "req-bees-1"
    assert '"request_id": "req-bees-1"' in JsonFormatter().format(line)


@pytest.mark.parametrize(
    "sent, kept",
    [("abc-123_x.y:z", True), ("has space", False), ("x" * 129, False), ("", False), ("<script>", False)],
    ids=["plain", "space", "too-long", "empty", "markup"],
)
def test_a_caller_request_id_is_kept_only_when_it_is_a_plain_token(api, sent, kept):
    response = api.get("/v1/health", HTTP_X_REQUEST_ID=sent)
    assert (response["X-Request-ID"] == sent) is kept
    assert len(response["X-Request-ID"]) in ((len(sent),) if kept else (32,))

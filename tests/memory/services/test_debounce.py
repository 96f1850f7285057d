"""Debounced scheduling: trailing edge, max-wait cap, tenant-scoped keys, superseded
messages, inline mode. Writes go through the working-memory API; promotion runs in a
real Dramatiq worker on the test Redis broker."""

import time

import pytest
from django.utils import timezone

from memory.models import MemoryRecord
from memory.redis_keys import window_key
from memory.services.debounce import promotion_claim, promotion_schedule
from policies.models import ExtractionRun
from tests.conftest import wait_until

NS, USER = "travel", "alice"


def put_turns(client, count, *, session_id="s-1", namespace=NS):
    """Replace the session with `count` turns (m0..m<count-1>), as an agent does after each turn."""
    body = {"namespace": namespace, "user_id": USER,
            "messages": [{"id": f"{namespace}-m{i}", "role": "user" if i % 2 == 0 else "assistant",
                          "content": f"turn {i} in {namespace}"} for i in range(count)]}
    response = client.put(f"/v1/working-memory/{session_id}", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return timezone.now()


def finished_runs(**filters):
    return list(ExtractionRun.objects.filter(status="succeeded", **filters).order_by("started_at"))


@pytest.fixture
def messages_policy(settings, publish_policy):
    settings.LLM_MODEL = ""
    return publish_policy("messages")


def test_writes_push_the_window_back_without_sending_more_messages(settings, redis_client):
    settings.PROMOTION_DEBOUNCE_SECONDS, settings.PROMOTION_MAX_WAIT_SECONDS = 1, 60
    session = {"namespace": NS, "user_id": USER, "session_id": "s-1"}
    promotion_schedule(**session)
    token = redis_client.hget(window_key(**session), "token")
    promotion_schedule(**session)
    promotion_schedule(**session)
    assert redis_client.hget(window_key(**session), "token") == token
    assert redis_client.hlen("dramatiq:default.DQ.msgs") == 1  # one message out for the session

    early = promotion_claim(**session, token=token)
    assert early.action == "rearm" and 0 < early.delay_seconds <= 1
    assert promotion_claim(**session, token="an-older-token").action == "superseded"

    time.sleep(1.05)
    assert promotion_claim(**session, token=token).action == "run"
    assert redis_client.exists(window_key(**session)) == 0
    # A redelivery after a crash mid-run still runs (promotion itself is idempotent).
    assert promotion_claim(**session, token=token).action == "run"


def test_ten_writes_in_a_burst_give_one_run(client, settings, messages_policy, dramatiq_worker, redis_client):
    settings.PROMOTION_DEBOUNCE_SECONDS = 1
    for count in range(1, 11):
        put_turns(client, count)
        time.sleep(0.05)

    [run] = wait_until(finished_runs, timeout=20)
    time.sleep(1.5)  # a second run would have started by now
    assert ExtractionRun.objects.count() == 1
    assert (run.message_count, run.memories_created) == (10, 10)
    assert MemoryRecord.objects.count() == 10
    assert redis_client.exists(window_key(namespace=NS, user_id=USER, session_id="s-1")) == 0


def test_a_session_that_never_goes_quiet_is_promoted_at_the_max_wait_cap(client, settings, messages_policy,
                                                                         dramatiq_worker):
    settings.PROMOTION_DEBOUNCE_SECONDS, settings.PROMOTION_MAX_WAIT_SECONDS = 2, 3
    first_write = put_turns(client, 1)
    for count in range(2, 13):  # a write every 0.5 s for 5.5 s
        time.sleep(0.5)
        last_write = put_turns(client, count)

    first, second = wait_until(lambda: len(finished_runs()) == 2 and finished_runs(), timeout=20)
    assert first.started_at < last_write  # while the writes were still coming
    assert (first.started_at - first_write).total_seconds() >= 2.9  # not before the cap
    assert second.started_at > last_write
    assert first.message_count + second.message_count == 12
    assert sorted(MemoryRecord.objects.values_list("text", flat=True)) == sorted(
        f"{'user' if i % 2 == 0 else 'assistant'}: turn {i} in {NS}" for i in range(12))


def test_the_same_session_id_in_two_namespaces_is_debounced_apart(client, settings, messages_policy,
                                                                  dramatiq_worker):
    settings.PROMOTION_DEBOUNCE_SECONDS = 1
    put_turns(client, 1, namespace="quiet")
    for count in range(1, 11):  # a write every 0.3 s for 3 s
        last_busy_write = put_turns(client, count, namespace="busy")
        time.sleep(0.3)

    runs = wait_until(lambda: len(finished_runs()) == 2 and finished_runs(), timeout=20)
    quiet, busy = sorted(runs, key=lambda run: run.namespace == "busy")
    assert quiet.started_at < last_busy_write  # the busy tenant's writes did not push it back
    assert busy.started_at > last_busy_write
    assert (quiet.message_count, busy.message_count) == (1, 10)
    assert set(MemoryRecord.objects.filter(namespace="quiet").values_list("text", flat=True)) == {
        "user: turn 0 in quiet"}
    assert MemoryRecord.objects.filter(namespace="busy").count() == 10


def test_inline_mode_promotes_on_the_write_itself(client, settings, messages_policy, redis_client):
    settings.WORKERS_INLINE = True
    put_turns(client, 2)
    [run] = finished_runs()
    assert run.memories_created == 2
    assert MemoryRecord.objects.count() == 2
    assert redis_client.hlen("dramatiq:default.DQ.msgs") == 0  # no worker involved


def test_inline_mode_records_a_provider_failure_without_failing_the_write(client, llm_settings, llm_server,
                                                                         publish_policy):
    from tests.llm_server import Fault

    llm_settings.WORKERS_INLINE = True
    publish_policy("discrete")
    llm_server.script(Fault.rate_limit())
    put_turns(client, 1)  # asserts 200
    run = ExtractionRun.objects.get()
    assert (run.status, run.attempt) == ("running", 1)
    assert "RateLimitError" in run.error
    assert MemoryRecord.objects.count() == 0

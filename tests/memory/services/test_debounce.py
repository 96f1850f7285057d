"""Debounced scheduling: trailing edge, max-wait cap, owner-scoped keys, superseded and
lost messages, inline mode. Writes go through the working-memory API; promotion runs in
a real Dramatiq worker on the test Redis broker.

Due times are asserted on the window hash in Redis (`first`, `due`, `token`, `armed`, in
ms of the Redis clock) and on the delayed Dramatiq message (its `eta`), bounded by Redis
TIME read around each write, so no assertion depends on how fast a loaded machine runs.
"""

import time

import pytest
from django.utils import timezone

from memory.models import MemoryRecord
from memory.redis_keys import window_key
from memory.services.debounce import LOST_MESSAGE_GRACE_MS, promotion_claim, promotion_schedule
from policies.models import ExtractionRun
from tests.helpers import (
    DELAYED_MESSAGES,
    put_session,
    queued_messages,
    redis_ms,
    wait_until,
    wait_until_no_messages,
)

NS, USER = "travel", "alice"
SESSION = {"namespace": NS, "user_id": USER, "session_id": "s-1"}


def put_turns(client, count, *, session_id="s-1", namespace=NS):
    """Replace the session with `count` turns, as an agent does after each turn; returns when it was written."""
    put_session(
        client,
        session_id,
        [
            {
                "id": f"{namespace}-m{i}",
                "role": "user" if i % 2 == 0 else "assistant",
                "content": f"turn {i} in {namespace}",
            }
            for i in range(count)
        ],
        namespace=namespace,
        user_id=USER,
    )
    return timezone.now()


def finished_runs(**filters):
    return list(ExtractionRun.objects.filter(status="succeeded", **filters).order_by("started_at"))


def window(redis_client, **session) -> dict:
    raw = redis_client.hgetall(window_key(**(session or SESSION)))
    return {k: (v if k == "token" else int(v)) for k, v in raw.items()}


def promotion_messages(redis_client) -> list[dict]:
    return queued_messages(redis_client, "promote_session", delayed=True)


@pytest.fixture
def messages_policy(settings, publish_policy):
    settings.LLM_MODEL = ""
    return publish_policy("messages")


def test_a_message_is_presumed_lost_once_it_is_a_minute_overdue():
    assert LOST_MESSAGE_GRACE_MS == 60_000  # the README: "more than a minute overdue is presumed lost"


def test_writes_push_the_window_back_without_sending_more_messages(settings, redis_client):
    settings.PROMOTION_DEBOUNCE_SECONDS, settings.PROMOTION_MAX_WAIT_SECONDS = 3, 60
    before = redis_ms(redis_client)
    promotion_schedule(**SESSION)
    after = redis_ms(redis_client)
    first = window(redis_client)
    assert before <= first["first"] <= after
    assert first["due"] == first["armed"] == first["first"] + 3000  # trailing edge: last write + 3 s
    [message] = promotion_messages(redis_client)
    assert message["args"] == [NS, USER, "s-1", first["token"]]
    assert first["due"] - 50 <= message["options"]["eta"] <= first["due"] + 3000  # fires at the due time

    before = redis_ms(redis_client)
    promotion_schedule(**SESSION)
    promotion_schedule(**SESSION)
    after = redis_ms(redis_client)
    moved = window(redis_client)
    assert (moved["first"], moved["token"], moved["armed"]) == (first["first"], first["token"], first["armed"])
    assert before + 3000 <= moved["due"] <= after + 3000  # the last write moved the due time
    assert redis_client.hlen(DELAYED_MESSAGES) == 1  # one message out for the session

    early = promotion_claim(**SESSION, token=first["token"])
    assert early.action == "rearm" and 0 < early.delay_seconds <= 3
    assert window(redis_client)["armed"] == moved["due"]
    assert promotion_claim(**SESSION, token="an-older-token").action == "superseded"
    assert window(redis_client)["token"] == first["token"]  # a superseded message changes nothing

    claim = wait_until(
        lambda: (c := promotion_claim(**SESSION, token=first["token"])).action != "rearm" and c,
        timeout=30,
        what="the due time to pass",
    )
    assert claim.action == "run"
    assert redis_ms(redis_client) >= moved["due"]  # never before the due time
    assert redis_client.exists(window_key(**SESSION)) == 0
    # A redelivery after a crash mid-run still runs (promotion itself is idempotent).
    assert promotion_claim(**SESSION, token=first["token"]).action == "run"


def test_the_due_time_never_passes_the_max_wait_cap(settings, redis_client):
    settings.PROMOTION_DEBOUNCE_SECONDS, settings.PROMOTION_MAX_WAIT_SECONDS = 600, 3
    promotion_schedule(**SESSION)
    first = window(redis_client)
    assert first["due"] == first["armed"] == first["first"] + 3000  # min(write + 600 s, first + 3 s)
    [message] = promotion_messages(redis_client)
    assert message["options"]["eta"] <= first["due"] + 3000  # not 600 s away
    promotion_schedule(**SESSION)
    assert window(redis_client)["due"] == first["first"] + 3000  # later writes cannot push it back
    assert len(promotion_messages(redis_client)) == 1


@pytest.mark.parametrize(
    "overdue_ms, rearmed", [(55_000, False), (65_000, True)], ids=["within-the-grace", "past-the-grace"]
)
def test_a_write_arms_a_new_message_only_when_the_armed_one_is_overdue_past_the_grace(
    settings, redis_client, overdue_ms, rearmed
):
    settings.PROMOTION_DEBOUNCE_SECONDS, settings.PROMOTION_MAX_WAIT_SECONDS = 1, 3600
    promotion_schedule(**SESSION)
    old_token = window(redis_client)["token"]
    # The broker lost the message (say, a flush), and its due time is `overdue_ms` ago.
    redis_client.delete(DELAYED_MESSAGES, "dramatiq:default.DQ")
    redis_client.hset(window_key(**SESSION), "armed", redis_ms(redis_client) - overdue_ms)

    promotion_schedule(**SESSION)

    state, messages = window(redis_client), promotion_messages(redis_client)
    if rearmed:
        assert state["token"] != old_token
        assert [m["args"] for m in messages] == [[NS, USER, "s-1", state["token"]]]
        assert state["armed"] == state["due"]
        # Should the lost original turn up after all, it is superseded and does nothing.
        assert promotion_claim(**SESSION, token=old_token).action == "superseded"
    else:  # the armed message may still come: no second one is sent
        assert state["token"] == old_token
        assert messages == []


def test_ten_writes_in_a_burst_give_one_run(client, settings, messages_policy, redis_client, request):
    settings.PROMOTION_DEBOUNCE_SECONDS = 1
    for count in range(1, 11):
        put_turns(client, count)
    [message] = promotion_messages(redis_client)  # ten writes, one message
    assert message["args"] == [NS, USER, "s-1", window(redis_client)["token"]]

    request.getfixturevalue("dramatiq_worker")  # now let a worker run it
    [run] = wait_until(finished_runs, timeout=20)
    wait_until_no_messages(redis_client, "promote_session")  # nothing is left that could run again
    assert ExtractionRun.objects.count() == 1
    assert (run.message_count, run.memories_created) == (10, 10)
    assert MemoryRecord.objects.count() == 10
    assert redis_client.exists(window_key(**SESSION)) == 0


def test_a_session_that_never_goes_quiet_is_promoted_at_the_max_wait_cap(
    client, settings, messages_policy, dramatiq_worker, redis_client
):
    settings.PROMOTION_DEBOUNCE_SECONDS, settings.PROMOTION_MAX_WAIT_SECONDS = 60, 3
    first_write = put_turns(client, 1)
    count = 1
    deadline = time.monotonic() + 30
    while not ExtractionRun.objects.exists():  # a write every 0.3 s until the capped run starts
        assert time.monotonic() < deadline, "no run within 30 s of a 3 s cap"
        time.sleep(0.3)
        count += 1
        put_turns(client, count)
    count += 1
    last_write = put_turns(client, count)  # a turn the first run has not seen

    first, second = wait_until(lambda: len(finished_runs()) == 2 and finished_runs(), timeout=20)
    wait_until_no_messages(redis_client, "promote_session")
    assert ExtractionRun.objects.count() == 2
    assert first.started_at < last_write  # while the writes were still coming
    assert (first.started_at - first_write).total_seconds() >= 2.9  # not before the cap
    assert second.started_at > last_write
    assert first.message_count + second.message_count == count
    assert sorted(MemoryRecord.objects.values_list("text", flat=True)) == sorted(
        f"{'user' if i % 2 == 0 else 'assistant'}: turn {i} in {NS}" for i in range(count)
    )


def test_the_same_session_id_in_two_namespaces_has_two_windows(client, settings, redis_client):
    settings.PROMOTION_DEBOUNCE_SECONDS = 5
    put_turns(client, 1, namespace="quiet")
    quiet = window(redis_client, namespace="quiet", user_id=USER, session_id="s-1")
    for count in range(1, 11):
        put_turns(client, count, namespace="busy")
    busy = window(redis_client, namespace="busy", user_id=USER, session_id="s-1")

    assert window(redis_client, namespace="quiet", user_id=USER, session_id="s-1") == quiet  # untouched
    assert busy["token"] != quiet["token"] and busy["due"] >= quiet["due"]
    assert sorted(m["args"] for m in promotion_messages(redis_client)) == [
        ["busy", USER, "s-1", busy["token"]],
        ["quiet", USER, "s-1", quiet["token"]],
    ]


def test_the_same_session_id_in_two_namespaces_is_debounced_apart(
    client, settings, messages_policy, dramatiq_worker, redis_client
):
    settings.PROMOTION_DEBOUNCE_SECONDS = 3
    put_turns(client, 1, namespace="quiet")
    count = 0
    deadline = time.monotonic() + 30
    while not ExtractionRun.objects.filter(namespace="quiet").exists():  # a busy write every 0.3 s
        assert time.monotonic() < deadline, "the quiet session was not promoted within 30 s"
        count += 1
        put_turns(client, count, namespace="busy")
        time.sleep(0.3)
    count += 1
    last_busy_write = put_turns(client, count, namespace="busy")

    runs = wait_until(lambda: len(finished_runs()) == 2 and finished_runs(), timeout=20)
    wait_until_no_messages(redis_client, "promote_session")
    assert ExtractionRun.objects.count() == 2
    quiet, busy = sorted(runs, key=lambda run: run.namespace == "busy")
    assert quiet.started_at < last_busy_write  # the busy owner's writes did not push it back
    assert busy.started_at > last_busy_write
    assert (quiet.message_count, busy.message_count) == (1, count)
    assert set(MemoryRecord.objects.filter(namespace="quiet").values_list("text", flat=True)) == {
        "user: turn 0 in quiet"
    }
    assert MemoryRecord.objects.filter(namespace="busy").count() == count


def test_inline_mode_promotes_on_the_write_itself(client, settings, messages_policy, redis_client):
    settings.WORKERS_INLINE = True
    put_turns(client, 2)
    [run] = finished_runs()
    assert run.memories_created == 2
    assert MemoryRecord.objects.count() == 2
    assert redis_client.hlen(DELAYED_MESSAGES) == 0  # no worker involved
    assert queued_messages(redis_client) == []
    assert redis_client.exists(window_key(**SESSION)) == 0  # and no debounce window


def test_inline_mode_records_a_provider_failure_without_failing_the_write(
    client, llm_settings, llm_server, publish_policy, redis_client
):
    from tests.llm_server import Fault

    llm_settings.WORKERS_INLINE = True
    publish_policy("discrete")
    llm_server.script(Fault.rate_limit())
    put_turns(client, 1)  # asserts 200
    run = ExtractionRun.objects.get()
    assert (run.status, run.attempt) == ("running", 1)
    assert "RateLimitError" in run.error
    assert MemoryRecord.objects.count() == 0
    assert len(llm_server.requests) == 1  # one attempt; the next write tries again
    assert queued_messages(redis_client) == []  # no retry was sent to a worker

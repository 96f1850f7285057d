"""Promotion on the deployment `make run` starts: gunicorn plus a separate worker process."""

import signal
import time

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker

from memory.models import MemoryRecord, SessionPromotion, SourceMessage
from policies.models import ExtractionRun
from policies.services import policy_defaults_ensure
from tests.factories import conversation, scripted_reply
from tests.helpers import put_session, wait_until

pytestmark = pytest.mark.multiprocess

TURNS = conversation(3)  # the tests' conversation: m0 to m2


def test_with_no_llm_a_conversation_put_through_the_api_becomes_searchable_message_memories(deployment_with, settings):
    settings.LLM_MODEL = ""
    call_command("seed_defaults")  # as `make run` does: publishes the `messages` strategy
    deployment = deployment_with(LLM_MODEL="", PROMOTION_DEBOUNCE_SECONDS="1")
    put_session(deployment.url, "trip-1", TURNS, namespace="travel", user_id="alice")

    def found():
        response = requests.post(
            f"{deployment.url}/v1/long-term-memory/search",
            headers=deployment.headers,
            timeout=10,
            json={"text": "window seat to Lisbon", "namespace": {"eq": "travel"}, "user_id": {"eq": "alice"}},
        )
        return response.json()["memories"] if response.json().get("total") == 3 else None

    memories = wait_until(found, timeout=90, interval=0.5)
    assert memories[0]["text"] == "user: She is moving to Lisbon next week; book me a window seat."
    assert {m["text"] for m in memories} == {f"{t['role']}: {t['content']}" for t in TURNS}
    assert {(m["memory_type"], m["session_id"]) for m in memories} == {("message", "trip-1")}
    run = ExtractionRun.objects.get()
    assert (run.status, run.strategy, run.memories_created) == ("succeeded", "messages", 3)


def requeue_messages_of_dead_workers(heartbeat_timeout_ms: int = 1000) -> None:
    """Dramatiq's own recovery, now: a live worker runs this maintenance at random (0.1%
    of its Redis calls) once a dead worker's heartbeat is 60 s old; here it runs at once
    with a 1 s heartbeat timeout, for both the queue and its delay queue."""
    broker = RedisBroker(
        url=settings.REDIS_URL,
        namespace="dramatiq",
        heartbeat_timeout=heartbeat_timeout_ms,
        maintenance_chance=MAINTENANCE_SCALE,
    )
    time.sleep(heartbeat_timeout_ms / 1000 + 0.5)
    for queue in ("default", "default.DQ"):
        broker.do_qsize(queue)
    broker.client.close()


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing_on_redelivery(deployment_with, llm_server):
    policy_defaults_ensure(llm_configured=True)  # discrete
    reply = scripted_reply()  # m0's fact and m2's plan
    llm_server.latency = 5.0  # holds the run open inside the LLM call
    llm_server.script(reply, reply)
    deployment = deployment_with(**llm_server.env(), PROMOTION_DEBOUNCE_SECONDS="1", LLM_TIMEOUT_SECONDS="30")
    put_session(deployment.url, "trip-2", TURNS, namespace="travel", user_id="alice")

    wait_until(lambda: len(llm_server.requests) == 1, timeout=90)
    deployment.kill_worker(signal.SIGKILL)
    run = ExtractionRun.objects.get()
    assert (run.status, run.attempt) == ("running", 1)
    assert SourceMessage.objects.count() == 3  # persisted before the LLM call
    assert MemoryRecord.objects.count() == 0

    llm_server.latency = 0.0
    requeue_messages_of_dead_workers()
    deployment.worker = deployment.start_worker()

    run = wait_until(lambda: ExtractionRun.objects.filter(status="succeeded").first(), timeout=120, interval=0.5)
    assert (run.attempt, run.memories_created, run.message_count) == (2, 2, 3)
    assert ExtractionRun.objects.count() == 1
    assert sorted(MemoryRecord.objects.values_list("text", "extraction_run")) == sorted(
        (m["text"], run.pk) for m in reply["memories"]
    )
    assert SourceMessage.objects.count() == 3
    assert SessionPromotion.objects.get().extracted_seq == 3
    assert len(llm_server.requests) == 2

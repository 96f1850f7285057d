"""Provider faults in the real Dramatiq worker: retried with backoff, bounded, and ending
as a failed run that says why (in the run and in the log)."""

import logging

import pytest

from memory.models import MemoryRecord, SessionPromotion
from policies.models import ExtractionRun
from tests.factories import ExtractedMemoryFactory, WorkingMemorySessionFactory, extraction_reply
from tests.helpers import wait_until, wait_until_no_messages
from tests.llm_server import Fault

NS, USER = "travel", "alice"
REPLY = extraction_reply(
    ExtractedMemoryFactory(text="User's sister Anna lives in Lisbon.", topics=[], entities=["Anna", "Lisbon"])
)


def put_one_turn():
    WorkingMemorySessionFactory(
        session_id="s-1",
        namespace=NS,
        user_id=USER,
        messages=[{"id": "m0", "role": "user", "content": "My sister Anna moved to Lisbon."}],
    )


def finished_run():
    return ExtractionRun.objects.exclude(status="running").first()


@pytest.mark.parametrize(
    "fault, attempts, error",
    [
        (Fault.rate_limit(), 3, "attempt 3 of at most 3: LLMUnavailableError: RateLimitError"),
        (Fault.server_error(), 3, "attempt 3 of at most 3: LLMUnavailableError: InternalServerError"),
        (Fault.timeout(3.0), 3, "attempt 3 of at most 3: LLMUnavailableError: Timeout"),
        (
            Fault.malformed_json(),
            2,
            "malformed reply 2 of at most 2 (attempt 2): LLMOutputError: reply is not valid JSON",
        ),
    ],
    ids=["429", "500", "timeout", "malformed-json"],
)
def test_each_provider_fault_is_retried_then_ends_as_a_failed_run(
    policy, llm_server, dramatiq_worker, redis_client, caplog, fault, attempts, error
):
    llm_server.script(*[fault] * 5)
    caplog.set_level(logging.WARNING, logger="memory.services.promotion")
    put_one_turn()

    run = wait_until(finished_run, timeout=30)
    wait_until_no_messages(redis_client, "promote_session")  # no retry is left to run
    assert ExtractionRun.objects.count() == 1
    assert (run.status, run.attempt) == ("failed", attempts)
    assert run.error.startswith(error)
    assert run.finished_at is not None
    assert len(llm_server.requests) == attempts  # then no more calls
    assert llm_server.pending == 5 - attempts
    assert MemoryRecord.objects.count() == 0
    assert SessionPromotion.objects.get().extracted_seq == 0  # the turn waits for the next run
    retried = [r for r in caplog.records if r.levelno == logging.WARNING and "retrying in" in r.getMessage()]
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(retried) == attempts - 1
    assert len(failed) == 1 and error in failed[0].getMessage()


def test_a_run_that_recovers_within_its_attempts_succeeds(policy, llm_server, dramatiq_worker, redis_client):
    llm_server.script(Fault.rate_limit(), Fault.malformed_json(), REPLY)
    put_one_turn()

    run = wait_until(finished_run, timeout=30)
    wait_until_no_messages(redis_client, "promote_session")
    assert (len(llm_server.requests), llm_server.pending) == (3, 0)
    assert (run.status, run.attempt, run.malformed_replies, run.error) == ("succeeded", 3, 1, "")
    assert run.memories_created == 1
    assert list(MemoryRecord.objects.values_list("text", "extraction_run")) == [
        ("User's sister Anna lives in Lisbon.", run.pk)
    ]
    assert ExtractionRun.objects.count() == 1


def test_the_summary_path_persists_turns_and_hands_the_retry_to_the_worker(
    policy, llm_server, dramatiq_worker, redis_client
):
    from memory.services.promotion import promotion_run_now

    llm_server.script(Fault.server_error(), REPLY)
    put_one_turn()
    run = promotion_run_now(namespace=NS, user_id=USER, session_id="s-1")
    assert (run.status, run.attempt) == ("running", 1)  # returned, not raised: the turns are safe in the DB
    assert SessionPromotion.objects.get().persisted_seq == 1

    done = wait_until(finished_run, timeout=30)
    wait_until_no_messages(redis_client, "promote_session")
    assert (done.pk, done.status, done.attempt) == (run.pk, "succeeded", 2)
    assert ExtractionRun.objects.count() == 1
    assert len(llm_server.requests) == 2  # the failed attempt here and the worker's retry
    assert MemoryRecord.objects.count() == 1


@pytest.mark.parametrize(
    "fault, provider_error",
    [
        (Fault.bad_request(), "BadRequestError"),
        (Fault.unauthorized(), "AuthenticationError"),
    ],
    ids=["400", "401"],
)
def test_a_refused_request_ends_the_run_at_once_without_retries(
    policy, llm_server, dramatiq_worker, redis_client, caplog, fault, provider_error
):
    llm_server.script(*[fault] * 3, REPLY)
    caplog.set_level(logging.WARNING, logger="memory.services.promotion")
    put_one_turn()

    run = wait_until(finished_run, timeout=30)
    wait_until_no_messages(redis_client, "promote_session")  # no retry was scheduled, none is left to run
    assert ExtractionRun.objects.count() == 1
    assert (run.status, run.attempt, run.malformed_replies) == ("failed", 1, 0)
    assert run.error.startswith(f"attempt 1, not retryable: LLMError: {provider_error}")
    assert run.finished_at is not None
    assert len(llm_server.requests) == 1
    assert llm_server.pending == 3
    assert MemoryRecord.objects.count() == 0
    assert SessionPromotion.objects.get().extracted_seq == 0  # the turn waits for the next run
    assert [r for r in caplog.records if "retrying in" in r.getMessage()] == []
    [failed] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "not retryable" in failed.getMessage()

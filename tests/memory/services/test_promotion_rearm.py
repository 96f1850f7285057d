"""Extraction resumes after an outage: the sweep's step `promotion_failed_rearm` probes the
provider while failed runs wait and re-arms them once it answers, in bounded batches,
at most PROMOTION_MAX_REARMS times for failures that are not outages, and never a run
whose turns a later run has extracted. Real worker, real HTTP to the scripted LLM."""

import pytest

from memory.models import MemoryRecord, SessionPromotion
from memory.services.promotion import promotion_run
from memory.services.promotion_retry import promotion_failed_rearm, promotion_runs_retry
from policies.models import ExtractionRun, ExtractionRunRetry
from tests.factories import ExtractedMemoryFactory, WorkingMemorySessionFactory, extraction_reply
from tests.helpers import queued_messages, wait_until, wait_until_no_messages
from tests.llm_server import Fault

NS, USER = "travel", "alice"


def reply(*turn_ids: str) -> dict:
    return extraction_reply(
        *(
            ExtractedMemoryFactory(
                text=f"User's sister Anna lives in Lisbon (turn {turn_id}).",
                topics=[],
                entities=["Anna", "Lisbon"],
                source_message_ids=[turn_id],
            )
            for turn_id in turn_ids
        )
    )


@pytest.fixture
def policy(policy, llm_settings):
    """tests/memory/services/conftest.py's policy, with 2 attempts and at most 2 re-arms of 100 runs."""
    llm_settings.PROMOTION_MAX_ATTEMPTS = 2
    llm_settings.PROMOTION_MAX_REARMS = 2
    llm_settings.PROMOTION_REARM_BATCH = 100
    return policy


def put_turns(session_id: str, *turn_ids: str) -> None:
    messages = [{"id": t, "role": "user", "content": f"My sister Anna moved to Lisbon ({t})."} for t in turn_ids]
    WorkingMemorySessionFactory(session_id=session_id, namespace=NS, user_id=USER, messages=messages)


def ended(run_id: int, *, rearms: int) -> ExtractionRun | None:
    """The run once it has ended after `rearms` re-arms (None while it has not)."""
    run = ExtractionRun.objects.get(pk=run_id)
    return run if run.status != "running" and run.rearms == rearms else None


def test_an_outage_longer_than_the_retry_budget_ends_with_the_turns_extracted_once(
    policy, llm_server, dramatiq_worker, redis_client
):
    llm_server.outage = True
    put_turns("s-1", "m0")
    run = wait_until(lambda: ExtractionRun.objects.filter(status="failed").first(), timeout=30)
    wait_until_no_messages(redis_client, "promote_session")  # the run's budget is spent: nothing left to run
    assert (run.attempt, run.failure) == (2, "outage")
    assert run.error.startswith("attempt 2 of at most 2: LLMUnavailableError: InternalServerError")

    assert promotion_failed_rearm() == 0  # the provider is still down: the probe says so
    assert llm_server.probes == 1
    assert ExtractionRun.objects.get(pk=run.pk).status == "failed"
    assert ExtractionRunRetry.objects.count() == 0
    assert queued_messages(redis_client, "promote_session") == []  # nothing was sent
    assert len(llm_server.requests) == 2  # the run's two attempts, no extraction since

    llm_server.outage = False
    llm_server.script(reply("m0"))
    assert promotion_failed_rearm() == 1
    assert llm_server.probes == 2
    done = wait_until(lambda: ended(run.pk, rearms=1), timeout=30)
    wait_until_no_messages(redis_client, "promote_session")
    assert (done.status, done.attempt, done.rearms, done.failure, done.error) == ("succeeded", 1, 1, "", "")
    assert ExtractionRun.objects.count() == 1  # the failed run itself was retried, not a new one
    assert list(MemoryRecord.objects.values_list("extracted_from", "extraction_run")) == [(["m0"], run.pk)]
    assert SessionPromotion.objects.get().extracted_seq == 1
    [retry] = ExtractionRunRetry.objects.all()
    assert (retry.run_id, retry.actor, retry.failure, retry.attempts) == (run.pk, "system:sweep", "outage", 2)
    assert retry.error.startswith("attempt 2 of at most 2: LLMUnavailableError")
    assert len(llm_server.requests) == 3

    assert promotion_failed_rearm() == 0  # nothing waits: no probe, no message, no retry
    assert llm_server.probes == 2
    assert queued_messages(redis_client, "promote_session") == []
    assert ExtractionRunRetry.objects.count() == 1
    assert MemoryRecord.objects.count() == 1


def test_a_failure_that_is_not_an_outage_is_rearmed_at_most_PROMOTION_MAX_REARMS_times(
    policy, llm_server, dramatiq_worker, redis_client
):
    llm_server.script(*[Fault.malformed_json()] * 6, reply("m0"))
    put_turns("s-1", "m0")
    run = wait_until(lambda: ExtractionRun.objects.filter(status="failed").first(), timeout=30)
    assert (run.failure, run.malformed_replies, run.rearms) == ("output", 2, 0)

    for rearm in (1, 2):  # PROMOTION_MAX_REARMS = 2
        assert promotion_failed_rearm() == 1
        again = wait_until(lambda rearm=rearm: ended(run.pk, rearms=rearm), timeout=30)
        assert (again.status, again.failure, again.attempt) == ("failed", "output", 2)
    wait_until_no_messages(redis_client, "promote_session")

    assert promotion_failed_rearm() == 0  # capped: not waiting any more, so not even a probe
    assert llm_server.probes == 2
    assert ExtractionRun.objects.get(pk=run.pk).status == "failed"
    assert len(llm_server.requests) == 6
    assert llm_server.pending == 1
    assert ExtractionRunRetry.objects.filter(run=run, actor="system:sweep", failure="output").count() == 2
    assert MemoryRecord.objects.count() == 0

    # An admin's Retry has no cap: the run is tried a third time and succeeds.
    assert promotion_runs_retry(run_ids=[run.pk], actor="admin:ops").retried == 1
    done = wait_until(lambda: ended(run.pk, rearms=3), timeout=30)
    assert (done.status, done.attempt) == ("succeeded", 1)
    assert MemoryRecord.objects.count() == 1


def test_an_outage_failure_is_rearmed_past_the_cap(policy, settings, llm_server, dramatiq_worker, redis_client):
    settings.PROMOTION_MAX_REARMS = 0  # no re-arm at all for failures that are not outages
    llm_server.outage = True
    put_turns("s-1", "m0")
    run = wait_until(lambda: ExtractionRun.objects.filter(status="failed").first(), timeout=30)
    wait_until_no_messages(redis_client, "promote_session")
    llm_server.outage = False
    llm_server.script(reply("m0"))

    assert promotion_failed_rearm() == 1
    done = wait_until(lambda: ended(run.pk, rearms=1), timeout=30)
    assert (done.status, done.rearms) == ("succeeded", 1)
    assert MemoryRecord.objects.count() == 1


def test_a_failed_run_whose_turns_a_later_run_extracted_is_not_rearmed(
    policy, llm_server, dramatiq_worker, redis_client
):
    llm_server.script(Fault.bad_request(), reply("m0", "m1"))
    put_turns("s-1", "m0")
    failed = wait_until(lambda: ExtractionRun.objects.filter(status="failed").first(), timeout=30)
    assert (failed.failure, failed.attempt) == ("refused", 1)
    put_turns("s-1", "m0", "m1")  # the session goes on: its next run takes both turns
    wait_until(lambda: ExtractionRun.objects.filter(status="succeeded").exists(), timeout=30)
    wait_until_no_messages(redis_client, "promote_session")

    assert promotion_failed_rearm() == 0
    assert llm_server.probes == 0  # nothing waits, so nothing is asked of the provider
    result = promotion_runs_retry(run_ids=[failed.pk], actor="admin:ops")
    assert (result.retried, result.not_retried) == (0, 1)
    assert ExtractionRun.objects.get(pk=failed.pk).status == "failed"
    assert ExtractionRunRetry.objects.count() == 0
    assert queued_messages(redis_client, "promote_session") == []
    assert sorted(t for ids in MemoryRecord.objects.values_list("extracted_from", flat=True) for t in ids) == [
        "m0",
        "m1",
    ]


def test_the_rearm_takes_a_bounded_batch_oldest_first_and_never_the_same_run_twice(
    policy, settings, llm_server, redis_client
):
    """No worker: the runs fail in this process (a refused request ends a run at once),
    and what each sweep step sends is read from the broker's queue."""
    settings.PROMOTION_REARM_BATCH = 2
    llm_server.script(*[Fault.bad_request()] * 3)
    for n in range(3):
        put_turns(f"s-{n}", f"m{n}")
        promotion_run(namespace=NS, user_id=USER, session_id=f"s-{n}")
    runs = list(ExtractionRun.objects.order_by("pk"))
    assert [(r.status, r.failure) for r in runs] == [("failed", "refused")] * 3

    def rearm_messages():
        return sorted(m["args"][2] for m in queued_messages(redis_client, "promote_session") if m["args"][3] == "")

    assert promotion_failed_rearm() == 2
    assert rearm_messages() == ["s-0", "s-1"]
    assert list(ExtractionRun.objects.order_by("pk").values_list("status", "rearms")) == [
        ("running", 1),
        ("running", 1),
        ("failed", 0),
    ]
    assert promotion_failed_rearm() == 1  # the rest; the two running are not taken again
    assert rearm_messages() == ["s-0", "s-1", "s-2"]
    assert promotion_failed_rearm() == 0
    assert rearm_messages() == ["s-0", "s-1", "s-2"]
    assert llm_server.probes == 2  # one per step that found runs waiting (one model)
    assert list(ExtractionRunRetry.objects.order_by("pk").values_list("run_id", "actor")) == [
        (runs[0].pk, "system:sweep"),
        (runs[1].pk, "system:sweep"),
        (runs[2].pk, "system:sweep"),
    ]

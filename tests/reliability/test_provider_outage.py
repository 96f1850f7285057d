"""The LLM provider answers 500 for longer than the whole retry budget, then recovers.

Shortened clock: 2 attempts with a 1 s wait (production: 10 s doubling, 8 attempts,
about 21 minutes), the sweep every 2 s re-arming at most 10 runs (production: 300 s,
100). 30 sessions are written early in the outage and the outage lasts until every one
of their runs has failed (visibly: status failed, the error naming the attempts, listed
in the admin) and the sweep's probe has found the provider still down. Then the
provider answers again, and with no operator action every session's turns end extracted
exactly once: each failed run is re-armed by the sweep and ends succeeded, none is left
failed or running. Working memory accepts every write throughout."""

import threading
import time

import pytest
import requests
from django.test import Client

from memory.models import MemoryRecord
from policies.models import ExtractionRun, ExtractionRunRetry
from policies.services import policy_defaults_ensure
from tests.helpers import put_session, wait_until
from tests.reliability.support import extraction_tally, one_memory_per_turn, report, turns
from workers.queue import enqueue_index_sweep

pytestmark = [pytest.mark.reliability, pytest.mark.multiprocess]

SESSIONS = 30
TURNS = 2
SPREAD_SECONDS = 15.0  # the sessions are written over this much of the outage
REARM_BATCH = 10


def keep_writing(deployment, statuses: list, stop: threading.Event) -> None:
    """Working memory during the outage: a PUT every 50 ms, one session (one debounce
    window, so the writes add one run, not one per write)."""
    n = 0
    while not stop.is_set():
        body = {"messages": turns(9000, 0, n % 50 + 1), "namespace": "busy"}
        response = requests.put(
            f"{deployment.url}/v1/working-memory/busy", json=body, headers=deployment.headers, timeout=10
        )
        statuses.append(response.status_code)
        n += 1
        time.sleep(0.05)


def failed_in_admin(runs) -> set[str]:
    """Sessions of `runs` the admin lists under extraction runs filtered on failed."""
    page = admin_browser().get("/admin/policies/extractionrun/?status__exact=failed").content.decode()
    return {run.session_id for run in runs if f">{run.session_id}<" in page}


def admin_browser() -> Client:
    from django.contrib.auth.models import User

    staff = User.objects.filter(username="ops").first() or User.objects.create_user(
        "ops", password="pw-ops-123", is_staff=True, is_superuser=True
    )
    browser = Client()
    browser.force_login(staff)
    return browser


@pytest.mark.timeout(300)
def test_after_an_outage_longer_than_the_retry_budget_every_session_is_extracted_exactly_once(
    start_deployment, llm_server
):
    policy_defaults_ensure(llm_configured=True)  # discrete
    llm_server.responder = one_memory_per_turn
    llm_server.outage = True
    deployment = start_deployment(
        worker_threads=4,
        **llm_server.env(),
        PROMOTION_DEBOUNCE_SECONDS="1",
        PROMOTION_MAX_ATTEMPTS="2",
        PROMOTION_RETRY_BACKOFF_SECONDS="1",
        PROMOTION_REARM_BATCH=str(REARM_BATCH),
        MEMORY_INDEX_SWEEP_SECONDS="2",
        LLM_TIMEOUT_SECONDS="5",
    )
    enqueue_index_sweep()  # the chain `seed_defaults` starts on a deploy
    outage_started = time.monotonic()
    statuses, stop = [], threading.Event()
    writer = threading.Thread(target=keep_writing, args=(deployment, statuses, stop))
    writer.start()
    runs = ExtractionRun.objects.filter(session_id__startswith="outage-")
    sent = {f"outage-{i}": [t["id"] for t in turns(i, 0, TURNS)] for i in range(SESSIONS)}
    try:
        for i in range(SESSIONS):
            put_session(deployment.url, f"outage-{i}", turns(i, 0, TURNS), namespace="out", user_id=f"u{i}")
            time.sleep(SPREAD_SECONDS / SESSIONS)
        wait_until(lambda: runs.filter(status="failed").count() == SESSIONS, timeout=120, what="every run to fail")
        # The sweep asks the provider, still down, and re-arms nothing.
        probes_when_all_failed = llm_server.probes
        wait_until(lambda: llm_server.probes > probes_when_all_failed, timeout=30, what="a probe during the outage")
        failed_visibly = failed_in_admin(runs)
        rearmed_during_outage = ExtractionRunRetry.objects.count()
        attempts_during_outage = sorted(set(runs.values_list("attempt", flat=True)))
        errors_during_outage = list(runs.values_list("error", flat=True))
        probes_during_outage = llm_server.probes

        llm_server.outage = False
        outage_seconds = time.monotonic() - outage_started
        recovered = time.monotonic()
        wait_until(
            lambda: runs.filter(status="succeeded").count() == SESSIONS, timeout=120, what="every run to succeed"
        )
        recovery_seconds = time.monotonic() - recovered
    finally:
        stop.set()
        writer.join()

    tally = extraction_tally(sent)
    retries = ExtractionRunRetry.objects.filter(run__session_id__startswith="outage-")
    by_status = {s: runs.filter(status=s).count() for s in ExtractionRun.Status.values}
    report(
        "provider-outage",
        outage_s=round(outage_seconds, 1),
        sessions=SESSIONS,
        failed_during_outage=SESSIONS,
        probes_during_outage=probes_during_outage,
        rearmed_by_sweep=retries.count(),
        succeeded=by_status["succeeded"],
        failed=by_status["failed"],
        running=by_status["running"],
        recovery_s=round(recovery_seconds, 1),
        lost=tally["lost"],
        duplicated=tally["duplicated"],
        puts=len(statuses),
        puts_not_200=sum(1 for s in statuses if s != 200),
    )
    # During the outage: every run spent its whole budget and failed visibly; nothing re-armed.
    assert attempts_during_outage == [2]
    outage_error = "attempt 2 of at most 2: LLMUnavailableError: InternalServerError"
    assert all(error.startswith(outage_error) for error in errors_during_outage)
    assert failed_visibly == set(sent)
    assert rearmed_during_outage == 0
    # After it: the failed runs themselves succeeded, once each, with no operator action.
    assert runs.count() == by_status["succeeded"] == SESSIONS
    assert (by_status["failed"], by_status["running"]) == (0, 0)
    assert set(runs.values_list("attempt", "rearms")) == {(1, 1)}
    assert retries.count() == SESSIONS
    assert set(retries.values_list("actor", "failure", "attempts")) == {("system:sweep", "outage", 2)}
    assert (tally["lost"], tally["duplicated"], tally["misnumbered_sessions"]) == (0, 0, 0)
    assert MemoryRecord.objects.filter(namespace="out").count() == SESSIONS * TURNS
    assert failed_in_admin(runs) == set()
    assert set(statuses) == {200}

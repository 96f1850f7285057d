"""The LLM provider answers 500 for a while. Shortened clock: a 20 s outage against a
1 s retry and 2 attempts (production: 10 s
doubling, 8 attempts, about 21 minutes). Runs that start early in the outage run out
of attempts and fail visibly (status failed, the error naming the attempts); runs that
start late retry past its end and succeed; none is left running; and working memory
accepts every write throughout."""

import threading
import time

import pytest
import requests
from django.test import Client

from policies.models import ExtractionRun
from policies.services import policy_defaults_ensure
from tests.helpers import put_session, wait_until
from tests.llm_server import Fault
from tests.reliability.support import one_memory_per_turn, report, turns

pytestmark = [pytest.mark.reliability, pytest.mark.multiprocess]

OUTAGE_SECONDS = 20.0
SESSIONS = 30


@pytest.mark.timeout(300)
def test_a_provider_outage_ends_every_run_retried_or_failed_and_writes_go_on(
    start_deployment, llm_server, django_user_model
):
    policy_defaults_ensure(llm_configured=True)  # discrete
    outage_ends = time.monotonic() + 3600  # set when the load starts
    llm_server.responder = lambda body: (
        Fault.server_error() if time.monotonic() < outage_ends else one_memory_per_turn(body)
    )
    deployment = start_deployment(
        worker_threads=4,
        **llm_server.env(),
        PROMOTION_DEBOUNCE_SECONDS="1",
        PROMOTION_MAX_ATTEMPTS="2",
        PROMOTION_RETRY_BACKOFF_SECONDS="1",
        LLM_TIMEOUT_SECONDS="5",
    )
    outage_ends = time.monotonic() + OUTAGE_SECONDS
    statuses, stop = [], threading.Event()

    def keep_writing():  # working memory during the outage: a PUT every 50 ms, one session
        n = 0  # (one debounce window, so the writes add one run, not one per write)
        while not stop.is_set():
            body = {"messages": turns(9000, 0, n % 50 + 1), "namespace": "busy"}
            response = requests.put(
                f"{deployment.url}/v1/working-memory/busy", json=body, headers=deployment.headers, timeout=10
            )
            statuses.append(response.status_code)
            n += 1
            time.sleep(0.05)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    runs = ExtractionRun.objects.filter(session_id__startswith="outage-")
    try:
        for i in range(SESSIONS):  # spread over the outage
            put_session(deployment.url, f"outage-{i}", turns(i, 0, 2), namespace="out", user_id=f"u{i}")
            time.sleep(OUTAGE_SECONDS / SESSIONS)
        wait_until(
            lambda: runs.count() == SESSIONS and not runs.filter(status="running").exists(),
            timeout=180,
            interval=1,
            what="every run to end",
        )
    finally:
        stop.set()
        writer.join()

    by_status = {s: runs.filter(status=s).count() for s in ExtractionRun.Status.values}
    retried_then_succeeded = runs.filter(status="succeeded", attempt__gt=1).count()
    report(
        "provider-outage",
        outage_s=OUTAGE_SECONDS,
        sessions=SESSIONS,
        succeeded=by_status["succeeded"],
        retried_then_succeeded=retried_then_succeeded,
        failed=by_status["failed"],
        running=by_status["running"],
        puts=len(statuses),
        puts_not_200=sum(1 for s in statuses if s != 200),
    )
    assert by_status["running"] == 0
    assert by_status["succeeded"] + by_status["failed"] == SESSIONS == runs.count()
    assert retried_then_succeeded > 0 and by_status["failed"] > 0  # both endings happened
    for run in runs.filter(status="failed"):
        assert run.error.startswith("attempt 2 of at most 2: LLMUnavailableError: InternalServerError"), run.error
    assert set(statuses) == {200}

    staff = django_user_model.objects.create_user("ops", password="pw-ops-123", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/admin/policies/extractionrun/?status__exact=failed").content.decode()
    assert all(run.session_id in page for run in runs.filter(status="failed"))  # visible in the admin

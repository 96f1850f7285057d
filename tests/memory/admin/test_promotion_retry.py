"""The admin's bulk Retry on failed extraction runs: through the promotion service, as the
admin user (an ExtractionRunRetry row each), counting what it retried and what it could
not; only for users allowed to (the Policy editor role); nothing sent or written twice."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from memory.services.promotion import promotion_run
from memory.services.roles import POLICY_EDITOR, REVIEWER, roles_ensure
from policies.models import ExtractionRun, ExtractionRunRetry
from tests.factories import ExtractedMemoryFactory, extraction_reply
from tests.helpers import put_session, queued_messages
from tests.llm_server import Fault

NS, USER = "travel", "alice"
CHANGELIST = "/admin/policies/extractionrun/"


@pytest.fixture
def runs(client, llm_settings, publish_policy, llm_server):
    """Three sessions promoted in this process (no worker): two runs refused by the
    provider (failed at once), one succeeded."""
    publish_policy("discrete")
    fact = ExtractedMemoryFactory(
        text="User's sister Anna lives in Lisbon.", topics=[], entities=[], source_message_ids=["m2"]
    )
    reply = extraction_reply(fact)
    llm_server.script(Fault.bad_request(), Fault.bad_request(), reply)
    for n in range(3):
        messages = [{"id": f"m{n}", "role": "user", "content": f"My sister Anna moved to Lisbon ({n})."}]
        put_session(client, f"s-{n}", messages, namespace=NS, user_id=USER)
        promotion_run(namespace=NS, user_id=USER, session_id=f"s-{n}")
    found = list(ExtractionRun.objects.order_by("session_id"))
    assert [(r.session_id, r.status) for r in found] == [("s-0", "failed"), ("s-1", "failed"), ("s-2", "succeeded")]
    return found


def admin_client(username: str, group: str) -> Client:
    roles_ensure()
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    browser = Client()
    browser.force_login(user)
    return browser


def retry(browser: Client, runs: list[ExtractionRun]):
    body = {"action": "retry_failed_runs", "_selected_action": [r.pk for r in runs]}
    response = browser.post(CHANGELIST, body, follow=True)
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def retry_messages(redis_client) -> list[str]:
    """Sessions sent to the worker by a retry (no debounce token), sorted."""
    return sorted(m["args"][2] for m in queued_messages(redis_client, "promote_session") if m["args"][3] == "")


def test_a_policy_editor_retries_the_failed_runs_once_each(runs, redis_client, settings):
    settings.PROMOTION_MAX_REARMS = 0  # the sweep's cap does not bind an admin
    editor = admin_client("pete", POLICY_EDITOR)
    assert 'value="retry_failed_runs"' in editor.get(CHANGELIST).content.decode()

    shown = retry(editor, runs)
    assert shown == [
        "Retried 2 runs: their sessions are queued for extraction.",
        "1 run not retried: only a failed run that is its session's latest, with turns still to "
        "extract, can be (the others succeeded, are running, or a later run took their turns).",
    ]
    assert list(ExtractionRun.objects.order_by("session_id").values_list("status", "attempt", "rearms")) == [
        ("running", 0, 1),
        ("running", 0, 1),
        ("succeeded", 1, 0),
    ]
    retries = ExtractionRunRetry.objects.order_by("run_id")
    assert list(retries.values_list("run_id", "actor", "failure", "attempts")) == [
        (runs[0].pk, "admin:pete", "refused", 1),
        (runs[1].pk, "admin:pete", "refused", 1),
    ]
    assert ExtractionRunRetry.objects.get(run=runs[0]).error.startswith("attempt 1, not retryable: LLMError")
    assert retry_messages(redis_client) == ["s-0", "s-1"]

    assert retry(editor, runs) == [  # again: they are running now, so nothing is retried twice
        "3 runs not retried: only a failed run that is its session's latest, with turns still to "
        "extract, can be (the others succeeded, are running, or a later run took their turns)."
    ]
    assert ExtractionRunRetry.objects.count() == 2
    assert retry_messages(redis_client) == ["s-0", "s-1"]

    page = editor.get(f"{CHANGELIST}{runs[0].pk}/change/").content.decode()
    assert "admin:pete" in page and "Refused by the provider" in page  # the retry, on the run's page


def test_a_reviewer_may_not_retry_and_nothing_changes(runs, redis_client):
    reviewer = admin_client("rita", REVIEWER)
    assert 'value="retry_failed_runs"' not in reviewer.get(CHANGELIST).content.decode()

    assert retry(reviewer, runs[:2]) == []  # the changelist has no action for this user to run
    assert list(ExtractionRun.objects.order_by("session_id").values_list("status", "rearms")) == [
        ("failed", 0),
        ("failed", 0),
        ("succeeded", 0),
    ]
    assert ExtractionRunRetry.objects.count() == 0
    assert retry_messages(redis_client) == []

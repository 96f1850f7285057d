"""The review desk used as a person would: memories extracted
by promotion (review mode, the scripted LLM) wait in the queue of a real gunicorn +
worker deployment; a reviewer approves, rejects with a reason, edits and skips with the
keyboard alone; search over REST follows; a merge is undone from the provenance page.

The README's screenshot (docs/review-desk.png) is this test's 03-reject-reason-picked.png, in
var/browser-artifacts/test_a_reviewer_works_the_queue_with_the_keyboard/.
"""

import time

import pytest
import requests
from django.contrib.auth.models import Group, User
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from memory.models import MemoryHistory, MemoryRecord
from policies.models import ExtractionRun
from tests.browser.pages import PASSWORD, admin_login, element, wait_for
from tests.factories import ExtractedMemoryFactory, conversation, extraction_reply
from tests.helpers import put_session, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess]

REVIEW_PATH = "/admin/memory/memoryrecord/review/"
SCOPE = {"namespace": "family", "user_id": "alice"}
TURNS = conversation()  # the tests' conversation: m3 restates m0
APPROVE = "User's sister Anna lives in Porto."
DUPLICATE = "The user's sister, Anna, lives in Porto."  # cosine distance 0.025: merged into APPROVE
EDIT = "User's sister Anna is moving to Lisbon next week."
EDITED = "User's sister Anna moves to Lisbon in the week of 2024-05-11."
REJECT = "User owns a cat called Porto."  # nothing in the conversation says so
SKIP = "User prefers a window seat on flights."


EXTRACTED = extraction_reply(
    ExtractedMemoryFactory(text=APPROVE),
    ExtractedMemoryFactory(text=EDIT, memory_type="episodic", source_message_ids=["m2"], entities=["Anna", "Lisbon"]),
    ExtractedMemoryFactory(text=REJECT, source_message_ids=["m1"], entities=["Porto"]),
    ExtractedMemoryFactory(text=SKIP, source_message_ids=["m2"], entities=[]),
    ExtractedMemoryFactory(text=DUPLICATE, source_message_ids=["m3"]),
)


def seed_pending_memories(deployment, llm_server) -> dict[str, str]:
    """Promote one session through the worker; return {text: id} of the records it made."""
    llm_server.script(EXTRACTED)
    put_session(deployment.url, "chat-1", TURNS, **SCOPE)
    run = wait_until(lambda: ExtractionRun.objects.filter(status="succeeded").first(), timeout=120, interval=0.5)
    assert (run.memories_created, run.memories_deduplicated) == (4, 1)
    records = dict(MemoryRecord.objects.values_list("text", "id"))
    assert set(records) == {APPROVE, EDIT, REJECT, SKIP}
    assert set(MemoryRecord.objects.values_list("status", flat=True)) == {"pending"}
    return records


def reviewer() -> User:
    from memory.services.roles import roles_ensure

    roles_ensure()
    user = User.objects.create_user("rita", "rita@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Reviewer"))
    return user


def current_item(driver) -> tuple[str, str] | None:
    """(memory id, text) of the item on screen, or None once the queue is empty."""
    found = driver.find_elements(By.CSS_SELECTOR, "#review-item[data-memory-id]")
    if not found:
        return None
    return found[0].get_attribute("data-memory-id"), driver.find_element(By.ID, "review-text").text.strip()


def remaining(driver) -> int:
    """The counter's number: "3 left" is 3."""
    counter = driver.find_element(By.ID, "review-remaining").text
    assert counter.endswith(" left"), counter
    return int(counter.removesuffix(" left"))


def next_item(driver, page) -> tuple[str, str] | None:
    """Wait until `page` (the old <html>) is gone and the next page has loaded; return
    its current_item(). Every decision is a form post (or, for skip, a link) that
    redirects to the next item, which may be the same one when it is all that is left."""
    wait_for(driver, EC.staleness_of(page), what="the decision to be sent")
    wait_for(
        driver,
        lambda d: (
            d.execute_script("return document.readyState") == "complete"
            and d.find_elements(By.CSS_SELECTOR, "#review-item, #review-empty")
        ),
        what="the next item",
    )
    return current_item(driver)


def keys(driver, *sequence) -> None:
    ActionChains(driver).send_keys(*sequence).perform()


def reject_with_second_reason(driver, screenshot) -> str:
    keys(driver, "r")
    reasons = element(driver, "#reject-reasons")
    reason = reasons.find_elements(By.CSS_SELECTOR, "button[data-reason]")[1].get_attribute("data-reason")
    keys(driver, "2")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "button[data-reason][aria-pressed=true]"))
    screenshot("reject-reason-picked")
    keys(driver, Keys.ENTER)
    return reason


def edit_text(driver, text: str, screenshot) -> None:
    keys(driver, "e")
    area = element(driver, "#edit-form textarea[name=text]")
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys(text)
    screenshot("editing")
    ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()


ACTIONS = {APPROVE: "approve", EDIT: "edit", REJECT: "reject", SKIP: "skip"}


def decide(driver, action: str, screenshot) -> str | None:
    """Press the keys for `action`; return the reason picked for a reject."""
    if action == "reject":
        return reject_with_second_reason(driver, screenshot)
    if action == "edit":
        edit_text(driver, EDITED, screenshot)
    else:
        keys(driver, action[0])  # a, s
    return None


def work_the_queue(driver, screenshot) -> tuple[dict[str, float], str]:
    """Decide each item by its text, keyboard only, until each of the four has been
    seen once (a skipped item may come round again at the end). Returns the seconds
    each took, from its load to the next item's, and the reject reason picked."""
    timings, reason, item = {}, None, current_item(driver)
    while item is not None and ACTIONS[item[1]] not in timings:
        action, page, left = ACTIONS[item[1]], driver.find_element(By.TAG_NAME, "html"), remaining(driver)
        started, shooting = time.monotonic(), screenshot.seconds
        reason = decide(driver, action, screenshot) or reason
        item = next_item(driver, page)
        timings[action] = time.monotonic() - started - (screenshot.seconds - shooting)
        assert remaining(driver) == (left if action == "skip" else left - 1), f"the counter after {action}"
        screenshot(f"after-{action}")
    assert set(timings) == set(ACTIONS.values())
    assert item is None or item[1] == SKIP, f"{item} is still in the queue after a decision"
    return timings, reason


def search(deployment, text: str) -> list[dict]:
    response = requests.post(
        f"{deployment.url}/v1/long-term-memory/search",
        headers=deployment.headers,
        json={"text": text, "namespace": {"eq": SCOPE["namespace"]}, "user_id": {"eq": SCOPE["user_id"]}},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["memories"]


def history(deployment, memory_id: str) -> list[dict]:
    response = requests.get(
        f"{deployment.url}/v1/long-term-memory/{memory_id}/history", headers=deployment.headers, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["history"]


def assert_search_follows_the_decisions(deployment, records: dict[str, str], reason: str) -> None:
    found = {m["id"]: m["text"] for m in search(deployment, "Anna Porto Lisbon cat window seat")}
    assert found == {records[APPROVE]: APPROVE, records[EDIT]: EDITED}
    rejected = next(e for e in history(deployment, records[REJECT]) if e["action"] == "rejected")
    assert (rejected["reason"], rejected["actor"]) == (reason, "admin:rita")
    skipped = requests.get(
        f"{deployment.url}/v1/long-term-memory/{records[SKIP]}", headers=deployment.headers, timeout=30
    ).json()
    assert skipped["status"] == "pending"


def open_provenance(driver, deployment, memory_id: str, screenshot) -> None:
    driver.get(f"{deployment.url}/admin/memory/memoryrecord/{memory_id}/change/")
    assert "My sister Anna lives in Porto." in element(driver, "#provenance-messages").text
    assert "scripted" in element(driver, "#provenance-run").text
    assert DUPLICATE in element(driver, "#provenance-raw-output").text
    driver.execute_script("document.getElementById('provenance-run').scrollIntoView();")
    screenshot("provenance")


def undo_the_merge(driver, deployment, memory_id: str, screenshot) -> str:
    """Press the merge's undo button; return the id of the record the merge absorbed."""
    merge = MemoryHistory.objects.get(memory_id=memory_id, action="merged")
    absorbed_id = merge.detail["merged"]["id"]
    assert (
        requests.get(
            f"{deployment.url}/v1/long-term-memory/{absorbed_id}", headers=deployment.headers, timeout=30
        ).status_code
        == 404
    )
    form = element(driver, f"#provenance-history form.undo-history[data-history-id='{merge.pk}']")
    form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
    wait_for(driver, lambda d: f"/{absorbed_id}/change/" in d.current_url, what="the restored record's page")
    assert "Undid the merge" in element(driver, "ul.messagelist").text
    assert element(driver, "#content-main [name=text]").get_attribute("value") == DUPLICATE
    screenshot("merge-undone")
    return absorbed_id


def test_a_reviewer_works_the_queue_with_the_keyboard(deployment_with, llm_server, publish_policy, browser, screenshot):
    publish_policy("discrete", review_mode="pending")
    deployment = deployment_with(**llm_server.env(), PROMOTION_DEBOUNCE_SECONDS="1")
    records = seed_pending_memories(deployment, llm_server)
    reviewer()

    admin_login(browser, deployment.url, "rita", next_path=REVIEW_PATH)
    assert element(browser, "#review-remaining").text == "4 left"
    screenshot("review-queue")
    timings, reason = work_the_queue(browser, screenshot)
    for action, seconds in timings.items():
        print(f"review desk: {action} took {seconds:.2f} s from the item's load to the next item's")
    print(f"review desk: {sum(timings.values()) / len(timings):.2f} s per item on average")
    assert_search_follows_the_decisions(deployment, records, reason)

    open_provenance(browser, deployment, records[APPROVE], screenshot)
    absorbed_id = undo_the_merge(browser, deployment, records[APPROVE], screenshot)
    back = requests.get(f"{deployment.url}/v1/long-term-memory/{absorbed_id}", headers=deployment.headers, timeout=30)
    assert back.status_code == 200, back.text
    assert (back.json()["text"], back.json()["status"]) == (DUPLICATE, "pending")
    assert "unmerged" in {e["action"] for e in history(deployment, records[APPROVE])}
    # The merge happened while both were pending: undoing it keeps rita's approval of the survivor.
    survivor = requests.get(
        f"{deployment.url}/v1/long-term-memory/{records[APPROVE]}", headers=deployment.headers, timeout=30
    ).json()
    assert survivor["status"] == "approved"

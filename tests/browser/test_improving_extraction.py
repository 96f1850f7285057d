"""Improving extraction as a policy editor would, in Chromium against a real gunicorn +
worker deployment: a new version from the published one with a changed prompt, publish
and roll back, an A/B experiment of the two, sessions promoted through the worker with
the scripted LLM, a reviewer's decisions, and the results page with its figures and
charts.

The README's walkthrough ("Improving extraction") shows this test's screenshots, copied
to docs/ from var/browser-artifacts/test_a_policy_editor_runs_an_experiment_and_reads_its_results/.
"""

import pytest
from django.contrib.auth.models import Group, User
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from memory.models import MemoryRecord
from memory.services.review import memory_approve, memory_reject
from policies.models import Assignment, ExtractionRun, Policy, PolicyVersion, PublishEvent
from tests.browser.pages import PASSWORD, admin_login, element, wait_for
from tests.helpers import put_session, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess]

NAMESPACE = "shop"
CUSTOM_PROMPT = (
    "You extract what a shop assistant must remember about a customer: sizes, brands and "
    "delivery wishes. One fact per memory.\nThe new turns:\n{{ turns }}"
)
SESSIONS = 8


def policy_editor() -> User:
    from memory.services.roles import roles_ensure

    roles_ensure()
    user = User.objects.create_user("petra", "petra@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Policy editor"))
    return user


def submit(driver, css: str) -> None:
    """Click a submit button and wait for the page it leads to."""
    page = driver.find_element(By.TAG_NAME, "html")
    element(driver, css).click()
    wait_for(driver, lambda d: not _attached(page), what=f"the page after {css}")
    wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def _attached(node) -> bool:
    try:
        node.is_enabled()
        return True
    except Exception:  # StaleElementReferenceException: the old page is gone
        return False


def new_version_with_custom_prompt(driver, base_url: str, published: PolicyVersion, screenshot) -> PolicyVersion:
    driver.get(f"{base_url}/admin/policies/policyversion/{published.pk}/change/")
    submit(driver, "#new-version-from")
    Select(element(driver, "#new-version-form [name=strategy]")).select_by_value("custom")
    template = element(driver, "#new-version-form [name=prompt_template]")
    template.clear()
    template.send_keys(CUSTOM_PROMPT)
    screenshot("new-version-from-published")
    submit(driver, "#save-new-version")
    created = PolicyVersion.objects.get(policy=published.policy, number=published.number + 1)
    # A browser sends a textarea's line breaks as CRLF (HTML's form encoding).
    template_text = created.prompt_template.replace("\r\n", "\n")
    assert (created.strategy, template_text, created.review_mode) == ("custom", CUSTOM_PROMPT, "pending")
    assert created.created_by == "admin:petra"
    return created


def try_it(driver, base_url: str, version: PolicyVersion, llm_server, screenshot) -> None:
    """Paste a conversation on the version's Try it page: the memories show, nothing is stored."""
    llm_server.script(reply(0))
    driver.get(f"{base_url}/admin/policies/policyversion/{version.pk}/change/")
    submit(driver, "#try-it")
    element(driver, "#try-it-form textarea").send_keys(
        "user: I am customer 0 and wear size 36.\nuser: Please deliver on day 0."
    )
    submit(driver, "#try-it-run")
    shown = [td.text for td in element(driver, "#try-it-memories").find_elements(By.CSS_SELECTOR, "td.text")]
    assert shown == ["Customer 0 wears shoe size 36.", "Customer 0 wants delivery on day 0."]
    assert llm_server.requests[-1]["messages"][0]["content"].startswith("You extract what a shop assistant")
    assert (MemoryRecord.objects.count(), ExtractionRun.objects.count()) == (0, 0)
    screenshot("try-it")
    llm_server.reset()


def publish_then_roll_back(driver, base_url: str, first: PolicyVersion, second: PolicyVersion, screenshot) -> None:
    driver.get(f"{base_url}/admin/policies/policyversion/{second.pk}/change/")
    submit(driver, "#publish-version")
    assert Policy.objects.get(pk=first.policy_id).published_version_id == second.pk
    screenshot("published")
    submit(driver, "#rollback-policy")
    assert Policy.objects.get(pk=first.policy_id).published_version_id == first.pk
    events = list(PublishEvent.objects.order_by("id").values_list("kind", "from_version", "to_version", "actor"))
    assert events[-2:] == [
        ("publish", first.pk, second.pk, "admin:petra"),
        ("rollback", second.pk, first.pk, "admin:petra"),
    ]
    rows = element(driver, "#publish-history").find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [r.get_attribute("data-kind") for r in rows][:2] == ["rollback", "publish"]
    screenshot("rolled-back")


def start_experiment(driver, base_url: str, control: PolicyVersion, challenger: PolicyVersion, screenshot):
    driver.get(f"{base_url}/admin/policies/experiment/add/")
    element(driver, "#id_key").send_keys("shop-assistant-prompt")
    driver.find_element(By.ID, "id_description").send_keys("Does the shop prompt keep more reviewable facts?")
    driver.find_element(By.ID, "id_namespaces").send_keys(NAMESPACE)
    for row, (name, version) in enumerate((("A", control), ("B", challenger))):
        driver.find_element(By.CSS_SELECTOR, f"input[name$='-{row}-name']").send_keys(name)
        Select(driver.find_element(By.CSS_SELECTOR, f"select[name$='-{row}-version']")).select_by_value(str(version.pk))
        weight = driver.find_element(By.CSS_SELECTOR, f"input[name$='-{row}-weight']")
        weight.clear()
        weight.send_keys("1")
    screenshot("experiment-new")
    submit(driver, "input[name=_save]")
    from policies.models import Experiment

    experiment = Experiment.objects.get(key="shop-assistant-prompt")
    driver.get(f"{base_url}/admin/policies/experiment/{experiment.pk}/change/")
    submit(driver, "#experiment-start")
    experiment.refresh_from_db()
    assert experiment.status == "running"
    assert element(driver, "#experiment-actions").get_attribute("data-status") == "running"
    return experiment


def reply(n: int) -> dict:
    """Two facts per session; distinct users, so nothing merges."""

    def fact(text: str, source: str) -> dict:
        return {"text": text, "memory_type": "semantic", "topics": ["shopping"], "entities": [], "event_date": None,
                "source_message_ids": [source]}  # fmt: skip

    size, day = f"Customer {n} wears shoe size {36 + n}.", f"Customer {n} wants delivery on day {n}."
    return {"memories": [fact(size, "m0"), fact(day, "m1")]}


def promote_sessions(deployment, llm_server) -> dict[str, list[ExtractionRun]]:
    """One session at a time (so each scripted reply meets its own session); returns the
    succeeded runs by variant name."""
    for n in range(1, SESSIONS + 1):
        llm_server.script(reply(n))
        turns = [
            {"id": "m0", "role": "user", "content": f"I am customer {n} and wear size {36 + n}."},
            {"id": "m1", "role": "user", "content": f"Please deliver on day {n}."},
        ]
        put_session(deployment.url, f"visit-{n}", turns, namespace=NAMESPACE, user_id=f"customer-{n}")
        wait_until(
            lambda n=n: ExtractionRun.objects.filter(session_id=f"visit-{n}", status="succeeded").exists(),
            timeout=120,
            interval=0.3,
        )
    runs: dict[str, list[ExtractionRun]] = {}
    for run in ExtractionRun.objects.filter(status="succeeded").select_related("variant"):
        runs.setdefault(run.variant.name, []).append(run)
    return runs


def review(runs: dict[str, list[ExtractionRun]]) -> dict[str, tuple[int, int]]:
    """A reviewer approves B's memories and rejects the second memory of every A run;
    returns (approved, reviewed) per variant, counted here from those decisions."""
    counts = {}
    for name, variant_runs in runs.items():
        approved = reviewed = 0
        for run in variant_runs:
            memories = list(MemoryRecord.objects.filter(extraction_run=run).order_by("text"))
            assert [m.status for m in memories] == ["pending", "pending"]
            for index, record in enumerate(memories):
                if name == "A" and index == 1:
                    memory_reject(memory_id=record.pk, reason="not durable", actor="admin:rita")
                else:
                    memory_approve(memory_id=record.pk, actor="admin:rita")
                    approved += 1
                reviewed += 1
        counts[name] = (approved, reviewed)
    return counts


def figure(driver, variant: str, name: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#variant-{variant} [data-figure={name}]").text.strip()


def assert_results_page(driver, runs, counts, screenshot) -> None:
    element(driver, "#results-table")
    for name, variant_runs in runs.items():
        approved, reviewed = counts[name]
        assert figure(driver, name, "sessions") == str(len(variant_runs))
        assert figure(driver, name, "runs") == str(len(variant_runs))
        assert figure(driver, name, "failed_runs") == "0"
        assert figure(driver, name, "messages") == str(2 * len(variant_runs))
        assert figure(driver, name, "memories") == str(2 * len(variant_runs))
        assert figure(driver, name, "memories_per_100") == "100.0"
        assert figure(driver, name, "reviewed") == f"{approved} / {reviewed}"
        assert figure(driver, name, "approval_rate").startswith(f"{100 * approved / reviewed:.1f}%")
    # 8/8 against 4/8, pooled p = 12/16: z = 0.5 / sqrt(0.75 * 0.25 * (1/8 + 1/8)) = 2.309,
    # two-sided p = 2 * (1 - Phi(2.309)) = 0.0209.
    verdict = driver.find_element(By.CSS_SELECTOR, "#experiment-verdicts li[data-variant=B]").text
    assert verdict.startswith("B approves more than A (p = 0.021)"), verdict
    for chart in ("chart-approval", "chart-cost"):
        size = driver.find_element(By.ID, chart).size
        assert size["width"] > 100 and size["height"] > 100, (chart, size)
    screenshot("experiment-results")
    driver.execute_script("document.getElementById('chart-approval').scrollIntoView();")
    screenshot("experiment-charts")


def test_a_policy_editor_runs_an_experiment_and_reads_its_results(
    deployment_with, llm_server, publish_policy, browser, screenshot
):
    published = publish_policy("discrete", review_mode="pending")
    deployment = deployment_with(**llm_server.env(), PROMOTION_DEBOUNCE_SECONDS="1")
    policy_editor()
    admin_login(browser, deployment.url, "petra")

    challenger = new_version_with_custom_prompt(browser, deployment.url, published, screenshot)
    try_it(browser, deployment.url, challenger, llm_server, screenshot)
    publish_then_roll_back(browser, deployment.url, published, challenger, screenshot)
    experiment = start_experiment(browser, deployment.url, published, challenger, screenshot)

    runs = promote_sessions(deployment, llm_server)
    assert sorted(runs) == ["A", "B"], "both variants got sessions"
    assert sum(len(r) for r in runs.values()) == SESSIONS
    assert Assignment.objects.filter(experiment=experiment).count() == SESSIONS
    for run in runs["B"]:
        assert run.policy_version_id == challenger.pk and run.experiment_id == experiment.pk
    # The challenger's prompt reached the model for its sessions, the stock one for A's.
    systems = [body["messages"][0]["content"] for body in llm_server.requests]
    assert sum(s.startswith("You extract what a shop assistant") for s in systems) == len(runs["B"])
    counts = review(runs)

    browser.get(f"{deployment.url}/admin/policies/experiment/{experiment.pk}/results/")
    assert {name: len(r) for name, r in runs.items()} == {"A": 4, "B": 4}  # sha256 of the keys, fixed
    assert_results_page(browser, runs, counts, screenshot)
    publish_the_winner(browser, deployment.url, experiment, challenger, screenshot)


def publish_the_winner(driver, base_url: str, experiment, winner: PolicyVersion, screenshot) -> None:
    driver.get(f"{base_url}/admin/policies/experiment/{experiment.pk}/change/")
    Select(element(driver, "#experiment-winner")).select_by_visible_text(f"B (v{winner.number})")
    submit(driver, "#experiment-conclude")
    submit(driver, "#experiment-publish-winner")
    experiment.refresh_from_db()
    assert (experiment.status, experiment.winner.name) == ("concluded", "B")
    assert Policy.objects.get(pk=winner.policy_id).published_version_id == winner.pk
    last = PublishEvent.objects.order_by("-id").first()
    assert (last.kind, last.to_version_id, last.actor) == ("conclude", winner.pk, "admin:petra")
    screenshot("winner-published")

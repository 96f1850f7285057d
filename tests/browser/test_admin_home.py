"""The admin's home page (/admin/) as each role meets it, in Chromium against a gunicorn +
worker deployment with no LLM: a reviewer, a policy editor and a superuser each see
exactly their sections and figures, with exact counts, and each figure's link opens the
list it counts. The seed holds what must not count beside what must (approved memories,
a conflict on an approved memory, a failed run older than 24 h, a published version).

The README's screenshots docs/images/admin-home-{reviewer,policy-editor,superuser}.png and
admin-home-superuser-dark.png are the home-*.png this module's tests leave in
var/browser-artifacts/<test name>/.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from memory import redis_keys
from memory.models import MemoryConflict, MemoryRecord
from memory.redis_client import get_redis
from policies.models import ExtractionRun, PolicyVersion
from tests.browser.pages import PASSWORD, admin_login, element, wait_for
from tests.factories import ExperimentFactory, PolicyVersionFactory, memory_records_create
from tests.helpers import wait_until, wait_until_no_messages

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess]

SECTIONS = ("home-review", "home-policies", "home-operations")
TOM = {"namespace": "support", "user_id": "tom"}
VEGETARIAN = "Tom is vegetarian."
NOT_VEGETARIAN = "Tom is no longer vegetarian."  # kept apart from VEGETARIAN and linked: a conflict
PASSPORT_2029 = "Tom's passport expires in July 2029."
PASSPORT_2026 = "Tom's passport expires in March 2026."  # approved: its conflict waits for no one
PENDING_SUPPORT = {NOT_VEGETARIAN, "Tom prefers aisle seats on long flights.", "Tom's office moved to Leeds."}
PENDING_SALES = {"Acme asked for a quote on forty seats."}


@dataclass(frozen=True)
class Seeded:
    """What the figures should find: the running experiment, the published version and the
    failed run of the last 24 hours."""

    experiment_id: int
    published: PolicyVersion
    recent_failure_id: int


def seed_memories(now) -> None:
    """3 pending in "support" (the oldest 3 days old), 1 in "sales" (5 hours old), 3
    approved; a conflict on a pending memory and one on an approved one; an approved
    record whose index document is then lost (an index drift of 1)."""
    memory_records_create({"text": VEGETARIAN}, {"text": PASSPORT_2029}, deduplicate=True, **TOM)
    (acme,) = memory_records_create({"text": "Acme renews its contract every May."}, namespace="sales")
    ages = (timedelta(days=3, minutes=2), timedelta(days=1, hours=1), timedelta(hours=2, minutes=2))
    memory_records_create(
        *({"text": text, "created_at": now - age} for text, age in zip(sorted(PENDING_SUPPORT), ages, strict=True)),
        status="pending",
        deduplicate=True,
        **TOM,
    )
    memory_records_create(
        *({"text": text, "created_at": now - timedelta(hours=5, seconds=20)} for text in PENDING_SALES),
        namespace="sales",
        status="pending",
    )
    memory_records_create({"text": PASSPORT_2026}, deduplicate=True, **TOM)
    conflicts = MemoryConflict.objects.values_list("memory__text", "memory__status").order_by("memory__text")
    assert list(conflicts) == [(NOT_VEGETARIAN, "pending"), (PASSPORT_2026, "approved")]
    oldest = MemoryRecord.objects.get(text=NOT_VEGETARIAN)
    assert now - oldest.created_at == timedelta(days=3, minutes=2)  # the seed's ages are what the page reads
    assert get_redis().delete(redis_keys.index_document_key(acme.pk)) == 1


def run_of(version: PolicyVersion, **fields) -> ExtractionRun:
    """A finished run of `version`. No service records a run outside a real extraction, so
    the ORM writes it, as the runs' admin tests do."""
    return ExtractionRun.objects.create(
        namespace="support", user_id="tom", policy_version=version, strategy=version.strategy, **fields
    )


def seed() -> Seeded:
    """Everything the three roles' figures read, made once per test (each test's DB is new)."""
    now = timezone.now()
    seed_memories(now)
    experiment = ExperimentFactory(key="shorter-lists")  # A publishes default v1, B drafts v2
    published = experiment.variants.get(name="A").version
    PolicyVersionFactory(params={"max_memories": 5})  # v3: drafted, never published
    failed = {"status": ExtractionRun.Status.FAILED, "failure": ExtractionRun.Failure.OUTPUT}
    recent = run_of(
        published, session_id="chat-9", tokens_in=1200, tokens_out=300, cost_usd=Decimal("0.0042"), **failed
    )
    old = run_of(published, session_id="chat-8", tokens_in=800, tokens_out=200, cost_usd=Decimal("0.0030"), **failed)
    ExtractionRun.objects.filter(pk=old.pk).update(started_at=now - timedelta(hours=30))  # started_at is auto_now_add
    run_of(
        published,
        session_id="chat-7",
        status=ExtractionRun.Status.SUCCEEDED,
        tokens_in=400,
        tokens_out=100,
        cost_usd=Decimal("0.0010"),
    )
    return Seeded(experiment.pk, published, recent.pk)


def users() -> None:
    """rita reviews, pete edits policies (both staff, by their role groups), ops is a superuser."""
    from memory.services.roles import POLICY_EDITOR, REVIEWER, roles_ensure

    groups = roles_ensure()
    for username, role in (("rita", REVIEWER), ("pete", POLICY_EDITOR)):
        user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
        user.groups.add(groups[role])
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)


@pytest.fixture
def home(deployment_with, redis_client):
    """A deployment with no LLM, seeded, its worker up and its queues drained: the home
    page's figures hold still while a test reads them."""
    deployment = deployment_with(LLM_MODEL="")  # whatever the shell running the tests has
    seeded = seed()
    users()
    wait_until(lambda: redis_client.zcard("dramatiq:__heartbeats__"), timeout=60, what="the worker's heartbeat")
    wait_until_no_messages(redis_client)
    return deployment, seeded


# --- Reading the page ------------------------------------------------------------------------


def figures(driver) -> dict[str, tuple[str, object]]:
    """{figure name: (the section it is in, its element)}, in the page's order."""
    found = {}
    for section in driver.find_elements(By.CSS_SELECTOR, "section[id^='home-']"):
        for figure in section.find_elements(By.CSS_SELECTOR, "[data-figure]"):
            name = figure.get_attribute("data-figure")
            assert name not in found, f"figure {name} twice"
            found[name] = (section.get_attribute("id"), figure)
    outside = driver.find_elements(By.CSS_SELECTOR, "[data-figure]")
    assert len(outside) == len(found), "a figure outside the home sections"
    return found


def sections(driver) -> list[str]:
    return [s.get_attribute("id") for s in driver.find_elements(By.CSS_SELECTOR, "section[id^='home-']")]


def count(figure) -> int:
    text = figure.find_element(By.CSS_SELECTOR, ".count").text
    assert re.fullmatch(r"\d+", text), f"{figure.get_attribute('data-figure')}: count {text!r}"
    return int(text)


def link(figure) -> str | None:
    """The href the figure leads to: its own, or its one link's; None without one."""
    if figure.tag_name == "a":
        return figure.get_attribute("href")
    links = figure.find_elements(By.TAG_NAME, "a")
    assert len(links) <= 1, f"{figure.get_attribute('data-figure')} has {len(links)} links"
    return links[0].get_attribute("href") if links else None


def listed(driver, url: str, column: str | None = None) -> tuple[int, set[str]]:
    """Open a changelist: (its result count, from the paginator's "N things"; the texts of
    `column`'s cells, when named)."""
    driver.get(url)
    paginator = element(driver, "#changelist .paginator").text.strip()
    match = re.fullmatch(r"(\d+) [^\d]+", paginator)
    assert match, f"{url}: paginator {paginator!r}"
    cells = driver.find_elements(By.CSS_SELECTOR, f"#result_list .field-{column}") if column else []
    return int(match.group(1)), {cell.text for cell in cells}


def shoot_home(driver, screenshot, name: str) -> None:
    """Screenshot the home sections whole (the window made as tall as they are, header
    included), then give the window back its size."""
    size = driver.get_window_size()
    bottom = driver.execute_script(
        """return window.scrollY + Math.ceil(Math.max(...[...document.querySelectorAll('section[id^="home-"]')]
               .map(s => s.getBoundingClientRect().bottom)));"""
    )
    chrome = driver.execute_script("return window.outerHeight - window.innerHeight;")
    driver.set_window_size(size["width"], max(size["height"], bottom + 24 + chrome))
    driver.execute_script("window.scrollTo(0, 0);")
    screenshot(name)
    driver.set_window_size(size["width"], size["height"])


def open_home(driver, deployment, username: str) -> dict[str, tuple[str, object]]:
    admin_login(driver, deployment.url, username)
    element(driver, "#home-review")
    return figures(driver)


# --- What every role's review section shows -------------------------------------------------


def assert_review_figures(driver, found: dict) -> dict[str, str]:
    """The review section's figures and counts; returns {figure: link} to follow afterwards
    (following one leaves the page)."""
    review = [name for name, (section, _) in found.items() if section == "home-review"]
    assert review == ["pending:support", "pending:sales", "conflicts"]  # by count desc, then the conflicts
    counts = {name: count(found[name][1]) for name in review}
    assert counts == {"pending:support": 3, "pending:sales": 1, "conflicts": 1}
    oldest = {name: found[name][1].find_element(By.CSS_SELECTOR, ".oldest").text for name in review[:2]}
    assert oldest == {"pending:support": "3 days", "pending:sales": "5 hours"}
    assert driver.find_elements(By.CSS_SELECTOR, "#home-review [data-empty]") == []
    links = {name: link(found[name][1]) for name in review}
    assert None not in links.values(), links
    return links


def assert_review_links(driver, links: dict[str, str]) -> None:
    """Each review figure's link opens the memories it counts, and no others."""
    assert listed(driver, links["pending:support"], "text_short") == (3, PENDING_SUPPORT)
    assert listed(driver, links["pending:sales"], "text_short") == (1, PENDING_SALES)
    assert listed(driver, links["conflicts"], "text_short") == (1, {NOT_VEGETARIAN})


def assert_start_reviewing(driver, deployment) -> None:
    """ "Start reviewing" opens the desk on a pending memory, with every pending one queued
    (two namespaces have some, so no namespace is picked)."""
    driver.get(f"{deployment.url}/admin/")
    element(driver, "#start-reviewing").click()
    wait_for(driver, lambda d: "/admin/memory/memoryrecord/review/" in d.current_url, what="the review desk")
    item = element(driver, "#review-item[data-memory-id]").get_attribute("data-memory-id")
    assert MemoryRecord.objects.get(pk=item).status == "pending"
    assert element(driver, "#review-remaining").text == "4 left"


# --- The tests -----------------------------------------------------------------------------


def test_a_reviewer_sees_only_what_waits_for_review(home, browser, screenshot):
    deployment, _ = home
    found = open_home(browser, deployment, "rita")

    assert sections(browser) == ["home-review"]
    assert set(found) == {"pending:support", "pending:sales", "conflicts"}
    links = assert_review_figures(browser, found)
    shoot_home(browser, screenshot, "home-reviewer")
    assert_tab_reaches_the_first_figure(browser)

    assert_review_links(browser, links)
    assert_start_reviewing(browser, deployment)


# Django's app list: a .module of #content-main that is none of the home sections.
APP_LIST = "const e = arguments[0]; return !!e.closest('#content-main .module') && !e.closest('section[id^=home-]');"


def assert_tab_reaches_the_first_figure(driver) -> None:
    """From the page's top, Tab alone reaches the first figure's link (before the app list's)."""
    first = driver.find_element(By.CSS_SELECTOR, "[data-figure] a, a[data-figure]")
    driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur();")
    for _ in range(40):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        focused = driver.switch_to.active_element
        if focused == first:
            return
        in_app_list = driver.execute_script(APP_LIST, focused)
        assert not in_app_list, f"Tab reached {focused.get_attribute('outerHTML')[:120]} before the first figure"
    pytest.fail("40 Tabs did not reach the first figure's link")


def assert_policy_figures(driver, found: dict, seeded: Seeded) -> tuple[dict[str, str], str]:
    """The policies section's figures; returns their links and the experiment's verdict."""
    policies = {name for name, (section, _) in found.items() if section == "home-policies"}
    experiment = f"experiment:{seeded.experiment_id}"
    assert policies == {"published:default", "drafts:default", experiment, "evaluation:default"}
    assert found["published:default"][1].text.strip() == "v1"
    assert count(found["drafts:default"][1]) == 2  # v2 (the experiment's B) and v3; v1 was published
    assert "shorter-lists" in found[experiment][1].text
    verdict = found[experiment][1].find_element(By.CSS_SELECTOR, ".verdict").text.strip()
    assert verdict, "the experiment's verdict"
    assert found["evaluation:default"][1].text.strip() == "never evaluated"
    assert link(found["evaluation:default"][1]) is None
    empty = {
        e.get_attribute("data-empty"): e.text
        for e in driver.find_elements(By.CSS_SELECTOR, "#home-policies [data-empty]")
    }
    assert set(empty) == {"no-llm"}  # an experiment runs, so no "no-experiments"
    assert "LLM_MODEL" in empty["no-llm"]
    links = {name: link(found[name][1]) for name in ("published:default", "drafts:default", experiment)}
    return links, verdict


def assert_policy_links(driver, deployment, figures_read: tuple[dict[str, str], str], seeded: Seeded) -> None:
    """The published version's page, its policy's drafts, and the experiment's results
    page, whose verdict the home page repeats."""
    links, verdict = figures_read
    driver.get(links["published:default"])
    wait_for(driver, lambda d: d.find_elements(By.ID, "content-main"), what="the version's page")
    assert driver.current_url == f"{deployment.url}/admin/policies/policyversion/{seeded.published.pk}/change/"
    drafts, numbers = listed(driver, links["drafts:default"], "number")
    assert (drafts, numbers) == (2, {"2", "3"})
    driver.get(links[f"experiment:{seeded.experiment_id}"])
    assert element(driver, "#experiment-status").text == "Running"
    verdicts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#experiment-verdicts li.verdict")]
    assert any(text.startswith(verdict) for text in verdicts), (verdict, verdicts)
    assert driver.current_url.startswith(f"{deployment.url}/admin/policies/experiment/{seeded.experiment_id}/results/")


def test_a_policy_editor_sees_review_and_policies(home, browser, screenshot):
    deployment, seeded = home
    found = open_home(browser, deployment, "pete")

    assert sections(browser) == ["home-review", "home-policies"]
    review_links = assert_review_figures(browser, found)
    policy_links = assert_policy_figures(browser, found, seeded)
    assert {section for section, _ in found.values()} == {"home-review", "home-policies"}
    shoot_home(browser, screenshot, "home-policy-editor")

    assert_review_links(browser, review_links)
    assert_policy_links(browser, deployment, policy_links, seeded)


OPERATIONS = {
    "failed-runs-24h",
    "extraction-lag",
    "queue-depth",
    "index-drift",
    "usage:default:v1",
    "stale-summary-views",
    "health:redis",
    "health:database",
    "health:worker",
    "health:llm",
}


def assert_operations_figures(found: dict) -> dict[str, str]:
    operations = {name for name, (section, _) in found.items() if section == "home-operations"}
    assert operations == OPERATIONS  # usage: only v1 ran
    figure = {name: found[name][1] for name in OPERATIONS}
    counts = {
        name: count(figure[name]) for name in ("failed-runs-24h", "queue-depth", "index-drift", "stale-summary-views")
    }
    assert counts == {"failed-runs-24h": 1, "queue-depth": 0, "index-drift": 1, "stale-summary-views": 0}
    assert figure["extraction-lag"].text.strip() == "none"
    health = {name: figure[name].text.strip() for name in OPERATIONS if name.startswith("health:")}
    assert health == {
        "health:redis": "ok",
        "health:database": "ok",
        "health:worker": "ok",
        "health:llm": "not configured",
    }
    assert_usage(figure["usage:default:v1"])
    return {name: link(figure[name]) for name in ("failed-runs-24h", "stale-summary-views")}


def assert_usage(row) -> None:
    """Tokens (in + out) and cost of v1's runs today, and this month (the run of 30 hours
    ago counts when it fell in this month)."""
    now = timezone.now()
    old_this_month = (now - timedelta(hours=30)).month == now.month
    columns = ("tokens-today", "tokens-month", "cost-today", "cost-month")
    cells = {c: row.find_element(By.CSS_SELECTOR, f".{c}").text for c in columns}
    month = ("3000", "0.0082") if old_this_month else ("2000", "0.0052")
    assert cells == dict(zip(columns, ("2000", month[0], "0.0052", month[1]), strict=True))


def test_a_superuser_sees_every_section(home, browser, screenshot):
    deployment, seeded = home
    found = open_home(browser, deployment, "ops")

    assert sections(browser) == list(SECTIONS)
    review_links = assert_review_figures(browser, found)
    policy_links = assert_policy_figures(browser, found, seeded)
    operations_links = assert_operations_figures(found)
    shoot_home(browser, screenshot, "home-superuser")
    assert_dark_theme_is_readable(browser, screenshot)

    assert listed(browser, operations_links["failed-runs-24h"], "id") == (1, {str(seeded.recent_failure_id)})
    assert browser.find_elements(By.CSS_SELECTOR, "select[name=action] option[value=retry_failed_runs]")
    assert listed(browser, operations_links["stale-summary-views"]) == (0, set())
    assert_review_links(browser, review_links)
    assert_policy_links(browser, deployment, policy_links, seeded)


def luminance(rgb: str) -> float:
    """WCAG relative luminance of a computed "rgb(r, g, b)" or "rgba(...)" colour."""
    channels = [int(c) / 255 for c in re.findall(r"[\d.]+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


COLOURS = """
const backdrop = e => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
  if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; };
return [...document.querySelectorAll('section[id^="home-"], [data-figure], [data-figure] a, [data-empty]')]
  .map(e => [e.id || e.getAttribute('data-figure') || e.tagName, getComputedStyle(e).color, backdrop(e)]);
"""


def assert_dark_theme_is_readable(driver, screenshot) -> None:
    """Under prefers-color-scheme: dark (Django's own dark theme), the page is dark and every
    section, figure and link keeps its text apart from its background (WCAG AA, 4.5:1)."""
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    driver.refresh()
    element(driver, "#home-review")
    colours = driver.execute_script(COLOURS)
    assert len(colours) > len(SECTIONS)
    for name, text, background in colours:
        assert text != background, name
        lighter, darker = sorted((luminance(text), luminance(background)), reverse=True)
        assert (lighter + 0.05) / (darker + 0.05) >= 4.5, f"{name}: {text} on {background}"
    assert luminance(colours[0][2]) < 0.1, f"the dark theme's background is {colours[0][2]}"
    shoot_home(driver, screenshot, "home-superuser-dark")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def empty_states(driver) -> dict[str, str]:
    return {e.get_attribute("data-empty"): e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-empty]")}


def test_an_empty_deployment_says_what_to_do_next(deployment_with, browser, screenshot):
    """No memory, no experiment, no LLM, no run: each part says what to do in one line
    instead of showing nothing; once a memory exists but none waits, the review part says
    how to hold new ones for review."""
    deployment = deployment_with(LLM_MODEL="")
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    found = open_home(browser, deployment, "ops")

    assert not [name for name in found if name.startswith("pending:")]
    empty = empty_states(browser)
    assert set(empty) == {"no-memories", "no-llm", "no-experiments", "no-usage"}
    assert "LLM_MODEL" in empty["no-llm"]
    assert all(len(text.splitlines()) == 1 for text in empty.values()), empty
    shoot_home(browser, screenshot, "home-empty")

    memory_records_create({"text": VEGETARIAN}, **TOM)
    browser.refresh()
    element(browser, "#home-review")
    empty = empty_states(browser)
    assert set(empty) == {"nothing-pending", "no-llm", "no-experiments", "no-usage"}
    assert "review mode" in empty["nothing-pending"]
    assert browser.find_element(By.CSS_SELECTOR, "[data-figure=conflicts] .count").text == "0"

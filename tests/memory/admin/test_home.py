"""The admin's home page (/admin/) by role, through Django's test client: each role gets
exactly its sections, every figure has its exact count, every figure's link opens a
changelist whose count is the figure, each empty state says what to do next, and the
page runs the same number of queries with 3 records as with 30."""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from memory import redis_keys
from memory.models import MemoryConflict, MemoryRecord
from memory.redis_client import get_redis
from memory.services.long_term.edit import memory_edit
from memory.services.summary_views.runs import partition_run
from memory.services.summary_views.views import summary_view_create
from policies.models import ExtractionRun, PolicyEvaluation, PolicyVersion
from tests.factories import ExperimentFactory, PolicyVersionFactory, memory_records_create
from tests.helpers import wait_until
from tests.memory.admin.conftest import staff_client

pytestmark = pytest.mark.django_db(transaction=True)

SECTIONS = {"home-review", "home-policies", "home-operations"}
TOM = {"namespace": "support", "user_id": "tom"}
PASSPORT_2029 = "Tom's passport expires in July 2029."
PASSPORT_2026 = "Tom's passport expires in March 2026."  # pending, deduplicated against 2029: a conflict


# --- Reading the page ------------------------------------------------------------------------


@dataclass
class Figure:
    text: str = ""
    href: str = ""
    parts: dict[str, str] = field(default_factory=dict)  # span/td class -> its text


class _Page(HTMLParser):
    """Figures (data-figure), sections and empty states of the home page."""

    PART_CLASSES = ("count", "oldest", "verdict", "tokens-today", "tokens-month", "cost-today", "cost-month")

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, Figure] = {}
        self.sections: set[str] = set()
        self.empty: set[str] = set()
        self.start_url = ""
        self._stack: list[tuple[str, str | None, str | None]] = []  # tag, figure opened, part opened

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "section" and (attrs.get("id") or "").startswith("home-"):
            self.sections.add(attrs["id"])
        if "data-empty" in attrs:
            self.empty.add(attrs["data-empty"])
        if tag == "a" and attrs.get("id") == "start-reviewing":
            self.start_url = attrs["href"]
        name = attrs.get("data-figure")
        if name is not None:
            self.figures[name] = Figure()
        part = next((c for c in (attrs.get("class") or "").split() if c in self.PART_CLASSES), None)
        if tag == "a":
            for figure in self._open_figures():
                figure.href = figure.href or attrs["href"]
        if tag not in ("br", "img", "input", "link", "meta"):
            self._stack.append((tag, name, part))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for figure in self._open_figures():
            figure.text += data
        parts = [part for _, _, part in self._stack if part]
        for figure in self._open_figures():
            for part in parts:
                figure.parts[part] = figure.parts.get(part, "") + data

    def _open_figures(self) -> list[Figure]:
        return [self.figures[name] for _, name, _ in self._stack if name is not None]


def home(client) -> _Page:
    response = client.get("/admin/")
    assert response.status_code == 200
    page = _Page()
    page.feed(response.content.decode())
    for figure in page.figures.values():
        figure.text = " ".join(figure.text.split())
        figure.parts = {k: v.strip() for k, v in figure.parts.items()}
    return page


def count(page: _Page, name: str) -> int:
    text = page.figures[name].parts["count"]
    assert text.isdigit(), text
    return int(text)


def listed(client, url: str) -> int:
    """How many rows the changelist at `url` counts (its own filters applied)."""
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


# --- Seeding -----------------------------------------------------------------------------------


def seed_memories(now) -> str:
    """3 pending in "support" (oldest 3 days), 1 pending in "sales" (5 hours), 1 pending
    without a namespace (12 minutes); a conflict from a pending memory (PASSPORT_2026) and
    approved ones. Returns an approved record whose index document is then deleted."""
    memory_records_create({"text": PASSPORT_2029}, **TOM)
    (acme,) = memory_records_create({"text": "Acme renews its contract every May."}, namespace="sales")
    memory_records_create(
        {"text": "Tom prefers aisle seats on long flights.", "created_at": now - timedelta(days=3, minutes=2)},
        {"text": "Tom's office moved to Leeds.", "created_at": now - timedelta(hours=26)},
        status="pending",
        **TOM,
    )
    memory_records_create(
        {"text": PASSPORT_2026, "created_at": now - timedelta(hours=1)}, status="pending", deduplicate=True, **TOM
    )
    memory_records_create(
        {"text": "Acme asked for a quote on forty seats.", "created_at": now - timedelta(hours=5, seconds=20)},
        namespace="sales",
        status="pending",
    )
    memory_records_create(
        {"text": "Someone likes tea.", "namespace": None, "created_at": now - timedelta(minutes=12, seconds=5)},
        status="pending",
    )
    assert list(MemoryConflict.objects.values_list("memory__text", "memory__status")) == [(PASSPORT_2026, "pending")]
    assert get_redis().delete(redis_keys.index_document_key(acme.pk)) == 1
    return acme.pk


def run_of(version: PolicyVersion, **fields) -> ExtractionRun:
    """A finished run: no service records one outside a real extraction, so the ORM does."""
    return ExtractionRun.objects.create(
        namespace="support", user_id="tom", policy_version=version, strategy=version.strategy, **fields
    )


def seed_policies(now) -> dict:
    experiment = ExperimentFactory(key="shorter-lists")  # A publishes default v1, B drafts v2
    published = experiment.variants.get(name="A").version
    PolicyVersionFactory(params={"max_memories": 5})  # v3: drafted, never published
    evaluation = PolicyEvaluation.objects.create(
        version=published, dataset_name="gold.jsonl", dataset_sha256="0" * 64, threshold=0.8,
        status=PolicyEvaluation.Status.SUCCEEDED, f1=0.75, precision=0.8, recall=0.7, actor="test",
    )  # fmt: skip
    failed = {"status": ExtractionRun.Status.FAILED, "failure": ExtractionRun.Failure.OUTPUT, "model": "m"}
    recent = run_of(published, session_id="c9", tokens_in=1200, tokens_out=300, cost_usd=Decimal("0.0042"), **failed)
    old = run_of(published, session_id="c8", tokens_in=800, tokens_out=200, cost_usd=Decimal("0.0030"), **failed)
    ExtractionRun.objects.filter(pk=old.pk).update(started_at=now - timedelta(hours=30))  # started_at is auto_now_add
    last_month = now.replace(day=1) - timedelta(days=2)
    gone = run_of(published, session_id="c7", status="succeeded", tokens_in=5000, cost_usd=Decimal("1"))
    ExtractionRun.objects.filter(pk=gone.pk).update(started_at=last_month)
    run_of(published, session_id="c6", status="succeeded", tokens_in=400, tokens_out=100, cost_usd=Decimal("0.001"))
    return {"experiment": experiment, "published": published, "evaluation": evaluation, "recent": recent, "old": old}


def seed() -> dict:
    now = timezone.now()
    return {"unindexed": seed_memories(now), **seed_policies(now), "now": now}


# --- Sections by role ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sections"),
    [
        ("reviewer", {"home-review"}),
        ("policy_editor", {"home-review", "home-policies"}),
        ("superuser", SECTIONS),
        ("no_role", set()),
    ],
)
def test_each_role_gets_exactly_its_sections(request, role, sections):
    seed()
    client = request.getfixturevalue(f"{role}_client")
    page = home(client)
    assert page.sections == sections
    prefixes = {"home-review": ("pending:", "conflicts"), "home-policies": ("published:", "drafts:", "experiment:",
                "evaluation:"), "home-operations": ("failed-runs", "extraction-lag", "queue-depth", "index-drift",
                "usage:", "stale-summary-views", "health:")}  # fmt: skip
    for section in SECTIONS:
        shown = {name for name in page.figures if name.startswith(prefixes[section])}
        assert bool(shown) == (section in sections), (section, shown)


# --- Review ----------------------------------------------------------------------------------


def test_review_figures_count_pending_by_namespace_with_the_oldest_age_and_links_open_those_lists(reviewer_client):
    seed()
    page = home(reviewer_client)
    pending = [name for name in page.figures if name.startswith("pending:")]
    assert pending == ["pending:support", "pending:", "pending:sales"]  # count desc, then name
    assert {name: count(page, name) for name in pending} == {"pending:support": 3, "pending:": 1, "pending:sales": 1}
    oldest = {name: page.figures[name].parts["oldest"] for name in pending}
    assert oldest == {"pending:support": "3 days", "pending:sales": "5 hours", "pending:": "12 minutes"}
    assert count(page, "conflicts") == 1
    for name in [*pending, "conflicts"]:
        assert listed(reviewer_client, page.figures[name].href) == count(page, name), name
    assert page.start_url == "/admin/memory/memoryrecord/review/?status=pending"
    assert reviewer_client.get(page.start_url).status_code == 200
    assert page.empty == set()


def test_start_reviewing_names_the_namespace_when_only_one_has_pending_memories(reviewer_client):
    memory_records_create({"text": "Tom's office moved to Leeds."}, status="pending", **TOM)
    page = home(reviewer_client)
    assert page.start_url == "/admin/memory/memoryrecord/review/?status=pending&namespace=support"
    assert [name for name in page.figures if name.startswith("pending:")] == ["pending:support"]


def test_no_memories_and_nothing_pending_say_what_to_do_next(reviewer_client):
    page = home(reviewer_client)
    assert page.empty == {"no-memories"}
    assert [name for name in page.figures if name.startswith("pending:")] == []
    assert count(page, "conflicts") == 0

    memory_records_create({"text": "Tom's office moved to Leeds."}, **TOM)
    page = home(reviewer_client)
    assert page.empty == {"nothing-pending"}


# --- Policies --------------------------------------------------------------------------------


def test_policy_figures_published_drafts_evaluation_and_experiment_verdict(policy_editor_client, settings):
    settings.LLM_MODEL = ""
    seeded = seed()
    page = home(policy_editor_client)
    published = page.figures["published:default"]
    assert published.text == "v1"
    assert published.href == f"/admin/policies/policyversion/{seeded['published'].pk}/change/"
    assert count(page, "drafts:default") == 2  # v2 (experiment's B) and v3
    assert listed(policy_editor_client, page.figures["drafts:default"].href) == 2
    evaluation = page.figures["evaluation:default"]
    assert evaluation.text == "succeeded on gold.jsonl: f1 0.75, precision 0.80, recall 0.70"
    assert evaluation.href == f"/admin/policies/policyevaluation/{seeded['evaluation'].pk}/change/"
    experiment = page.figures[f"experiment:{seeded['experiment'].pk}"]
    assert experiment.text.startswith("shorter-lists: ")
    assert experiment.parts["verdict"].startswith("no difference detected yet; about ")  # nobody reviewed yet
    assert experiment.href == f"/admin/policies/experiment/{seeded['experiment'].pk}/results/"
    assert policy_editor_client.get(experiment.href).status_code == 200
    assert page.empty == {"no-llm"}
    assert "LLM_MODEL" in policy_editor_client.get("/admin/").content.decode()


def test_no_experiment_no_published_version_and_a_configured_llm(policy_editor_client, settings):
    settings.LLM_MODEL = "openai/gpt-4o-mini"
    PolicyVersionFactory()  # default v1, never published
    memory_records_create({"text": "Tom's office moved to Leeds."}, status="pending", **TOM)
    page = home(policy_editor_client)
    assert page.figures["published:default"].text == "none" and page.figures["published:default"].href == ""
    assert page.figures["evaluation:default"].text == "never evaluated"
    assert count(page, "drafts:default") == 1
    assert page.empty == {"no-experiments"}
    assert not [name for name in page.figures if name.startswith("experiment:")]


# --- Operations ------------------------------------------------------------------------------


def test_operations_figures_count_exactly_and_failed_runs_link_to_those_runs(superuser_client, settings):
    settings.LLM_MODEL = "openai/gpt-4o-mini"
    seeded = seed()
    page = home(superuser_client)
    assert count(page, "failed-runs-24h") == 1
    runs = superuser_client.get(page.figures["failed-runs-24h"].href)
    assert [run.pk for run in runs.context["cl"].result_list] == [seeded["recent"].pk]
    assert count(page, "index-drift") == 1  # one record's document deleted
    assert count(page, "queue-depth") == 0
    assert page.figures["extraction-lag"].text == "none"
    usage = page.figures["usage:default:v1"].parts
    # Today: the recent failed run and the succeeded one; this month also the run of 30 h ago
    # (unless this month began since); the run of last month never.
    local = timezone.localtime(seeded["now"])
    old_this_month = timezone.localtime(seeded["now"] - timedelta(hours=30)).month == local.month
    month = ("3000", "0.0082") if old_this_month else ("2000", "0.0052")
    assert usage == {"tokens-today": "2000", "tokens-month": month[0], "cost-today": "0.0052", "cost-month": month[1]}
    assert not [name for name in page.figures if name.startswith("usage:") and name != "usage:default:v1"]
    health = {name[len("health:") :]: f.text for name, f in page.figures.items() if name.startswith("health:")}
    # The last model run failed on malformed replies (the recent run started after the old one).
    assert health == {
        "redis": "ok",
        "database": "ok",
        "worker": "no worker seen in 60 s",
        "llm": "last run failed: Malformed replies",
    }
    assert count(page, "stale-summary-views") == 0


def test_queue_depth_counts_waiting_messages_and_a_worker_shows_healthy(superuser_client, settings, request):
    """The worker is a separate process, as deployed: this process's own heartbeats (it
    enqueues too) never count as a worker's."""
    from workers.queue import enqueue_index

    settings.LLM_MODEL = ""
    enqueue_index(memory_ids=["nothing-1"])
    enqueue_index(memory_ids=["nothing-2"])
    page = home(superuser_client)
    assert count(page, "queue-depth") == 2
    assert page.figures["health:worker"].text == "no worker seen in 60 s"
    assert page.figures["health:llm"].text == "not configured"

    deployment = request.getfixturevalue("deployment")
    wait_until(lambda: home(superuser_client).figures["health:worker"].text == "ok", what="a worker's heartbeat")
    wait_until(lambda: count(home(superuser_client), "queue-depth") == 0, what="the queue to drain")

    # A stopped worker reads as gone once its heartbeat is older than the broker's timeout
    # (shortened here; the web processes' heartbeats, fresh as they enqueue, never count).
    settings.DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS = 5
    assert page_figure_text(superuser_client, "health:worker") == "ok"
    deployment.stop()
    wait_until(lambda: page_figure_text(superuser_client, "health:worker") == "no worker seen in 5 s", what="silence")


def page_figure_text(client, name: str) -> str:
    return home(client).figures[name].text


def test_stale_summary_views_are_counted_per_view_from_their_partitions(superuser_client, settings):
    settings.LLM_MODEL = ""
    memory_records_create(
        {"id": "a1", "text": "Alice drinks green tea.", "user_id": "alice"},
        {"id": "b1", "text": "Bob rides a red bicycle.", "user_id": "bob"},
        {"id": "n1", "text": "Nobody's note.", "user_id": None},
    )
    views = [
        summary_view_create(
            tenant="", namespaces=None, user_ids=None, fields={"name": name, "group_by": group_by}, actor="test"
        )
        for name, group_by in (("by user", ["user_id"]), ("all", []))
    ]
    assert count(home(superuser_client), "stale-summary-views") == 2  # no partition computed yet
    for group in ({"user_id": "alice"}, {"user_id": "bob"}, {"user_id": ""}):
        partition_run(view=views[0], group=group, actor="test")
    partition_run(view=views[1], group={}, actor="test")
    page = home(superuser_client)
    assert count(page, "stale-summary-views") == 0
    assert listed(superuser_client, page.figures["stale-summary-views"].href) == 0

    memory_edit(memory_id="b1", changes={"text": "Bob rides a blue bicycle."}, actor="test", may_review=True)
    page = home(superuser_client)
    assert count(page, "stale-summary-views") == 2  # bob's partition, and "all"
    assert listed(superuser_client, page.figures["stale-summary-views"].href) == 2
    partition_run(view=views[0], group={"user_id": "bob"}, actor="test")
    page = home(superuser_client)
    assert count(page, "stale-summary-views") == 1  # "all" only
    assert listed(superuser_client, page.figures["stale-summary-views"].href) == 1
    partition_run(view=views[1], group={}, actor="test")
    assert count(home(superuser_client), "stale-summary-views") == 0
    MemoryRecord.objects.filter(pk="a1").delete()  # alice's partition summarises what is gone
    assert count(home(superuser_client), "stale-summary-views") == 2


# --- Bounded work ----------------------------------------------------------------------------


def queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/admin/").status_code == 200
    return len(captured.captured_queries)


def test_the_page_runs_as_many_queries_with_30_records_as_with_3(client, settings):
    settings.LLM_MODEL = "openai/gpt-4o-mini"
    superuser = staff_client(client, "root", is_superuser=True)
    ExperimentFactory(key="shorter-lists")

    def records(n: int, start: int) -> None:
        memory_records_create(*({"text": f"Fact {start + i} about Tom."} for i in range(n)), status="pending", **TOM)
        memory_records_create(*({"text": f"Approved fact {start + i}."} for i in range(n)), namespace="sales")

    records(3, 0)
    few = queries(superuser)
    records(27, 3)
    assert MemoryRecord.objects.count() == 60
    assert queries(superuser) == few


# --- Words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 seconds"), (1, "1 second"), (59.9, "59 seconds"), (60, "1 minute"), (3599, "59 minutes"),
     (3600, "1 hour"), (5 * 3600 + 20, "5 hours"), (86_400, "1 day"), (3 * 86_400 + 120, "3 days"), (-5, "0 seconds")],
)  # fmt: skip
def test_ages_are_given_in_their_largest_whole_unit(seconds, words):
    from memory.admin.home import in_words

    assert in_words(seconds) == words


def test_an_unfinished_or_failed_evaluation_is_shown_as_such(policy_editor_client):
    version = PolicyVersionFactory(publish=True)
    fields = {"version": version, "dataset_name": "gold.jsonl", "dataset_sha256": "0" * 64, "threshold": 0.8}
    PolicyEvaluation.objects.create(**fields, status="running", examples_total=10, examples_done=4, actor="t")
    assert home(policy_editor_client).figures["evaluation:default"].text == "running on gold.jsonl (4 of 10)"
    PolicyEvaluation.objects.create(**fields, status="failed", error="provider down\ntrace", actor="t")
    assert home(policy_editor_client).figures["evaluation:default"].text == "failed on gold.jsonl: provider down"


def test_an_experiments_verdict_is_the_results_pages_own(policy_editor_client):
    """Reviews decide it: A's memories all approved, B's mostly rejected; a memory created
    approved (never reviewed) counts for neither."""
    from memory.selectors.experiment_results import experiment_results
    from memory.services.review import memory_approve, memory_reject

    experiment = ExperimentFactory(key="shorter-lists")
    for variant, approve in (("A", 12), ("B", 2)):
        chosen = experiment.variants.get(name=variant)
        run = run_of(chosen.version, session_id=f"s-{variant}", status="succeeded", experiment=experiment,
                     variant=chosen)  # fmt: skip
        rows = memory_records_create(*({"text": f"{variant} fact {i}."} for i in range(12)), status="pending", **TOM)
        unreviewed = memory_records_create({"text": f"{variant} approved at creation."}, **TOM)
        MemoryRecord.objects.filter(pk__in=[r.pk for r in rows + unreviewed]).update(extraction_run=run)
        for i, row in enumerate(rows):
            if i < approve:
                memory_approve(memory_id=row.pk, actor="admin:rita")
            else:
                memory_reject(memory_id=row.pk, reason="Not a durable fact", actor="admin:rita")
    results = experiment_results(experiment=experiment)
    expected = "; ".join(row.verdict.text for row in results.variants if row.verdict is not None)
    assert expected.startswith("B approves less than A (")
    figure = home(policy_editor_client).figures[f"experiment:{experiment.pk}"]
    assert figure.parts["verdict"] == expected

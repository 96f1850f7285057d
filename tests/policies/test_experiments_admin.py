"""The experiments admin: create with inline variants through the service, the status
buttons (POST, CSRF-protected admin views, policies.change_experiment), the trail of who
moved it, and the results page with its figures and charts."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User

from memory.services import review
from memory.services.long_term import memories_create
from policies.models import Assignment, Experiment, ExtractionRun, Policy, PublishEvent
from policies.services.experiments import experiment_assign, experiment_start
from tests.factories import ExperimentFactory

pytestmark = pytest.mark.django_db(transaction=True)

NS = "shop"


@pytest.fixture
def editor(client):
    client.force_login(User.objects.create_superuser("erin"))
    return client


@pytest.fixture
def viewer(client):
    user = User.objects.create_user("vic", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_experiment", "view_policy"]))
    client.force_login(user)
    return client


@pytest.fixture
def experiment(versions):
    """A draft in NS: A and B are the two `versions`, weight 1 each."""
    return ExperimentFactory(
        key="sharper", namespaces=[NS], variants=[("A", versions[0], 1), ("B", versions[1], 1)], start=False
    )


def add_form(versions, rows):
    data = {"key": "sharper", "description": "fewer memories?", "namespaces": "shop, travel"}
    data.update({"variants-TOTAL_FORMS": str(len(rows)), "variants-INITIAL_FORMS": "0"})
    data.update({"variants-MIN_NUM_FORMS": "0", "variants-MAX_NUM_FORMS": "1000"})
    for n, (name, version, weight) in enumerate(rows):
        data.update({f"variants-{n}-name": name, f"variants-{n}-version": version.pk, f"variants-{n}-weight": weight})
    return data


def test_an_editor_creates_an_experiment_with_its_variants(editor, versions):
    response = editor.post(
        "/admin/policies/experiment/add/", add_form(versions, [("A", versions[0], 1), ("B", versions[1], 3)])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = Experiment.objects.get()
    assert (experiment.key, experiment.status, experiment.created_by) == ("sharper", "draft", "admin:erin")
    assert experiment.namespaces == ["shop", "travel"]
    assert list(experiment.variants.values_list("name", "version", "weight", "is_control")) == [
        ("A", versions[0].pk, 1, True),
        ("B", versions[1].pk, 3, False),
    ]


@pytest.mark.parametrize(
    "rows, error",
    [
        ([("A", 0, 1)], "an experiment needs at least two variants"),
        ([("A", 0, 1), ("B", 1, 0)], "variant &#x27;B&#x27;: the weight must be a whole number of at least 1"),
    ],
)
def test_the_add_form_refuses_bad_variants(editor, versions, rows, error):
    rows = [(name, versions[v], weight) for name, v, weight in rows]
    response = editor.post("/admin/policies/experiment/add/", add_form(versions, rows))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Experiment.objects.exists()


def test_the_buttons_move_the_experiment_and_the_trail_names_who(editor, experiment, versions):
    base = f"/admin/policies/experiment/{experiment.pk}"
    assert editor.get(f"{base}/start/").status_code == 405
    assert editor.post(f"{base}/start/").status_code == 302
    assert Experiment.objects.get().status == "running"
    assert editor.post(f"{base}/stop/").status_code == 302
    winner = experiment.variants.get(name="B")
    assert editor.post(f"{base}/conclude/", {"winner": winner.pk}).status_code == 302
    assert editor.post(f"{base}/publish-winner/").status_code == 302

    concluded = Experiment.objects.get()
    assert (concluded.status, concluded.winner, concluded.started_at < concluded.stopped_at) == (
        "concluded", winner, True,
    )  # fmt: skip
    assert Policy.objects.get().published_version == versions[1]
    event = PublishEvent.objects.first()
    assert (event.kind, event.actor) == ("conclude", "admin:erin")
    page = editor.get(f"{base}/change/").content.decode()
    trail = re.search(r'<table id="experiment-trail">.*?</table>', page, re.S).group(0)
    rows = re.findall(r'<tr class="trail-row"><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>', trail)
    assert rows == [
        ("admin:erin", "Created", "A ×1, B ×1; namespaces: shop"),
        ("admin:erin", "Started", ""),
        ("admin:erin", "Stopped", ""),
        ("admin:erin", "Concluded", "winner B"),
        ("admin:erin", "Winner published", "winner B: default v1 → v2"),
    ]


def test_a_wrong_move_is_a_message_not_an_error(editor, experiment):
    response = editor.post(f"/admin/policies/experiment/{experiment.pk}/stop/", follow=True)
    assert "Nothing changed: cannot stop experiment &#x27;sharper&#x27;: it is draft, not running" in (
        response.content.decode()
    )
    assert Experiment.objects.get().status == "draft"


@pytest.mark.parametrize("button", ["start", "stop", "conclude", "publish-winner"])
def test_the_buttons_need_the_change_permission(viewer, experiment, button):
    response = viewer.post(f"/admin/policies/experiment/{experiment.pk}/{button}/")
    assert response.status_code == 403
    assert (Experiment.objects.get().status, PublishEvent.objects.filter(kind="conclude").count()) == ("draft", 0)


def test_changing_weights_in_the_admin_keeps_assigned_sessions(editor, experiment):
    experiment_start(experiment=experiment, actor="admin:erin")
    before = {s: experiment_assign(experiment=experiment, namespace=NS, session_id=s).name for s in ("s1", "s2", "s3")}
    a, b = experiment.variants.order_by("id")
    data = {"variants-TOTAL_FORMS": "2", "variants-INITIAL_FORMS": "2", "variants-MIN_NUM_FORMS": "0"}
    data.update({"variants-MAX_NUM_FORMS": "1000", "variants-0-id": a.pk, "variants-0-weight": "9"})
    data.update({"variants-0-experiment": experiment.pk, "variants-1-experiment": experiment.pk})
    data.update({"variants-1-id": b.pk, "variants-1-weight": "1"})

    response = editor.post(f"/admin/policies/experiment/{experiment.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(experiment.variants.order_by("id").values_list("weight", flat=True)) == [9, 1]
    after = {s: experiment_assign(experiment=experiment, namespace=NS, session_id=s).name for s in before}
    assert (after, Assignment.objects.count()) == (before, 3)


def reviewed_run(experiment, variant, approvals: int, rejections: int, cost: str):
    run = ExtractionRun.objects.create(
        namespace=NS, session_id=f"s-{variant.name}", policy_version=variant.version, strategy="discrete",
        experiment=experiment, variant=variant, status="succeeded", message_count=20,
        memories_created=approvals + rejections, cost_usd=Decimal(cost), latency_ms=400,
    )  # fmt: skip
    texts = [f"Fact number {n} about variant {variant.name}" for n in range(approvals + rejections)]
    records = [{"text": t, "namespace": NS, "user_id": "u"} for t in texts]
    ids = [
        o.id
        for o in memories_create(
            records=records, deduplicate=False, status="pending", actor="t", extraction_run=run
        ).outcomes
    ]
    review.memories_approve(memory_ids=ids[:approvals], actor="admin:rita")
    if rejections:
        review.memories_reject(memory_ids=ids[approvals:], reason="Too vague to be useful", actor="admin:rita")


def test_the_results_page_shows_each_variants_figures_the_verdict_and_the_charts(editor, experiment):
    experiment = experiment_start(experiment=experiment, actor="admin:erin")
    a, b = experiment.variants.order_by("id")
    reviewed_run(experiment, a, approvals=3, rejections=1, cost="0.0100")
    reviewed_run(experiment, b, approvals=2, rejections=0, cost="0.0040")

    response = editor.get(f"/admin/policies/experiment/{experiment.pk}/results/")

    assert response.status_code == 200
    page = response.content.decode()

    def figures(name):
        row = re.search(rf'<tr id="variant-{name}".*?</tr>', page, re.S).group(0)
        return dict(re.findall(r'data-figure="(\w+)">([^<]*)', row))

    row_a, row_b = figures("A"), figures("B")
    assert (row_a["runs"], row_a["messages"], row_a["memories"], row_a["memories_per_100"]) == ("1", "20", "4", "20.0")
    assert (row_a["reviewed"], row_a["approval_rate"].strip(), row_a["approval_interval"]) == (
        "3 / 4", "75.0%", "30.1% – 95.4%",
    )  # fmt: skip
    # Wilson 95% for 2/2 by hand: (1 + z²/4 ± z·sqrt(z²/16)) / (1 + z²/2) -> 0.3424 to 1.
    assert (row_b["reviewed"], row_b["approval_interval"]) == ("2 / 2", "34.2% – 100.0%")
    assert (row_a["cost_per_100"], row_b["cost_per_100"]) == ("$0.0500", "$0.0200")
    assert (row_a["failed_runs"], row_a["duplicate_rate"], row_a["latency"], row_a["cost_per_run"]) == (
        "0", "0.0%", "400 / 400", "$0.0100",
    )  # fmt: skip
    # 3/4 vs 2/2: no difference; 75% vs 80% needs 1094 reviews per variant, minus the 2 B has.
    # The z-test by hand: pooled 5/6, se = sqrt(5/6 · 1/6 · (1/4 + 1/2)) = 0.32275, z = 0.25 / se = 0.7746.
    assert re.search(r'<li class="verdict" data-variant="B">(.*?) <span', page).group(1) == (
        "no difference detected yet; about 1092 more reviews per variant needed to detect 5 points"
    )
    assert "· z = 0.77, p = 0.439</span>" in page
    assert re.findall(r'<tr data-variant="(\w)"><td>\w</td><td>([^<]*)</td><td>(\d+)</td>', page) == [
        ("A", "Too vague to be useful", "1")
    ]
    assert '<svg id="chart-approval"' in page and '<svg id="chart-cost"' in page
    assert f'href="/admin/policies/policyevaluation/compare/?experiment={experiment.pk}"' in page


def test_a_viewer_may_read_the_results_and_the_page_without_buttons(viewer, experiment):
    assert viewer.get(f"/admin/policies/experiment/{experiment.pk}/results/").status_code == 200
    page = viewer.get(f"/admin/policies/experiment/{experiment.pk}/change/").content.decode()
    assert 'id="experiment-results"' in page and 'id="experiment-start"' not in page


def test_the_changelist_lists_each_experiment_with_its_variants_and_results_link(editor, experiment):
    page = editor.get("/admin/policies/experiment/").content.decode()
    assert "A: v1 ×1, B: v2 ×1" in page
    assert f'href="/admin/policies/experiment/{experiment.pk}/results/" class="experiment-results-link"' in page

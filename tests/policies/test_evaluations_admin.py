"""The evaluations admin: "Evaluate versions" creates evaluations and sends them to the
worker on commit; an evaluation's page shows its progress, figures, pairs, misses and
hits beside the version's online figures; the compare view puts versions or an
experiment's variants side by side. Only the raw-turn strategy is used (no LLM):
its figures on the shipped set are the ones of tests/memory/services/test_policy_evaluation.py."""

import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler

from memory.eval_dataset import DatasetError
from memory.services.policy_evaluation import policy_evaluation_create, policy_evaluation_run
from policies.models import Experiment, ExtractionRun, PolicyEvaluation, Variant
from tests.helpers import queued_messages
from tests.memory.services.test_policy_evaluation import DATASET, version

pytestmark = pytest.mark.django_db(transaction=True)  # the jobs are sent on commit

EVALUATE = "/admin/policies/policyevaluation/evaluate/"
COMPARE = "/admin/policies/policyevaluation/compare/"


@pytest.fixture
def admin_client(client, settings):
    settings.LLM_MODEL = ""
    client.force_login(User.objects.create_user("root", is_staff=True, is_superuser=True))
    return client


def evaluated(strategy_version) -> PolicyEvaluation:
    [evaluation] = policy_evaluation_create(version_ids=[strategy_version.pk], dataset_path=DATASET, actor="test")
    return policy_evaluation_run(evaluation_id=evaluation.pk)


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)<', html, re.S)
    assert match, f"no #{element_id}"
    return match.group(1).strip()


def test_evaluate_versions_creates_queued_evaluations_and_sends_them_to_the_worker(admin_client, redis_client):
    first, second = version("messages"), version("discrete")
    page = admin_client.get(EVALUATE).content.decode()
    # The shipped evaluation set is offered (preselected); the dedup pairs are not in its format.
    assert '<option value="benchmarks/data/extraction_eval.jsonl" selected>' in page
    assert "dedup_pairs" not in page

    response = admin_client.post(
        EVALUATE,
        {"versions": [first.pk, second.pk], "dataset": "benchmarks/data/extraction_eval.jsonl", "threshold": "0.8"},
    )

    created = list(PolicyEvaluation.objects.order_by("pk"))
    assert [(e.version, e.status, e.threshold, e.examples_total, e.actor) for e in created] == [
        (first, "queued", 0.8, 24, "admin:root"),
        (second, "queued", 0.8, 24, "admin:root"),
    ]
    assert response.status_code == 302
    assert response["Location"] == f"{COMPARE}?versions={first.pk},{second.pk}"
    sent = sorted(m["args"] for m in queued_messages(redis_client, "policy_evaluate"))
    assert sent == [[created[0].pk], [created[1].pk]]


def test_an_uploaded_data_set_off_the_format_is_a_form_error_naming_line_and_field(admin_client, redis_client):
    upload = SimpleUploadedFile("mine.jsonl", b'{"id": "a", "now": "2024-01-01", "messages": [], "gold": []}\n')

    response = admin_client.post(EVALUATE, {"versions": [version("messages").pk], "upload": upload, "threshold": "0.7"})

    assert response.status_code == 200
    assert "This data set cannot be used: line 1: field &#x27;messages&#x27;: must be a non-empty list" in (
        response.content.decode()
    )
    assert not PolicyEvaluation.objects.exists() and not queued_messages(redis_client)


def test_an_uploaded_data_set_is_evaluated_under_its_own_name(admin_client):
    upload = SimpleUploadedFile("mine.jsonl", DATASET.read_bytes())

    response = admin_client.post(EVALUATE, {"versions": [version("messages").pk], "upload": upload, "threshold": "0.7"})

    evaluation = PolicyEvaluation.objects.get()
    assert (evaluation.dataset_name, evaluation.examples_total) == ("mine.jsonl", 24)
    assert response["Location"] == f"/admin/policies/policyevaluation/{evaluation.pk}/change/"


def test_the_evaluation_page_shows_figures_pairs_misses_and_hits_beside_the_online_figures(admin_client):
    raw = version("messages")
    ExtractionRun.objects.create(
        session_id="s", policy_version=raw, strategy="messages", status="succeeded", message_count=8, memories_created=6
    )
    evaluation = evaluated(raw)

    page = admin_client.get(f"/admin/policies/policyevaluation/{evaluation.pk}/change/").content.decode()

    assert text_of(page, "evaluation-status") == "succeeded"
    assert 'id="evaluation-progress" value="24" max="24"' in page
    assert (text_of(page, "figure-precision"), text_of(page, "figure-recall")) == ("0.353", "0.706")  # 24/68, 24/34
    assert (text_of(page, "figure-f1"), text_of(page, "figure-forbidden")) == ("0.471", "23")
    assert 'http-equiv="refresh"' not in page  # finished: no reloading
    row = re.search(r'data-example-id="pronoun-manager-vacation">(.*?)</tr>', page, re.S).group(1)
    assert "<li>Priya is User&#x27;s manager.</li>" in row  # missed: no raw turn is that close
    assert "“she” in user: She said I can be off from August 5 to August 16." in row
    online = re.search(r'id="evaluation-online">(.*?)</section>', page, re.S).group(1)
    assert '<td class="online-runs">1</td>' in online
    assert '<td class="online-per-100">75.0</td>' in online  # 6 memories from 8 messages


def test_a_queued_evaluation_page_reloads_itself_and_shows_no_figures_yet(admin_client):
    [evaluation] = policy_evaluation_create(version_ids=[version("messages").pk], dataset_path=DATASET, actor="t")

    page = admin_client.get(f"/admin/policies/policyevaluation/{evaluation.pk}/change/").content.decode()

    assert '<meta http-equiv="refresh" content="3">' in page
    assert text_of(page, "evaluation-status") == "queued"
    assert 'id="evaluation-progress" value="0" max="24"' in page
    assert text_of(page, "figure-precision") == "—"


def test_compare_puts_an_experiments_variants_side_by_side(admin_client):
    raw, discrete = version("messages"), version("discrete")
    experiment = Experiment.objects.create(key="raw-vs-facts")
    control = Variant.objects.create(experiment=experiment, name="A", version=raw, is_control=True)
    Variant.objects.create(experiment=experiment, name="B", version=discrete)
    ExtractionRun.objects.create(
        session_id="s", policy_version=raw, variant=control, experiment=experiment, strategy="messages",
        status="succeeded", message_count=4, memories_created=4,
    )  # fmt: skip
    evaluated(raw)

    page = admin_client.get(f"{COMPARE}?experiment={experiment.pk}").content.decode()

    assert re.findall(r'<th class="compare-column">(.*?)<br>', page) == ["A (control)", "B"]
    cells = {
        name: re.findall(r"<td>(.*?)</td>", row, re.S)
        for name, row in re.findall(r'<tr data-figure="([\w-]+)">.*?</th>(.*?)</tr>', page, re.S)
    }
    assert (cells["precision"], cells["recall"], cells["forbidden"]) == (["0.353", "—"], ["0.706", "—"], ["23", "—"])
    assert (cells["runs"], cells["per-100"]) == (["1", "0"], ["100.0", "—"])
    assert cells["evaluation"][1] == "none yet"


def test_compare_by_versions_and_without_anything_to_compare(admin_client):
    raw = version("messages")
    evaluated(raw)

    named = admin_client.get(f"{COMPARE}?versions={raw.pk}").content.decode()
    empty = admin_client.get(COMPARE).content.decode()

    assert re.findall(r'<th class="compare-column">(.*?)<br>', named) == [str(raw)]
    assert 'id="compare-empty"' in empty


@pytest.mark.parametrize("url", [EVALUATE, COMPARE, "/admin/policies/policyevaluation/"])
def test_staff_without_the_permissions_are_refused(client, url):
    client.force_login(User.objects.create_user("nobody", is_staff=True))
    assert client.get(url).status_code == 403


def test_the_list_shows_progress_and_leads_to_evaluate_versions(admin_client):
    evaluation = evaluated(version("messages"))

    page = admin_client.get("/admin/policies/policyevaluation/").content.decode()

    assert f'href="{EVALUATE}" id="evaluate-versions"' in page
    assert '<progress value="24" max="24"></progress> 24/24' in page
    assert f'href="/admin/policies/policyevaluation/{evaluation.pk}/change/' in page


def test_evaluate_from_an_experiment_is_prefilled_with_its_variants_versions(admin_client):
    raw, discrete, other = version("messages"), version("discrete"), version("summary")
    experiment = Experiment.objects.create(key="prefill")
    Variant.objects.create(experiment=experiment, name="A", version=raw, is_control=True)
    Variant.objects.create(experiment=experiment, name="B", version=discrete)

    page = admin_client.get(f"{EVALUATE}?experiment={experiment.pk}").content.decode()

    checked = re.findall(r'<input type="checkbox" name="versions" value="(\d+)"[^>]*checked', page)
    assert sorted(map(int, checked)) == [raw.pk, discrete.pk] and str(other.pk) not in checked
    assert re.search(rf'<option value="{experiment.pk}" selected>prefill</option>', page)


class StoringHandler(MemoryFileUploadHandler):
    """Django's in-memory handler, noting how many bytes reach it and each file it completes."""

    received: list[int] = []
    bytes_seen = 0

    def receive_data_chunk(self, raw_data, start):
        StoringHandler.bytes_seen += len(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        StoringHandler.received.append(file_size)
        return super().file_complete(file_size)


def test_an_upload_past_the_limit_is_never_stored_past_it(admin_client, settings, tmp_path):
    """The storing handlers behind the bound get at most EVAL_UPLOAD_MAX_BYTES of a larger
    file (here a 2.8 MB one against 64 KiB), and the form still names the file's full size."""
    settings.EVAL_DATASETS_DIR = str(tmp_path / "sets")
    settings.EVAL_UPLOAD_MAX_BYTES = 64 * 1024
    settings.FILE_UPLOAD_HANDLERS = [
        "memoryproject.uploads.BoundedUploadHandler",
        "tests.policies.test_evaluations_admin.StoringHandler",
    ]
    StoringHandler.received.clear()
    StoringHandler.bytes_seen = 0
    big = b'{"turns": []}\n' * 200_000  # 2,800,000 bytes
    form = {"versions": [version("messages").pk], "threshold": "0.7"}

    response = admin_client.post(EVALUATE, {**form, "upload": SimpleUploadedFile("big.jsonl", big)})

    assert response.status_code == 200
    assert (
        "the file is 2,800,000 bytes; at most 65,536 are accepted (EVAL_UPLOAD_MAX_BYTES)" in response.content.decode()
    )
    assert StoringHandler.received == []  # the storing handler never completed a file
    assert 0 < StoringHandler.bytes_seen <= 65_536  # what came before the limit, then nothing (of 2.8 MB)
    assert not PolicyEvaluation.objects.exists() and not (tmp_path / "sets").exists()

    small = b'{"turns": []}\n' * 100  # 1,400 bytes: passes through to the storing handler whole
    admin_client.post(EVALUATE, {**form, "upload": SimpleUploadedFile("small.jsonl", small)})
    assert StoringHandler.received == [1400]


def test_an_upload_past_eval_upload_max_bytes_is_refused_and_nothing_is_written(
    admin_client, redis_client, settings, tmp_path
):
    settings.EVAL_DATASETS_DIR = str(tmp_path / "sets")
    content = DATASET.read_bytes()
    settings.EVAL_UPLOAD_MAX_BYTES = len(content) - 1
    form = {"versions": [version("messages").pk], "threshold": "0.7"}

    response = admin_client.post(EVALUATE, {**form, "upload": SimpleUploadedFile("big.jsonl", content)})

    assert response.status_code == 200
    assert (
        f"This data set cannot be used: the file is {len(content):,} bytes; at most {len(content) - 1:,} are "
        "accepted (EVAL_UPLOAD_MAX_BYTES)"
    ) in response.content.decode()
    assert not PolicyEvaluation.objects.exists() and not queued_messages(redis_client)
    assert not (tmp_path / "sets").exists()
    with pytest.raises(DatasetError, match=f"the file is {len(content):,} bytes"):  # the service's own check
        policy_evaluation_create(version_ids=[version("messages").pk], dataset_content=content, actor="test")
    assert not PolicyEvaluation.objects.exists()

    settings.EVAL_UPLOAD_MAX_BYTES = len(content)
    response = admin_client.post(EVALUATE, {**form, "upload": SimpleUploadedFile("big.jsonl", content)})
    assert response.status_code == 302
    assert PolicyEvaluation.objects.get().dataset_name == "big.jsonl"

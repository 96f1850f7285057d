"""Summary views over REST: create/list/get/delete, tenant scope and reach, partition keys,
time windows, filters, and bad input refused by name with nothing written."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from memory.models import SummaryPartition, SummaryView, Task
from memory.services.api_keys import api_key_create
from policies.models import SummaryRun
from tests.factories import memory_records_create
from tests.helpers import db_rows
from tests.llm_server import Fault

pytestmark = pytest.mark.django_db

VIEWS = "/v1/summary-views"


def _client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _key(tenant: str, namespaces: list[str], permissions=("read", "write", "delete"), **kwargs) -> APIClient:
    _, secret = api_key_create(
        name=tenant, tenant=tenant, namespaces=namespaces, actor="test", permissions=list(permissions), **kwargs
    )
    return _client(secret)


def _create(api, **body) -> dict:
    response = api.post(VIEWS, {"source": "long_term", "group_by": ["user_id"], **body}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def _run(api, view_id: str, group: dict) -> dict:
    response = api.post(f"{VIEWS}/{view_id}/partitions/run", {"group": group}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_view_is_created_shaped_as_the_clients_model_and_read_listed_and_deleted(api):
    view = _create(api, name="per user", filters={"memory_type": "semantic"}, time_window_days=30, prompt="Be brief.")
    assert set(view) == {
        "id",
        "name",
        "source",
        "group_by",
        "filters",
        "time_window_days",
        "continuous",
        "prompt",
        "model_name",
    }
    assert (view["name"], view["group_by"], view["filters"], view["time_window_days"], view["continuous"]) == (
        "per user",
        ["user_id"],
        {"memory_type": "semantic"},
        30,
        False,
    )
    row = SummaryView.objects.get(id=view["id"])
    assert (row.tenant, row.namespaces, row.user_ids, row.created_by.startswith("api:key-")) == (
        "tests",
        None,
        None,
        True,
    )
    assert row.policy_version is not None and row.policy_version.prompt_template == "Be brief."
    assert api.get(f"{VIEWS}/{view['id']}").json() == view
    assert api.get(VIEWS).json() == [view]
    assert api.delete(f"{VIEWS}/{view['id']}").json() == {"status": "ok"}
    assert api.get(f"{VIEWS}/{view['id']}").status_code == 404
    assert SummaryView.objects.count() == 0


def test_partitions_by_user_hold_exactly_each_users_memories(api):
    memory_records_create(
        {"text": "Alice likes tea", "user_id": "alice"},
        {"text": "Alice rides a bike", "user_id": "alice"},
        {"text": "Bob likes coffee", "user_id": "bob"},
        {"text": "Carol's note", "user_id": "carol", "namespace": "other"},
    )
    view = _create(api, filters={"namespace": "ns"})
    alice = _run(api, view["id"], {"user_id": "alice"})
    assert (alice["memory_count"], alice["empty"], alice["empty_reason"], alice["kind"]) == (
        2,
        False,
        None,
        "extractive",
    )
    assert alice["summary"].startswith("Extractive summary (no LLM configured)")
    assert "Alice likes tea" in alice["summary"] and "Bob" not in alice["summary"]
    bob = _run(api, view["id"], {"user_id": "bob"})
    assert bob["memory_count"] == 1
    nobody = _run(api, view["id"], {"user_id": "zed"})
    assert (nobody["summary"], nobody["memory_count"], nobody["empty"], nobody["empty_reason"]) == (
        "",
        0,
        True,
        "no_matching_memories",
    )
    listed = api.get(f"{VIEWS}/{view['id']}/partitions").json()
    assert [(p["group"], p["memory_count"]) for p in listed] == [
        ({"user_id": "alice"}, 2),
        ({"user_id": "bob"}, 1),
        ({"user_id": "zed"}, 0),
    ]
    assert [p["group"] for p in api.get(f"{VIEWS}/{view['id']}/partitions", {"user_id": "bob"}).json()] == [
        {"user_id": "bob"}
    ]
    partition = SummaryPartition.objects.get(view_id=view["id"], group_key="user_id=alice")
    assert (partition.namespace, partition.user_id, partition.covered_count) == ("ns", "alice", 2)
    assert sorted(partition.memories.values_list("text", flat=True)) == ["Alice likes tea", "Alice rides a bike"]
    # Run again: the same row, recomputed (unique view + group_key).
    _run(api, view["id"], {"user_id": "alice"})
    assert SummaryPartition.objects.filter(view_id=view["id"]).count() == 3


def test_group_by_namespace_and_memory_type_counts_each_pair(api):
    memory_records_create(
        {"text": "a fact", "namespace": "n1", "memory_type": "semantic"},
        {"text": "another fact", "namespace": "n1", "memory_type": "semantic"},
        {"text": "an event", "namespace": "n1", "memory_type": "episodic"},
        {"text": "elsewhere", "namespace": "n2", "memory_type": "semantic"},
    )
    view = _create(api, group_by=["namespace", "memory_type"])
    counts = {
        (ns, mt): _run(api, view["id"], {"namespace": ns, "memory_type": mt})["memory_count"]
        for ns in ("n1", "n2")
        for mt in ("semantic", "episodic")
    }
    assert counts == {("n1", "semantic"): 2, ("n1", "episodic"): 1, ("n2", "semantic"): 1, ("n2", "episodic"): 0}
    assert (
        SummaryPartition.objects.get(view_id=view["id"], group_key="memory_type=episodic|namespace=n1").namespace
        == "n1"
    )
    wrong = api.post(f"{VIEWS}/{view['id']}/partitions/run", {"group": {"namespace": "n1"}}, format="json")
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "group"]


def test_the_time_window_leaves_out_older_memories(api):
    now = timezone.now()
    memory_records_create(
        {"text": "recent", "created_at": now - timedelta(days=2)},
        {"text": "last week", "created_at": now - timedelta(days=6)},
        {"text": "old", "created_at": now - timedelta(days=40)},
        user_id="alice",
    )
    assert _run(api, _create(api, time_window_days=7)["id"], {"user_id": "alice"})["memory_count"] == 2
    assert _run(api, _create(api, time_window_days=1)["id"], {"user_id": "alice"})["memory_count"] == 0
    assert _run(api, _create(api)["id"], {"user_id": "alice"})["memory_count"] == 3


def test_filters_on_extraction_strategy_topics_and_event_date(api):
    memory_records_create(
        {
            "text": "t1",
            "topics": ["food", "travel"],
            "extraction_strategy": "summary",
            "event_date": "2025-01-05T00:00:00Z",
        },
        {"text": "t2", "topics": ["food"], "event_date": "2025-03-01T00:00:00Z"},
        {"text": "t3", "topics": ["travel"]},
        {"text": "t4", "topics": ['long "food" trip', "foodie"]},  # holds "food" only inside longer topics
        user_id="alice",
    )

    def count(filters: dict) -> int:
        return _run(api, _create(api, filters=filters)["id"], {"user_id": "alice"})["memory_count"]

    assert count({"extraction_strategy": "summary"}) == 1
    assert count({"extraction_strategy": {"eq": "discrete"}}) == 3
    assert count({"topics": {"all": ["food", "travel"]}}) == 1
    assert count({"topics": ["food", "travel"]}) == 3  # the reference's list: any of them
    assert count({"topics": {"none": ["food"]}}) == 2
    assert count({"topics": {"any": ["food"]}}) == 2
    assert count({"event_date": {"gte": "2025-02-01T00:00:00Z"}}) == 1
    assert count({"event_date": {"between": ["2025-01-01T00:00:00Z", "2025-12-31T00:00:00Z"]}}) == 2


@pytest.mark.parametrize(
    ("body", "status", "loc"),
    [
        ({"source": "working_memory"}, 422, ["body", "source"]),
        ({"group_by": ["topics"]}, 422, ["body", "group_by", 0]),
        ({"group_by": ["user_id", "user_id"]}, 422, ["body", "group_by"]),
        ({"filters": {"text": "x"}}, 422, ["body", "filters", "text"]),
        ({"filters": {"topics": {"most": ["a"]}}}, 422, ["body", "filters", "topics", "most"]),
        ({"filters": {"memory_type": "dream"}}, 422, ["body", "filters", "memory_type", "eq"]),
        ({"filters": {"event_date": {"gt": "yesterday"}}}, 422, ["body", "filters", "event_date", "gt"]),
        ({"filters": {"event_date": "2025-01-01"}}, 422, ["body", "filters", "event_date"]),
        ({"time_window_days": 0}, 422, ["body", "time_window_days"]),
        ({"time_window_days": 3651}, 422, ["body", "time_window_days"]),
        ({"name": "n" * 201}, 422, ["body", "name"]),
        ({"model_name": 7}, 422, ["body", "model_name"]),
    ],
)
def test_bad_input_is_refused_by_name_and_writes_nothing(api, body, status, loc):
    before = db_rows()
    response = api.post(VIEWS, {"source": "long_term", "group_by": ["user_id"], **body}, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["detail"][0]["loc"] == loc
    assert {k: v for k, v in db_rows().items() if k != "memory.ApiKey"} == {
        k: v for k, v in before.items() if k != "memory.ApiKey"
    }


def test_a_filter_outside_the_keys_scope_is_403_naming_it():
    beta = _key("beta", ["ns-b"])
    response = beta.post(
        VIEWS, {"source": "long_term", "group_by": ["user_id"], "filters": {"namespace": "ns-a"}}, format="json"
    )
    assert response.status_code == 403
    assert "filters.namespace" in response.json()["detail"] and "'ns-a'" in response.json()["detail"]
    assert SummaryView.objects.count() == 0


def test_another_tenants_view_is_404_on_every_route_and_absent_from_its_list():
    alpha, beta = _key("alpha", ["ns-a"]), _key("beta", ["ns-b"])
    memory_records_create({"text": "alpha's secret", "namespace": "ns-a", "user_id": "u-1"})
    view = _create(alpha)
    assert _run(alpha, view["id"], {"user_id": "u-1"})["memory_count"] == 1
    task = alpha.post(f"{VIEWS}/{view['id']}/run", {}, format="json").json()
    before = db_rows()
    path = f"{VIEWS}/{view['id']}"
    assert beta.get(path).status_code == 404
    assert beta.get(f"{path}/partitions").status_code == 404
    assert beta.post(f"{path}/partitions/run", {"group": {"user_id": "u-1"}}, format="json").status_code == 404
    assert beta.post(f"{path}/run", {}, format="json").status_code == 404
    assert beta.delete(path).status_code == 404
    assert beta.get(f"/v1/tasks/{task['id']}").status_code == 404
    assert beta.get(VIEWS).json() == []
    assert alpha.get(VIEWS).json() == [view]
    after = db_rows()
    assert after["memory.SummaryView"] == before["memory.SummaryView"]
    assert after["memory.SummaryPartition"] == before["memory.SummaryPartition"]
    assert after["memory.Task"] == before["memory.Task"]


def test_a_view_reaches_only_its_creators_scope_and_a_narrower_key_does_not_see_it():
    memory_records_create(
        {"text": "in a", "namespace": "ns-a", "user_id": "u-1"},
        {"text": "in b", "namespace": "ns-b", "user_id": "u-1"},
    )
    wide = _key("acme", ["ns-a", "ns-b"])
    narrow = _key("acme", ["ns-a"])
    narrow_view = _create(narrow)
    wide_view = _create(wide)
    # The narrow key's view holds only ns-a's memory, even for a group naming no namespace.
    assert _run(narrow, narrow_view["id"], {"user_id": "u-1"})["memory_count"] == 1
    assert _run(wide, wide_view["id"], {"user_id": "u-1"})["memory_count"] == 2
    # The wide key sees both views; the narrow one only its own.
    assert {v["id"] for v in wide.get(VIEWS).json()} == {narrow_view["id"], wide_view["id"]}
    assert [v["id"] for v in narrow.get(VIEWS).json()] == [narrow_view["id"]]
    assert narrow.get(f"{VIEWS}/{wide_view['id']}").status_code == 404


def test_permissions_read_to_read_write_to_create_and_run_delete_to_delete():
    reader = _key("acme", ["ns"], permissions=("read",))
    writer = _key("acme", ["ns"], permissions=("read", "write"))
    refused = reader.post(VIEWS, {"source": "long_term", "group_by": []}, format="json")
    assert refused.status_code == 403 and SummaryView.objects.count() == 0
    view = _create(writer, group_by=[])
    assert reader.get(VIEWS).json() == [view]
    assert reader.post(f"{VIEWS}/{view['id']}/run", {}, format="json").status_code == 403
    assert writer.delete(f"{VIEWS}/{view['id']}").status_code == 403
    assert Task.objects.count() == 0 and SummaryView.objects.count() == 1


def test_with_an_llm_the_partition_is_the_models_summary_and_a_provider_failure_is_503(api, llm_settings, llm_server):
    memory_records_create(
        {"id": "tea", "text": "Alice likes tea", "user_id": "alice"},
        {"id": "bike", "text": "Alice rides a bike", "user_id": "alice"},
    )
    view = _create(api)
    llm_server.script("Alice likes tea and cycles.")
    alice = _run(api, view["id"], {"user_id": "alice"})
    assert (alice["summary"], alice["kind"], alice["memory_count"], alice["covered_count"]) == (
        "Alice likes tea and cycles.",
        "llm",
        2,
        2,
    )
    partition = SummaryPartition.objects.get(view_id=view["id"])
    assert (partition.run.kind, partition.run.status, partition.run.tokens_out > 0) == ("llm", "succeeded", True)
    assert sorted(partition.memories.values_list("id", flat=True)) == ["bike", "tea"]

    memory_records_create({"text": "Alice moved to Lisbon", "user_id": "alice"})
    llm_server.script(Fault.unauthorized())
    failed = api.post(f"{VIEWS}/{view['id']}/partitions/run", {"group": {"user_id": "alice"}}, format="json")
    assert failed.status_code == 503 and failed.json()["detail"].startswith("The summarizer failed: ")
    # The partition keeps its last summary (now stale); the failed run is recorded.
    partition.refresh_from_db()
    assert (partition.summary, partition.source_count) == ("Alice likes tea and cycles.", 2)
    assert list(SummaryRun.objects.filter(view_id=view["id"]).values_list("status", flat=True).order_by("pk")) == [
        "succeeded",
        "failed",
    ]

"""`manage.py import_ams` on data a real agent-memory-server 0.15.2 wrote through its own
API: the same agent-memory-client calls against our live server then answer what the
reference answered, field by field; a second run changes nothing; a dry run writes nothing."""

import io
from datetime import datetime

import pytest
import redis
from agent_memory_client.filters import Namespace, UserId
from django.core.management import call_command
from django.core.management.base import CommandError

from memory.models import MemoryHistory, MemoryRecord, SummaryPartition, SummaryView, TenantNamespace
from memory.redis_client import get_redis
from memory.services.ams_import import ams_import
from memory.services.ams_import.source import Reference as ReferenceRedis
from memory.services.api_keys import api_key_create
from policies.llm_models import allowed_models_text
from tests.helpers import with_client
from tests.imports.reference_data import RECORDS, SESSION_MEMORY, SESSIONS

pytestmark = [pytest.mark.reference, pytest.mark.django_db(transaction=True)]

IDS = [r.id for r in RECORDS] + [SESSION_MEMORY.id]
# Kept from the reference as it answers them. Not compared: memory_hash (ours is our dedup's
# hash of the text), discrete_memory_extracted ("t" here for every record: ours are never
# re-extracted; the reference's value is in the import's history row), persisted_at where the
# reference has none (here: when the row was first stored).
RECORD_FIELDS = (
    "id",
    "text",
    "session_id",
    "user_id",
    "namespace",
    "last_accessed",
    "created_at",
    "updated_at",
    "pinned",
    "access_count",
    "topics",
    "entities",
    "memory_type",
    "extracted_from",
    "event_date",
)
TIME_FIELDS = ("last_accessed", "created_at", "updated_at", "event_date", "persisted_at")
# A session memory as agent-memory-client's MemoryRecord has it.
SESSION_MEMORY_FIELDS = tuple(f for f in RECORD_FIELDS if f not in ("pinned", "access_count")) + ("persisted_at",)
SESSION_FIELDS = ("session_id", "namespace", "user_id", "context", "data", "ttl_seconds")
MESSAGE_FIELDS = ("id", "role", "content", "created_at")
VIEW_FIELDS = ("id", "name", "source", "group_by", "filters", "time_window_days", "continuous", "prompt", "model_name")


def _import(reference, *extra: str) -> str:
    out = io.StringIO()
    call_command("import_ams", "--redis-url", reference.redis_url, "--tenant", "acme-co", *extra, stdout=out)
    return out.getvalue()


async def _record(client, memory_id: str) -> dict:
    """The record as the server sent it: the client's MemoryRecord drops pinned and access_count."""
    await client.get_long_term_memory(memory_id)
    return (await client._client.get(f"/v1/long-term-memory/{memory_id}")).json()


def _records(url: str, key: str, ids: list[str]) -> dict:
    async def read(client):
        return {i: await _record(client, i) for i in ids}

    return with_client(url, read, api_key=key or None)


def _answers(url: str, key: str, view_id: str) -> dict:
    """What agent-memory-client reads from the server at `url` (`key`: its API key, or
    none), but for the record with no namespace (`_records`, with an operator key here)."""

    async def read(client):
        records = {i: await _record(client, i) for i in IDS if i != SESSION_MEMORY.id}
        sessions = {
            s.session_id: (
                await client.get_working_memory(s.session_id, namespace=s.namespace, user_id=s.user_id)
            ).model_dump()
            for s in SESSIONS
        }
        view = (await client.get_summary_view(view_id)).model_dump()
        views = [v.id for v in await client.list_summary_views()]
        partitions = sorted(
            (p.model_dump() for p in await client.list_summary_view_partitions(view_id)),
            key=lambda p: p["group"]["user_id"],
        )
        return {
            "records": records,
            "sessions": sessions,
            "view": view,
            "views": views,
            "partitions": partitions,
        }

    return with_client(url, read, api_key=key or None)


def _state() -> dict:
    """Every row and session document the import writes."""
    redis = get_redis()
    sessions = {
        key: redis.hget(key, "rev")
        for key in sorted(redis.scan_iter(match="wm:s:*"))
        if redis.type(key) in ("hash", b"hash")
    }
    return {
        "records": sorted(MemoryRecord.objects.values_list("id", "updated_at", "memory_hash", "embedding_model")),
        "history": MemoryHistory.objects.count(),
        "views": sorted(SummaryView.objects.values_list("id", "tenant", "namespaces")),
        "partitions": SummaryPartition.objects.count(),
        "claims": sorted(TenantNamespace.objects.values_list("namespace", "tenant")),
        "sessions": sessions,
    }


def _search(url: str, key: str) -> list[str]:
    """A search with filters; it counts as an access on either server (access_count, last_accessed)."""

    async def read(client):
        found = await client.search_long_term_memory(
            text="window seats", namespace=Namespace(eq="acme"), user_id=UserId(eq="alice"), limit=10
        )
        return sorted(m.id for m in found.memories)

    return with_client(url, read, api_key=key or None)


def _rounded(record: dict, fields: tuple[str, ...]) -> dict:
    """The fields, timestamps to 10 ms: the reference reads records back through its index,
    which answers a timestamp to 12 significant digits (1796662585.08), while the import
    reads the hash it stored (1796662585.083613)."""
    values = {f: record[f] for f in fields}
    for name in TIME_FIELDS:
        if values.get(name) is not None:
            moment = values[name] if isinstance(values[name], datetime) else datetime.fromisoformat(values[name])
            values[name] = round(moment.timestamp(), 2)
    return values


def _counts_line(output: str, kind: str) -> list[int]:
    line = next(line for line in output.splitlines() if line.split()[:1] == [kind])
    return [int(n) for n in line.split()[1:]]


def _assert_same(ours: dict, theirs: dict, view_id: str) -> None:
    """Our answers are the reference's, field by field (`_answers`)."""
    for record_id in IDS:
        mine, other = ours["records"][record_id], theirs["records"][record_id]
        assert _rounded(mine, RECORD_FIELDS) == _rounded(other, RECORD_FIELDS), record_id
        if other["persisted_at"] is not None:
            assert _rounded(mine, ("persisted_at",)) == _rounded(other, ("persisted_at",))
    assert theirs["records"]["ams-rec-3"]["pinned"] is True
    for session in SESSIONS:
        mine, other = ours["sessions"][session.session_id], theirs["sessions"][session.session_id]
        assert {f: mine[f] for f in SESSION_FIELDS} == {f: other[f] for f in SESSION_FIELDS}
        assert [{f: m[f] for f in MESSAGE_FIELDS} for m in mine["messages"]] == [
            {f: m[f] for f in MESSAGE_FIELDS} for m in other["messages"]
        ]
        assert [_rounded(m, SESSION_MEMORY_FIELDS) for m in mine["memories"]] == [
            _rounded(m, SESSION_MEMORY_FIELDS) for m in other["memories"]
        ]
    assert {f: ours["view"][f] for f in VIEW_FIELDS} == {f: theirs["view"][f] for f in VIEW_FIELDS}
    assert ours["views"] == [view_id]
    assert [p["group"] for p in theirs["partitions"]] == [{"user_id": "alice"}, {"user_id": "bob"}]
    assert [p["memory_count"] for p in theirs["partitions"]] == [2, 1]
    assert ours["partitions"] == theirs["partitions"]


def test_import_answers_what_the_reference_answered(reference, live_server, api_key):
    theirs = _answers(reference.url, "", reference.view_id)
    theirs["records"] |= _records(reference.url, "", [SESSION_MEMORY.id])
    assert sorted(theirs["records"]) == sorted(IDS)

    dry = _import(reference, "--dry-run")
    assert _counts_line(dry, "records") == [6, 0, 0, 0, 0, 0]
    assert _counts_line(dry, "sessions") == [2, 0, 0, 0, 0, 0]
    assert _counts_line(dry, "views") == [1, 0, 0, 0, 0, 1]
    empty = _state()
    assert empty == {"records": [], "history": 0, "views": [], "partitions": 0, "claims": [], "sessions": {}}

    first = _import(reference)
    assert _counts_line(first, "records") == [6, 0, 0, 0, 0, 0]
    assert _counts_line(first, "sessions") == [2, 0, 0, 0, 0, 0]
    assert _counts_line(first, "views") == [1, 0, 0, 0, 0, 1]
    assert _counts_line(first, "partitions") == [2, 0, 0, 0, 0, 0]
    # The reference keeps no memory ids for a partition: none linked, so our next run recomputes it.
    assert sorted(
        SummaryPartition.objects.values_list("group_key", "namespace", "user_id", "memory_count", "source_count")
    ) == [("user_id=alice", "acme", "alice", 2, 0), ("user_id=bob", "acme", "bob", 1, 0)]
    assert "Namespaces claimed for tenant 'acme-co': acme, travel" in first
    # Its other keys are named too: here only its task queue.
    not_imported = [line for line in first.splitlines() if line.startswith("Not imported:")]
    assert [line.split(" (")[0] for line in not_imported if "memory-server" in line] == [
        "Not imported: memory-server:*"
    ]
    assert [line.split(": ", 2)[2] for line in not_imported if "summary_view" in line] == [
        "refused: model 'gpt-4o' is not allowed; allowed: " + allowed_models_text()
    ]
    history = MemoryHistory.objects.get(memory_id="ams-rec-1")
    assert (history.actor, history.action) == ("import:ams", "created")
    assert history.detail["source"]["key"] == "memory_idx:ams-rec-1"
    assert history.detail["source"]["discrete_memory_extracted"] == "f"
    # The view's own prompt became its summarizing policy version, as a view created here would.
    view = SummaryView.objects.get(id=reference.view_id)
    assert view.policy_version is not None and view.created_by == "import:ams"

    # A key of the tenant the import claimed the namespaces for, as a moved client carries.
    _, tenant_key = api_key_create(
        name="moved",
        tenant="acme-co",
        namespaces=["acme", "travel"],
        permissions=["read", "write", "delete"],
        actor="test",
    )
    ours = _answers(live_server.url, tenant_key, reference.view_id)
    # The reference promoted the session memory with no namespace: only an operator key reaches it here.
    ours["records"] |= _records(live_server.url, api_key, [SESSION_MEMORY.id])

    _assert_same(ours, theirs, reference.view_id)
    # Searched once both have been read and imported: the reference counts it as an access of what it finds.
    assert _search(live_server.url, tenant_key) == _search(reference.url, "") == ["ams-rec-1", "ams-rec-3"]

    before = _state()
    again = _import(reference)
    assert _counts_line(again, "records") == [0, 6, 0, 0, 0, 0]
    assert _counts_line(again, "sessions") == [0, 2, 0, 0, 0, 0]
    assert _counts_line(again, "views") == [0, 1, 0, 0, 0, 1]
    assert _counts_line(again, "partitions") == [0, 2, 0, 0, 0, 0]
    assert _state() == before
    assert len(before["records"]) == 6 and before["history"] == 6 and len(before["sessions"]) == 2
    assert before["partitions"] == 2

    # Edited on the reference since: listed, ours kept (an import never overwrites a record here).
    with_client(reference.url, lambda client: client.edit_long_term_memory("ams-rec-2", {"text": "Bob flew to Porto"}))
    changed = _import(reference)
    assert _counts_line(changed, "records") == [0, 5, 1, 0, 0, 0]
    assert "Kept ours: memory_idx:ams-rec-2: changed on the reference since it was imported; ours kept" in changed
    assert _state() == before

    # Deleted here since: not brought back.
    with_client(live_server.url, lambda client: client.delete_long_term_memories(["ams-rec-5"]), api_key=tenant_key)
    after_delete = _state()
    deleted = _import(reference)
    assert _counts_line(deleted, "records") == [0, 4, 1, 1, 0, 0]
    assert "Kept ours: memory_idx:ams-rec-5: deleted here since it was imported; not brought back" in deleted
    assert _state() == after_delete


def test_a_namespace_of_another_tenant_refuses_the_import_before_any_write(reference):
    TenantNamespace.objects.create(namespace="travel", tenant="other-co")
    with pytest.raises(CommandError) as refused:
        _import(reference)
    assert str(refused.value) == "Namespace(s) travel belong to another tenant. Nothing was imported."
    assert _state() == {
        "records": [],
        "history": 0,
        "views": [],
        "partitions": 0,
        "claims": [("travel", "other-co")],
        "sessions": {},
    }


def test_namespace_selects_what_is_imported_and_claimed(reference):
    output = _import(reference, "--namespace", "travel")
    assert _counts_line(output, "records") == [2, 0, 0, 0, 0, 0]
    assert _counts_line(output, "sessions") == [1, 0, 0, 0, 0, 0]
    assert "4 records outside --namespace were left out." in output
    assert "1 sessions outside --namespace were left out." in output
    assert sorted(MemoryRecord.objects.values_list("id", flat=True)) == ["ams-rec-4", "ams-rec-5"]
    # The view's filters name acme, which this import leaves out.
    assert "1 views outside --namespace were left out." in output
    assert _state()["views"] == []
    assert _state()["claims"] == [("travel", "acme-co")]


def test_the_tenant_is_required_unless_auth_is_disabled(reference, settings):
    with pytest.raises(CommandError, match="^--tenant is required"):
        call_command("import_ams", "--redis-url", reference.redis_url, stdout=io.StringIO())
    assert MemoryRecord.objects.count() == 0
    settings.AUTH_MODE = "disabled"
    out = io.StringIO()
    call_command("import_ams", "--redis-url", reference.redis_url, stdout=out)
    assert _counts_line(out.getvalue(), "records") == [6, 0, 0, 0, 0, 0]
    assert _state()["claims"] == []
    assert _state()["views"] == [(reference.view_id, "", None)]


def test_reuse_vectors_keeps_the_reference_s_own_once_they_prove_to_be_our_model_s(reference, settings):
    """The reference embedded with this server's model (through benchmarks/embedding_server.py)."""
    settings.EMBEDDING_DIMENSIONS = 512
    with pytest.raises(CommandError, match=r"has no 512-dimension vector \(EMBEDDING_DIMENSIONS\)"):
        _import(reference, "--reuse-vectors")
    assert MemoryRecord.objects.count() == 0
    settings.EMBEDDING_DIMENSIONS = 384

    output = _import(reference, "--reuse-vectors")
    assert _counts_line(output, "records") == [6, 0, 0, 0, 0, 0]
    theirs = redis.Redis.from_url(reference.redis_url)
    for row in MemoryRecord.objects.all():
        assert row.embedding == theirs.hget(f"memory_idx:{row.id}", "vector")


def test_an_interrupted_import_resumes(reference):
    def interrupt(kind: str, done: int, total: int) -> None:
        raise KeyboardInterrupt  # after the first batch: two records, committed

    with pytest.raises(KeyboardInterrupt):
        ams_import(
            reference=ReferenceRedis.connect(reference.redis_url, batch_size=2),
            tenant="acme-co",
            dry_run=False,
            progress=interrupt,
        )
    assert MemoryRecord.objects.count() == MemoryHistory.objects.count() == 2
    output = _import(reference)
    assert _counts_line(output, "records") == [4, 2, 0, 0, 0, 0]
    assert _counts_line(output, "sessions") == [2, 0, 0, 0, 0, 0]
    assert MemoryRecord.objects.count() == MemoryHistory.objects.count() == 6

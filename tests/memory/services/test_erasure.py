"""Erasure (`user_erase`): after one user is erased in one namespace, no row of any model
and no Redis key or value holds any of their texts; the receipt counts exactly what went
and names nobody; the same user in another namespace and another user in the same
namespace keep everything. Every user's data is seeded through the real paths: the
working-memory API, promotion (with the scripted LLM), and the long-term API."""

import dramatiq
import pytest
import redis
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.core import serializers

from memory import embeddings, index, redis_keys
from memory.models import (
    ErasureReceipt,
    MemoryHistory,
    MemoryIndexRemoval,
    MemoryRecord,
    SessionPromotion,
    SourceMessage,
)
from memory.services.erasure import user_digest, user_erase
from memory.services.promotion import promotion_run
from policies.models import ExtractionRun
from tests.helpers import (
    db_rows_containing,
    dead_redis,
    put_session,
    queued_messages,
    redis_keys_containing,
    server_redis_at,
    wait_until_no_messages,
)

pytestmark = pytest.mark.django_db(transaction=True)

NS, OTHER_NS = "erase-ns", "erase-ns-2"
USER, OTHER_USER = "erin-7c2d", "oscar-41be"
MARK = "zq-marker-7f3a"  # USER in NS: the one erased
NEIGHBOUR_MARK = "zq-neighbour-19bd"  # OTHER_USER in NS
ELSEWHERE_MARK = "zq-elsewhere-5e60"  # USER in OTHER_NS
ACTOR = "admin:dpo"


def turns(marker: str, count: int = 4) -> list[dict]:
    lines = [
        f"My locker code is {marker}-1138.",
        f"Noted, I will remember the {marker} locker code.",
        f"I also keep spare keys under the {marker} flowerpot.",
        f"Got it, spare keys under the {marker} flowerpot.",
        f"Remind me to water the {marker} ferns on Friday.",
    ]
    roles = ["user", "assistant"] * 3
    return [{"id": f"m{i}", "role": roles[i], "content": lines[i]} for i in range(count)]


def extracted(marker: str) -> dict:
    """The scripted model's reply for one promotion: one fact from the first turn."""
    item = {
        "text": f"User's locker code is {marker}-1138.",
        "memory_type": "semantic",
        "topics": ["locker"],
        "entities": [],
        "event_date": None,
        "source_message_ids": ["m0"],
    }
    return {"memories": [item]}


def search(client, text: str, namespace: str | None, user_id: str) -> list[str]:
    body = {"text": text, "user_id": {"eq": user_id}, "limit": 5}
    if namespace is not None:
        body["namespace"] = {"eq": namespace}
    response = client.post("/v1/long-term-memory/search", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return [m["id"] for m in response.json()["memories"]]


def seed_owner(client, llm_server, *, namespace: str, user_id: str, marker: str) -> list[str]:
    """Everything one user leaves behind; returns the texts searched (now in the cache).

    Working memory with a context, a session memory and a running-summary guard; a
    promotion run (source turns, an extracted record, the model's raw reply); long-term
    records created, one edited (its old text only in history) and one deleted (its
    text only in its delete snapshot); three searches.
    """
    session_id = f"s-{user_id}-{namespace}"
    session = {"namespace": namespace, "user_id": user_id, "context": f"Earlier: talked about {marker} lockers."}
    memories = [{"id": f"sm-{session_id}", "text": f"Session note: {marker} prefers aisle seats."}]
    put_session(client, session_id, turns(marker), memories=memories, **session)
    llm_server.script(extracted(marker))
    run = promotion_run(namespace=namespace, user_id=user_id, session_id=session_id)
    assert (run.status, run.memories_created) == ("succeeded", 1)
    # One more turn, unpromoted, over a tiny window: the summary guard is set.
    put_session(client, session_id, turns(marker, 5), query="?context_window_max=20", **session)

    owner = {"namespace": namespace, "user_id": user_id}
    created = client.post(
        "/v1/long-term-memory/",
        {
            "memories": [
                {"text": f"{marker} keeps a blue kayak in the garage.", **owner},
                {"text": f"{marker} was born in Tallinn in 1990.", **owner},
            ]
        },
        content_type="application/json",
    ).json()
    kept, dropped = (m["id"] for m in created["memories"])
    edited = client.patch(
        f"/v1/long-term-memory/{kept}",
        {"text": f"{marker} keeps a red canoe in the shed."},
        content_type="application/json",
    )
    assert edited.status_code == 200, edited.content
    assert client.delete(f"/v1/long-term-memory?memory_ids={dropped}").status_code == 200

    searched = [
        f"{marker} keeps a red canoe in the shed.",
        turns(marker)[0]["content"],
        f"{marker} keeps a blue kayak in the garage.",
    ]
    assert search(client, searched[0], namespace, user_id)[0] == kept
    search(client, searched[1], namespace, user_id)
    search(client, searched[2], namespace, user_id)
    return searched


def cache_keys(texts: list[str]) -> list[str]:
    return [redis_keys.query_embedding_key(model=settings.EMBEDDING_MODEL, text=t) for t in texts]


def stray_document(*, namespace: str | None, user_id: str, text: str) -> str:
    """An index document whose row is gone and no history names (e.g. a lost delete)."""
    record = MemoryRecord(id=f"stray-{user_id}", text=text, namespace=namespace, user_id=user_id, memory_hash="-")
    record.embedding = embeddings.embed_texts([text])[0].tobytes()
    index.upsert_records([record])
    return record.id


def neighbours_state(redis_client) -> dict:
    """Where the two other owners' texts are, in the DB and in Redis."""
    return {
        marker: (db_rows_containing(marker), redis_keys_containing(marker))
        for marker in (NEIGHBOUR_MARK, ELSEWHERE_MARK)
    }


def test_erasing_a_user_leaves_no_trace_of_their_texts_and_keeps_every_other_owner(
    client, redis_client, llm_settings, llm_server, publish_policy
):
    llm_settings.PROMOTION_DEBOUNCE_SECONDS = 1  # the queued promotions are due by the end
    publish_policy("discrete")
    searched = seed_owner(client, llm_server, namespace=NS, user_id=USER, marker=MARK)
    neighbour_searched = seed_owner(client, llm_server, namespace=NS, user_id=OTHER_USER, marker=NEIGHBOUR_MARK)
    elsewhere_searched = seed_owner(client, llm_server, namespace=OTHER_NS, user_id=USER, marker=ELSEWHERE_MARK)
    stray = stray_document(namespace=NS, user_id=USER, text=f"A document left behind about {MARK}.")
    assert redis_client.exists(redis_keys.index_document_key(stray)) == 1
    assert redis_client.exists(*cache_keys(searched)) == 3
    assert len(db_rows_containing(MARK)) >= 4 and len(redis_keys_containing(MARK)) >= 5  # seeded for real
    before = neighbours_state(redis_client)

    receipt = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert db_rows_containing(MARK) == {}
    assert redis_keys_containing(MARK) == set()
    assert redis_client.exists(*cache_keys(searched)) == 0
    assert receipt.counts == {
        "working_memory_sessions": 1,
        "summary_pending_keys": 1,
        "debounce_windows": 1,
        "summary_partitions": 0,
        "summary_runs": 0,
        "long_term_records": 3,  # the extracted fact, the session note, the edited record
        "history_rows": 6,  # 4 records created, 1 edited, 1 deleted
        "source_messages": 4,
        "session_promotions": 1,
        "extraction_runs": 1,
        "admin_log_entries": 0,
        "index_documents": 4,  # the three records' and the stray one
        "index_tombstones": 0,
        "embedding_cache_entries": 3,
    }
    owner = {"namespace": NS, "user_id": USER}
    for model in (MemoryRecord, MemoryHistory, SourceMessage, SessionPromotion, ExtractionRun):
        assert not model.objects.filter(**owner).exists(), model
    assert index.document_ids() == set(MemoryRecord.objects.values_list("id", flat=True))

    # The other owners keep every row and key they had, and their cached searches.
    assert neighbours_state(redis_client) == before
    assert before[NEIGHBOUR_MARK][0] == before[ELSEWHERE_MARK][0]  # both seeded alike
    assert before[NEIGHBOUR_MARK][0] == {
        "memory.MemoryRecord": 3,
        "memory.MemoryHistory": 2,  # the edit's and the delete's snapshots (a create keeps none)
        "memory.SourceMessage": 4,
        "policies.ExtractionRun": 1,
    }
    for namespace, user_id, marker in ((NS, OTHER_USER, NEIGHBOUR_MARK), (OTHER_NS, USER, ELSEWHERE_MARK)):
        live = MemoryRecord.objects.filter(namespace=namespace, user_id=user_id).values_list("id", flat=True)
        session = redis_keys.session_key(namespace, f"s-{user_id}-{namespace}")
        assert before[marker][1] == {k.encode() for k in [session, *map(redis_keys.index_document_key, live)]}
    assert redis_client.exists(*cache_keys(neighbour_searched + elsewhere_searched)) == 6

    # What was queued before the erase (the debounced promotion, the summary, the hit
    # counts) runs on a real worker and brings nothing back.
    queued = [m["args"][:3] for m in queued_messages(redis_client, "promote_session")]
    assert [NS, USER, f"s-{USER}-{NS}"] in queued and len(queued) == 3
    assert len(queued_messages(redis_client, "working_memory_summarize")) == 3
    llm_server.default = {"memories": []}
    worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        wait_until_no_messages(redis_client)
    finally:
        worker.stop(timeout=30_000)
    assert db_rows_containing(MARK) == {}
    assert redis_keys_containing(MARK) == set()
    assert not SourceMessage.objects.filter(**owner).exists()


def test_the_receipt_names_nobody_and_its_digest_identifies_the_user_only_with_the_key(
    client, redis_client, settings, publish_policy
):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    put_session(client, "s-1", turns(MARK, 2), namespace=NS, user_id=USER)
    promotion_run(namespace=NS, user_id=USER, session_id="s-1")

    receipt = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    stored = ErasureReceipt.objects.get()
    assert (stored.pk, stored.namespace, stored.actor, stored.counts) == (receipt.pk, NS, ACTOR, receipt.counts)
    assert (stored.counts["long_term_records"], stored.counts["source_messages"]) == (2, 2)
    as_text = serializers.serialize("json", [stored])
    assert MARK not in as_text and USER not in as_text
    assert stored.user_digest == user_digest(namespace=NS, user_id=USER)
    assert len(stored.user_digest) == 64 and int(stored.user_digest, 16) >= 0
    assert stored.user_digest not in {
        user_digest(namespace=OTHER_NS, user_id=USER),
        user_digest(namespace=NS, user_id=OTHER_USER),
        user_digest(namespace=None, user_id=USER),
    }
    # Keyed: without the server's secret the digest cannot be recomputed from a guess.
    settings.SECRET_KEY = "another-secret"
    assert user_digest(namespace=NS, user_id=USER) != stored.user_digest


def test_erasing_a_user_with_no_namespace_keeps_the_same_user_in_a_namespace(
    client, redis_client, settings, publish_policy
):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    for namespace, marker in ((None, MARK), (NS, ELSEWHERE_MARK)):
        scope = {"user_id": USER} if namespace is None else {"namespace": NS, "user_id": USER}
        put_session(client, "s-1", turns(marker, 2), **scope)
        promotion_run(namespace=namespace, user_id=USER, session_id="s-1")
        text = f"{marker} likes oat milk."
        response = client.post(
            "/v1/long-term-memory/", {"memories": [{"text": text, **scope}]}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        search(client, text, namespace, USER)
    stray = stray_document(namespace=None, user_id=USER, text=f"Left behind: {MARK}.")
    before = (db_rows_containing(ELSEWHERE_MARK), redis_keys_containing(ELSEWHERE_MARK))

    receipt = user_erase(namespace=None, user_id=USER, actor=ACTOR)

    assert db_rows_containing(MARK) == {}
    assert redis_keys_containing(MARK) == set()
    assert (db_rows_containing(ELSEWHERE_MARK), redis_keys_containing(ELSEWHERE_MARK)) == before
    assert redis_client.exists(redis_keys.index_document_key(stray)) == 0
    assert {k: receipt.counts[k] for k in ("working_memory_sessions", "long_term_records", "source_messages")} == {
        "working_memory_sessions": 1,
        "long_term_records": 3,
        "source_messages": 2,
    }
    assert (receipt.counts["index_documents"], receipt.counts["embedding_cache_entries"]) == (4, 1)
    assert ErasureReceipt.objects.get().namespace == ""
    assert MemoryRecord.objects.filter(namespace=NS, user_id=USER).count() == 3


def test_an_erase_names_one_user_and_an_actor_and_touches_nothing_without_them(client, redis_client):
    put_session(client, "s-1", turns(MARK, 2), namespace=NS, user_id=USER)
    state = redis_keys_containing(MARK)

    for user_id, actor in (("", ACTOR), (USER, "")):
        with pytest.raises(ValueError, match="required"):
            user_erase(namespace=NS, user_id=user_id, actor=actor)

    assert redis_keys_containing(MARK) == state == {redis_keys.session_key(NS, "s-1").encode()}
    assert not ErasureReceipt.objects.exists()


def test_history_snapshots_naming_the_user_go_even_when_the_row_is_filed_elsewhere(client, redis_client):
    """A record moved to another user by an edit: the entry of the move holds the erased
    user's old text; it goes, and the record now owned by the other user stays indexed."""
    created = client.post(
        "/v1/long-term-memory/",
        {"memories": [{"text": f"{MARK} owns a tandem bicycle.", "namespace": NS, "user_id": USER}]},
        content_type="application/json",
    ).json()
    record_id = created["memories"][0]["id"]
    moved = client.patch(
        f"/v1/long-term-memory/{record_id}",
        {"user_id": OTHER_USER, "text": "Someone owns a tandem bicycle."},
        content_type="application/json",
    )
    assert moved.status_code == 200, moved.content
    assert db_rows_containing(MARK) == {"memory.MemoryHistory": 1}  # the edit's `before`

    receipt = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert db_rows_containing(MARK) == {}
    assert (receipt.counts["long_term_records"], receipt.counts["history_rows"]) == (0, 2)
    assert receipt.counts["index_documents"] == 0
    assert MemoryRecord.objects.get(pk=record_id).user_id == OTHER_USER
    assert search(client, "tandem bicycle", NS, OTHER_USER) == [record_id]


def test_turns_written_before_the_user_claimed_the_session_go_and_unclaimed_sessions_stay(
    client, redis_client, settings, publish_policy
):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    put_session(client, "s-claimed", turns(MARK, 2), namespace=NS)  # no user yet
    put_session(client, "s-open", turns(NEIGHBOUR_MARK, 2), namespace=NS)  # never claimed
    for session_id in ("s-claimed", "s-open"):
        promotion_run(namespace=NS, user_id=None, session_id=session_id)
    put_session(client, "s-claimed", turns(MARK, 3), namespace=NS, user_id=USER)
    promotion_run(namespace=NS, user_id=USER, session_id="s-claimed")
    owners = sorted(SourceMessage.objects.filter(session_id="s-claimed").values_list("message_id", "user_id"))
    assert owners == [("m0", ""), ("m1", ""), ("m2", USER)]
    before = (db_rows_containing(NEIGHBOUR_MARK), redis_keys_containing(NEIGHBOUR_MARK))

    receipt = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert db_rows_containing(MARK) == {}
    assert redis_keys_containing(MARK) == set()
    counts = receipt.counts
    assert (counts["long_term_records"], counts["source_messages"], counts["session_promotions"]) == (3, 3, 1)
    assert (db_rows_containing(NEIGHBOUR_MARK), redis_keys_containing(NEIGHBOUR_MARK)) == before
    assert before[0]["memory.SourceMessage"] == 2


def seed_small(client) -> tuple[list[str], list[str]]:
    """A session and two records of the erased user, one of them searched; returns
    (the records' texts, their ids)."""
    put_session(client, "s-1", turns(MARK, 2), namespace=NS, user_id=USER)
    texts = [f"{MARK} grows chillies on the balcony.", f"{MARK} cycles to work."]
    owner = {"namespace": NS, "user_id": USER}
    response = client.post(
        "/v1/long-term-memory/", {"memories": [{"text": t, **owner} for t in texts]}, content_type="application/json"
    )
    search(client, texts[0], NS, USER)
    return texts, sorted(m["id"] for m in response.json()["memories"])


def test_with_redis_down_nothing_is_erased_from_the_database_and_a_rerun_erases_everything(client, redis_client):
    texts, _ = seed_small(client)
    rows = db_rows_containing(MARK)

    with server_redis_at(dead_redis()), pytest.raises(redis.ConnectionError):
        user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    # The rows hold the texts the cache is cleaned by, so they stay until Redis answers.
    assert db_rows_containing(MARK) == rows == {"memory.MemoryRecord": 2}
    assert not ErasureReceipt.objects.exists()
    assert redis_client.exists(*cache_keys(texts)) == 1

    receipt = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert (receipt.counts["long_term_records"], receipt.counts["embedding_cache_entries"]) == (2, 1)
    assert db_rows_containing(MARK) == {} and redis_keys_containing(MARK) == set()


def test_when_the_cache_cannot_be_cleaned_the_database_rolls_back_and_keeps_the_texts(client, redis_client):
    """Redis answers working memory but refuses DEL (a real ACL): the transaction that
    removed the rows rolls back, because the rows hold the only copy of the texts the
    cache is cleaned by."""
    texts = [f"{MARK} collects stamps."]
    client.post(
        "/v1/long-term-memory/",
        {"memories": [{"text": texts[0], "namespace": NS, "user_id": USER}]},
        content_type="application/json",
    )
    search(client, texts[0], NS, USER)
    rows = db_rows_containing(MARK)
    redis_client.acl_setuser("no-del", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-del"])
    port = redis_client.connection_pool.connection_kwargs["port"]
    try:
        with (
            server_redis_at(f"redis://no-del:pw@127.0.0.1:{port}/0"),
            pytest.raises(redis.exceptions.NoPermissionError),
        ):
            user_erase(namespace=NS, user_id=USER, actor=ACTOR)
    finally:
        redis_client.acl_deluser("no-del")

    assert db_rows_containing(MARK) == rows == {"memory.MemoryRecord": 1}
    assert not ErasureReceipt.objects.exists() and not MemoryIndexRemoval.objects.exists()
    assert redis_client.exists(*cache_keys(texts)) == 1

    receipt = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert (receipt.counts["long_term_records"], receipt.counts["embedding_cache_entries"]) == (1, 1)
    assert db_rows_containing(MARK) == {} and redis_keys_containing(MARK) == set()


def test_an_index_outage_after_the_commit_is_reported_and_a_rerun_finishes(client, redis_client):
    texts, ids = seed_small(client)

    with server_redis_at(dead_redis(), text_client=False):
        first = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert first.counts["incomplete"] == ["index_documents"]
    assert ErasureReceipt.objects.get(pk=first.pk).counts == first.counts
    nonzero = {k: v for k, v in first.counts.items() if v and k != "incomplete"}
    assert nonzero == {
        "working_memory_sessions": 1,
        "debounce_windows": 1,
        "long_term_records": 2,
        "history_rows": 2,
        "embedding_cache_entries": 1,
    }
    assert db_rows_containing(MARK) == {}
    assert redis_keys_containing(MARK) == {redis_keys.index_document_key(i).encode() for i in ids}
    # Tombstones: the periodic sweep would drop the documents too.
    assert sorted(MemoryIndexRemoval.objects.values_list("memory_id", flat=True)) == ids

    second = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert {k: v for k, v in second.counts.items() if v} == {"index_documents": 2}
    assert redis_keys_containing(MARK) == set()
    assert not MemoryIndexRemoval.objects.exists()


def test_admin_log_rows_about_erased_rows_go_and_others_stay(client, redis_client, django_user_model):
    created = client.post(
        "/v1/long-term-memory/",
        {
            "memories": [
                {"text": f"{MARK} sings in a choir.", "namespace": NS, "user_id": USER},
                {"text": f"{NEIGHBOUR_MARK} sings too.", "namespace": NS, "user_id": OTHER_USER},
            ]
        },
        content_type="application/json",
    ).json()
    admin = django_user_model.objects.create_superuser("dpo", "dpo@example.com", "pw")
    # What ModelAdmin.log_change writes when a reviewer saves a record: its str() quotes the text.
    LogEntry.objects.log_actions(
        admin.pk, MemoryRecord.objects.filter(id__in=[m["id"] for m in created["memories"]]), CHANGE, "Changed text."
    )
    assert db_rows_containing(MARK) == {"memory.MemoryRecord": 1, "admin.LogEntry": 1}

    receipt = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert receipt.counts["admin_log_entries"] == 1
    assert db_rows_containing(MARK) == {}
    assert db_rows_containing(NEIGHBOUR_MARK) == {"memory.MemoryRecord": 1, "admin.LogEntry": 1}


def test_debounce_windows_of_the_user_go_even_for_sessions_nothing_else_names(client, redis_client):
    put_session(client, "s-gone", turns(MARK, 1), namespace=NS, user_id=USER)
    put_session(client, "s-kept", turns(NEIGHBOUR_MARK, 1), namespace=NS, user_id=OTHER_USER)
    # The client deleted the session before it was promoted: only its window is left.
    assert client.delete(f"/v1/working-memory/s-gone?namespace={NS}&user_id={USER}").status_code == 200
    windows = {
        user_id: redis_keys.window_key(namespace=NS, user_id=user_id, session_id=session_id)
        for user_id, session_id in ((USER, "s-gone"), (OTHER_USER, "s-kept"))
    }
    assert redis_client.exists(*windows.values()) == 2

    receipt = user_erase(namespace=NS, user_id=USER, actor=ACTOR)

    assert (receipt.counts["working_memory_sessions"], receipt.counts["debounce_windows"]) == (0, 1)
    assert redis_client.exists(windows[USER]) == 0
    assert redis_client.exists(windows[OTHER_USER]) == 1

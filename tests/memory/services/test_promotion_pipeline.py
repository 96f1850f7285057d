"""The promotion pipeline as the worker runs it (`promotion_run`), in this process:
persist, extract, write with provenance, watermark. Real Redis, DB and embedding model;
the scripted server is the only stand-in."""

import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from memory.models import MemoryHistory, MemoryRecord, SessionPromotion, SourceMessage
from memory.services.promotion import promotion_run
from policies.models import ExtractionRun
from tests.factories import conversation
from tests.helpers import put_session

NS, USER = "travel", "alice"
OWNER = {"namespace": NS, "user_id": USER}
TURNS = conversation()  # the tests' conversation, m0 to m3


def promote(session_id="s-1", namespace=NS, user_id=USER):
    return promotion_run(namespace=namespace, user_id=user_id, session_id=session_id)


def item(text, sources, **fields):
    return {
        "text": text,
        "memory_type": fields.get("memory_type", "semantic"),
        "topics": fields.get("topics", []),
        "entities": fields.get("entities", []),
        "event_date": fields.get("event_date"),
        "source_message_ids": sources,
    }


def test_messages_strategy_promotes_turns_as_searchable_message_memories_without_an_llm(
    client, llm_settings, publish_policy, llm_server
):
    # An LLM is configured and would answer; the published messages strategy never asks it.
    llm_server.default = {"memories": [item("An LLM-made memory.", ["m0"])]}
    version = publish_policy("messages")
    put_session(client, "s-1", TURNS[:3], **OWNER)

    run = promote()

    assert (run.status, run.strategy, run.model, run.policy_version) == ("succeeded", "messages", "", version)
    assert (run.first_message_id, run.last_message_id, run.message_count) == ("m0", "m2", 3)
    assert (run.memories_created, run.memories_deduplicated, run.tokens_in, run.attempt) == (3, 0, 0, 1)
    records = list(MemoryRecord.objects.order_by("created_at"))
    assert [(r.text, r.context, r.memory_type, r.extracted_from, r.status) for r in records] == [
        ("user: My sister Anna lives in Porto.", "", "message", ["m0"], "approved"),
        ("assistant: Porto is lovely.", "user: My sister Anna lives in Porto.", "message", ["m1"], "approved"),
        ("user: " + TURNS[2]["content"], "assistant: Porto is lovely.", "message", ["m2"], "approved"),
    ]
    assert records[0].created_at == datetime(2024, 5, 4, 9, 30, tzinfo=UTC)
    assert {(r.namespace, r.user_id, r.session_id, r.extraction_run_id) for r in records} == {(NS, USER, "s-1", run.pk)}
    assert list(SourceMessage.objects.order_by("seq").values_list("seq", "message_id", "role")) == [
        (1, "m0", "user"),
        (2, "m1", "assistant"),
        (3, "m2", "user"),
    ]
    assert llm_server.requests == []

    found = client.post(
        "/v1/long-term-memory/search",
        {"text": "window seat to visit my sister", "namespace": {"eq": NS}, "limit": 1},
        content_type="application/json",
    ).json()
    assert [m["id"] for m in found["memories"]] == [records[2].id]


def test_a_later_run_gives_its_first_turn_the_last_promoted_turn_as_context(client, settings, publish_policy):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    put_session(client, "s-1", TURNS[:2], **OWNER)
    assert promote().memories_created == 2
    put_session(client, "s-1", TURNS, **OWNER)

    assert promote().memories_created == 2
    contexts = {r.extracted_from[0]: r.context for r in MemoryRecord.objects.all()}
    assert contexts == {
        "m0": "",
        "m1": "user: My sister Anna lives in Porto.",
        "m2": "assistant: Porto is lovely.",
        "m3": "user: " + TURNS[2]["content"],
    }


def test_a_second_delivery_of_the_same_job_creates_nothing(client, settings, publish_policy):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    put_session(client, "s-1", TURNS, **OWNER)
    first = promote()
    assert first.memories_created == 4

    assert promote() is None
    assert MemoryRecord.objects.count() == 4
    assert ExtractionRun.objects.count() == 1
    assert SourceMessage.objects.count() == 4
    # Only the first delivery's births, by the worker; the second wrote no history.
    assert list(MemoryHistory.objects.values_list("action", "actor")) == [("created", "system:promotion")] * 4
    assert SessionPromotion.objects.get().extracted_seq == 4


def test_only_new_turns_are_extracted_and_earlier_turns_go_as_context(client, llm_settings, llm_server, publish_policy):
    publish_policy("discrete")
    llm_server.script(
        {"memories": [item("User's sister Anna lives in Porto.", ["m0"])]},
        {
            "memories": [
                item("User's sister Anna lives in Porto.", ["m0"]),  # earlier turn: dropped
                item("User wants a window seat on flights to Lisbon.", ["m2"]),
            ]
        },
    )
    put_session(client, "s-1", TURNS[:2], **OWNER)
    first = promote()
    put_session(client, "s-1", TURNS, **OWNER)
    second = promote()

    sent = json.loads(llm_server.requests[1]["messages"][1]["content"])
    assert [t["id"] for t in sent["earlier_turns"]] == ["m0", "m1"]
    assert [t["id"] for t in sent["new_turns"]] == ["m2", "m3"]
    assert (second.first_message_id, second.last_message_id, second.message_count) == ("m2", "m3", 2)
    assert (second.memories_created, second.memories_dropped) == (1, 1)
    assert list(MemoryRecord.objects.filter(extraction_run=second).values_list("text", "extracted_from")) == [
        ("User wants a window seat on flights to Lisbon.", ["m2"])
    ]
    assert MemoryRecord.objects.filter(extraction_run=first).count() == 1
    assert MemoryRecord.objects.count() == 2


def test_reference_resolution_reaches_the_stored_text_with_full_provenance(
    client, llm_settings, llm_server, publish_policy
):
    version = publish_policy("discrete")
    grounded = "User's sister Anna moved from Porto to Lisbon on 2024-05-03."
    reply = {
        "memories": [
            item(
                grounded,
                ["m0", "m2"],
                memory_type="episodic",
                event_date="2024-05-03",
                topics=["family"],
                entities=["Anna", "Porto", "Lisbon"],
            )
        ]
    }
    llm_server.latency = 0.2
    llm_server.script(reply)
    put_session(client, "s-1", TURNS, **OWNER)

    run = promote()

    record = MemoryRecord.objects.get()
    assert record.text == grounded
    assert (record.memory_type, record.event_date) == ("episodic", datetime(2024, 5, 3, tzinfo=UTC))
    assert (record.topics, record.entities, record.extracted_from) == (
        ["family"],
        ["Anna", "Porto", "Lisbon"],
        ["m0", "m2"],
    )
    assert (record.extraction_run, run.policy_version, run.model) == (run, version, "openai/scripted")
    request = llm_server.requests[0]
    prompt_words = sum(len(m["content"].split()) for m in request["messages"])
    assert (run.tokens_in, run.tokens_out) == (prompt_words, len(json.dumps(reply).split()))
    assert run.latency_ms >= 200 and float(run.cost_usd) == 0.0
    assert SourceMessage.objects.get(message_id="m2").created_at == datetime(2024, 5, 4, 9, 31, tzinfo=UTC)


def test_a_review_mode_policy_writes_pending_records(client, llm_settings, llm_server, publish_policy):
    publish_policy("discrete", review_mode="pending")
    llm_server.script({"memories": [item("User's sister is Anna.", ["m0"])]})
    put_session(client, "s-1", TURNS[:1], **OWNER)
    promote()
    assert list(MemoryRecord.objects.values_list("text", "status")) == [("User's sister is Anna.", "pending")]


def test_session_memories_are_promoted_once_through_dedup(client, settings, publish_policy):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    stored = client.post(
        "/v1/long-term-memory/",
        {"memories": [{"text": "Alice prefers aisle seats", "namespace": NS, "user_id": USER}]},
        content_type="application/json",
    )
    assert stored.status_code == 200, stored.content
    existing = MemoryRecord.objects.get()
    memories = [
        {"id": "r-1", "text": "alice prefers  aisle seats", "memory_type": "semantic"},
        {"id": "r-2", "text": "Alice's sister Anna lives in Lisbon", "memory_type": "semantic", "topics": ["family"]},
    ]
    put_session(client, "s-1", TURNS[:1], **OWNER, memories=memories)

    promote()
    put_session(client, "s-1", TURNS[:2], **OWNER, memories=memories)
    promote()

    assert MemoryRecord.objects.filter(memory_type="semantic").count() == 2
    assert MemoryRecord.objects.filter(pk="r-1").exists() is False  # merged into the stored record
    merged = MemoryHistory.objects.get(action="merged")
    assert (merged.memory_id, merged.action, merged.detail["step"]) == (existing.pk, "merged", "hash")
    second = MemoryRecord.objects.get(pk="r-2")
    assert (second.namespace, second.user_id, second.session_id, second.topics) == (NS, USER, "s-1", ["family"])


def test_turns_are_kept_in_the_db_so_a_failed_run_loses_nothing(client, llm_settings, llm_server, publish_policy):
    from tests.llm_server import Fault

    llm_settings.PROMOTION_MAX_ATTEMPTS = 1
    publish_policy("discrete")
    llm_server.script(Fault.server_error())
    put_session(client, "s-1", TURNS, **OWNER)
    failed = promote()
    assert (failed.status, failed.attempt) == ("failed", 1)
    assert "InternalServerError" in failed.error or "upstream exploded" in failed.error
    assert MemoryRecord.objects.count() == 0

    # The session is gone; its turns are not.
    assert client.delete(f"/v1/working-memory/s-1?namespace={NS}").status_code == 200
    llm_server.script({"memories": [item("User's sister Anna lives in Lisbon.", ["m2"])]})
    run = promote()
    assert (run.status, run.message_count, run.memories_created) == ("succeeded", 4, 1)
    assert run.pk != failed.pk
    assert len(json.loads(llm_server.requests[1]["messages"][1]["content"])["new_turns"]) == 4


def test_without_a_published_policy_the_run_fails_saying_how_to_fix_it(client, transactional_db):
    put_session(client, "s-1", TURNS[:1], **OWNER)
    run = promote()
    assert (run.status, run.policy_version) == ("failed", None)
    assert "seed_defaults" in run.error
    assert SourceMessage.objects.count() == 1 and MemoryRecord.objects.count() == 0


def test_two_concurrent_deliveries_write_the_records_once(client, llm_settings, llm_server, publish_policy):
    publish_policy("discrete")
    llm_server.latency = 0.5
    llm_server.default = {"memories": [item("User's sister Anna lives in Lisbon.", ["m2"])]}
    put_session(client, "s-1", TURNS, **OWNER)

    outcomes = {}

    def deliver(name):
        try:
            outcomes[name] = promote()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            outcomes[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [thread.is_alive() for thread in threads] == [False, False]  # both deliveries finished

    [run] = ExtractionRun.objects.all()
    # Neither delivery raised: each returned the session's one run.
    assert {name: type(outcome).__name__ for name, outcome in outcomes.items()} == {
        "first": "ExtractionRun",
        "second": "ExtractionRun",
    }
    assert [outcomes["first"].pk, outcomes["second"].pk] == [run.pk, run.pk]
    assert MemoryRecord.objects.count() == 1
    assert SessionPromotion.objects.get().extracted_seq == 4
    assert len(llm_server.requests) == 2  # both deliveries really ran the extraction
    assert list(ExtractionRun.objects.values_list("status", "attempt")) == [("succeeded", 2)]


@pytest.mark.parametrize("namespace", ["a", "b"])
def test_same_session_id_in_two_namespaces_stays_apart(client, settings, publish_policy, namespace):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    put_session(client, "s-1", TURNS[:1], namespace="a", user_id=USER)
    put_session(client, "s-1", TURNS[1:2], namespace="b", user_id=USER)
    run = promote(namespace=namespace)
    assert (run.namespace, run.message_count) == (namespace, 1)
    assert list(MemoryRecord.objects.values_list("namespace", "extracted_from")) == [
        (namespace, ["m0" if namespace == "a" else "m1"])
    ]


def test_a_session_memory_keeps_an_id_as_long_as_a_record_id_may_be(client, settings, publish_policy):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    # One more is refused at the door: tests/memory/api/test_working_memory_validation.py.
    longest = "r" * 128  # MemoryRecord.id's max_length
    put_session(client, "s-1", TURNS[:1], **OWNER, memories=[{"id": longest, "text": "Alice's sister is Anna"}])
    promote()
    assert MemoryRecord.objects.get(text="Alice's sister is Anna").pk == longest

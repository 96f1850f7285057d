"""Every working-memory route driven through agent-memory-client 0.14 against a live server."""

from datetime import UTC, datetime, timedelta

import pytest
from agent_memory_client.exceptions import MemoryNotFoundError, MemoryServerError
from agent_memory_client.models import (
    ClientMemoryRecord,
    MemoryMessage,
    MemoryStrategyConfig,
    WorkingMemory,
)
from ulid import ULID

from memory import tokens
from tests.helpers import redis_ms, wait_until, with_client


def turn(role: str, content: str, **extra) -> MemoryMessage:
    return MemoryMessage(role=role, content=content, **extra)


def test_put_then_get_round_trips_the_session(live_server):
    created_at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    memory = WorkingMemory(
        session_id="s-1",
        namespace="travel",
        user_id="alice",
        messages=[
            turn("user", "I want to fly to Lisbon", id="m-1", created_at=created_at),
            turn("assistant", "Which dates?", id="m-2", created_at=created_at + timedelta(seconds=5)),
        ],
        memories=[
            ClientMemoryRecord(id="r-1", text="Alice prefers aisle seats", memory_type="semantic", topics=["travel"])
        ],
        data={"trip": {"to": "LIS", "pax": 2}},
        context="Earlier: Alice asked about hotels.",
        ttl_seconds=3600,
        long_term_memory_strategy=MemoryStrategyConfig(strategy="summary", config={"max_summary_length": 200}),
    )

    async def work(client):
        put = await client.put_working_memory("s-1", memory)
        got = await client.get_working_memory("s-1", namespace="travel", user_id="alice")
        return put, got

    put, got = with_client(live_server.url, work)
    expected_tokens = tokens.count("user: I want to fly to Lisbon") + tokens.count("assistant: Which dates?")
    for result in (put, got):
        assert result.session_id == "s-1" and result.namespace == "travel" and result.user_id == "alice"
        assert [(m.id, m.role, m.content, m.created_at) for m in result.messages] == [
            ("m-1", "user", "I want to fly to Lisbon", created_at),
            ("m-2", "assistant", "Which dates?", created_at + timedelta(seconds=5)),
        ]
        assert [(r.id, r.text, r.memory_type.value, r.topics) for r in result.memories] == [
            ("r-1", "Alice prefers aisle seats", "semantic", ["travel"])
        ]
        assert result.data == {"trip": {"to": "LIS", "pax": 2}}
        assert result.context == "Earlier: Alice asked about hotels."
        assert result.ttl_seconds == 3600
        assert result.long_term_memory_strategy.strategy == "summary"
        assert result.long_term_memory_strategy.config == {"max_summary_length": 200}
        assert result.tokens == expected_tokens
        # No model information given: the percentages stay null, as in the reference.
        assert result.context_percentage_total_used is None
        assert result.context_percentage_until_summarization is None
    assert put.new_session is True


def test_missing_ids_become_ulids_and_missing_created_at_becomes_now(live_server):
    async def work(client):
        # Raw JSON: the client model would fill both fields itself.
        response = await client._client.put(
            "/v1/working-memory/s-2",
            json={"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        )
        return response

    before = datetime.now(UTC)
    response = with_client(live_server.url, work)
    after = datetime.now(UTC)
    assert response.status_code == 200
    messages = response.json()["messages"]
    ids = [m["id"] for m in messages]
    assert len(set(ids)) == 2
    for message_id in ids:
        assert str(ULID.from_str(message_id)) == message_id
    for message in messages:
        assert before <= datetime.fromisoformat(message["created_at"]) <= after


def test_a_session_written_with_a_user_is_found_without_naming_the_user(live_server):
    async def work(client):
        await client.put_working_memory(
            "s-3", WorkingMemory(session_id="s-3", namespace="ns", user_id="alice", messages=[turn("user", "hello")])
        )
        without_user = await client.get_working_memory("s-3", namespace="ns")
        same_user = await client.get_working_memory("s-3", namespace="ns", user_id="alice")
        with pytest.raises(MemoryNotFoundError):
            await client.get_working_memory("s-3", namespace="ns", user_id="bob")
        with pytest.raises(MemoryNotFoundError):
            await client.get_working_memory("s-3", namespace="other-ns")
        return without_user, same_user

    without_user, same_user = with_client(live_server.url, work)
    assert without_user.user_id == "alice" and [m.content for m in without_user.messages] == ["hello"]
    assert same_user.user_id == "alice"


def test_another_users_put_is_refused_and_changes_nothing(live_server):
    async def work(client):
        await client.put_working_memory(
            "s-4", WorkingMemory(session_id="s-4", user_id="alice", messages=[turn("user", "mine")])
        )
        with pytest.raises(MemoryServerError) as refused:
            await client.put_working_memory(
                "s-4", WorkingMemory(session_id="s-4", user_id="bob", messages=[turn("user", "overwrite")])
            )
        return refused.value, await client.get_working_memory("s-4")

    error, stored = with_client(live_server.url, work)
    assert error.status_code == 409
    assert [m.content for m in stored.messages] == ["mine"] and stored.user_id == "alice"


def test_a_put_naming_no_user_keeps_the_owner(live_server):
    async def work(client):
        await client.put_working_memory("s-5", WorkingMemory(session_id="s-5", user_id="alice"))
        # set_working_memory_data re-PUTs the session; its owner must survive.
        await client.put_working_memory("s-5", WorkingMemory(session_id="s-5", data={"k": "v"}))
        return await client.get_working_memory("s-5"), await client.list_sessions(user_id="alice")

    stored, listed = with_client(live_server.url, work)
    assert stored.user_id == "alice" and stored.data == {"k": "v"}
    assert (listed.sessions, listed.total) == (["s-5"], 1)


def test_get_or_create_creates_once_then_finds(live_server):
    async def work(client):
        first = await client.get_or_create_working_memory("s-6", namespace="ns", user_id="alice")
        second = await client.get_or_create_working_memory("s-6", namespace="ns", user_id="alice")
        return first, second

    (created, memory), (created_again, memory_again) = with_client(live_server.url, work)
    assert created is True and created_again is False
    assert memory.session_id == memory_again.session_id == "s-6"
    assert memory_again.user_id == "alice" and memory_again.messages == []


def test_append_messages_keeps_earlier_turns_and_reports_context_usage(live_server):
    async def work(client):
        await client.append_messages_to_working_memory("s-7", [{"role": "user", "content": "first"}], namespace="ns")
        return await client.append_messages_to_working_memory(
            "s-7", [{"role": "assistant", "content": "second"}], namespace="ns", context_window_max=1000
        )

    result = with_client(live_server.url, work)
    assert [m.content for m in result.messages] == ["first", "second"]
    used = tokens.count("user: first") + tokens.count("assistant: second")
    assert result.tokens == used
    assert result.context_percentage_total_used == pytest.approx(used / 1000 * 100)
    assert result.context_percentage_until_summarization == pytest.approx(used / 700 * 100)


def test_model_name_sets_the_window_for_the_percentages(live_server):
    async def work(client):
        await client.put_working_memory("s-8", WorkingMemory(session_id="s-8", messages=[turn("user", "hello")]))
        return await client.get_working_memory("s-8", model_name="gpt-4")

    result = with_client(live_server.url, work)
    assert result.context_percentage_total_used == pytest.approx(result.tokens / 8192 * 100)
    assert result.context_percentage_until_summarization == pytest.approx(result.tokens / int(8192 * 0.7) * 100)


def test_delete_removes_the_session_and_another_users_delete_is_refused(live_server):
    async def work(client):
        await client.put_working_memory("s-9", WorkingMemory(session_id="s-9", namespace="ns", user_id="alice"))
        with pytest.raises(MemoryNotFoundError):
            await client.delete_working_memory("s-9", namespace="ns", user_id="bob")
        still_there = await client.get_working_memory("s-9", namespace="ns")
        ack = await client.delete_working_memory("s-9", namespace="ns", user_id="alice")
        with pytest.raises(MemoryNotFoundError):
            await client.get_working_memory("s-9", namespace="ns")
        again = await client.delete_working_memory("s-9", namespace="ns")  # idempotent
        return still_there, ack, again, await client.list_sessions(namespace="ns")

    still_there, ack, again, listed = with_client(live_server.url, work)
    assert still_there.session_id == "s-9"
    assert ack.status == "ok" and again.status == "ok"
    assert (listed.sessions, listed.total) == ([], 0)


def test_list_sessions_counts_exactly_in_every_scope_and_pages_newest_first(live_server):
    layout = [
        ("a1", "ns-a", "alice"),
        ("a2", "ns-a", "bob"),
        ("a3", "ns-a", None),
        ("b1", "ns-b", "alice"),
        ("b2", "ns-b", None),
        ("shared", "ns-a", "alice"),
        ("shared", "ns-b", "bob"),
    ]

    async def work(client):
        for session_id, namespace, user_id in layout:
            await client.put_working_memory(
                session_id, WorkingMemory(session_id=session_id, namespace=namespace, user_id=user_id)
            )
        results = {
            "all": await client.list_sessions(limit=100),
            "ns-a": await client.list_sessions(namespace="ns-a"),
            "alice": await client.list_sessions(user_id="alice"),
            "ns-a alice": await client.list_sessions(namespace="ns-a", user_id="alice"),
            "page 2": await client.list_sessions(namespace="ns-a", limit=2, offset=2),
            "past the end": await client.list_sessions(namespace="ns-a", limit=2, offset=10),
        }
        await client.delete_working_memory("a1", namespace="ns-a")
        results["after delete"] = await client.list_sessions(namespace="ns-a")
        return results

    r = with_client(live_server.url, work)
    assert (r["all"].total, r["all"].sessions) == (7, ["shared", "shared", "b2", "b1", "a3", "a2", "a1"])
    assert (r["ns-a"].total, r["ns-a"].sessions) == (4, ["shared", "a3", "a2", "a1"])
    assert (r["alice"].total, r["alice"].sessions) == (3, ["shared", "b1", "a1"])
    assert (r["ns-a alice"].total, r["ns-a alice"].sessions) == (2, ["shared", "a1"])
    assert (r["page 2"].total, r["page 2"].sessions) == (4, ["a2", "a1"])
    assert (r["past the end"].total, r["past the end"].sessions) == (4, [])
    assert (r["after delete"].total, r["after delete"].sessions) == (3, ["shared", "a3", "a2"])


def test_a_session_expires_after_its_ttl_and_leaves_the_listing(live_server, redis_client):
    async def write(client):
        await client.put_working_memory(
            "short", WorkingMemory(session_id="short", namespace="ns", user_id="alice", ttl_seconds=3)
        )
        await client.put_working_memory("long", WorkingMemory(session_id="long", namespace="ns", user_id="alice"))
        return await client.list_sessions(namespace="ns"), await client.get_working_memory("short", namespace="ns")

    written_before = redis_ms(redis_client)
    listed, short = with_client(live_server.url, write)
    written_after = redis_ms(redis_client)
    assert (listed.total, sorted(listed.sessions)) == (2, ["long", "short"])
    assert short.ttl_seconds == 3
    # Redis holds the TTL and the expiry time; the session without a TTL has neither.
    assert 0 < redis_client.pttl("wm:s:ns:short") <= 3000
    assert written_before + 3000 <= redis_client.zscore("wm:expiries", "ns:alice:short") <= written_after + 3000
    assert (redis_client.ttl("wm:s:ns:long"), redis_client.zcard("wm:expiries")) == (-1, 1)
    wait_until(lambda: not redis_client.exists("wm:s:ns:short"), timeout=30, what="Redis to expire the session")

    async def after(client):
        with pytest.raises(MemoryNotFoundError):
            await client.get_working_memory("short", namespace="ns")
        return [
            await client.list_sessions(**scope)
            for scope in ({}, {"namespace": "ns"}, {"user_id": "alice"}, {"namespace": "ns", "user_id": "alice"})
        ]

    for listing in with_client(live_server.url, after):
        assert (listing.total, listing.sessions) == (1, ["long"])
    assert redis_client.zcard("wm:expiries") == 0  # pruned, not just hidden


def test_rewriting_a_session_without_ttl_makes_it_persistent(live_server, redis_client):
    async def work(client):
        await client.put_working_memory("s-10", WorkingMemory(session_id="s-10", ttl_seconds=60))
        expiring = (redis_client.pttl("wm:s::s-10"), redis_client.zcard("wm:expiries"))
        await client.put_working_memory("s-10", WorkingMemory(session_id="s-10"))
        return expiring

    pttl, expiries = with_client(live_server.url, work)
    assert 0 < pttl <= 60_000 and expiries == 1  # the first write did set a TTL
    assert redis_client.ttl("wm:s::s-10") == -1  # no TTL: Redis never expires it
    assert redis_client.zcard("wm:expiries") == 0  # and the listing never prunes it
    assert with_client(live_server.url, lambda client: client.list_sessions()).total == 1


def test_a_session_without_owner_is_visible_to_any_user_and_claimed_by_the_first_put_naming_one(live_server):
    async def work(client):
        await client.put_working_memory("s-11", WorkingMemory(session_id="s-11", messages=[turn("user", "hi")]))
        seen_by_bob = await client.get_working_memory("s-11", user_id="bob")
        await client.put_working_memory("s-11", WorkingMemory(session_id="s-11", user_id="carol"))
        with pytest.raises(MemoryNotFoundError):
            await client.get_working_memory("s-11", user_id="bob")
        return seen_by_bob, await client.list_sessions(user_id="carol"), await client.list_sessions(user_id="bob")

    seen_by_bob, carol, bob = with_client(live_server.url, work)
    assert seen_by_bob.user_id is None and [m.content for m in seen_by_bob.messages] == ["hi"]
    assert (carol.sessions, carol.total) == (["s-11"], 1)
    assert (bob.sessions, bob.total) == ([], 0)


def test_a_body_over_the_limit_is_refused_through_real_http(live_server, redis_client):
    memory = WorkingMemory(session_id="big", messages=[turn("user", "x" * (10 * 1024 * 1024))])

    async def work(client):
        with pytest.raises(MemoryServerError) as refused:
            await client.put_working_memory("big", memory)
        return refused.value

    assert with_client(live_server.url, work).status_code == 413
    assert not redis_client.exists("wm:s::big")

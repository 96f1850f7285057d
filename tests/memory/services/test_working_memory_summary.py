"""The running summary: a real Dramatiq worker folds the oldest turns into `context`.

Sessions are written through agent-memory-client; the worker runs in threads of this
process (and, in the last test, as `rundramatiq` beside gunicorn). The LLM is the
scripted OpenAI-compatible server.
"""

import json

import pytest
from agent_memory_client.models import MemoryMessage, WorkingMemory

from memory import tokens
from memory.models import SourceMessage
from memory.redis_keys import summary_pending_key
from memory.services.working_memory import SUMMARY_PROMPT
from tests.helpers import Deployment, child_env, wait_until, with_client
from tests.llm_server import Fault

WINDOW = 200  # trigger at 140 tokens; keep the newest turns within 70
SUMMARY = "Alice is planning a week in Lisbon in May and prefers aisle seats."


def turns(first: int, last: int) -> list[MemoryMessage]:
    return [
        MemoryMessage(
            id=f"m{i}",
            role="user" if i % 2 == 0 else "assistant",
            content=f"turn {i}: " + "we talked about flights and hotels " * 3,
        )
        for i in range(first, last + 1)
    ]


def put(url: str, session_id: str, messages, context=None, window=WINDOW, user_id="alice"):
    memory = WorkingMemory(session_id=session_id, namespace="ns", user_id=user_id, messages=messages, context=context)
    return with_client(url, lambda client: client.put_working_memory(session_id, memory, context_window_max=window))


def get(url: str, session_id: str):
    return with_client(url, lambda client: client.get_working_memory(session_id, namespace="ns"))


def summary_requests(llm_server) -> list[dict]:
    return [r for r in llm_server.requests if r["messages"][0]["content"] == SUMMARY_PROMPT]


def summary_done(redis_client, session_id: str) -> bool:
    return not redis_client.exists(summary_pending_key("ns", session_id))


@pytest.fixture
def six_turns():
    messages = turns(0, 5)
    per_turn = [tokens.count_message(m.role, m.content) for m in messages]
    # Preconditions of the scenario: over the 140-token trigger, and exactly the last
    # two turns fit in the 70 tokens kept.
    assert sum(per_turn) > 140 and sum(per_turn[-2:]) <= 70 < sum(per_turn[-3:])
    return messages


def test_the_llm_summary_replaces_the_oldest_turns_and_the_newest_are_kept(
    live_server, dramatiq_worker, llm_settings, llm_server, redis_client, six_turns
):
    llm_server.default = SUMMARY  # promotion's own LLM calls, if any, get it too
    response = put(live_server.url, "trip", six_turns, context="Earlier: Alice asked about visas.")
    # The PUT itself answers at once with everything, over the threshold.
    assert [m.id for m in response.messages] == [f"m{i}" for i in range(6)]
    assert response.context_percentage_until_summarization == 100.0

    wait_until(lambda: summary_done(redis_client, "trip"), what="the summary job")
    session = get(live_server.url, "trip")
    assert session.context == SUMMARY
    assert [m.id for m in session.messages] == ["m4", "m5"]
    assert session.user_id == "alice"

    (request,) = summary_requests(llm_server)
    prompt = request["messages"][1]["content"]
    assert "Earlier: Alice asked about visas." in prompt
    for message in six_turns[:4]:
        assert f"{message.role}: {message.content}" in prompt
    for message in six_turns[4:]:
        assert message.content not in prompt
    # Nothing is lost: promotion holds every trimmed turn.
    persisted = set(
        SourceMessage.objects.filter(namespace="ns", session_id="trip").values_list("message_id", flat=True)
    )
    assert {"m0", "m1", "m2", "m3"} <= persisted


def test_without_an_llm_context_says_how_many_turns_moved_and_keeps_counting(
    live_server, dramatiq_worker, redis_client, six_turns, settings
):
    assert settings.LLM_MODEL == ""
    put(live_server.url, "plain", six_turns, context="Alice is flying to Lisbon.")
    wait_until(lambda: summary_done(redis_client, "plain"), what="the first trim")
    session = get(live_server.url, "plain")
    assert session.context == "Alice is flying to Lisbon.\n\n4 older messages were moved to long-term memory."
    assert [m.id for m in session.messages] == ["m4", "m5"]

    # The agent carries on from what it read; the next trim adds to the count.
    put(live_server.url, "plain", session.messages + turns(6, 9), context=session.context)
    wait_until(lambda: summary_done(redis_client, "plain"), what="the second trim")
    session = get(live_server.url, "plain")
    assert session.context == "Alice is flying to Lisbon.\n\n8 older messages were moved to long-term memory."
    assert [m.id for m in session.messages] == ["m8", "m9"]
    persisted = set(
        SourceMessage.objects.filter(namespace="ns", session_id="plain").values_list("message_id", flat=True)
    )
    assert {f"m{i}" for i in range(8)} <= persisted


def test_a_session_under_the_threshold_is_not_summarised(
    live_server, dramatiq_worker, redis_client, llm_settings, llm_server
):
    put(live_server.url, "small", turns(0, 1))
    assert summary_done(redis_client, "small")  # no job was claimed
    assert queued_summary_jobs(redis_client) == []  # nor queued: no job can run later
    assert summary_requests(llm_server) == []
    assert [m.id for m in get(live_server.url, "small").messages] == ["m0", "m1"]


def test_when_llm_retries_run_out_the_session_is_still_trimmed(
    live_server, dramatiq_worker, llm_settings, llm_server, redis_client, six_turns
):
    llm_server.default = Fault.server_error()  # every call fails, promotion's included
    put(live_server.url, "outage", six_turns)
    wait_until(lambda: summary_done(redis_client, "outage"), timeout=60, what="retries to run out")
    session = get(live_server.url, "outage")
    assert session.context == "4 older messages were moved to long-term memory."
    assert [m.id for m in session.messages] == ["m4", "m5"]
    assert len(summary_requests(llm_server)) == 4  # the first try and three retries


def test_a_put_that_lands_during_the_summary_wins(
    live_server, dramatiq_worker, llm_settings, llm_server, redis_client, six_turns
):
    llm_server.default = SUMMARY
    llm_server.latency = 1.0
    put(live_server.url, "race", six_turns)
    wait_until(lambda: summary_requests(llm_server), what="the summary call")
    # The agent replaces the session while the LLM is still writing the summary.
    replacement = [MemoryMessage(id="new-1", role="user", content="let us start over")]
    put(live_server.url, "race", replacement, context="a fresh start")
    wait_until(lambda: summary_done(redis_client, "race"), what="the summary job")
    session = get(live_server.url, "race")
    assert [m.id for m in session.messages] == ["new-1"]
    assert session.context == "a fresh start"


def test_a_turn_appended_during_the_summary_is_kept(
    live_server, dramatiq_worker, llm_settings, llm_server, redis_client, six_turns
):
    llm_server.default = SUMMARY
    llm_server.latency = 1.0
    put(live_server.url, "append", six_turns)
    wait_until(lambda: summary_requests(llm_server), what="the summary call")
    put(live_server.url, "append", six_turns + turns(6, 6))  # same history plus one turn
    wait_until(lambda: summary_done(redis_client, "append"), what="the summary job")
    session = get(live_server.url, "append")
    assert session.context == SUMMARY
    assert [m.id for m in session.messages] == ["m4", "m5", "m6"]
    assert len(summary_requests(llm_server)) == 1  # applied to the newer session, not redone


def queued_summary_jobs(redis_client) -> list[list]:
    return [
        json.loads(raw)["args"]
        for raw in redis_client.hvals("dramatiq:default.msgs")
        if json.loads(raw)["actor_name"] == "working_memory_summarize"
    ]


def test_writes_over_the_threshold_queue_one_job_until_it_finishes(redis_client, six_turns, api):
    body = {"namespace": "ns", "messages": [m.model_dump(mode="json") for m in six_turns]}
    for _ in range(3):
        assert api.put(f"/v1/working-memory/busy?context_window_max={WINDOW}", body, format="json").status_code == 200
    assert queued_summary_jobs(redis_client) == [["ns", "busy", WINDOW]]


def test_with_summarisation_off_nothing_is_queued(redis_client, six_turns, settings, api):
    settings.SUMMARIZATION_ENABLED = False
    body = {"namespace": "ns", "messages": [m.model_dump(mode="json") for m in six_turns]}
    response = api.put(f"/v1/working-memory/off?context_window_max={WINDOW}", body, format="json")
    assert response.status_code == 200
    assert queued_summary_jobs(redis_client) == []
    assert not redis_client.exists(summary_pending_key("ns", "off"))


@pytest.mark.multiprocess
def test_the_summary_runs_in_the_worker_of_a_gunicorn_deployment(transactional_db, llm_server, redis_client, six_turns):
    llm_server.default = SUMMARY
    deployment = Deployment(child_env(**llm_server.env()))
    try:
        put(deployment.url, "deployed", six_turns)
        wait_until(lambda: summary_done(redis_client, "deployed"), timeout=90, what="the worker's summary")
        session = get(deployment.url, "deployed")
    finally:
        deployment.stop()
    assert session.context == SUMMARY
    assert [m.id for m in session.messages] == ["m4", "m5"]
    assert len(summary_requests(llm_server)) == 1

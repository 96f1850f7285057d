"""workers.queue: one typed function per message. Each reaches a registered actor with
arguments its signature binds, and every actor is reached. A send after the commit goes
out once the outermost transaction commits and never when it rolls back; a send now goes
at once; inline mode runs the actor in this process instead. The queues are read in Redis."""

import inspect

import dramatiq
import pytest
from django.db import transaction

from memory import index, redis_keys
from memory.services.long_term import memories_create
from tests.helpers import put_session, queued_messages, redis_ms
from workers import actors, queue
from workers.queue import enqueue_index, enqueue_promotion

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit hooks run only on a real commit


# Each enqueue function: a call, and the message it must send (actor, arguments, queue).
SENDS = {
    "enqueue_index": ({"memory_ids": ["m-1", "m-2"]}, ("memories_index", [["m-1", "m-2"]], "default")),
    "enqueue_access_flush": ({"delay_seconds": 5}, ("memories_access_flush", [], "default.DQ")),
    "enqueue_index_sweep": ({}, ("memories_index_sweep", [], "default")),
    "enqueue_summary": (
        {"namespace": "ns", "session_id": "s-1", "window": 4000},
        ("working_memory_summarize", ["ns", "s-1", 4000], "default"),
    ),
    "enqueue_promotion": (
        {"namespace": None, "user_id": "alice", "session_id": "s-1", "token": "t-1", "delay_seconds": 2},
        ("promote_session", [None, "alice", "s-1", "t-1"], "default.DQ"),
    ),
    "enqueue_policy_evaluation": ({"evaluation_id": 7}, ("policy_evaluate", [7], "default")),
    "enqueue_summary_view_run": (
        {"task_id": "t-1", "offset": 20, "force": True},
        ("summary_view_run", ["t-1", 20, True], "default"),
    ),
    "enqueue_summary_views_refresh": ({}, ("summary_views_refresh", [], "default")),
}
# Sent by Dramatiq's Retries middleware when a summary's retries run out, never by us.
RETRY_EXHAUSTED_ONLY = {"working_memory_trim"}


@pytest.mark.parametrize("function", sorted(SENDS))
def test_each_enqueue_function_sends_its_actor_arguments_the_actor_binds(redis_client, function):
    call, expected = SENDS[function]
    getattr(queue, function)(**call)
    [message] = queued_messages(redis_client)
    assert (message["actor_name"], message["args"], message["queue_name"]) == expected
    assert message["kwargs"] == {}
    actor = dramatiq.get_broker().get_actor(message["actor_name"])
    assert actor.fn.__module__ == actors.__name__
    inspect.signature(actor.fn).bind(*message["args"])  # raises TypeError on a wrong arity


def test_every_registered_actor_is_reached_through_an_enqueue_function():
    functions = {name for name, value in vars(queue).items() if name.startswith("enqueue_") and callable(value)}
    assert functions == set(SENDS)
    reached = {actor_name for _, (actor_name, _, _) in SENDS.values()}
    broker = dramatiq.get_broker()
    assert set(broker.get_declared_actors()) == {
        "memories_index",
        "memories_access_flush",
        "memories_index_sweep",
        "working_memory_summarize",
        "working_memory_trim",
        "promote_session",
        "policy_evaluate",
        "summary_view_run",
        "summary_views_refresh",
    }
    assert set(broker.get_declared_actors()) - reached == RETRY_EXHAUSTED_ONLY
    summarize = broker.get_actor("working_memory_summarize")
    assert summarize.options["on_retry_exhausted"] == "working_memory_trim"
    # What the Retries middleware sends it: the exhausted message and the retry counts.
    trim = broker.get_actor("working_memory_trim")
    exhausted = summarize.message("ns", "s-1", 4000).asdict()
    inspect.signature(trim.fn).bind(exhausted, {"retries": 3, "max_retries": 3})
    assert exhausted["args"] == ("ns", "s-1", 4000)


def _promotion_on_commit(session_id: str, **options) -> None:
    enqueue_promotion(namespace="ns", user_id="alice", session_id=session_id, token="", on_commit=True, **options)


def test_a_send_on_commit_sends_nothing_when_the_transaction_rolls_back(redis_client):
    with pytest.raises(RuntimeError), transaction.atomic():
        _promotion_on_commit("s-1")
        _promotion_on_commit("s-2", delay_seconds=30)
        raise RuntimeError("the write fails after scheduling")
    assert queued_messages(redis_client) == []
    assert redis_client.exists("dramatiq:default", "dramatiq:default.DQ") == 0


def test_a_send_on_commit_sends_exactly_one_message_when_the_outermost_transaction_commits(redis_client):
    with transaction.atomic():
        with transaction.atomic():  # a savepoint's exit is not the commit
            _promotion_on_commit("s-1")
        assert queued_messages(redis_client) == []  # not before the commit
    [message] = queued_messages(redis_client)
    assert (message["actor_name"], message["args"], message["queue_name"]) == (
        "promote_session",
        ["ns", "alice", "s-1", ""],
        "default",
    )
    assert redis_client.lrange("dramatiq:default", 0, -1) == [message["options"]["redis_message_id"]]


def test_a_delayed_send_on_commit_goes_to_the_delay_queue_with_its_eta(redis_client):
    with transaction.atomic():
        _promotion_on_commit("s-1", delay_seconds=30)
        before = redis_ms(redis_client)
    after = redis_ms(redis_client)
    assert queued_messages(redis_client, delayed=False) == []
    [message] = queued_messages(redis_client, delayed=True)
    assert (message["actor_name"], message["args"], message["queue_name"]) == (
        "promote_session",
        ["ns", "alice", "s-1", ""],
        "default.DQ",
    )
    assert before + 30_000 <= message["options"]["eta"] <= after + 30_000


def test_a_rolled_back_savepoint_drops_only_its_own_sends(redis_client):
    with transaction.atomic():
        _promotion_on_commit("kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            _promotion_on_commit("dropped")
            raise RuntimeError("the inner write fails")
    assert [m["args"] for m in queued_messages(redis_client)] == [["ns", "alice", "kept", ""]]


def test_a_send_now_sends_at_once_even_inside_a_transaction_that_rolls_back(redis_client):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_index(memory_ids=["m-1"])
        assert [m["args"] for m in queued_messages(redis_client)] == [[["m-1"]]]
        raise RuntimeError("nothing to undo: the message is already out")
    assert [m["args"] for m in queued_messages(redis_client)] == [[["m-1"]]]


def test_inline_mode_runs_the_actor_at_once_instead_of_sending(redis_client, settings):
    memories_create(actor="test", records=[{"id": "m-1", "text": "Alice likes green tea", "namespace": "q"}])
    index.delete_documents(["m-1"])
    settings.WORKERS_INLINE = True
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_index(memory_ids=["m-1"])
        assert index.document_ids() == {"m-1"}  # the actor ran, inside the transaction
        raise RuntimeError("rolled back: the index write stays")
    assert index.document_ids() == {"m-1"}
    assert queued_messages(redis_client) == []


def test_inline_mode_runs_the_actor_on_commit_instead_of_sending(redis_client, settings):
    # A due debounce window its message's token claims: the actor, when it runs, deletes it.
    window = redis_keys.window_key(namespace="ns", user_id="alice", session_id="s-1")
    redis_client.hset(window, mapping={"first": 0, "due": 0, "token": "t-1", "armed": 0})
    settings.WORKERS_INLINE = True
    promotion = {"namespace": "ns", "user_id": "alice", "session_id": "s-1", "token": "t-1", "on_commit": True}

    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_promotion(**promotion)
        raise RuntimeError("rolled back")
    assert redis_client.exists(window) == 1  # the actor did not run

    with transaction.atomic():
        enqueue_promotion(**promotion, delay_seconds=30)
        assert redis_client.exists(window) == 1  # not before the commit
    assert redis_client.exists(window) == 0  # the actor ran, at once (inline ignores the delay)
    assert queued_messages(redis_client) == []


def test_a_working_memory_put_sends_its_promotion(api, redis_client):
    put_session(api, "s-1", [{"role": "user", "content": "hi"}], namespace="ns", user_id="alice")
    [message] = queued_messages(redis_client)
    assert (message["actor_name"], message["args"][:3]) == ("promote_session", ["ns", "alice", "s-1"])

"""workers.queue: services send to actors by name. `send_on_commit` sends once the
outermost transaction commits and never when it rolls back; `send_now` sends at once;
inline mode runs the actor in this process instead. The queues are read in Redis."""

import pytest
from django.db import transaction

from memory import index
from memory.services.long_term import memories_create
from tests.helpers import put_session, queued_messages, redis_ms
from workers.queue import send_now, send_on_commit

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit hooks run only on a real commit


def test_send_on_commit_sends_nothing_when_the_transaction_rolls_back(redis_client):
    with pytest.raises(RuntimeError), transaction.atomic():
        send_on_commit("memories_index", ["m-1"])
        send_on_commit("memories_index", ["m-2"], delay_seconds=30)
        raise RuntimeError("the write fails after scheduling")
    assert queued_messages(redis_client) == []
    assert redis_client.exists("dramatiq:default", "dramatiq:default.DQ") == 0


def test_send_on_commit_sends_exactly_one_message_when_the_outermost_transaction_commits(redis_client):
    with transaction.atomic():
        with transaction.atomic():  # a savepoint's exit is not the commit
            send_on_commit("memories_index", ["m-1"])
        assert queued_messages(redis_client) == []  # not before the commit
    [message] = queued_messages(redis_client)
    assert (message["actor_name"], message["args"], message["queue_name"]) == ("memories_index", [["m-1"]], "default")
    assert redis_client.lrange("dramatiq:default", 0, -1) == [message["options"]["redis_message_id"]]


def test_a_delayed_send_on_commit_goes_to_the_delay_queue_with_its_eta(redis_client):
    with transaction.atomic():
        send_on_commit("memories_index", ["m-1"], delay_seconds=30)
        before = redis_ms(redis_client)
    after = redis_ms(redis_client)
    assert queued_messages(redis_client, delayed=False) == []
    [message] = queued_messages(redis_client, delayed=True)
    assert (message["actor_name"], message["args"], message["queue_name"]) == (
        "memories_index",
        [["m-1"]],
        "default.DQ",
    )
    assert before + 30_000 <= message["options"]["eta"] <= after + 30_000


def test_a_rolled_back_savepoint_drops_only_its_own_sends(redis_client):
    with transaction.atomic():
        send_on_commit("memories_index", ["kept"])
        with pytest.raises(RuntimeError), transaction.atomic():
            send_on_commit("memories_index", ["dropped"])
            raise RuntimeError("the inner write fails")
    assert [m["args"] for m in queued_messages(redis_client)] == [[["kept"]]]


def test_send_now_sends_at_once_even_inside_a_transaction_that_rolls_back(redis_client):
    with pytest.raises(RuntimeError), transaction.atomic():
        send_now("memories_index", ["m-1"])
        assert [m["args"] for m in queued_messages(redis_client)] == [[["m-1"]]]
        raise RuntimeError("nothing to undo: the message is already out")
    assert [m["args"] for m in queued_messages(redis_client)] == [[["m-1"]]]


def test_inline_mode_runs_the_actor_on_commit_instead_of_sending(redis_client, settings):
    memories_create(actor="test", records=[{"id": "m-1", "text": "Alice likes green tea", "namespace": "q"}])
    index.delete_documents(["m-1"])
    settings.WORKERS_INLINE = True

    with pytest.raises(RuntimeError), transaction.atomic():
        send_on_commit("memories_index", ["m-1"])
        raise RuntimeError("rolled back")
    assert index.document_ids() == set()  # the actor did not run

    with transaction.atomic():
        send_on_commit("memories_index", ["m-1"], delay_seconds=30)
        assert index.document_ids() == set()  # not before the commit
    assert index.document_ids() == {"m-1"}  # the actor ran, at once (inline ignores the delay)
    assert queued_messages(redis_client) == []


def test_a_working_memory_put_sends_its_promotion_by_name(api, redis_client):
    put_session(api, "s-1", [{"role": "user", "content": "hi"}], namespace="ns", user_id="alice")
    [message] = queued_messages(redis_client)
    assert (message["actor_name"], message["args"][:3]) == ("promote_session", ["ns", "alice", "s-1"])

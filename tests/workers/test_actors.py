"""workers.actors: the periodic index sweep keeps one chain, reschedules itself and re-arms failed promotion runs."""

import pytest

from memory.models import MemoryRecord
from memory.services.long_term import memories_create
from tests.helpers import queued_messages

pytestmark = pytest.mark.django_db(transaction=True)  # documents are indexed on commit

CAT = "Alice adopted a grey cat called Pixel"


def _record(text, **extra):
    return {"text": text, "namespace": "acme", "user_id": "u1", **extra}


def test_the_periodic_sweep_keeps_one_chain_and_schedules_its_next_run(redis_client, settings):
    from workers import actors

    settings.MEMORY_INDEX_SWEEP_SECONDS = 120
    memories_create(actor="test", records=[_record(CAT)])
    MemoryRecord.objects.update(index_pending=True)
    actors.memories_index_sweep.fn()  # claims this interval, sweeps, schedules the next run
    assert not MemoryRecord.objects.filter(index_pending=True).exists()
    [delayed] = queued_messages(redis_client, delayed=True)
    assert (delayed["actor_name"], delayed["args"]) == ("memories_index_sweep", [])
    assert 120_000 <= delayed["options"]["eta"] - delayed["message_timestamp"] < 130_000  # the interval

    MemoryRecord.objects.update(index_pending=True)
    actors.memories_index_sweep.fn()  # a duplicate chain within the interval just ends
    assert MemoryRecord.objects.filter(index_pending=True).count() == 1
    assert len(queued_messages(redis_client)) == 1


def test_the_sweep_re_arms_a_failed_promotion_run_once_the_provider_answers(
    client, redis_client, settings, llm_settings, publish_policy, llm_server
):
    from memory.services.promotion import promotion_run
    from policies.models import ExtractionRunRetry
    from tests.helpers import put_session
    from tests.llm_server import Fault
    from workers import actors

    publish_policy("discrete")
    llm_server.script(Fault.bad_request())
    put_session(client, "s-1", [{"id": "m0", "role": "user", "content": "Hi."}], namespace="acme", user_id="u1")
    run = promotion_run(namespace="acme", user_id="u1", session_id="s-1")
    assert (run.status, run.failure) == ("failed", "refused")

    actors.memories_index_sweep.fn()
    run.refresh_from_db()
    assert (run.status, run.rearms) == ("running", 1)
    assert list(ExtractionRunRetry.objects.values_list("run_id", "actor")) == [(run.pk, "system:sweep")]
    assert llm_server.probes == 1
    retries = [m["args"] for m in queued_messages(redis_client, "promote_session") if m["args"][3] == ""]
    assert retries == [["acme", "u1", "s-1", ""]]
    assert [m["actor_name"] for m in queued_messages(redis_client, delayed=True)].count("memories_index_sweep") == 1

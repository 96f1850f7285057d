"""workers.actors: the periodic index sweep keeps one chain and reschedules itself."""

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

"""Search hits are counted in Redis and written to the DB by one flush per window
(memory.services.long_term `memories_after_search`, `memories_access_flush`): real DB,
Redis and broker; the flush is called as the worker calls it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from memory import index
from memory.models import MemoryRecord
from memory.redis_client import get_redis
from memory.redis_keys import ACCESS_FLUSH_GATE_KEY, ACCESS_LAST_KEY, index_document_key
from memory.services.long_term import memories_access_flush, memories_after_search
from tests.helpers import pending_access_counts, queued_messages

pytestmark = pytest.mark.django_db(transaction=True)  # documents are indexed on commit

# Two hours after the records are made: past the index's resolution (an hour).
FIRST = (timezone.now() + timedelta(hours=2)).replace(microsecond=123000)
SECOND = FIRST + timedelta(seconds=1, microseconds=333000)


def flushes(redis_client) -> list[dict]:
    return queued_messages(redis_client, "memories_access_flush", delayed=True)


def test_the_hits_of_several_searches_wait_in_redis_behind_one_scheduled_flush(records, redis_client):
    memories_after_search(found_ids=["tea", "bike", "tea"], stale_ids=[], accessed_at=FIRST)
    memories_after_search(found_ids=["tea"], stale_ids=[], accessed_at=SECOND)

    assert pending_access_counts(redis_client) == {"tea": 2, "bike": 1}  # a repeated id counts once per search
    assert [m["args"] for m in flushes(redis_client)] == [[]]
    assert dict(MemoryRecord.objects.values_list("id", "access_count")) == {"tea": 0, "bike": 0, "cat": 0}


def test_a_flush_writes_each_records_count_and_latest_hit_and_nothing_else(records, redis_client):
    memories_after_search(found_ids=["tea", "bike"], stale_ids=[], accessed_at=FIRST)
    memories_after_search(found_ids=["tea"], stale_ids=[], accessed_at=SECOND)

    assert memories_access_flush() == 2

    rows = {r.id: r for r in MemoryRecord.objects.all()}
    assert {k: (r.access_count, r.last_accessed) for k, r in rows.items()} == {
        "tea": (2, SECOND),
        "bike": (1, FIRST),
        "cat": (0, records["cat"].last_accessed),
    }
    assert {k: r.updated_at for k, r in rows.items()} == {k: r.updated_at for k, r in records.items()}
    documents = {k: indexed_last_accessed(k) for k in ("tea", "bike", "cat")}
    assert documents == {
        "tea": index.to_micros(SECOND),
        "bike": index.to_micros(FIRST),
        "cat": index.to_micros(records["cat"].last_accessed),
    }
    assert pending_access_counts(redis_client) == {}
    assert not redis_client.exists(ACCESS_LAST_KEY, ACCESS_FLUSH_GATE_KEY)


def test_a_hit_within_the_resolution_moves_the_db_value_but_leaves_the_index_alone(records, redis_client):
    soon = records["tea"].last_accessed + timedelta(minutes=10)  # under MEMORY_ACCESS_INDEX_RESOLUTION_SECONDS
    memories_after_search(found_ids=["tea", "bike"], stale_ids=[], accessed_at=soon)
    memories_after_search(found_ids=["bike"], stale_ids=[], accessed_at=FIRST)

    assert memories_access_flush() == 2

    assert {r.id: r.last_accessed for r in MemoryRecord.objects.filter(id__in=["tea", "bike"])} == {
        "tea": soon,
        "bike": FIRST,
    }
    assert indexed_last_accessed("tea") == index.to_micros(records["tea"].last_accessed)
    assert indexed_last_accessed("bike") == index.to_micros(FIRST)


def test_a_flush_with_nothing_pending_writes_nothing(records, redis_client):
    assert memories_access_flush() == 0
    assert dict(MemoryRecord.objects.values_list("id", "access_count")) == {"tea": 0, "bike": 0, "cat": 0}


def test_the_first_hit_after_a_flush_schedules_the_next_one(records, redis_client):
    memories_after_search(found_ids=["tea"], stale_ids=[], accessed_at=FIRST)
    memories_access_flush()
    memories_after_search(found_ids=["cat"], stale_ids=[], accessed_at=SECOND)

    assert len(flushes(redis_client)) == 2  # the first is still queued: the worker is not running
    assert pending_access_counts(redis_client) == {"cat": 1}
    assert memories_access_flush() == 1
    assert dict(MemoryRecord.objects.values_list("id", "access_count")) == {"tea": 1, "bike": 0, "cat": 1}


def test_hits_of_a_record_deleted_before_the_flush_are_dropped(records, redis_client):
    memories_after_search(found_ids=["tea", "ghost"], stale_ids=[], accessed_at=FIRST)
    assert memories_access_flush() == 1
    assert not MemoryRecord.objects.filter(id="ghost").exists()
    assert pending_access_counts(redis_client) == {}


def indexed_last_accessed(record_id: str) -> int:
    return int(get_redis().hget(index_document_key(record_id), "last_accessed"))

"""An upgraded deployment ends with `extraction_strategy` indexed (issue 22): documents an
older release wrote lack the tag, migration 0010 marks every row for indexing, and the
worker's sweep rewrites their documents from the rows, so the filter finds them."""

import importlib

import pytest
from django.apps import apps

from memory import index, redis_keys
from memory.services.long_term import memories_index_sweep
from tests.factories import memory_records_create

pytestmark = pytest.mark.django_db(transaction=True)

migration = importlib.import_module("memory.migrations.0010_reindex_for_extraction_strategy")


def _discrete() -> list[str]:
    return sorted(
        index.list_ids(conditions=[index.Condition("extraction_strategy", "eq", ("discrete",))], offset=0, limit=10)[0]
    )


def test_the_migration_and_the_sweep_index_the_strategy_of_older_documents(redis_client):
    memory_records_create({"id": "a", "text": "Alice likes tea"}, {"id": "b", "text": "Bob likes coffee"})
    assert _discrete() == ["a", "b"]
    for record_id in ("a", "b"):  # the documents as the release before wrote them
        redis_client.hdel(redis_keys.index_document_key(record_id), "extraction_strategy")
    assert _discrete() == []

    migration.mark_every_record_for_indexing(apps, None)
    assert memories_index_sweep() == 2

    assert _discrete() == ["a", "b"]

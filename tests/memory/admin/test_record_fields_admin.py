"""A memory's page shows the reference's newest fields (issue 22) as provenance: the
extraction strategy, its config and the caller's metadata, read-only."""

import html
import json

import pytest

from tests.factories import MemoryRecordFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_change_page_shows_strategy_config_and_metadata_read_only(reviewer_client):
    metadata, config = {"source": "chat", "page": 3}, {"custom_prompt": "travel facts"}
    record = MemoryRecordFactory(
        text="Alice flies on Friday", metadata=metadata, extraction_strategy="custom", extraction_strategy_config=config
    )

    page = reviewer_client.get(f"/admin/memory/memoryrecord/{record.id}/change/").content.decode()

    def shown(name: str) -> str:
        return html.unescape(
            page.split(f"field-{name}", 1)[1].split('<div class="readonly">', 1)[1].split("</div>", 1)[0]
        )

    # JSON compared as values: PostgreSQL's jsonb keeps its own key order.
    assert shown("extraction_strategy") == "custom"
    assert json.loads(shown("extraction_strategy_config")) == config
    assert json.loads(shown("metadata")) == metadata
    for name in ("extraction_strategy", "extraction_strategy_config", "metadata"):
        assert f'name="{name}"' not in page  # no input: a reviewer never edits provenance

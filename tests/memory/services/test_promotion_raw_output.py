"""The run keeps what the model actually said (bounded), for the reviewer's provenance page."""

import json

import pytest

from memory.models import MemoryHistory, MemoryRecord
from memory.services.promotion import PromotionRetry, promotion_run
from policies.models import ExtractionRun
from tests.factories import ExtractedMemoryFactory, WorkingMemorySessionFactory, conversation, extraction_reply
from tests.llm_server import Fault

NS, USER = "raw", "alice"
TURNS = conversation(1)  # the tests' conversation's first turn
REPLY = extraction_reply(ExtractedMemoryFactory())  # its fact


@pytest.fixture
def review_policy(llm_settings, publish_policy):
    return publish_policy("discrete", review_mode="pending")


def promote():
    return promotion_run(namespace=NS, user_id=USER, session_id="s-1")


def put_turns():
    WorkingMemorySessionFactory(session_id="s-1", namespace=NS, user_id=USER, messages=TURNS)


def test_a_successful_run_keeps_the_models_reply_verbatim(review_policy, llm_server):
    llm_server.script(REPLY)
    put_turns()
    run = promote()
    assert run.status == "succeeded"
    assert json.loads(run.raw_output) == REPLY
    record = MemoryRecord.objects.get()
    assert (record.status, record.extraction_run_id) == ("pending", run.pk)
    created = MemoryHistory.objects.get(memory_id=record.id)
    assert (created.action, created.actor, created.reason) == (
        "created",
        "system:promotion",
        f"extracted by run {run.pk}",
    )


def test_a_malformed_reply_is_kept_on_the_run_cut_at_the_limit(review_policy, llm_server, llm_settings):
    llm_settings.EXTRACTION_RAW_OUTPUT_MAX_CHARS = 20
    llm_server.script(Fault.malformed_json())
    put_turns()
    with pytest.raises(PromotionRetry):
        promote()
    run = ExtractionRun.objects.get()
    assert (run.malformed_replies, run.raw_output) == (1, '{"memories": [{"text')
    assert MemoryRecord.objects.count() == 0

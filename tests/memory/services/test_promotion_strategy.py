"""Promotion records how each memory was extracted (issue 22): `extraction_strategy` is
the policy version's strategy and `extraction_strategy_config` its params, as the
reference stores its strategy and config; a session's own memories keep the fields (and
the metadata) the agent gave them. A search then filters on the strategy."""

from memory.models import MemoryRecord
from memory.services.promotion import promotion_run
from tests.factories import conversation, scripted_reply
from tests.helpers import put_session

NS, USER = "travel", "alice"
OWNER = {"namespace": NS, "user_id": USER}
TURNS = conversation()


def _promote():
    return promotion_run(namespace=NS, user_id=USER, session_id="s-1")


def _by_strategy(client, strategy: str) -> list[str]:
    body = {"text": "", "namespace": {"eq": NS}, "extraction_strategy": {"eq": strategy}, "limit": 10}
    found = client.post("/v1/long-term-memory/search", body, content_type="application/json").json()
    return sorted(m["text"] for m in found["memories"])


def test_extracted_memories_carry_the_versions_strategy_and_params(client, llm_settings, llm_server, publish_policy):
    params = {"max_memories": 5, "temperature": 0.2}
    publish_policy("discrete", params=params)
    llm_server.script(scripted_reply())
    put_session(client, "s-1", TURNS, **OWNER)

    assert _promote().memories_created == 2

    rows = MemoryRecord.objects.order_by("text")
    assert [(r.extraction_strategy, r.extraction_strategy_config, r.metadata) for r in rows] == [
        ("discrete", params, {}),
        ("discrete", params, {}),
    ]
    assert _by_strategy(client, "discrete") == [r.text for r in rows]
    assert _by_strategy(client, "messages") == []


def test_the_messages_strategy_says_messages(client, settings, publish_policy):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    put_session(client, "s-1", TURNS[:2], **OWNER)

    assert _promote().memories_created == 2

    assert list(MemoryRecord.objects.values_list("extraction_strategy", "extraction_strategy_config")) == [
        ("messages", {}),
        ("messages", {}),
    ]
    assert _by_strategy(client, "messages") == ["assistant: Porto is lovely.", "user: My sister Anna lives in Porto."]
    assert _by_strategy(client, "discrete") == []


def test_a_sessions_own_memories_keep_what_the_agent_gave_them(client, settings, publish_policy):
    settings.LLM_MODEL = ""
    publish_policy("messages")
    memories = [
        {
            "id": "r-1",
            "text": "Alice's sister Anna lives in Lisbon",
            "memory_type": "semantic",
            "metadata": {"source": "chat", "confidence": 0.9},
            "extraction_strategy": "custom",
            "extraction_strategy_config": {"custom_prompt": "family facts"},
        },
        {"id": "r-2", "text": "Alice prefers aisle seats", "memory_type": "semantic"},
    ]
    put_session(client, "s-1", [], **OWNER, memories=memories)

    _promote()

    rows = MemoryRecord.objects.filter(id__in=["r-1", "r-2"]).order_by("id")
    assert [(r.id, r.metadata, r.extraction_strategy, r.extraction_strategy_config) for r in rows] == [
        ("r-1", {"source": "chat", "confidence": 0.9}, "custom", {"custom_prompt": "family facts"}),
        ("r-2", {}, "discrete", {}),
    ]

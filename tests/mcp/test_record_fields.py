"""The record fields of issue 22 over MCP: create, get and edit carry `metadata`,
`extraction_strategy` and `extraction_strategy_config`, and the search and prompt tools
filter on `extraction_strategy`, answering as REST does (tests/memory/api/test_record_fields.py)."""

import pytest

from tests.mcp.client import over_stdio

pytestmark = pytest.mark.django_db(transaction=True)

NS = "fields"
GIVEN = {
    "metadata": {"source": "chat", "n": [1, 2]},
    "extraction_strategy": "custom",
    "extraction_strategy_config": {"k": 1},
}
FILTER = {"namespace": {"eq": NS}, "extraction_strategy": {"eq": "custom"}, "recency_boost": False}


async def _over_mcp(tools) -> dict:
    memories = [
        {"id": "c", "text": "Alice flies to Porto on Friday", "namespace": NS, **GIVEN},
        {"id": "d", "text": "Alice flies economy", "namespace": NS},
    ]
    answers = {"create": await tools.call("create_long_term_memories", memories=memories)}
    answers["search"] = await tools.call("search_long_term_memory", text="flies", **FILTER)
    answers["prompt"] = await tools.call("memory_prompt", query="flies", **FILTER)
    answers["get"] = await tools.call("get_long_term_memory", memory_id="c")
    answers["edit"] = await tools.call("edit_long_term_memory", memory_id="c", metadata={"checked": True})
    return answers


def test_the_tools_carry_the_fields_and_filter_on_the_strategy_as_rest_does(api):
    mcp = over_stdio(_over_mcp)

    assert [m["outcome"] for m in mcp["create"]["memories"]] == ["created", "created"]
    assert [m["id"] for m in mcp["search"]["memories"]] == ["c"]
    assert [m["id"] for m in mcp["prompt"]["memories_used"]["memories"]] == ["c"]
    fields = ("metadata", "extraction_strategy", "extraction_strategy_config")
    assert {k: mcp["get"][k] for k in fields} == GIVEN
    assert {k: mcp["edit"][k] for k in fields} == {**GIVEN, "metadata": {"checked": True}}
    rest = api.post("/v1/long-term-memory/search", {"text": "flies", **FILTER}, format="json").json()
    assert [(m["id"], m["metadata"]) for m in rest["memories"]] == [("c", {"checked": True})]

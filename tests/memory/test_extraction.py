"""memory.extraction over real HTTP against the scripted provider: prompts, schema,
strict validation of the reply, and the LLM-free `messages` strategy."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from memory import extraction, llm
from memory.extraction import Turn
from tests.llm_server import Fault

T0 = datetime(2024, 5, 4, 9, 30, tzinfo=UTC)


def turns(*specs, start=0):
    """Turn("m<i>") for each (role, content)."""
    return [
        Turn(id=f"m{start + i}", role=role, content=content, created_at=T0 + timedelta(minutes=start + i))
        for i, (role, content) in enumerate(specs)
    ]


def item(text, *, memory_type="semantic", topics=(), entities=(), event_date=None, sources=("m2",)):
    return {
        "text": text,
        "memory_type": memory_type,
        "topics": list(topics),
        "entities": list(entities),
        "event_date": event_date,
        "source_message_ids": list(sources),
    }


EARLIER = turns(("user", "My sister Anna lives in Porto."), ("assistant", "Nice city!"))
NEW = turns(("user", "She moved to Lisbon yesterday."), ("assistant", "Good luck to her!"), start=2)


def sent_conversation(request_body) -> dict:
    return json.loads(request_body["messages"][1]["content"])


def test_discrete_sends_rules_and_both_turn_sets_and_keeps_what_the_model_grounded(llm_settings, llm_server):
    llm_server.script(
        {
            "memories": [
                item(
                    "User's sister Anna moved to Lisbon on 2024-05-03.",
                    memory_type="episodic",
                    topics=["family", "relocation"],
                    entities=["Anna", "Lisbon"],
                    event_date="2024-05-03",
                ),
            ]
        }
    )
    result = extraction.extract(strategy="discrete", new_turns=NEW, context_turns=EARLIER)

    [memory] = result.memories
    assert memory.text == "User's sister Anna moved to Lisbon on 2024-05-03."  # not re-grounded
    assert memory.memory_type == "episodic"
    assert memory.event_date == datetime(2024, 5, 3, tzinfo=UTC)
    assert (memory.topics, memory.entities, memory.extracted_from) == (
        ["family", "relocation"],
        ["Anna", "Lisbon"],
        ["m2"],
    )
    assert result.dropped == {}
    assert (result.model, result.tokens_in > 0, result.tokens_out > 0) == ("openai/scripted", True, True)

    [request] = llm_server.requests
    system = request["messages"][0]["content"]
    assert request["messages"][0]["role"] == "system"
    assert 'call the user "User"' in system and "created_at of the turn" in system
    assert request["response_format"]["json_schema"]["schema"] == extraction.OUTPUT_SCHEMA
    assert request["temperature"] == 0.0
    conversation = sent_conversation(request)
    assert [t["id"] for t in conversation["earlier_turns"]] == ["m0", "m1"]
    assert conversation["new_turns"][0] == {
        "id": "m2",
        "role": "user",
        "created_at": "2024-05-04T09:32:00Z",
        "content": "She moved to Lisbon yesterday.",
    }


@pytest.mark.parametrize(
    "strategy, phrase",
    [
        ("summary", "Write exactly one memory"),
        ("preferences", "extract the user's preferences"),
    ],
)
def test_each_llm_strategy_has_its_own_instructions(llm_settings, llm_server, strategy, phrase):
    llm_server.script({"memories": [item("User likes quiet hotels.")]})
    result = extraction.extract(strategy=strategy, new_turns=NEW)
    assert [m.text for m in result.memories] == ["User likes quiet hotels."]
    assert phrase in llm_server.requests[0]["messages"][0]["content"]


def test_custom_strategy_uses_the_policy_template_and_params(llm_settings, llm_server):
    llm_server.script({"memories": [item("User is relocating family members.")]})
    extraction.extract(
        strategy="custom",
        new_turns=NEW,
        prompt_template="List only facts about relocation.",
        params={"temperature": 0.4, "max_tokens": 300},
    )
    request = llm_server.requests[0]
    assert request["messages"][0]["content"].startswith("List only facts about relocation.\n")
    assert (request["temperature"], request["max_tokens"]) == (0.4, 300)


def test_summary_keeps_one_memory_by_default(llm_settings, llm_server):
    llm_server.script({"memories": [item("First summary."), item("Second summary.")]})
    result = extraction.extract(strategy="summary", new_turns=NEW)
    assert [m.text for m in result.memories] == ["First summary."]
    assert result.dropped == {"over_limit": 1}


def test_bad_items_are_dropped_and_counted_and_good_ones_kept(llm_settings, llm_server):
    llm_server.script(
        {
            "memories": [
                item("User's sister Anna lives in Lisbon."),
                item("   "),
                item("x" * 1001),
                item("Each memory must make sense on its own, says the prompt."),
                item("User's sister Anna lives in Porto.", sources=["m0"]),  # only from an earlier turn
                item("user's sister anna lives in lisbon."),  # the same memory twice
                item("Anna is User's sister.", sources=["m9", "m3"]),  # an unknown id is ignored
                item("Anna moved recently.", sources=[]),  # no source: all new turns
                item("Anna's move date is unclear.", event_date="sometime in May"),
            ]
        }
    )
    result = extraction.extract(strategy="discrete", new_turns=NEW, context_turns=EARLIER)
    assert [(m.text, m.extracted_from) for m in result.memories] == [
        ("User's sister Anna lives in Lisbon.", ["m2"]),
        ("Anna is User's sister.", ["m3"]),
        ("Anna moved recently.", ["m2", "m3"]),
        ("Anna's move date is unclear.", ["m2"]),
    ]
    assert result.memories[3].event_date is None  # an unreadable date is no date; the fact stays
    assert result.dropped == {"empty": 1, "too_long": 1, "quotes_prompt": 1, "earlier_turns": 1, "duplicate": 1}


def test_topics_and_entities_are_cleaned(llm_settings, llm_server):
    llm_server.script(
        {
            "memories": [
                item(
                    "Anna moved to Lisbon.",
                    topics=[" travel ", "Travel", "", "t" * 101],
                    entities=["Anna", "anna", "Lisbon"],
                )
            ]
        }
    )
    [memory] = extraction.extract(strategy="discrete", new_turns=NEW).memories
    assert (memory.topics, memory.entities) == (["travel"], ["Anna", "Lisbon"])


@pytest.mark.parametrize(
    "reply, where",
    [
        ({"facts": []}, "reply"),
        ({"memories": [{"text": "x", "memory_type": "semantic"}]}, "memories/0"),
        ({"memories": [item("ok", memory_type="opinion")]}, "memories/0/memory_type"),
        ({"memories": [{**item("ok"), "confidence": 0.9}]}, "memories/0"),
        ({"memories": "none"}, "memories"),
    ],
    ids=["wrong-key", "missing-fields", "bad-enum", "extra-field", "not-a-list"],
)
def test_a_reply_off_the_schema_is_a_retryable_output_error(llm_settings, llm_server, reply, where):
    llm_server.script(reply)
    with pytest.raises(llm.LLMOutputError, match=f"schema at {where}:") as raised:
        extraction.extract(strategy="discrete", new_turns=NEW)
    assert raised.value.retryable is True


def test_malformed_json_is_an_output_error(llm_settings, llm_server):
    llm_server.script(Fault.malformed_json())
    with pytest.raises(llm.LLMOutputError, match="not valid JSON"):
        extraction.extract(strategy="discrete", new_turns=NEW)


def test_messages_strategy_stores_turns_verbatim_without_any_llm(llm_settings, llm_server):
    # An LLM is configured and would answer: the strategy still never calls it.
    llm_settings.MEMORY_MAX_TEXT_CHARS = 100
    llm_server.default = {"memories": [item("An LLM-made memory.")]}
    new = turns(
        ("system", "You are a travel agent."),
        ("user", "I'd like a window seat."),
        ("assistant", "Noted: window seat."),
        ("tool", "  "),
        ("user", "x" * 95),
    )
    result = extraction.extract(strategy="messages", new_turns=new, context_turns=EARLIER)
    assert [(m.text, m.memory_type, m.extracted_from, m.created_at, m.context) for m in result.memories] == [
        ("user: I'd like a window seat.", "message", ["m1"], T0 + timedelta(minutes=1), "assistant: Nice city!"),
        (
            "assistant: Noted: window seat.",
            "message",
            ["m2"],
            T0 + timedelta(minutes=2),
            "user: I'd like a window seat.",
        ),
    ]
    assert result.dropped == {"system": 1, "empty": 1, "too_long": 1}
    assert (result.model, result.tokens_in, result.cost_usd) == ("", 0, 0.0)
    assert llm_server.requests == []
    assert llm_server.pending == 0 and llm_server.default is not None  # nothing was consumed either


@pytest.mark.parametrize(
    ("earlier", "first_context"),
    [
        ((), ""),
        ((("user", "Which seat?"), ("system", "Be brief."), ("tool", " ")), "user: Which seat?"),
        ((("user", "q" * 5000),), "q" * 1000),  # the README: the last 1000 characters
    ],
    ids=["first-turn-of-the-session", "system-and-empty-turns-skipped", "long-turn-keeps-its-end"],
)
def test_messages_strategy_gives_each_turn_the_conversational_turn_before_it_as_context(
    settings, earlier, first_context
):
    settings.LLM_MODEL = ""
    new = turns(("assistant", "Aisle."), ("system", "Stay polite."), ("user", "Thanks!"), start=10)
    result = extraction.extract(strategy="messages", new_turns=new, context_turns=turns(*earlier))
    assert [(m.extracted_from, m.context) for m in result.memories] == [
        (["m10"], first_context),
        (["m12"], "assistant: Aisle."),
    ]


def test_an_llm_strategy_without_a_model_fails_for_good(settings, llm_server):
    settings.LLM_MODEL = ""
    with pytest.raises(llm.LLMError, match="needs an LLM") as raised:
        extraction.extract(strategy="discrete", new_turns=NEW)
    assert raised.value.retryable is False
    assert llm_server.requests == []


def test_known_memories_go_under_short_ids_and_labels_are_read_leniently(llm_settings, llm_server):
    known = [
        extraction.KnownMemory(id="01REAL", text="User's sister Anna lives in Porto."),
        extraction.KnownMemory(id="02REAL", text="User likes aisle seats."),
    ]
    llm_server.script(
        {
            "memories": [
                {**item("User's sister Anna lives in Lisbon."), "action": "update", "replaces": "k1"},
                {**item("User likes aisle seats on long flights."), "action": "noop", "replaces": None},
                {**item("Anna has a new job."), "action": "update", "replaces": "k9"},  # unknown id: an add
                {**item("Anna moved on 2024-05-03."), "action": "add", "replaces": None},
                item("Anna lives near the river."),  # no labels: an add
            ]
        }
    )
    result = extraction.extract(strategy="discrete", new_turns=NEW, context_turns=EARLIER, known_memories=known)

    assert sent_conversation(llm_server.requests[0])["known_memories"] == [
        {"id": "k1", "text": "User's sister Anna lives in Porto."},
        {"id": "k2", "text": "User likes aisle seats."},
    ]
    assert [(m.text, m.replaces) for m in result.memories] == [
        ("User's sister Anna lives in Lisbon.", "01REAL"),
        ("Anna has a new job.", ""),
        ("Anna moved on 2024-05-03.", ""),
        ("Anna lives near the river.", ""),
    ]
    assert result.labels == {"update": 1, "noop": 1, "update_unknown": 1, "add": 2}
    assert (result.known_count, result.dropped) == (1, {})
    schema = llm_server.requests[0]["response_format"]["json_schema"]["schema"]
    assert {"action", "replaces"} <= set(schema["properties"]["memories"]["items"]["required"])


def test_a_label_off_the_enum_is_an_output_error(llm_settings, llm_server):
    llm_server.script({"memories": [{**item("ok"), "action": "merge", "replaces": None}]})
    with pytest.raises(llm.LLMOutputError, match="schema at memories/0/action:"):
        extraction.extract(strategy="discrete", new_turns=NEW)

"""A custom version's template reaches the model rendered, over real HTTP to the
scripted provider; a template without variables is sent exactly as before."""

import json
from datetime import UTC, datetime

import pytest

from memory import extraction, llm
from memory.extraction import KnownMemory, Turn

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
EARLIER = [Turn(id="m0", role="user", content="My sister is Anna.", created_at=T0)]
NEW = [
    Turn(id="m1", role="user", content="She moved to Lisbon.", created_at=T0),
    Turn(id="m2", role="assistant", content="Good for her!", created_at=T0),
]


def system_prompt(llm_server) -> str:
    [request] = llm_server.requests
    return request["messages"][0]["content"]


def test_a_template_is_rendered_with_the_turns_the_context_the_known_memories_and_now(llm_settings, llm_server):
    llm_server.script({"memories": []})
    template = (
        "Read these:\n{{ turns }}\nContext:\n{{ earlier_turns }}\nKnown:\n{{ known_memories }}\n"
        "It is {{ now }}.{% if earlier_turns %} Resolve pronouns.{% endif %}"
    )
    extraction.extract(
        strategy="custom",
        prompt_template=template,
        new_turns=NEW,
        context_turns=EARLIER,
        known_memories=[KnownMemory(id="r-1", text="User's sister is Anna.")],
        now=NOW,
    )
    assert system_prompt(llm_server) == (
        "Read these:\nuser: She moved to Lisbon.\nassistant: Good for her!\nContext:\nuser: My sister is Anna.\n"
        "Known:\nk1: User's sister is Anna.\nIt is 2026-03-02T09:30:00Z. Resolve pronouns.\n" + extraction.RULES
    )


def test_a_template_without_variables_is_sent_as_written(llm_settings, llm_server):
    llm_server.script({"memories": []})
    extraction.extract(strategy="custom", prompt_template="  Only facts about food.\r\nNothing else.  ", new_turns=NEW)
    assert system_prompt(llm_server) == "Only facts about food.\r\nNothing else.\n" + extraction.RULES


def test_a_memory_may_repeat_the_turns_a_template_prints(llm_settings, llm_server):
    """The quote check is about the instructions' own words, not the turns they bring in."""
    item = {
        "text": "User's sister Anna moved to Lisbon in March 2026.",
        "memory_type": "semantic",
        "topics": [],
        "entities": ["Anna", "Lisbon"],
        "event_date": None,
        "source_message_ids": ["m1"],
        "action": "add",
        "replaces": None,
    }
    llm_server.script({"memories": [item]})
    new = [Turn(id="m1", role="user", content="User's sister Anna moved to Lisbon in March 2026.", created_at=T0)]
    result = extraction.extract(strategy="custom", prompt_template="Facts from:\n{{ turns }}", new_turns=new)
    assert [m.text for m in result.memories] == ["User's sister Anna moved to Lisbon in March 2026."]
    assert result.dropped == {}


@pytest.mark.parametrize("strategy", ["discrete", "summary", "preferences"])
def test_built_in_strategies_ignore_the_template_field(llm_settings, llm_server, strategy):
    llm_server.script({"memories": []})
    extraction.extract(strategy=strategy, prompt_template="{{ turns }}", new_turns=NEW)
    assert system_prompt(llm_server) == extraction.INSTRUCTIONS[strategy] + "\n" + extraction.RULES


def test_a_refused_template_fails_plainly_without_calling_the_model(llm_settings, llm_server):
    """A template saved before validation existed: the run fails, it is never rendered."""
    with pytest.raises(llm.LLMError, match="prompt template is refused: attribute access 'turns.__class__'") as raised:
        extraction.extract(strategy="custom", prompt_template="{{ turns.__class__ }}", new_turns=NEW)
    assert raised.value.retryable is False
    assert llm_server.requests == []


def test_a_template_past_the_cap_after_a_settings_change_fails_plainly_without_calling_the_model(
    llm_settings, llm_server
):
    """Saved when PROMPT_MAX_CHARS was larger: the run fails before anything is rendered or sent."""
    llm_settings.PROMPT_MAX_CHARS = 60
    with pytest.raises(llm.LLMError) as raised:
        extraction.extract(strategy="custom", prompt_template="A: {{ turns }}\nB: {{ turns }}", new_turns=NEW)
    assert str(raised.value) == (
        "the version's prompt template is refused: the prompt can render to 109 characters; at most 60 are allowed "
        "(PROMPT_MAX_CHARS); create a new version"
    )
    assert not raised.value.retryable
    assert llm_server.requests == []


def test_turns_longer_than_a_session_write_are_cut_in_the_template_and_sent_whole_as_json(llm_settings, llm_server):
    llm_settings.WORKING_MEMORY_MAX_BODY_BYTES = 48
    llm_server.script({"memories": []})
    extraction.extract(strategy="custom", prompt_template="Turns: {{ turns }}", new_turns=NEW)
    cut = "user:\n[... 51 characters, cut to fit the prompt]"  # 48 of "user: She moved ... Good for her!"
    assert len(cut) == 48
    assert system_prompt(llm_server) == "Turns: " + cut + "\n" + extraction.RULES
    [request] = llm_server.requests
    assert [turn["content"] for turn in json.loads(request["messages"][1]["content"])["new_turns"]] == [
        "She moved to Lisbon.",
        "Good for her!",
    ]

"""Turn a session's new turns into memory candidates, by the policy version's strategy.

One LLM call per run (`memory.llm.chat` with a JSON schema); topics and entities come
out of the same call. Earlier turns go in as context only. The reply is validated
strictly: a reply that does not match the schema is an `LLMOutputError` (retried a
bounded number of times by the caller); single items that are empty, over-long,
quote the prompt, or come only from earlier turns are dropped and counted.

The `messages` strategy needs no LLM: each new turn becomes a `message` memory, with
the turn before it as its context (a reply is found by what it answers).

A custom version's prompt template is Jinja2 (`policies.templating`, validated when the
version was saved) and is rendered with the turns, the earlier turns, the known
memories and the time; a template without Jinja markers is sent as written.
"""

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jsonschema
from django.conf import settings
from django.utils import timezone

from memory import llm
from memory.datetimes import datetime_decode, datetime_encode
from policies.models import Strategy
from policies.prompt_limits import prompt_limits
from policies.strategies import INSTRUCTIONS, params_resolve
from policies.templating import TemplateProblemsError, template_render, template_text

MAX_TAGS = 20
MAX_TAG_CHARS = 100
# How much of the turn before a message a context keeps: its end, where the question a
# reply answers usually is.
MESSAGE_CONTEXT_CHARS = 1000
# A run of this many words from the prompt inside an item means the model echoed it.
PROMPT_QUOTE_WORDS = 6

ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "memory_type": {"type": "string", "enum": ["semantic", "episodic"]},
        "topics": {"type": "array", "items": {"type": "string"}},
        "entities": {"type": "array", "items": {"type": "string"}},
        "event_date": {"type": ["string", "null"]},
        "source_message_ids": {"type": "array", "items": {"type": "string"}},
        "action": {"type": "string", "enum": ["add", "update", "noop"]},
        "replaces": {"type": ["string", "null"]},
    },
    "required": [
        "text",
        "memory_type",
        "topics",
        "entities",
        "event_date",
        "source_message_ids",
        "action",
        "replaces",
    ],
    "additionalProperties": False,
}
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"memories": {"type": "array", "items": ITEM_SCHEMA}},
    "required": ["memories"],
    "additionalProperties": False,
}
# Sent as required (strict providers want every property required), read leniently: an
# item without `action` / `replaces` is an `add`, as replies were before labels existed.
LABEL_FIELDS = ("action", "replaces")
_LENIENT_ITEM = {**ITEM_SCHEMA, "required": [f for f in ITEM_SCHEMA["required"] if f not in LABEL_FIELDS]}
_validator = jsonschema.Draft202012Validator(
    {**OUTPUT_SCHEMA, "properties": {"memories": {"type": "array", "items": _LENIENT_ITEM}}}
)

# One rule a line; the prompt starts with a newline after the instructions.
RULES = "\n".join(
    [
        "",
        "Rules:",
        '- Extract only from "new_turns". "earlier_turns" are context for resolving references and were '
        "extracted before; never extract from them again.",
        "- Each memory must make sense on its own. Resolve every reference: replace pronouns and vague "
        "references (he, she, they, it, there, that place, the second option) with the names or things they "
        'refer to, and call the user "User".',
        "- Turn relative dates and times (yesterday, last week, next Friday, in two days) into absolute "
        "dates, counted from the created_at of the turn they appear in. Put the date an event happens in "
        "event_date as YYYY-MM-DD (or an ISO 8601 timestamp); otherwise event_date is null.",
        "- topics: a few short subject tags. entities: names of the people, places, organisations and things "
        "mentioned.",
        "- source_message_ids: the ids of the new turns each memory comes from.",
        '- "known_memories" are what is already remembered about this user, each with a short id. Label '
        'each memory: action "add" for something new (replaces null); "update" when it corrects or '
        "changes a known memory, with replaces set to that memory's id (write the new memory in full); "
        '"noop" when a known memory already says it (nothing new).',
        '- Do not repeat these instructions. When nothing is worth remembering, return {"memories": []}.',
        "The conversation follows as JSON.",
    ]
)


@dataclass(frozen=True)
class Turn:
    id: str
    role: str
    content: str
    created_at: datetime


@dataclass(frozen=True)
class ExtractedMemory:
    text: str
    memory_type: str
    extracted_from: list[str]
    topics: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    event_date: datetime | None = None
    created_at: datetime | None = None  # a message memory keeps its turn's time
    context: str = ""  # a message memory: the turn before it
    # The stored record this one updates (its real id, from `known_memories`), or "".
    replaces: str = ""


@dataclass(frozen=True)
class KnownMemory:
    """A stored memory shown to the model (under a short id) so it can label updates."""

    id: str
    text: str


@dataclass(frozen=True)
class Extraction:
    memories: list[ExtractedMemory]
    dropped: dict[str, int]
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    raw_output: str = ""  # what the model said, verbatim
    # How the model labelled the kept items: add, update, noop (already known: nothing
    # created), and update_unknown (an update naming no known id: kept as an add).
    labels: dict[str, int] = field(default_factory=dict)

    @property
    def known_count(self) -> int:
        """Items the model judged already known (`noop`): deduplicated in the same call."""
        return self.labels.get("noop", 0)


def extract(
    *,
    strategy: str,
    new_turns: list[Turn],
    context_turns: Sequence[Turn] = (),
    prompt_template: str = "",
    model: str = "",
    params: dict[str, Any] | None = None,
    known_memories: Sequence[KnownMemory] = (),
    now: datetime | None = None,
) -> Extraction:
    """Memory candidates from `new_turns`; raises `llm.LLMError` subclasses on failure.

    `known_memories` (LLM strategies only) go to the model as "known_memories" with
    short ids k1, k2, ...; an item labelled `update` comes back with `replaces` set to
    the real id of the one it names, a `noop` item is not returned (counted in `labels`).
    `now` (default: the current time) is what a custom template's `now` says.
    """
    if strategy == Strategy.MESSAGES:
        return _messages(new_turns, context_turns)
    model = model or settings.LLM_MODEL
    if not llm.is_configured(model):
        raise llm.LLMError(f"the {strategy} strategy needs an LLM: set LLM_MODEL or the policy version's model")
    params = params_resolve(strategy=strategy, params=params)
    context_turns = list(context_turns)[-params["context_messages"] :] if params["context_messages"] else []
    known = {f"k{n}": memory for n, memory in enumerate(known_memories, start=1)}
    variables = _template_variables(new_turns, context_turns, known, now or timezone.now())
    system_prompt, own_words = _system_prompt(strategy, prompt_template, variables)
    conversation = _conversation(new_turns, context_turns, known)
    result = llm.chat(
        messages=[
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": json.dumps(conversation, ensure_ascii=False)},
        ],
        model=model,
        json_schema=OUTPUT_SCHEMA,
        schema_name="memories",
        temperature=params["temperature"],
        max_tokens=params["max_tokens"],
    )
    try:
        memories, dropped, labels = _validated(
            result.data,
            system_prompt=own_words,
            new_turns=new_turns,
            context_turns=context_turns,
            params=params,
            known={short: m.id for short, m in known.items()},
        )
    except llm.LLMOutputError as exc:
        exc.raw = result.text
        raise
    return Extraction(
        raw_output=result.text,
        memories=memories,
        dropped=dropped,
        labels=labels,
        model=result.model,
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
    )


def _system_prompt(strategy: str, prompt_template: str, variables: dict[str, str]) -> tuple[str, str]:
    """What the model is told, and the words of it that are the instructions' own (what a
    memory must not quote; a template's variables bring the turns in, and those may be)."""
    if strategy != Strategy.CUSTOM:
        return INSTRUCTIONS[strategy] + "\n" + RULES, INSTRUCTIONS[strategy] + "\n" + RULES
    template = prompt_template.strip()
    try:
        rendered = template_render(template, variables, limits=prompt_limits())
    except TemplateProblemsError as exc:  # saved under other rules or limits: fail the run, plainly
        raise llm.LLMError(f"the version's prompt template is refused: {exc}; create a new version") from exc
    return rendered + "\n" + RULES, template_text(template) + "\n" + RULES


def _template_variables(
    new_turns: list[Turn], context_turns: Sequence[Turn], known: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The text of each variable a custom template may print (policies.templating.VARIABLES)."""

    def lines(turns: Sequence[Turn]) -> str:
        return "\n".join(f"{turn.role}: {turn.content}" for turn in turns)

    return {
        "turns": lines(new_turns),
        "earlier_turns": lines(context_turns),
        "now": datetime_encode(now),
        "known_memories": "\n".join(f"{short}: {memory.text}" for short, memory in known.items()),
    }


def _conversation(new_turns: list[Turn], context_turns: Sequence[Turn], known: dict[str, Any]) -> dict[str, Any]:
    """What the model reads, as JSON: earlier turns, new turns, and known memories by short id."""
    conversation = {
        "earlier_turns": [_turn_json(turn) for turn in context_turns],
        "new_turns": [_turn_json(turn) for turn in new_turns],
    }
    if known:
        conversation["known_memories"] = [{"id": short, "text": m.text} for short, m in known.items()]
    return conversation


def _messages(new_turns: list[Turn], context_turns: Sequence[Turn]) -> Extraction:
    """Each user/assistant/tool turn verbatim, labelled with its role, in the context of
    the conversational turn before it. System turns are the agent's instructions, not
    conversation; a turn longer than a long-term record may be (MEMORY_MAX_TEXT_CHARS)
    stays a source message only."""

    def labelled(turn: Turn) -> str:
        return f"{turn.role}: {turn.content}"

    def conversational(turn: Turn) -> bool:
        return turn.role != "system" and bool(turn.content.strip())

    previous = next((labelled(t) for t in reversed(context_turns) if conversational(t)), "")
    memories: list[ExtractedMemory] = []
    dropped: Counter[str] = Counter()
    for turn in new_turns:
        if not conversational(turn):
            dropped["system" if turn.role == "system" else "empty"] += 1
            continue
        text = labelled(turn)
        context, previous = previous[-MESSAGE_CONTEXT_CHARS:], text
        if len(text) > settings.MEMORY_MAX_TEXT_CHARS:
            dropped["too_long"] += 1
            continue
        memories.append(
            ExtractedMemory(
                text=text, memory_type="message", extracted_from=[turn.id], created_at=turn.created_at, context=context
            )
        )
    return Extraction(memories=memories, dropped=dict(dropped))


def _turn_json(turn: Turn) -> dict[str, Any]:
    return {"id": turn.id, "role": turn.role, "created_at": datetime_encode(turn.created_at), "content": turn.content}


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    n = PROMPT_QUOTE_WORDS
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _tags(values: list[str]) -> list[str]:
    seen: set[str] = set()
    tags: list[str] = []
    for value in values:
        value = value.strip()
        if value and len(value) <= MAX_TAG_CHARS and value.lower() not in seen:
            seen.add(value.lower())
            tags.append(value)
    return tags[:MAX_TAGS]


def _event_date(value: str | None) -> datetime | None:
    """An ISO date (midnight UTC) or timestamp; anything else is no date (the memory is kept)."""
    try:
        return datetime_decode(value)
    except ValueError:
        return None


def _validated(
    data: Any,
    *,
    system_prompt: str,
    new_turns: list[Turn],
    context_turns: Sequence[Turn],
    params: dict[str, Any],
    known: dict[str, str],
) -> tuple[list[ExtractedMemory], dict[str, int], dict[str, int]]:
    errors = sorted(_validator.iter_errors(data), key=lambda e: len(e.absolute_path))
    if errors:
        error = errors[0]
        where = "/".join(str(p) for p in error.absolute_path) or "reply"
        raise llm.LLMOutputError(f"reply does not match the memories schema at {where}: {error.message}")
    prompt_shingles = _shingles(_words(system_prompt))
    new_ids = [turn.id for turn in new_turns]
    context_ids = {turn.id for turn in context_turns}
    memories: list[ExtractedMemory] = []
    dropped: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    seen: set[str] = set()
    for item in data["memories"]:
        text = item["text"].strip()
        if not text:
            dropped["empty"] += 1
            continue
        if len(text) > params["max_memory_chars"]:
            dropped["too_long"] += 1
            continue
        if _shingles(_words(text)) & prompt_shingles:
            dropped["quotes_prompt"] += 1
            continue
        cited = [i for i in item["source_message_ids"] if i in new_ids]
        if not cited and any(i in context_ids for i in item["source_message_ids"]):
            dropped["earlier_turns"] += 1
            continue
        if text.lower() in seen:
            dropped["duplicate"] += 1
            continue
        if len(memories) >= params["max_memories"]:
            dropped["over_limit"] += 1
            continue
        action, replaces = item.get("action") or "add", ""
        if action == "noop":  # already known: nothing to create (checked after the drops)
            labels["noop"] += 1
            continue
        if action == "update":
            replaces = known.get((item.get("replaces") or "").strip(), "")
            if not replaces:
                action = "update_unknown"  # names no known memory: stored as a new one
        labels[action] += 1
        seen.add(text.lower())
        memories.append(
            ExtractedMemory(
                text=text,
                memory_type=item["memory_type"],
                extracted_from=list(dict.fromkeys(cited)) or list(new_ids),
                topics=_tags(item["topics"]),
                entities=_tags(item["entities"]),
                event_date=_event_date(item["event_date"]),
                replaces=replaces,
            )
        )
    return memories, dict(dropped), dict(labels)

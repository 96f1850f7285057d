"""Hypothesis properties of the parsers that face users (`make fuzz`): the search filter
grammar, the full-text query builder and working-memory message validation. Each runs
a bounded, derandomised number of examples against the real Redis and index."""

import json
import re

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from memory import index, textquery
from memory.api.fields import TAG_MAX_LENGTH, has_control_character
from memory.api.filters import DATE_FILTER_FIELDS, TAG_FILTER_FIELDS, TAG_OPERATORS, filter_conditions
from memory.selectors.long_term import SearchQuery, memories_search
from memory.services.long_term import memories_create

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

PROPERTY_SETTINGS = settings(
    max_examples=150,
    derandomize=True,  # the same examples on every run, in CI too
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What a JSON body can carry (no NaN or infinity: they are not JSON).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
OPERATOR_NAMES = st.sampled_from([*TAG_OPERATORS, "gt", "gte", "lt", "lte", "between", "eq", "bogus"])
FILTER_SPEC = st.dictionaries(OPERATOR_NAMES, JSON, max_size=3) | JSON
FILTER_BODY = st.dictionaries(st.sampled_from([*TAG_FILTER_FIELDS, *DATE_FILTER_FIELDS]), FILTER_SPEC, max_size=3)
# Text built to hit the parser's hazards: stopwords first (RediSearch 2.10's segfault),
# query syntax, escapes, unicode, and plain words.
HAZARD_WORDS = st.sampled_from(
    [
        "be",
        "an",
        "will",
        "there",
        "the",
        "AND",
        "OR",
        "NOT",
        "|",
        "-",
        "@text:",
        "*",
        "%",
        "{",
        "}",
        "(",
        ")",
        "~",
        "\\",
        '"',
        "'",
        "interview",
        "Pixel",
        "café",
        "日本",
        "🙂",
        "a-b",
        "x*",
        "$",
        ";",
        "\x00",
    ]
)
HAZARD_TEXT = st.lists(HAZARD_WORDS, max_size=12).map(" ".join) | st.text(max_size=200)
TERM = re.compile(r"^(?:\\.|\w)+$", re.UNICODE)


@pytest.fixture
def live_index(redis_client):
    index.ensure_index()
    return redis_client


@PROPERTY_SETTINGS
@given(body=FILTER_BODY)
def test_any_filter_body_is_conditions_redis_answers_or_a_422_naming_the_filter(live_index, body):
    try:
        conditions = filter_conditions(body)
    except ValidationError as error:
        assert error.loc[:2] in {("body", name) for name in body}, error.loc
        assert error.detail and all(str(item) for item in error.detail)
        return
    result = memories_search(query=SearchQuery(text="", conditions=tuple(conditions)))
    assert result.total == 0  # the index is empty; Redis answered the filter
    assert live_index.ping()


# What the API takes as a tag: no control characters, no surrounding whitespace.
TAG_VALUE = st.text(min_size=1, max_size=TAG_MAX_LENGTH).filter(
    lambda v: not has_control_character(v) and v == v.strip()
)


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(namespace=TAG_VALUE)
def test_a_namespace_filter_finds_exactly_its_own_records_whatever_the_value(live_index, namespace):
    note(f"namespace {namespace!r}")
    other = f"{namespace}x"
    memories_create(
        actor="test",
        records=[
            {"text": "Alice keeps bees.", "namespace": namespace},
            {"text": "Bob keeps goats.", "namespace": other},
        ],
        deduplicate=False,
    )
    for op, expected in [("eq", {namespace}), ("ne", {other}), ("any", {namespace})]:
        value = [namespace] if op == "any" else namespace
        conditions = filter_conditions({"namespace": {op: value}})
        found = memories_search(query=SearchQuery(text="", conditions=tuple(conditions))).hits
        assert {hit.record.namespace for hit in found} >= expected
        assert {hit.record.namespace for hit in found} & ({namespace, other} - expected) == set()
    from memory.models import MemoryRecord

    MemoryRecord.objects.all().delete()
    live_index.flushdb()
    index.get_index.cache_clear()
    index.ensure_index()


@PROPERTY_SETTINGS
@given(text=HAZARD_TEXT)
def test_no_text_reaches_redisearch_unescaped_and_none_crashes_redis(live_index, text):
    clause = textquery.text_clause(text)
    words = textquery.terms(text)
    if clause is None:
        assert words == []
    else:
        inner = clause.removeprefix("@text:(").removesuffix(")")
        parts = inner.split(" | ")
        assert len(parts) == len(words)
        assert all(TERM.match(part) for part in parts), clause
        assert not set(words) & (textquery.STOPWORDS | textquery.SYNTAX_WORDS)
    result = memories_search(query=SearchQuery(text=text, mode="keyword"))
    assert result.total == 0
    assert live_index.ping()  # a segfault would drop the connection here


MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON | st.text(min_size=1, max_size=12),
        "role": JSON | st.sampled_from(["user", "assistant", "system"]),
        "content": JSON | st.text(min_size=1, max_size=40),
        "created_at": JSON
        | st.sampled_from(["2024-05-04T09:30:00Z", "2024-05-04", "not a date", "2999-01-01T00:00:00Z"]),
    },
)


@PROPERTY_SETTINGS
@given(messages=st.lists(MESSAGE, max_size=4) | JSON)
def test_any_messages_are_stored_as_sent_or_a_422_naming_each_bad_field(api, messages):
    response = api.put("/v1/working-memory/prop", {"messages": messages}, format="json")
    assert response.status_code in (200, 422), response.content
    body = response.json()
    if response.status_code == 422:
        for problem in body["detail"]:
            assert problem["loc"][:2] == ["body", "messages"], problem
            assert problem["msg"]
        return
    stored = api.get("/v1/working-memory/prop").json()["messages"]
    assert [(m["role"], m["content"]) for m in stored] == [(m["role"], m["content"]) for m in messages]
    assert [m.get("id") for m in messages] == [
        sent.get("id") and got["id"] for sent, got in zip(messages, stored, strict=True)
    ]
    assert json.dumps(stored)  # what a client reads back is plain JSON

"""The OpenAPI schema declares what the request validation refuses (issue 21).

Schemathesis warned that 8 operations "mostly rejected generated data": the schema let
through blank ids, control characters, whitespace-only text, unknown PATCH fields, a
missing namespace or an empty policy, which the validation then refused. These tests pin
the constraints each of those operations now declares, and check the declared patterns
and cross-field rules against the validation itself: a value or body the schema admits
is one the API accepts, and the other way round. The patterns are checked by an
ECMA-262 engine (jsonschema_rs, the validator schemathesis uses), as a client reads them.
"""

import itertools
import re

import jsonschema_rs
import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from memory.api.fields import WHITESPACE, required_parameter
from memory.api.long_term.serializers import (
    EditMemorySerializer,
    ForgetSerializer,
    MemoryRecordInputSerializer,
    ScopeQuerySerializer,
)
from memory.api.prompt import MemoryPromptSerializer, PromptSessionSerializer

# Python's whitespace (str.isspace), written out as the schema must: ECMA's \s differs.
WS = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
CTL = r"\u0000-\u001f\u007f"
TAG = f"^[^{CTL}{WS}](?:[^{CTL}]*[^{CTL}{WS}])?$"  # an index tag: no control, no whitespace at an end
NON_BLANK_TEXT = f"^[^\\u0000]*[^\\u0000{WS}][^\\u0000]*$"  # something besides whitespace, no NUL
ANY_TEXT = "^[^\\u0000]+$"
RECORD_ID = f"^[^{CTL}]+$"
TRIMMED_ID = f"^[{WS}]*[^{CTL}{WS}](?:[^{CTL}]*[^{CTL}{WS}])?[{WS}]*$"  # DRF strips it, then checks
BLANK = {"type": "string", "maxLength": 0}
# The characters where Python, ECMA-262 and our validators disagree, and plain ones.
ALPHABET = ["a", "é", ",", " ", "\t", "\n", "\x00", "\x01", "\x1c", "\x7f", "\x85", "\xa0", "\u2028", "\u3000"]
ALPHABET.append("\ufeff")


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def parameters(schema: dict, path: str, method: str) -> dict[str, dict]:
    return {p["name"]: p for p in schema["paths"][path][method]["parameters"]}


def json_schema(node, nullable_ok: bool = True):
    """OpenAPI 3.0's `nullable` as JSON Schema (a null is one more accepted value)."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def admits(schema: dict, fragment: dict, value) -> bool:
    root = {**json_schema(fragment), "components": json_schema(schema["components"])}
    return jsonschema_rs.validator_for(root, validate_formats=True).is_valid(value)


def accepts(field: serializers.Field, value) -> bool:
    try:
        field.run_validation(value)
    except serializers.ValidationError:
        return False
    return True


def test_the_whitespace_the_patterns_spell_out_is_what_str_strip_removes():
    spelled = re.compile(f"[{WHITESPACE}]")
    assert WHITESPACE == WS
    assert [c for c in range(0x110000) if spelled.match(chr(c))] == [c for c in range(0x110000) if chr(c).isspace()]


# --- Each operation's constraints ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/long-term-memory", "/v1/long-term-memory/"])
def test_create_declares_a_batch_of_non_blank_texts_and_clean_tags(schema, path):
    body = schema["paths"][path]["post"]["requestBody"]
    assert (body["required"], body["content"]["application/json"]["schema"]) == (
        True,
        {"$ref": "#/components/schemas/CreateMemories"},
    )
    memories = component(schema, "CreateMemories")["properties"]["memories"]
    assert memories == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/MemoryRecordInput"},
        "minItems": 1,
        "maxItems": settings.MEMORY_MAX_CREATE_BATCH,
    }
    record = component(schema, "MemoryRecordInput")
    assert record["required"] == ["text"]
    props = record["properties"]
    text_max = settings.MEMORY_MAX_TEXT_CHARS
    assert props["text"] == {"type": "string", "minLength": 1, "pattern": NON_BLANK_TEXT, "maxLength": text_max}
    assert props["context"] == {
        "nullable": True,
        "oneOf": [{"type": "string", "pattern": ANY_TEXT, "maxLength": text_max}, BLANK],
    }
    assert props["id"] == {"oneOf": [{"type": "string", "pattern": RECORD_ID, "maxLength": 128}, BLANK]}
    for name in ("namespace", "user_id", "session_id"):
        assert props[name] == {"nullable": True, "oneOf": [{"type": "string", "pattern": TAG, "maxLength": 200}, BLANK]}
    for name in ("topics", "entities"):
        assert props[name] == {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "pattern": TAG, "maxLength": 200},
            "nullable": True,
            "maxItems": settings.MEMORY_MAX_TAGS,
        }
    assert props["extracted_from"]["items"] == {
        "type": "string",
        "minLength": 1,
        "pattern": TRIMMED_ID,
        "maxLength": 200,
    }


@pytest.mark.parametrize("path", ["/v1/long-term-memory", "/v1/long-term-memory/"])
def test_delete_declares_its_required_ids(schema, path):
    assert parameters(schema, path, "delete")["memory_ids"]["required"] is True
    assert parameters(schema, path, "delete")["memory_ids"]["schema"] == {
        "type": "array",
        "items": {"type": "string", "pattern": "^[^,]+$"},
        "minItems": 1,
        "maxItems": settings.MEMORY_MAX_DELETE_BATCH,
    }


def test_edit_declares_other_fields_ignored_and_a_record_field_required(schema):
    operation = schema["paths"]["/v1/long-term-memory/{memory_id}"]["patch"]
    assert operation["requestBody"]["required"] is True
    edit = component(schema, "PatchedEditMemory")
    assert (edit["additionalProperties"], "required" in edit) == (True, False)
    assert sorted(edit["properties"]) == sorted(EditMemorySerializer().fields)
    # A record's read-only fields count too (a fetched record spread into the edit).
    assert [one["required"][0] for one in edit["anyOf"]][-5:] == [
        "extraction_run_id",
        "embedding_model",
        "access_count",
        "last_accessed",
        "updated_at",
    ]
    assert edit["properties"]["text"]["pattern"] == NON_BLANK_TEXT


def test_forget_declares_the_namespace_and_at_least_one_limit(schema):
    named = parameters(schema, "/v1/long-term-memory/forget", "post")
    assert sorted(named) == ["dry_run", "limit", "namespace", "session_id", "user_id"]
    assert (named["namespace"]["required"], named["namespace"]["schema"]) == (
        True,
        {"type": "string", "minLength": 1, "maxLength": 200, "pattern": TAG},
    )
    assert [named[name].get("required", False) for name in ("dry_run", "limit", "session_id", "user_id")] == [False] * 4
    assert component(schema, "ForgetPolicy")["anyOf"] == [
        {"required": ["max_age_days"], "properties": {"max_age_days": {"type": "number"}}},
        {"required": ["max_inactive_days"], "properties": {"max_inactive_days": {"type": "number"}}},
        {"required": ["budget"], "properties": {"budget": {"type": "integer"}}},
    ]
    pinned = component(schema, "Forget")["properties"]["pinned_ids"]
    assert (pinned["items"]["pattern"], pinned["items"]["minLength"], pinned["maxItems"]) == (
        TRIMMED_ID,
        1,
        settings.MEMORY_MAX_ID_LIST,
    )


def test_compact_declares_the_namespace_and_no_dry_run(schema):
    named = parameters(schema, "/v1/long-term-memory/compact", "post")
    assert sorted(named) == ["dry_run", "namespace", "user_id"]
    assert named["namespace"]["required"] is True
    assert named["dry_run"]["schema"] == {"type": "boolean", "enum": [False]}
    assert "requestBody" not in schema["paths"]["/v1/long-term-memory/compact"]["post"]


def test_prompt_declares_a_query_and_a_session_or_a_search(schema):
    operation = schema["paths"]["/v1/memory/prompt"]["post"]
    assert operation["requestBody"]["required"] is True
    prompt = component(schema, "MemoryPrompt")
    assert prompt["required"] == ["query"]
    assert prompt["properties"]["query"]["pattern"] == NON_BLANK_TEXT
    assert prompt["anyOf"] == [
        {"required": ["session"], "properties": {"session": {"type": "object"}}},
        {
            "required": ["long_term_search"],
            "properties": {
                "long_term_search": {
                    "oneOf": [{"type": "object", "minProperties": 1}, {"type": "boolean", "enum": [True]}]
                }
            },
        },
    ]
    session_id = component(schema, "PromptSession")["properties"]["session_id"]
    assert session_id == {"type": "string", "minLength": 1, "pattern": TAG, "maxLength": 200}


# --- The declared patterns accept exactly what the fields accept ------------------------------------


def _field_cases():
    record, prompt = MemoryRecordInputSerializer().fields, MemoryPromptSerializer().fields
    return [
        ("MemoryRecordInput", "text", record["text"]),
        ("MemoryRecordInput", "context", record["context"]),
        ("MemoryRecordInput", "id", record["id"]),
        ("MemoryRecordInput", "namespace", record["namespace"]),
        ("MemoryRecordInput", "topics", record["topics"].child),
        ("MemoryRecordInput", "extracted_from", record["extracted_from"].child),
        ("MemoryPrompt", "query", prompt["query"]),
        ("PromptSession", "session_id", PromptSessionSerializer().fields["session_id"]),
        ("Forget", "pinned_ids", ForgetSerializer().fields["pinned_ids"].child),
    ]


@pytest.mark.parametrize("name, prop, field", _field_cases(), ids=lambda case: getattr(case, "__name__", str(case)))
def test_a_text_fields_schema_admits_exactly_what_it_accepts(schema, name, prop, field):
    fragment = component(schema, name)["properties"][prop]
    fragment = fragment.get("items", fragment)
    validator = jsonschema_rs.validator_for(json_schema(fragment))
    # Every string of up to 3 of these characters, then the length limit's edges.
    values = ["".join(chars) for n in range(4) for chars in itertools.product(ALPHABET, repeat=n)]
    values += ["a" * field.max_length, "a" * (field.max_length + 1), " " * field.max_length]
    disagree = [v for v in values if validator.is_valid(v) != accepts(field, v)]
    if field.trim_whitespace:  # DRF limits the stripped value; the schema the one sent (stricter)
        disagree = [v for v in disagree if not accepts(field, v) or len(v) > field.max_length]
    assert disagree == []
    assert len(values) == 1 + 15 + 15**2 + 15**3 + 3


def test_the_required_namespace_parameter_is_the_scope_fields_non_blank_schema(schema):
    field = ScopeQuerySerializer().fields["namespace"]
    declared = required_parameter("namespace", field, "x")
    assert declared.type == {"type": "string", "minLength": 1, "maxLength": 200, "pattern": TAG}
    validator = jsonschema_rs.validator_for(declared.type)
    values = ["".join(chars) for n in range(4) for chars in itertools.product(ALPHABET, repeat=n)]
    # A blank namespace is no namespace, which forget and compact refuse.
    assert [v for v in values if validator.is_valid(v) != (v != "" and accepts(field, v))] == []


# --- The cross-field rules: the schema admits exactly the bodies the API takes ---------------------

POLICIES = [
    {},
    {"budget": None},
    {"budget": 0},
    {"max_age_days": 1.5},
    {"max_inactive_days": None, "budget": 3},
    {"max_age_days": None, "max_inactive_days": None, "budget": None},
    {"memory_type_allowlist": ["semantic"]},
    {"memory_type_allowlist": ["semantic"], "max_inactive_days": 2},
]
PROMPTS = [
    {"query": "q"},
    {"query": "q", "long_term_search": False},
    {"query": "q", "long_term_search": None},
    {"query": "q", "long_term_search": {}},
    {"query": "q", "long_term_search": True},
    {"query": "q", "long_term_search": {"limit": 3}},
    {"query": "q", "session": None},
    {"query": "q", "session": None, "long_term_search": False},
    {"query": "q", "session": {"session_id": "s"}},
    {"query": "q", "session": {"session_id": "s"}, "long_term_search": False},
    {"query": " ", "long_term_search": True},
]
EDITS = [{}, {"text": "x"}, {"pinned": True}, {"bogus": 1}, {"text": "x", "bogus": 1}, {"text": "\n"}]


@pytest.mark.django_db
def test_forget_policies_the_schema_admits_are_the_ones_the_api_takes(api, schema):
    ref = {"$ref": "#/components/schemas/Forget"}
    results = [
        (
            admits(schema, ref, {"policy": policy}),
            api.post("/v1/long-term-memory/forget?namespace=n", {"policy": policy}, format="json").status_code,
        )
        for policy in POLICIES
    ]
    assert results == [(False, 422), (False, 422), (True, 200), (True, 200), (True, 200), (False, 422)] + [
        (False, 422),
        (True, 200),
    ]


@pytest.mark.django_db
def test_prompts_the_schema_admits_are_the_ones_the_api_takes(api, schema):
    ref = {"$ref": "#/components/schemas/MemoryPrompt"}
    results = [
        (admits(schema, ref, body), api.post("/v1/memory/prompt", body, format="json").status_code) for body in PROMPTS
    ]
    assert results == [
        (False, 422),
        (False, 422),
        (False, 422),
        (False, 422),
        (True, 200),
        (True, 200),
        (False, 422),
        (False, 422),
        (True, 200),
        (True, 200),
        (False, 422),
    ]


@pytest.mark.django_db
def test_edits_the_schema_admits_are_the_ones_the_api_takes(api, schema):
    ref = {"$ref": "#/components/schemas/PatchedEditMemory"}
    # No such record: a body past validation answers 404, one refused by it 422.
    results = [
        (admits(schema, ref, body), api.patch("/v1/long-term-memory/nope", body, format="json").status_code)
        for body in EDITS
    ]
    # A field no record has is ignored (as the reference ignores it), unless it is all there is.
    assert results == [(False, 422), (True, 404), (True, 404), (False, 422), (True, 404), (False, 422)]


@pytest.mark.django_db
def test_delete_takes_as_many_ids_as_the_schema_declares_and_no_more(api, schema):
    most = settings.MEMORY_MAX_DELETE_BATCH
    fragment = parameters(schema, "/v1/long-term-memory", "delete")["memory_ids"]["schema"]
    statuses = []
    for count in (0, 1, most, most + 1):
        ids = [f"m{i}" for i in range(count)]
        # One value holds the last two, comma-separated: Django takes at most
        # DATA_UPLOAD_MAX_NUMBER_FIELDS (1000) parameters.
        values = [*ids[:-2], ",".join(ids[-2:])] if count > 1 else ids
        query = "&".join(f"memory_ids={value}" for value in values)
        statuses.append((admits(schema, fragment, ids), api.delete(f"/v1/long-term-memory?{query}").status_code))
    assert statuses == [(False, 422), (True, 200), (True, 200), (False, 422)]


def test_working_memory_declares_the_session_id_and_each_messages_rules(schema):
    session_id = f"^[^{CTL}/{WS}](?:[^{CTL}/]*[^{CTL}/{WS}])?$"  # a tag, and no "/" (it would match no route)
    for method in ("get", "put", "delete"):
        named = schema["paths"]["/v1/working-memory/{session_id}"][method]["parameters"]
        path = [p for p in named if p["in"] == "path"]
        assert [(p["name"], p["required"], p["schema"]) for p in path] == [
            ("session_id", True, {"type": "string", "minLength": 1, "maxLength": 200, "pattern": session_id})
        ]
    message = component(schema, "MemoryMessage")["properties"]
    assert (message["id"], message["role"], message["content"]) == (
        {"type": "string", "pattern": RECORD_ID, "maxLength": 200},
        {"type": "string", "pattern": f"[^{WS}]"},
        {"type": "string", "pattern": f"[^{WS}]"},
    )
    assert component(schema, "WorkingMemoryPut")["properties"]["data"] == {
        "type": "object",
        "additionalProperties": True,
        "nullable": True,
    }


def test_a_messages_declared_role_content_and_id_are_what_message_validation_takes(schema):
    from datetime import UTC, datetime

    from memory.api.working_memory.serializers import MessageValidator

    message = component(schema, "MemoryMessage")["properties"]
    values = ["".join(chars) for n in range(1, 4) for chars in itertools.product(ALPHABET, repeat=n)]
    for name in ("role", "content", "id"):
        validator = jsonschema_rs.validator_for(message[name])
        refused = [
            v
            for v in values
            if validator.is_valid(v) == (name in MessageValidator(now=datetime.now(UTC)).validate({name: v})[1])
        ]
        assert refused == []


SEARCHES = [
    {},
    {"distance_threshold": 0.5},
    {"text": " \n", "distance_threshold": 0.5},
    {"text": "tea", "distance_threshold": 0.5},
    {"text": "tea", "distance_threshold": 0.5, "search_mode": "keyword"},
    {"text": "tea", "distance_threshold": 0.5, "search_mode": "hybrid"},
    {"distance_threshold": None, "search_mode": "keyword"},
    {"text": "tea", "search_mode": "keyword"},
]


@pytest.mark.django_db
def test_searches_the_schema_admits_are_the_ones_the_api_takes(api, schema):
    ref = {"$ref": "#/components/schemas/Search"}
    results = [
        (admits(schema, ref, body), api.post("/v1/long-term-memory/search", body, format="json").status_code)
        for body in SEARCHES
    ]
    assert results == [
        (True, 200),
        (False, 422),
        (False, 422),
        (True, 200),
        (False, 422),
        (True, 200),
        (True, 200),
        (True, 200),
    ]


FILTERS = [
    {"namespace": None},
    {"namespace": {}},
    {"namespace": {"eq": "a", "ne": None}},
    {"namespace": {"eq": " a"}},
    {"namespace": {"bogus": "a"}},
    {"namespace": "a"},
    {"topics": {"any": []}},
    {"topics": {"in_": ["x", "y"], "not_eq": "z"}},
    {"topics": {"all": "x"}},
    {"memory_type": {"eq": "semantic"}},
    {"memory_type": {"eq": "nope"}},
    {"status": {"none": ["rejected"]}},
    {"created_at": {"gt": "2024-01-01T00:00:00Z", "lte": None}},
    {"created_at": {"between": ["2024-01-01T00:00:00Z"]}},
    {"event_date": {"eq": ""}},
]


@pytest.mark.django_db
def test_filters_the_schema_admits_are_the_ones_the_api_takes(api, schema):
    ref = {"$ref": "#/components/schemas/Search"}
    results = [
        (admits(schema, ref, body), api.post("/v1/long-term-memory/search", body, format="json").status_code)
        for body in FILTERS
    ]
    accepted = [True, True, True, False, False, False, False, True, False, True, False, True, True, False, False]
    assert results == [(ok, 200 if ok else 422) for ok in accepted]


@pytest.mark.django_db(transaction=True)  # the record is indexed on commit
def test_a_listings_hits_have_no_score_type_and_the_schema_says_so(api, schema):
    # Found by the fuzzer once filters were declared: the response schema said a string.
    api.post("/v1/long-term-memory/", {"memories": [{"text": "tea", "namespace": "n"}]}, format="json")
    hits = api.post("/v1/long-term-memory/search", {}, format="json").json()["memories"]
    hit_schema = component(schema, "SearchHitOutput")
    assert ([h["score_type"] for h in hits], hit_schema["properties"]["score_type"]) == (
        [None],
        {"type": "string", "nullable": True},
    )
    assert admits(schema, {"$ref": "#/components/schemas/SearchHitOutput"}, hits[0])

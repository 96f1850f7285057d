"""Search filters: the request body's filter objects as index conditions.

The grammar is agent-memory-server's. Each filter is a body field holding an object of
operators; several operators in one object all apply (AND), and an operator sent as
null is an operator not sent (pydantic's exclude_none, which the client relies on).

Tag filters, on `session_id`, `namespace`, `user_id`, `topics`, `entities`,
`memory_type`, `status` and `extraction_strategy` (how a record was extracted, e.g.
"discrete" or "messages": the reference's newest filter):

    {"eq": "a"}           the tag is "a"
    {"ne": "a"}           the tag is not "a"
    {"any": ["a", "b"]}   at least one of them
    {"all": ["a", "b"]}   every one of them

agent-memory-client 0.14's filter classes also send `in_` (any), `not_eq` (ne),
`not_in` and `none` (none of them). Values are non-empty strings without control
characters; `memory_type` and `status` values must be one of their choices.

Date filters, on `created_at`, `last_accessed` and `event_date`, with ISO 8601 values
(naive means UTC):

    {"gt": t}  {"gte": t}  {"lt": t}  {"lte": t}  {"eq": t}
    {"between": [start, end]}   inclusive; start must not be after end

Anything else is a 422 naming the filter and operator, e.g. ["body", "topics", "any"].
No filter is dropped or widened: every one becomes an `index.Condition`.

`scoped_query` then narrows a search to the credential's scope (`memory.api.scope`): a
namespace or user_id filter naming a value outside it is a 403 that says so, and the
scope's namespaces and users are always added as conditions, so a search without a
namespace filter sees only the credential's namespaces.
"""

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from memory import index
from memory.api.errors import field_error
from memory.api.fields import TAG_MAX_LENGTH, TagValueField, has_control_character, text_pattern
from memory.api.scope import OutOfScope, Scope
from memory.datetimes import datetime_decode
from memory.models import MemoryStatus, MemoryType
from memory.selectors.long_term import SearchQuery

# Operator as sent -> the operator `index.Condition` knows.
TAG_OPERATORS = {
    "eq": "eq",
    "ne": "ne",
    "any": "any",
    "all": "all",
    # agent-memory-client 0.14's filter classes send these names.
    "in_": "any",
    "not_eq": "ne",
    "not_in": "none",
    "none": "none",
}
DATE_OPERATORS = ("gt", "gte", "lt", "lte", "eq", "between")
TAG_FILTER_FIELDS = (
    "session_id",
    "namespace",
    "user_id",
    "topics",
    "entities",
    "memory_type",
    "status",
    "extraction_strategy",
)
DATE_FILTER_FIELDS = ("created_at", "last_accessed", "event_date")
# Tag fields whose values are a fixed set: an unknown value is a typo, not an empty result.
_CHOICES = {"memory_type": set(MemoryType.values), "status": set(MemoryStatus.values)}
_SINGLE_VALUE_OPERATORS = ("eq", "ne")


def filter_properties() -> dict[str, dict[str, Any]]:
    """The filter fields as the schema declares them (a search body's `schema_rules`):
    each an object of the operators above, a value as `_check_tag_value` or `_parse_date`
    takes it. Only "start not after end" of `between` is left to the description."""
    tag = {"type": "string", "minLength": 1, "maxLength": TAG_MAX_LENGTH, "pattern": text_pattern(TagValueField())}
    properties: dict[str, dict[str, Any]] = {}
    for name in TAG_FILTER_FIELDS:
        # A pattern, not an enum: drf-spectacular's enum hook would hoist it into a component.
        value = {**tag, "pattern": f"^(?:{'|'.join(sorted(_CHOICES[name]))})$"} if name in _CHOICES else tag
        one, many = {**value, "nullable": True}, {"type": "array", "items": value, "minItems": 1, "nullable": True}
        operators = {op: one if TAG_OPERATORS[op] in _SINGLE_VALUE_OPERATORS else many for op in TAG_OPERATORS}
        properties[name] = _filter_object(operators)
    date = {"type": "string", "format": "date-time"}
    between = {"type": "array", "items": date, "minItems": 2, "maxItems": 2, "nullable": True}
    for name in DATE_FILTER_FIELDS:
        operators = {op: between if op == "between" else {**date, "nullable": True} for op in DATE_OPERATORS}
        properties[name] = _filter_object(operators)
    return properties


def _filter_object(operators: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": operators, "additionalProperties": False, "nullable": True}


def filter_conditions(data: dict[str, Any]) -> list[index.Condition]:
    """Every tag and date filter present in the request body, as conditions."""
    conditions = []
    for name in TAG_FILTER_FIELDS:
        if data.get(name) is not None:
            conditions += _tag_conditions(name, data[name])
    for name in DATE_FILTER_FIELDS:
        if data.get(name) is not None:
            conditions += _date_conditions(name, data[name])
    return conditions


# Operators whose values a result must carry: naming a value there is asking for it.
_NAMING_OPERATORS = ("eq", "any", "all", "in_")


def scoped_query(query: SearchQuery, data: dict[str, Any], scope: Scope) -> SearchQuery:
    """`query` (a SearchQuery of validated filters) narrowed to what `scope` may see, and
    tagged with its tenant (whose query-embedding cache entries it uses)."""
    scope.check_pinned_filter(data.get("namespace"), ["body", "namespace"])
    narrowing = []
    for name, allowed in (("namespace", scope.namespaces), ("user_id", scope.user_ids)):
        if allowed is None:
            continue
        spec = data.get(name) or {}
        for op in _NAMING_OPERATORS:
            value = spec.get(op)
            outside = sorted(v for v in ([value] if isinstance(value, str) else value or []) if v not in allowed)
            if outside:
                raise OutOfScope(
                    f"Filter {name}.{op} names {', '.join(map(repr, outside))}, outside this credential's scope."
                )
        narrowing.append(index.Condition(name, "any", tuple(sorted(allowed))))
    return dataclasses.replace(query, conditions=(*query.conditions, *narrowing), tenant=scope.tenant)


def _operators(
    name: str, spec: object, allowed: Sequence[str] | dict[str, str], kind: str
) -> Iterator[tuple[str, object, list[str | int]]]:
    """(operator, value, loc) for each operator of one filter; null values are skipped."""
    loc: list[str | int] = ["body", name]
    if not isinstance(spec, dict):
        raise field_error(loc, f"Must be an object with operators {', '.join(allowed)}.")
    for op, value in spec.items():
        if op not in allowed:
            raise field_error(
                [*loc, op], f"Unknown operator {op!r}; {kind} filters take {', '.join(allowed)}.", "unknown_operator"
            )
        if value is not None:
            yield op, value, [*loc, op]


def _tag_conditions(name: str, spec: object) -> list[index.Condition]:
    conditions = []
    for op, value, loc in _operators(name, spec, TAG_OPERATORS, "tag"):
        canonical = TAG_OPERATORS[op]
        single = canonical in _SINGLE_VALUE_OPERATORS
        if single and not isinstance(value, str):
            raise field_error(loc, "Must be a string.")
        values = [value] if single else value
        if not isinstance(values, list) or not values:
            raise field_error(loc, "Must be a non-empty list of strings.")
        for item in values:
            _check_tag_value(name, item, loc)
        conditions.append(index.Condition(name, canonical, tuple(values)))
    return conditions


def _check_tag_value(name: str, item: object, loc: list[str | int]) -> None:
    if not isinstance(item, str) or not item or len(item) > TAG_MAX_LENGTH or has_control_character(item):
        raise field_error(
            loc,
            f"Each value must be a non-empty string of at most {TAG_MAX_LENGTH} characters without control characters.",
        )
    if item != item.strip():  # RediSearch trims tags: " a" would match "a" (memory.api.fields)
        raise field_error(loc, "Each value must not start or end with whitespace.")
    if name in _CHOICES and item not in _CHOICES[name]:
        raise field_error(loc, f"{item!r} is not one of {', '.join(sorted(_CHOICES[name]))}.")


def _parse_date(value: object, loc: list[str | int]) -> datetime:
    if not isinstance(value, str):
        raise field_error(loc, "Must be an ISO 8601 datetime string.")
    try:
        parsed = datetime_decode(value)
    except ValueError:
        parsed = None
    if parsed is None:  # the codec reads "" as no date; a filter needs one
        raise field_error(loc, f"Invalid datetime {value[:60]!r}; use ISO 8601, e.g. 2024-05-01T12:00:00Z.")
    return parsed


def _date_conditions(name: str, spec: object) -> list[index.Condition]:
    conditions = []
    for op, value, loc in _operators(name, spec, DATE_OPERATORS, "date"):
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise field_error(loc, "Must be a list of two datetimes [start, end].")
            start, end = (_parse_date(v, [*loc, i]) for i, v in enumerate(value))
            if start > end:
                raise field_error(loc, "The start must not be after the end.")
            conditions.append(index.Condition(name, op, (start, end)))
        else:
            conditions.append(index.Condition(name, op, (_parse_date(value, loc),)))
    return conditions

"""Serializer fields, limits and request parsing shared by the API modules.

Length limits come from the model columns the values end up in, so the API refuses
what the database could not hold. Count limits (how many items one request may carry)
are settings, read whenever a serializer is built: DRF re-runs a field's `__init__`
with its original arguments on every copy, so a field that reads a setting in
`__init__` follows an override without a restart.
"""

import json
import re
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import Direction, OpenApiParameter, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from memory.api.errors import located
from memory.models import MemoryRecord, SourceMessage

if TYPE_CHECKING:  # drf_spectacular.openapi imports rest_framework.views, which loads the authentication classes
    from drf_spectacular.openapi import AutoSchema


def _column_length(model: type[models.Model], name: str) -> int:
    """The max_length of one of the model's text columns (each declares one)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.CharField) or field.max_length is None:
        raise ImproperlyConfigured(f"{model.__name__}.{name} is not a CharField with a max_length")
    return field.max_length


# A long-term record's id. A working-memory `memories[].id` becomes one on promotion,
# so it is held to the same length.
RECORD_ID_MAX_LENGTH = _column_length(MemoryRecord, "id")
# A conversation turn's id; records cite them in `extracted_from`.
MESSAGE_ID_MAX_LENGTH = _column_length(SourceMessage, "message_id")
# namespace, user_id and session_id share ScopeField, so it takes the tightest column.
SCOPE_MAX_LENGTH = min(_column_length(MemoryRecord, name) for name in ("namespace", "user_id", "session_id"))
# Topics and entities are index tags like the scope values, and as long.
TAG_MAX_LENGTH = SCOPE_MAX_LENGTH


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# A regex, not a loop over the characters: six times faster, and every scope value,
# tag and message id of a request is checked (issue 24).
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")


def has_control_character(value: str) -> bool:
    """C0 controls and DEL: RediSearch's tag syntax cannot take an escaped DEL (a search
    filtering on one was a syntax error, found by the filter property test)."""
    return _CONTROL_CHARACTER.search(value) is not None


def no_control_characters(value: str) -> None:
    """Index tags are joined with a control character, so a value must not hold one."""
    if has_control_character(value):
        raise serializers.ValidationError("Must not contain control characters.")


def no_surrounding_whitespace(value: str) -> None:
    """RediSearch trims a tag's leading and trailing whitespace when it indexes it, so
    " acme" would be stored as "acme" in the index and never match its own filter (and
    would match acme's); such a value is refused rather than silently changed (found by
    the filter property test)."""
    if value != value.strip():
        raise serializers.ValidationError("Must not start or end with whitespace.")


class TagValueField(StrictCharField):
    """A namespace, user, session, topic or entity value (an index tag), kept verbatim."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", TAG_MAX_LENGTH)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(validators=[no_control_characters, no_surrounding_whitespace], **kwargs)


class ScopeField(TagValueField):
    """namespace / user_id / session_id: optional; an empty string means none.

    Working memory and long-term memory share it because a session's scope becomes
    its records' scope on promotion."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_null=True, allow_blank=True, max_length=SCOPE_MAX_LENGTH, **kwargs)

    # The stubs fix a CharField's value to str; an empty scope is None here.
    def to_internal_value(self, data: object) -> str | None:  # type: ignore[override]
        return super().to_internal_value(data) or None


class SessionIdSerializer(serializers.Serializer[Any]):
    """A session id, whichever door it comes through (the REST path, an MCP tool, a
    memory's `session_id`): a tag value, since promotion makes it its records' scope."""

    session_id = TagValueField(max_length=SCOPE_MAX_LENGTH)


def validated_session_id(session_id: object, *, container: str = "path") -> str:
    """`session_id` checked by SessionIdSerializer; a 422 naming [container, "session_id"]."""
    valid: str = validated(SessionIdSerializer, {"session_id": session_id}, container)["session_id"]
    return valid


class MemoryTextField(StrictCharField):
    """A record's text or context, or a query: kept verbatim (whitespace is content),
    at most MEMORY_MAX_TEXT_CHARS; NUL is refused because PostgreSQL text columns
    cannot store it. Long-term and working memory share it: a session's memory becomes
    a record on promotion."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", settings.MEMORY_MAX_TEXT_CHARS)
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: object) -> str:
        value = super().to_internal_value(data)
        if "\x00" in value:
            raise serializers.ValidationError("Must not contain NUL characters.")
        return value


class NonBlankTextField(MemoryTextField):
    """A long-term record's text or a prompt's query: it must hold something besides
    whitespace (a session memory's text may be blank: promotion skips it)."""

    def to_internal_value(self, data: object) -> str:
        value = super().to_internal_value(data)
        if not value.strip():
            raise serializers.ValidationError("Must not be empty.")
        return value


class RecordIdField(StrictCharField):
    """A long-term record's id, or a session memory's (it becomes one on promotion): a
    control character in it (a newline) broke the history admin once stored."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", RECORD_ID_MAX_LENGTH)
        super().__init__(trim_whitespace=False, validators=[no_control_characters], **kwargs)


class PageLimitField(serializers.IntegerField):
    """A page size from 1 to the setting named by `max_setting`."""

    def __init__(self, *, max_setting: str, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=getattr(settings, max_setting), **kwargs)


class BoundedListField(serializers.ListField):
    """A list of at most as many items as the setting named by `max_setting`."""

    def __init__(self, *, max_setting: str, **kwargs: Any) -> None:
        super().__init__(max_length=getattr(settings, max_setting), **kwargs)


class _Bound(threading.local):
    """This thread's bound serializers by class, and the settings generation they were built in."""

    generation = -1
    by_class: dict[type[serializers.Serializer[Any]], serializers.Serializer[Any]]


_bound = _Bound()
_settings_generation = 0  # bumped by every setting change: a thread's older instances are dropped


def _drop_bound_serializers(**kwargs: Any) -> None:
    global _settings_generation
    _settings_generation += 1


# Fields read their limits from settings when built; `override_settings` (tests) sends this.
setting_changed.connect(_drop_bound_serializers, dispatch_uid="memory.api.fields.bound")


def bound(serializer_class: type[serializers.Serializer[Any]]) -> serializers.Serializer[Any]:
    """This thread's instance of `serializer_class`, its fields bound once.

    Building a serializer deep-copies and re-initialises every declared field: for a
    working-memory PUT, about forty fields per request, most of its validation cost
    (BENCHMARKS.md, "Speed and scale, round three"). Validation keeps no state on a
    serializer or its fields (`run_validation` only reads them; `is_valid` is what stores
    its input and result), so one instance per thread serves every request."""
    if _bound.generation != _settings_generation:
        _bound.generation, _bound.by_class = _settings_generation, {}
    serializer = _bound.by_class.get(serializer_class)
    if serializer is None:
        serializer = _bound.by_class[serializer_class] = serializer_class()
        serializer.fields  # noqa: B018 (binds the fields now, once)
    return serializer


def validated(
    serializer_class: type[serializers.Serializer[Any]], data: object, container: str = "body"
) -> dict[str, Any]:
    """`data` (a request's body or query, as plain values) through `serializer_class`; a
    422 naming [container, field] when it is invalid (the errors `serializer.errors` would
    hold), [container] when it is no object."""
    if not isinstance(data, dict):
        raise located(serializers.ValidationError("Must be a JSON object."), (container,))
    try:
        valid: dict[str, Any] = bound(serializer_class).run_validation(data)
    except serializers.ValidationError as exc:
        raise located(serializers.ValidationError(exc.detail), (container,)) from None
    return valid


def validated_query(request: Request, serializer_class: type[serializers.Serializer[Any]]) -> dict[str, Any]:
    """The request's query parameters through `serializer_class`; a 422 naming
    ["query", field] when they are invalid."""
    return validated(serializer_class, request.query_params.dict(), "query")


def tag_list(**kwargs: Any) -> BoundedListField:
    """Topics or entities of one record, or of one session memory: index tags, at most
    MEMORY_MAX_TAGS of them."""
    return BoundedListField(child=TagValueField(), max_setting="MEMORY_MAX_TAGS", **kwargs)


def id_list(max_length: int, **kwargs: Any) -> BoundedListField:
    """Ids a request refers to (extracted_from, pinned_ids), at most MEMORY_MAX_ID_LIST."""
    child = StrictCharField(max_length=max_length, validators=[no_control_characters])
    return BoundedListField(child=child, max_setting="MEMORY_MAX_ID_LIST", **kwargs)


# The extraction strategy a record names is an index tag (a search filter) and fits its column.
EXTRACTION_STRATEGY_MAX_LENGTH = _column_length(MemoryRecord, "extraction_strategy")


def extraction_strategy_field(**kwargs: Any) -> TagValueField:
    """A record's `extraction_strategy` (the reference's field, e.g. "discrete")."""
    return TagValueField(max_length=EXTRACTION_STRATEGY_MAX_LENGTH, **kwargs)


def _compact_json_bytes(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())


# What every response renders (orjson): integers of 64 bits, at most 254 levels of
# nesting. A record's JSON past either was stored and then broke every answer that
# carried it, a 500 (found by schema fuzzing); it is refused on the way in.
_JSON_INT_RANGE = (-(2**63), 2**64 - 1)
JSON_MAX_DEPTH = 64


def _json_problem(value: object, depth: int = 1) -> str | None:
    if depth > JSON_MAX_DEPTH:
        return f"Must nest at most {JSON_MAX_DEPTH} levels deep."
    if isinstance(value, int) and not isinstance(value, bool) and not _JSON_INT_RANGE[0] <= value <= _JSON_INT_RANGE[1]:
        return "Integers must fit in 64 bits."
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((p for p in (_json_problem(item, depth + 1) for item in items) if p), None)


@extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
class RecordJSONField(serializers.JSONField):
    """A record's `metadata` or `extraction_strategy_config`: a free JSON object (null is
    an empty one), at most MEMORY_METADATA_MAX_BYTES in its compact encoding (it is
    stored in the row and in every history snapshot, so it is bounded like the text),
    which every response can render (`_json_problem`)."""

    default_error_messages = {
        "not_an_object": "Must be a JSON object.",
        "too_large": "Must be at most {max_bytes} bytes as compact JSON (got {size}).",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.fail("not_an_object")
        try:
            size = _compact_json_bytes(data)
        except (ValueError, RecursionError):  # NaN or Infinity (not JSON), or nested past Python's limit
            self.fail("invalid")
        if size > settings.MEMORY_METADATA_MAX_BYTES:
            self.fail("too_large", max_bytes=settings.MEMORY_METADATA_MAX_BYTES, size=size)
        problem = _json_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return data


# --- What the schema says of these fields -------------------------------------------------------
#
# drf-spectacular maps a field's type and length limits, not what our validators refuse,
# so a client generated from the schema (and schemathesis) sent blank ids, control
# characters or whitespace-only text and got 422s. The extensions below declare each
# refusal: `minLength` and `pattern` for the text fields, `minItems`/`maxItems` for a
# batch, and a serializer's `schema_rules` for what its validation checks across fields.
#
# Schema patterns are ECMA-262 regexes, whose `\s` is not Python's, so whitespace is
# spelled out: every character `str.isspace()` is true of, which is what `str.strip()`
# removes (a test pins the list).
WHITESPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
CONTROL = r"\u0000-\u001f\u007f"  # has_control_character's
NUL = r"\u0000"  # every DRF CharField refuses it


def text_pattern(field: serializers.CharField, refused_too: str = "") -> str:
    """The non-blank strings `field` accepts (less `refused_too`), as an anchored ECMA-262
    pattern. A blank one is drf-spectacular's to declare: for an `allow_blank` field with
    a pattern it adds `oneOf: [pattern, maxLength 0]`, so the pattern must not match ""."""
    refused = (CONTROL if no_control_characters in field.validators else NUL) + refused_too
    char, edge = f"[^{refused}]", f"[^{refused}{WHITESPACE}]"
    trimmed = f"{edge}(?:{char}*{edge})?"  # no whitespace at either end
    if field.trim_whitespace:  # DRF strips the value before the validators see it
        spaces = f"[{WHITESPACE}]"
        return f"^{spaces}*{trimmed}{spaces}*$" + (f"|^{spaces}+$" if field.allow_blank else "")
    if no_surrounding_whitespace in field.validators:
        return f"^{trimmed}$"
    if isinstance(field, NonBlankTextField):
        return f"^{char}*{edge}{char}*$"
    return f"^{char}+$"


# drf-spectacular's extension classes register themselves in an unannotated __init_subclass__.
class TextFieldSchema(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """StrictCharField and its subclasses: a blank value and the refused characters."""

    target_class = StrictCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: "AutoSchema", direction: Direction) -> dict[str, Any]:
        # drf-spectacular's AutoSchema methods carry no annotations.
        schema: dict[str, Any] = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)  # type: ignore[no-untyped-call]
        if not self.target.allow_blank:
            schema["minLength"] = 1
        return {**schema, "pattern": text_pattern(self.target)}


class BatchSchema(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]  # as above
    """A nested `many=True` serializer (a batch): DRF checks its `allow_empty` and
    `max_length` itself, not through validators, so drf-spectacular leaves them out."""

    target_class = serializers.ListSerializer
    match_subclasses = True

    def map_serializer_field(self, auto_schema: "AutoSchema", direction: Direction) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)  # type: ignore[no-untyped-call]  # as above
        if not self.target.allow_empty:
            schema["minItems"] = max(1, self.target.min_length or 0)
        if self.target.max_length is not None:
            schema["maxItems"] = self.target.max_length
        return schema


class SerializerRulesSchema(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]  # as above
    """A serializer's `schema_rules` (JSON Schema keywords: `additionalProperties`,
    `minProperties`, `anyOf`): what its validation checks across fields, beside it.
    Its `properties` are added to the fields' (body values read without a field: filters)."""

    target_class = serializers.Serializer
    match_subclasses = True

    @classmethod
    def _matches(cls, target: Any) -> bool:
        return super()._matches(target) and hasattr(target, "schema_rules")

    def map_serializer(self, auto_schema: "AutoSchema", direction: Direction) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)  # type: ignore[no-untyped-call]  # as above
        rules = dict(self.target.schema_rules)
        properties = {**schema.get("properties", {}), **rules.pop("properties", {})}
        return {**schema, **rules, "properties": properties}


# Something besides whitespace, anywhere (unanchored): a message's role and content, a search's text.
HAS_CONTENT = f"[^{WHITESPACE}]"


def session_id_parameter() -> OpenApiParameter:
    """The path's `session_id`, as `validated_session_id` checks it; a "/" matches no route."""
    field = SessionIdSerializer().fields["session_id"]
    if not isinstance(field, serializers.CharField):  # a serializer's `fields` are typed as any Field
        raise TypeError(f"session_id is a CharField, not a {type(field).__name__}")
    schema = {"type": "string", "minLength": 1, "maxLength": field.max_length, "pattern": text_pattern(field, "/")}
    return OpenApiParameter("session_id", schema, OpenApiParameter.PATH)


def required_parameter(name: str, field: serializers.Field[Any, Any, Any, Any], description: str) -> OpenApiParameter:
    """A query parameter a view requires although its serializer's field is optional
    (the view says "name it" in its own words): `field`'s non-blank schema, required."""
    if not isinstance(field, serializers.CharField):  # a serializer's `fields` are typed as any Field
        raise TypeError(f"{name}: a required parameter is a CharField's, not a {type(field).__name__}'s")
    schema = {"type": "string", "minLength": 1, "maxLength": field.max_length, "pattern": text_pattern(field)}
    return OpenApiParameter(name, schema, required=True, description=description)


def at_least_one_of(**present: dict[str, Any]) -> dict[str, Any]:
    """`schema_rules` for "give at least one of these": each named field present, with
    the schema it must then match (a type, so that null does not count)."""
    return {"anyOf": [{"required": [name], "properties": {name: schema}} for name, schema in present.items()]}


def require_bodies(result: dict[str, Any], generator: object, request: Request | None, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: a request body whose schema refuses `{}`
    (`minProperties`, `anyOf`) is required; drf-spectacular only counts required fields,
    and a PATCH has none."""
    schemas = result.get("components", {}).get("schemas", {})
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            body = operation.get("requestBody")
            ref = (body or {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
            schema = schemas.get(ref.rpartition("/")[2], {})
            if schema.get("minProperties") or schema.get("anyOf"):
                body["required"] = True
    return result

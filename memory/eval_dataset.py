"""The labelled data set of offline evaluation: one JSON object per line,

    {"id": "...", "now": ISO8601, "messages": [{"role", "content", "created_at"}...],
     "gold": ["fact", ...], "forbidden": ["substring", ...]}

`created_at` of a message may be left out (it is then `now`), and so may `forbidden`.
Blank lines are skipped. Anything else is a DatasetError naming the line and the field,
so a typo in a hand-written set is found before any model is called.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from django.conf import settings

from memory.datetimes import datetime_decode
from memory.extraction import Turn

ROLES = ("user", "assistant", "system", "tool")
FIELDS = {"id", "now", "messages", "gold", "forbidden"}


class DatasetError(ValueError):
    """A line of the data set is not in the format; the message names the line and field."""


@dataclass(frozen=True)
class EvalExample:
    id: str
    now: datetime
    turns: list[Turn]
    gold: list[str]
    forbidden: list[str]


def shipped_datasets() -> list[Path]:
    """The data sets under benchmarks/data in this format (the benchmarks keep others there)."""
    found = []
    for path in sorted((Path(settings.BASE_DIR) / "benchmarks" / "data").glob("*.jsonl")):
        try:
            dataset_parse(path.read_bytes())
        except DatasetError:
            continue
        found.append(path)
    return found


def dataset_upload_check(*, size: int) -> None:
    """Raise DatasetError when an uploaded data set is larger than EVAL_UPLOAD_MAX_BYTES."""
    if size > settings.EVAL_UPLOAD_MAX_BYTES:
        limit = settings.EVAL_UPLOAD_MAX_BYTES
        raise DatasetError(f"the file is {size:,} bytes; at most {limit:,} are accepted (EVAL_UPLOAD_MAX_BYTES)")


def dataset_parse(content: bytes | str) -> list[EvalExample]:
    """Every example of the data set, in file order; raises DatasetError at the first bad line."""
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    examples: list[EvalExample] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        example = _example(number, line)
        if example.id in seen:
            raise DatasetError(
                f"line {number}: field 'id': {example.id!r} is already the id of line {seen[example.id]}"
            )
        seen[example.id] = number
        examples.append(example)
    if not examples:
        raise DatasetError("the data set has no examples")
    return examples


def _example(number: int, line: str) -> EvalExample:
    def fail(field: str, problem: str) -> NoReturn:
        raise DatasetError(f"line {number}: field {field!r}: {problem}")

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"line {number}: not valid JSON: {exc.msg} at char {exc.pos}") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"line {number}: expected a JSON object, not {type(data).__name__}")
    for name in sorted(FIELDS - {"forbidden"} - set(data)):
        fail(name, "missing")
    for name in sorted(set(data) - FIELDS):
        fail(name, f"unknown field; the fields are {', '.join(sorted(FIELDS))}")
    if not isinstance(data["id"], str) or not data["id"].strip():
        fail("id", "must be a non-empty string")
    now = _datetime(data["now"]) or fail("now", "must be an ISO 8601 date and time")
    messages = data["messages"]
    if not isinstance(messages, list) or not messages:
        fail("messages", "must be a non-empty list")
    turns = [_turn(number, position, message, now) for position, message in enumerate(messages)]
    gold, forbidden = _strings(data["gold"]), _strings(data.get("forbidden", []))
    if gold is None:
        fail("gold", "must be a list of non-empty strings (empty when nothing is worth remembering)")
    if forbidden is None:
        fail("forbidden", "must be a list of non-empty strings")
    return EvalExample(id=data["id"], now=now, turns=turns, gold=gold, forbidden=forbidden)


def _turn(number: int, position: int, message: object, now: datetime) -> Turn:
    where = f"messages[{position}]"

    def fail(field: str, problem: str) -> NoReturn:
        raise DatasetError(f"line {number}: field '{where}{field}': {problem}")

    if not isinstance(message, dict):
        fail("", "must be an object with role, content and created_at")
    if message.get("role") not in ROLES:
        fail(".role", f"must be one of {', '.join(ROLES)}, not {message.get('role')!r}")
    if not isinstance(message.get("content"), str):
        fail(".content", "must be a string")
    created_at = now
    if message.get("created_at") is not None:
        created_at = _datetime(message["created_at"]) or fail(".created_at", "must be an ISO 8601 date and time")
    # Ids as promotion gives turns: what the model cites in source_message_ids.
    return Turn(id=f"m{position + 1}", role=message["role"], content=message["content"], created_at=created_at)


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime_decode(value)
    except ValueError:
        return None


def _strings(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value):
        return [item.strip() for item in value]
    return None

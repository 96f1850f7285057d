"""Reading a reference deployment (agent-memory-server 0.15.x) from its Redis: SCAN in
batches (never KEYS), each key parsed into what our services write, or into an `Unmapped`
naming the key and why. Nothing here writes, to either Redis or our DB.

Layout: `memory.redis_keys.ams`. A record hash's `memory_hash` is not read (ours is our
dedup's hash); its `vector` is kept aside, for `--reuse-vectors` only. Its
`discrete_memory_extracted` goes to the import's history row (our records are never
re-extracted, so the API answers "t" for every record).
"""

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from memory.models import MemoryType
from memory.redis_keys import ams

RECORD_ID_MAX_LENGTH = 128
# Hash fields that map to a record field (by our name), read as they are written.
_TEXT_FIELDS = {"text": "text", "id_": "id", "session_id": "session_id", "user_id": "user_id", "namespace": "namespace"}
_TAG_FIELDS = ("topics", "entities", "extracted_from")
_TIME_FIELDS = ("created_at", "last_accessed", "updated_at", "persisted_at", "event_date")
_JSON_FIELDS = ("metadata", "extraction_strategy_config")
# Read for the history row or --reuse-vectors, or recomputed here (memory_hash: our hash).
_NOT_COPIED = ("vector", "memory_hash", "discrete_memory_extracted")
# A search on the reference counts an access: not a change of the record's content.
_NOT_DIGESTED = ("vector", "access_count", "last_accessed")
_KNOWN = {*_TEXT_FIELDS, *_TAG_FIELDS, *_TIME_FIELDS, *_JSON_FIELDS, *_NOT_COPIED}
_KNOWN |= {"memory_type", "pinned", "access_count", "extraction_strategy"}
# What a session memory keeps: the fields our PUT's MemoryRecordSerializer stores.
SESSION_MEMORY_FIELDS = (
    "id",
    "text",
    "session_id",
    "user_id",
    "namespace",
    "topics",
    "entities",
    "memory_type",
    "memory_hash",
    "discrete_memory_extracted",
    "extracted_from",
    "created_at",
    "updated_at",
    "last_accessed",
    "event_date",
    "persisted_at",
)
MESSAGE_FIELDS = ("id", "role", "content", "created_at", "persisted_at", "discrete_memory_extracted")
# Values a dropped field may hold without being worth a line in the report.
_DEFAULTS: tuple[Any, ...] = (None, False, 0, "", [], {}, "discrete")


@dataclass(frozen=True)
class Unmapped:
    key: str
    reason: str


@dataclass(frozen=True)
class SourceRecord:
    key: str
    # Our record fields (RECORD_FIELDS less context) plus updated_at, persisted_at, access_count.
    values: dict[str, Any]
    digest: str  # of the hash as read (less vector and access counts): a later edit on the reference shows
    discrete_memory_extracted: str
    notes: tuple[Unmapped, ...] = ()  # fields it had that we do not keep
    vector: bytes = b""  # the reference's embedding (float32), reused only when asked to


@dataclass(frozen=True)
class SourceSession:
    key: str
    session_id: str
    namespace: str | None
    user_id: str | None
    messages: list[dict[str, Any]]
    memories: list[dict[str, Any]]
    data: dict[str, Any] | None
    context: str | None
    ttl_seconds: int | None
    long_term_memory_strategy: dict[str, Any]
    notes: tuple[Unmapped, ...] = ()


@dataclass(frozen=True)
class SourceView:
    key: str
    values: dict[str, Any]  # the reference's SummaryView fields


@dataclass(frozen=True)
class SourcePartition:
    key: str
    view_id: str
    group_key: str
    group: dict[str, str]
    summary: str
    memory_count: int
    computed_at: datetime


@dataclass
class Reference:
    """A connection to the reference's Redis and how to walk it."""

    client: redis.Redis
    record_prefix: str = ams.DEFAULT_RECORD_PREFIX
    batch_size: int = 200
    namespaces: set[str] | None = None  # None: every namespace (and none)
    skipped_outside: dict[str, int] = field(default_factory=dict)

    @classmethod
    def connect(cls, url: str, **options: Any) -> "Reference":
        return cls(redis.Redis.from_url(url, decode_responses=False), **options)

    def batches(self, match: str) -> Iterator[list[bytes]]:
        """The keys matching `match`, `batch_size` at a time (SCAN; a key may repeat, as SCAN allows)."""
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=match, count=self.batch_size):
            batch.append(key)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def count(self, match: str) -> int:
        return sum(len(batch) for batch in self.batches(match))

    def selected(self, namespace: str | None, kind: str) -> bool:
        if self.namespaces is None or namespace in self.namespaces:
            return True
        self.skipped_outside[kind] = self.skipped_outside.get(kind, 0) + 1
        return False

    def record_namespaces(self) -> Iterator[str | None]:
        for batch in self.batches(ams.record_match(self.record_prefix)):
            pipe = self.client.pipeline(transaction=False)
            for key in batch:
                pipe.hget(key, "namespace")
            for value in pipe.execute():
                yield value.decode() or None if value is not None else None

    def records(self, keys: list[bytes]) -> list[SourceRecord | Unmapped]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return [record_parse(key.decode(), fields) for key, fields in zip(keys, pipe.execute(), strict=True)]

    def sessions(self, keys: list[bytes]) -> list[SourceSession | Unmapped]:
        found: list[SourceSession | Unmapped] = []
        for key in keys:
            name = key.decode()
            if name == ams.SESSION_MARKER:
                continue
            kind = _text(self.client.type(key))
            if kind == "ReJSON-RL":
                raw = self.client.execute_command("JSON.GET", key)
            elif kind == "string":  # an older release kept sessions as JSON strings
                raw = self._get(key)
            else:
                found.append(Unmapped(name, f"a {kind}, not a working-memory document"))
                continue
            found.append(session_parse(name, raw, self.client.pttl(key)))
        return found

    def _get(self, key: bytes) -> bytes | None:
        value = self.client.get(key)
        return value if isinstance(value, bytes) or value is None else str(value).encode()

    def views(self, keys: list[bytes]) -> list[SourceView | Unmapped]:
        return [view_parse(key.decode(), self._get(key)) for key in keys]

    def partitions(self, view_id: str) -> Iterator[SourcePartition | Unmapped]:
        for batch in self.batches(ams.partition_match(view_id)):
            for key in batch:
                yield partition_parse(key.decode(), view_id, self._get(key))


def _text(value: bytes | str | None) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value or ""


def _timestamp(raw: str) -> datetime | None:
    """The reference's timestamps: Unix seconds (a float), or ISO 8601 in older data."""
    if not raw:
        return None
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except (ValueError, OverflowError, OSError):
        parsed = datetime.fromisoformat(raw)  # ValueError: the caller lists it
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tags(raw: str) -> list[str]:
    """decode_tag_values of the reference: comma- (or, in older data, pipe-) separated."""
    return list(dict.fromkeys(part.strip() for part in re.split(r"[|,]", raw) if part.strip()))


def record_parse(key: str, fields: dict[bytes, bytes]) -> SourceRecord | Unmapped:
    """One record hash as our record's values, or why it cannot be one."""
    raw = {name.decode(): value for name, value in fields.items()}
    if not raw:
        return Unmapped(key, "the key vanished during the import")
    text = {name: _text(raw.get(name)) for name in (*_TEXT_FIELDS, *_TAG_FIELDS, *_TIME_FIELDS, *_JSON_FIELDS)}
    values: dict[str, Any] = {ours: text[theirs] or None for theirs, ours in _TEXT_FIELDS.items()}
    if not values["id"]:
        return Unmapped(key, "no id_ field")
    if len(values["id"]) > RECORD_ID_MAX_LENGTH:
        return Unmapped(key, f"id longer than {RECORD_ID_MAX_LENGTH} characters")
    if not (values["text"] or "").strip():
        return Unmapped(key, "empty text")
    memory_type = _text(raw.get("memory_type")) or MemoryType.MESSAGE  # the reference's default when absent
    if memory_type not in MemoryType.values:
        return Unmapped(key, f"unknown memory_type {memory_type!r}")
    values["memory_type"] = memory_type
    for name in _TAG_FIELDS:
        values[name] = _tags(text[name])
    for name in _TIME_FIELDS:
        try:
            values[name] = _timestamp(text[name])
        except ValueError:
            return Unmapped(key, f"{name} is not a timestamp: {text[name]!r}")
    if values["created_at"] is None:
        return Unmapped(key, "no created_at")
    for name in _JSON_FIELDS:
        try:
            values[name] = json.loads(text[name]) if text[name] else {}
        except json.JSONDecodeError:
            return Unmapped(key, f"{name} is not JSON")
        if not isinstance(values[name], dict):
            return Unmapped(key, f"{name} is not a JSON object")
    try:
        values["pinned"] = bool(int(_text(raw.get("pinned")) or 0))
        values["access_count"] = max(0, int(_text(raw.get("access_count")) or 0))
    except ValueError:
        return Unmapped(key, "pinned or access_count is not an integer")
    values["extraction_strategy"] = _text(raw.get("extraction_strategy")) or "discrete"
    values["last_accessed"] = values["last_accessed"] or values["created_at"]
    values["updated_at"] = values["updated_at"] or values["created_at"]
    digest_source = {name: _text(value) for name, value in sorted(raw.items()) if name not in _NOT_DIGESTED}
    notes = tuple(Unmapped(key, f"field {name} is not kept") for name in sorted(set(raw) - _KNOWN))
    return SourceRecord(
        key=key,
        values=values,
        digest=hashlib.sha256(json.dumps(digest_source, sort_keys=True).encode()).hexdigest(),
        discrete_memory_extracted=_text(raw.get("discrete_memory_extracted")) or "f",
        notes=notes,
        vector=raw.get("vector") or b"",
    )


def _dropped(key: str, where: str, item: dict[str, Any], kept: tuple[str, ...]) -> list[Unmapped]:
    return [
        Unmapped(key, f"{where}: field {name} is not kept")
        for name, value in sorted(item.items())
        if name not in kept and not any(value == default and type(value) is type(default) for default in _DEFAULTS)
    ]


def session_parse(key: str, raw: bytes | None, pttl: int) -> SourceSession | Unmapped:
    """One working-memory document, or why it cannot be a session here."""
    try:
        doc = json.loads(raw or b"null")
    except json.JSONDecodeError:
        return Unmapped(key, "not JSON")
    if not isinstance(doc, dict) or not doc.get("session_id"):
        return Unmapped(key, "no session_id")
    notes: list[Unmapped] = []
    messages = []
    for position, message in enumerate(doc.get("messages") or []):
        if not isinstance(message, dict) or not str(message.get("role") or "").strip():
            notes.append(Unmapped(f"{key}#messages[{position}]", "no role: message left out"))
            continue
        if not str(message.get("content") or "").strip():
            notes.append(Unmapped(f"{key}#messages[{position}]", "empty content: message left out"))
            continue
        messages.append({name: message.get(name) for name in MESSAGE_FIELDS})
        # The reference always gives one; stable, so a second run finds the same session.
        messages[-1]["id"] = message.get("id") or f"{doc['session_id']}-{position}"
        messages[-1]["discrete_memory_extracted"] = message.get("discrete_memory_extracted") or "f"
        notes += _dropped(key, f"messages[{position}]", message, MESSAGE_FIELDS)
    memories = []
    for position, memory in enumerate(doc.get("memories") or []):
        memories.append({name: memory.get(name) for name in SESSION_MEMORY_FIELDS})
        notes += _dropped(key, f"memories[{position}]", memory, SESSION_MEMORY_FIELDS)
    # The TTL the client set; the session then lives that long from the import (a write, as on the reference).
    ttl = doc.get("ttl_seconds") or (math.ceil(pttl / 1000) if pttl > 0 else None)
    return SourceSession(
        key=key,
        session_id=str(doc["session_id"]),
        namespace=doc.get("namespace") or None,
        user_id=doc.get("user_id") or None,
        messages=messages,
        memories=memories,
        data=doc.get("data"),
        context=doc.get("context"),
        ttl_seconds=ttl,
        long_term_memory_strategy=doc.get("long_term_memory_strategy") or {"strategy": "discrete", "config": {}},
        notes=tuple(notes),
    )


def view_parse(key: str, raw: bytes | None) -> SourceView | Unmapped:
    try:
        values = json.loads(raw or b"null")
    except json.JSONDecodeError:
        return Unmapped(key, "not JSON")
    if not isinstance(values, dict) or not values.get("id"):
        return Unmapped(key, "no id")
    return SourceView(key=key, values=values)


def partition_parse(key: str, view_id: str, raw: bytes | None) -> SourcePartition | Unmapped:
    try:
        values = json.loads(raw or b"null")
        computed_at = datetime.fromisoformat(values["computed_at"])
        group = {str(k): str(v) for k, v in values["group"].items()}
        return SourcePartition(
            key=key,
            view_id=view_id,
            group_key=ams.partition_key_of(key, view_id),
            group=group,
            summary=str(values.get("summary") or ""),
            memory_count=int(values.get("memory_count") or 0),
            computed_at=computed_at if computed_at.tzinfo else computed_at.replace(tzinfo=UTC),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return Unmapped(key, f"not a partition result ({type(exc).__name__})")

"""Parsing the reference's keys (memory.services.ams_import.source) for what its newer
releases and older data write, which 0.15.2 (tests/imports) does not: metadata and
extraction strategy fields, ISO timestamps, pipe-separated tags, and what cannot be mapped."""

from datetime import UTC, datetime

from memory.services.ams_import.source import SourceRecord, Unmapped, partition_parse, record_parse, session_parse


def _hash(**fields: str) -> dict[bytes, bytes]:
    base = {"id_": "r1", "text": "Alice likes tea", "memory_type": "semantic", "created_at": "1772443800.0"}
    return {k.encode(): v.encode() for k, v in {**base, **fields}.items()}


def test_a_newer_release_s_fields_are_kept():
    parsed = record_parse(
        "memory_idx:r1",
        _hash(
            metadata='{"source": "crm", "score": 3}',
            extraction_strategy="summary",
            extraction_strategy_config='{"max": 2}',
            topics="drinks|food",
            event_date="2026-03-05T14:00:00",
            pinned="1",
            access_count="7",
        ),
    )
    assert isinstance(parsed, SourceRecord)
    assert parsed.values["metadata"] == {"source": "crm", "score": 3}
    assert (parsed.values["extraction_strategy"], parsed.values["extraction_strategy_config"]) == (
        "summary",
        {"max": 2},
    )
    assert parsed.values["topics"] == ["drinks", "food"]
    assert parsed.values["event_date"] == datetime(2026, 3, 5, 14, tzinfo=UTC)
    assert (parsed.values["pinned"], parsed.values["access_count"]) == (True, 7)
    # Missing ones: the reference's own defaults.
    assert parsed.values["last_accessed"] == parsed.values["updated_at"] == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert parsed.notes == ()


def test_an_unknown_field_is_listed_and_the_record_kept():
    parsed = record_parse("memory_idx:r1", _hash(sentiment="positive"))
    assert isinstance(parsed, SourceRecord)
    assert parsed.notes == (Unmapped("memory_idx:r1", "field sentiment is not kept"),)


def test_the_digest_ignores_access_counts_and_the_vector():
    one = record_parse("k", _hash(access_count="0", last_accessed="1772443800.0", vector="a"))
    two = record_parse("k", _hash(access_count="5", last_accessed="1772530200.0", vector="b"))
    edited = record_parse("k", _hash(text="Alice likes coffee"))
    assert isinstance(one, SourceRecord) and isinstance(two, SourceRecord) and isinstance(edited, SourceRecord)
    assert one.digest == two.digest != edited.digest


def test_what_cannot_be_a_record_says_why():
    assert record_parse("k", {}) == Unmapped("k", "the key vanished during the import")
    assert record_parse("k", _hash(id_="")) == Unmapped("k", "no id_ field")
    assert record_parse("k", _hash(id_="x" * 129)) == Unmapped("k", "id longer than 128 characters")
    assert record_parse("k", _hash(text="  ")) == Unmapped("k", "empty text")
    assert record_parse("k", _hash(memory_type="procedural")) == Unmapped("k", "unknown memory_type 'procedural'")
    assert record_parse("k", _hash(created_at="")) == Unmapped("k", "no created_at")
    assert record_parse("k", _hash(event_date="soon")) == Unmapped("k", "event_date is not a timestamp: 'soon'")
    assert record_parse("k", _hash(metadata="{")) == Unmapped("k", "metadata is not JSON")
    assert record_parse("k", _hash(metadata="[1]")) == Unmapped("k", "metadata is not a JSON object")
    assert record_parse("k", _hash(pinned="yes")) == Unmapped("k", "pinned or access_count is not an integer")


def test_a_session_keeps_what_it_can_and_lists_the_rest():
    doc = (
        b'{"session_id": "s1", "namespace": "acme", "user_id": null, "ttl_seconds": null,'
        b' "messages": [{"role": "user", "content": "hi", "created_at": "2026-03-02T08:30:00Z", "mood": "glad"},'
        b' {"role": "", "content": "x"}, {"role": "user", "content": " "}],'
        b' "memories": [{"id": "m1", "text": "t", "pinned": true, "access_count": 0}]}'
    )
    parsed = session_parse("working_memory:acme:s1", doc, 90_500)
    assert not isinstance(parsed, Unmapped)
    assert parsed.ttl_seconds == 91  # none set: what was left of the key's TTL
    assert parsed.messages == [
        {
            "id": "s1-0",
            "role": "user",
            "content": "hi",
            "created_at": "2026-03-02T08:30:00Z",
            "persisted_at": None,
            "discrete_memory_extracted": "f",
        }
    ]
    assert [(n.key, n.reason) for n in parsed.notes] == [
        ("working_memory:acme:s1", "messages[0]: field mood is not kept"),
        ("working_memory:acme:s1#messages[1]", "no role: message left out"),
        ("working_memory:acme:s1#messages[2]", "empty content: message left out"),
        ("working_memory:acme:s1", "memories[0]: field pinned is not kept"),
    ]
    assert session_parse("k", b"[1]", -1) == Unmapped("k", "no session_id")
    assert session_parse("k", b"{", -1) == Unmapped("k", "not JSON")


def test_a_partition_result():
    parsed = partition_parse(
        "summary_view:v1:summary:user_id=alice",
        "v1",
        b'{"view_id": "v1", "group": {"user_id": "alice"}, "summary": "S", "memory_count": 2,'
        b' "computed_at": "2026-03-02T08:30:00Z"}',
    )
    assert not isinstance(parsed, Unmapped)
    assert (parsed.group_key, parsed.group, parsed.memory_count) == ("user_id=alice", {"user_id": "alice"}, 2)
    assert partition_parse("summary_view:v1:summary:x", "v1", b"{}") == Unmapped(
        "summary_view:v1:summary:x", "not a partition result (KeyError)"
    )

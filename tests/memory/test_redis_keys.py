"""memory.redis_keys: key names are deployed data, so every builder's output is pinned
here, byte for byte; and an authenticated write leaves exactly the documented keys in
the auth cache's Redis."""

import time

import pytest
from django_redis import get_redis_connection

from memory import redis_keys
from tests.helpers import put_session


def test_every_key_builder_gives_the_deployed_key(settings):
    settings.MEMORY_INDEX_PREFIX, settings.MEMORY_INDEX_NAME = "memory_record", "memory_records"
    owner = {"namespace": "a:b%", "user_id": "u/1"}
    assert [
        redis_keys.session_key("a:b%", "s-1"),
        redis_keys.summary_pending_key(None, "s-1"),
        redis_keys.listing_scope_key(namespace=None, user_id=None),
        redis_keys.listing_scope_key(namespace="ns", user_id=None),
        redis_keys.listing_scope_key(namespace=None, user_id="u1"),
        redis_keys.listing_scope_key(namespace="ns", user_id="u:1"),
        redis_keys.namespace_bytes_key("ns"),
        redis_keys.window_key(**owner, session_id="s 1"),
        redis_keys.promotion_windows_pattern(),
        redis_keys.owner_promotion_windows_pattern(**owner),
        redis_keys.throttle_key(kind="writes", credential="key-AbC", window=29_000_000),
        redis_keys.api_key_cache_key("AbC"),
        redis_keys.api_key_used_key("AbC"),
        redis_keys.dramatiq_messages_key(namespace="dramatiq", queue="default.DQ"),
        redis_keys.query_embedding_key(model="local/m", text="tea"),
        redis_keys.query_embedding_field(tenant="acme"),
        redis_keys.index_document_key("01J"),
        redis_keys.index_schema_key(),
    ] == [
        "wm:s:a%3Ab%25:s-1",
        "wm:summary-pending::s-1",
        "wm:idx",
        "wm:idx:ns:ns",
        "wm:idx:user:u1",
        "wm:idx:ns:ns:user:u%3A1",
        "wm:bytes:ns",
        "promotion:debounce:a%3Ab%25:u%2F1:s%201",
        "promotion:debounce:*",
        "promotion:debounce:a%3Ab%25:u%2F1:*",
        "auth:throttle:writes:key-AbC:29000000",
        "apikey:AbC",
        "apikey-used:AbC",
        "dramatiq:default.DQ.msgs",
        "embcache:local/m:a9f74d1ec36ebdeb2da3f6e5868090cd2a2d20b3dcca7b62f60304b1d3d9ef42:tenants",
        "acme",
        "memory_record:01J",
        "memory_records:schema",
    ]


@pytest.mark.django_db
def test_an_authenticated_write_leaves_the_documented_auth_cache_keys(api, api_key):
    prefix = api_key.partition(".")[0]
    before = int(time.time() // 60)
    put_session(api, "s-1", [{"role": "user", "content": "hi"}], namespace="ns")
    after = int(time.time() // 60)
    keys = sorted(get_redis_connection("auth").keys("*"))
    [throttle] = [key for key in keys if key.startswith(b"auth:throttle:")]
    assert keys == sorted([f"auth:1:apikey:{prefix}".encode(), f"auth:1:apikey-used:{prefix}".encode(), throttle])
    assert throttle.decode() in {f"auth:throttle:writes:key-{prefix}:{window}" for window in (before, after)}

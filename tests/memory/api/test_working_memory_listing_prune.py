"""The session listing bounds its work (issue 20): one call drops at most
WORKING_MEMORY_PRUNE_BATCH expired sessions from the indexes, and the listing is exact
meanwhile: an expired session still in an index is neither counted nor listed."""

from memory import redis_keys
from tests.helpers import wait_until

LIVE = ["live-0", "live-1", "live-2"]  # written in this order: listed newest first


def listing(api, query=""):
    return api.get(f"/v1/working-memory/?{query}").json()


def test_one_listing_drops_at_most_the_batch_and_never_lists_an_expired_session(api, redis_client, settings):
    settings.WORKING_MEMORY_PRUNE_BATCH = 5
    for session_id in LIVE:
        api.put(f"/v1/working-memory/{session_id}", {"namespace": "ns", "user_id": "alice"}, format="json")
    for i in range(12):  # after the live ones, so no PUT prunes them (none has expired yet)
        body = {"namespace": "ns", "user_id": "alice", "ttl_seconds": 1}
        assert api.put(f"/v1/working-memory/gone-{i}", body, format="json").status_code == 200
    keys = [redis_keys.session_key("ns", f"gone-{i}") for i in range(12)]
    wait_until(lambda: redis_client.exists(*keys) == 0, what="Redis to expire the 12 sessions")
    assert redis_client.zcard(redis_keys.EXPIRIES) == 12

    expected = {"sessions": LIVE[::-1], "total": 3}
    # Each call drops 5 expired entries: the listed scope's first, then any others
    # (out of every index), until none is left.
    for in_scope, everywhere in ((10, 12), (5, 12), (3, 9), (3, 4), (3, 0)):
        assert listing(api, "namespace=ns") == expected
        assert (redis_client.zcard("wm:idx:ns:ns"), redis_client.zcard(redis_keys.EXPIRIES)) == (in_scope, everywhere)
    # Every scope is exact, pages included, and the byte count is the live sessions'.
    assert listing(api) == expected
    assert listing(api, "user_id=alice&namespace=ns&limit=2&offset=1") == {"sessions": LIVE[1::-1], "total": 3}
    assert redis_client.zcard("wm:idx") == redis_client.zcard("wm:idx:user:alice") == 3
    live_bytes = sum(redis_client.hstrlen(redis_keys.session_key("ns", s), "doc") for s in LIVE)
    assert int(redis_client.get(redis_keys.namespace_bytes_key("ns"))) == live_bytes


def test_pages_skip_expired_sessions_while_a_backlog_remains(api, redis_client, settings):
    settings.WORKING_MEMORY_PRUNE_BATCH = 2
    for session_id in LIVE:
        api.put(f"/v1/working-memory/{session_id}", {"namespace": "ns"}, format="json")
    for i in range(3):
        api.put(f"/v1/working-memory/gone-{i}", {"namespace": "ns", "ttl_seconds": 1}, format="json")
    keys = [redis_keys.session_key("ns", f"gone-{i}") for i in range(3)]
    wait_until(lambda: redis_client.exists(*keys) == 0, what="Redis to expire the 3 sessions")
    # The expired sessions are the newest writes; one call drops two, and its first
    # page reads past the third.
    assert listing(api, "namespace=ns&limit=2") == {"sessions": ["live-2", "live-1"], "total": 3}
    assert redis_client.zcard("wm:idx:ns:ns") == 4

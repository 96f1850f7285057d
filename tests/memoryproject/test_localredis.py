"""memoryproject.localredis: the embedded Redis with the search and JSON modules."""

import redis

from memoryproject import localredis
from tests.helpers import free_port


def test_local_redis_persists_writes_across_a_clean_restart(tmp_path):
    port = free_port()
    assert localredis.start(port=port, data_dir=tmp_path) is True
    assert localredis.start(port=port, data_dir=tmp_path) is False  # reuses the running one
    client = redis.Redis(port=port)
    client.set("survives", "yes")
    localredis.stop(port=port)
    assert not localredis.answering(port)
    assert (tmp_path / "appendonlydir").is_dir()
    localredis.start(port=port, data_dir=tmp_path)
    try:
        assert redis.Redis(port=port).get("survives") == b"yes"
        assert localredis.missing_modules(redis.Redis(port=port)) == set()
    finally:
        localredis.stop(port=port)

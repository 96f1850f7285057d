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


def test_a_supervised_redis_killed_with_sigkill_is_restarted_from_its_aof(tmp_path):
    import os
    import signal

    from tests.helpers import wait_until

    port = free_port()
    localredis.start(port=port, data_dir=tmp_path)
    supervisor = localredis.Supervisor(port=port, data_dir=tmp_path, poll_seconds=0.05)
    supervisor.start()
    try:
        redis.Redis(port=port).set("acknowledged", "yes")  # no SHUTDOWN follows: only the AOF has it
        killed = localredis.server_pid(tmp_path)
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: supervisor.restarts == 1, timeout=30, what="the supervisor to restart Redis")
        assert localredis.server_pid(tmp_path) not in (None, killed)
        assert redis.Redis(port=port).get("acknowledged") == b"yes"
    finally:
        supervisor.stop()
        localredis.stop(port=port)
    assert not localredis.answering(port)  # a stopped supervisor restarts nothing

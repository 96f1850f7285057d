"""What the health check keeps between calls: a recent index drift figure, shared by every
API process through Redis (a write, so it is here and not among the selectors), and this
process's last healthy answer."""

import time
from dataclasses import dataclass

import redis

from memory.redis_client import get_redis
from memory.redis_keys import HEALTH_INDEX_DRIFT_KEY
from memory.selectors.health import dependency_problems
from memory.selectors.metrics import index_drift

HEALTH_DRIFT_MAX_AGE_SECONDS = 5
# A healthy answer is reused by its process for this long, so a dependency that fails is
# reported within a second (a failing one is never reused: every call probes again, and a
# recovery shows at once). Load balancers probe many times a second across processes; the
# probes (a DB round trip and two Redis ones) cost more than the rest of the request.
HEALTH_CHECK_MAX_AGE_SECONDS = 1.0


@dataclass(frozen=True)
class Health:
    problems: dict[str, str]  # each failing component's one-line reason (dependency_problems)
    index_drift: int | None  # None when something failed


# (monotonic time of the probe, the Redis client it went through, the drift it read).
_healthy: tuple[float, redis.Redis, int] | None = None


def recent_health() -> Health:
    """The dependencies' state and the index drift, probed at most HEALTH_CHECK_MAX_AGE_SECONDS
    ago by this process through the Redis client it uses now (another client, after a
    settings change, is probed afresh)."""
    global _healthy
    client, healthy = get_redis(), _healthy
    if healthy is not None and healthy[1] is client and time.monotonic() - healthy[0] < HEALTH_CHECK_MAX_AGE_SECONDS:
        return Health(problems={}, index_drift=healthy[2])
    probed_at = time.monotonic()
    problems = dependency_problems()
    if problems:
        _healthy = None
        return Health(problems=problems, index_drift=None)
    drift = recent_index_drift()
    _healthy = (probed_at, client, drift)
    return Health(problems={}, index_drift=drift)


def forget_recent_health() -> None:
    """Probe afresh on the next call (tests, after they change what is up)."""
    global _healthy
    _healthy = None


def recent_index_drift() -> int:
    """`index_drift` at most HEALTH_DRIFT_MAX_AGE_SECONDS old, shared by every API process
    through Redis: it reads every record id and every index key, too much for each health
    check (GET /metrics computes it fresh)."""
    client = get_redis()
    cached = client.get(HEALTH_INDEX_DRIFT_KEY)
    if cached is not None:
        return int(cached)
    drift = index_drift()
    client.set(HEALTH_INDEX_DRIFT_KEY, drift, ex=HEALTH_DRIFT_MAX_AGE_SECONDS)
    return drift

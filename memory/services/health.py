"""What the health check keeps between calls: a recent index drift figure, shared by every
API process through Redis (a write, so it is here and not among the selectors)."""

from memory.redis_client import get_redis
from memory.redis_keys import HEALTH_INDEX_DRIFT_KEY
from memory.selectors.metrics import index_drift

HEALTH_DRIFT_MAX_AGE_SECONDS = 5


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

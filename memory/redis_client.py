"""The process-wide Redis connection pool (one per process, shared by threads)."""

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    """Text client: keys and JSON documents as str."""
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=30)


@lru_cache(maxsize=1)
def get_redis_bytes() -> redis.Redis:
    """Binary client: vectors and RedisVL, which expect bytes."""
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=False, health_check_interval=30)

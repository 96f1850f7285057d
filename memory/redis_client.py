"""The process-wide Redis connection pool (one per process, shared by threads)."""

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

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


def text_fields(client: redis.Redis, key: str, *fields: str) -> list[str | None]:
    """HMGET through the text client: each field's value, None where it is missing
    (redis-py's types cannot tell a decoding client's replies from a binary one's)."""
    return [value.decode() if isinstance(value, bytes) else value for value in client.hmget(key, list(fields))]


def text_list(values: Iterable[Any]) -> list[str]:
    """A list reply of the text client (ZRANGE, SMEMBERS...) as the strings it holds."""
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]

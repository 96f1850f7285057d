"""Is every dependency the server needs answering?"""

import redis
from django.db import DatabaseError, connection

from memory.redis_client import get_redis

REQUIRED_REDIS_MODULES = {"search": "RediSearch (search)", "ReJSON": "RedisJSON (ReJSON)"}


def dependency_problems() -> dict[str, str]:
    """Map each failing component (`database`, `redis`, `search`) to a one-line reason."""
    problems: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        problems["database"] = f"database unavailable: {exc}".strip()
    client = get_redis()
    try:
        # MODULE LIST fails as a PING would when Redis is down: one round trip, not two.
        loaded = {m["name"] for m in client.execute_command("MODULE", "LIST")}
    except redis.RedisError as exc:
        problems["redis"] = f"redis unavailable at {_safe_url(client)}: {exc}"
        return problems
    missing = [label for name, label in REQUIRED_REDIS_MODULES.items() if name not in loaded]
    if missing:
        problems["search"] = f"redis at {_safe_url(client)} lacks module(s): {', '.join(missing)}"
    return problems


def _safe_url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"

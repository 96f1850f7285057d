"""Key families of agent-memory-server 0.15.x (the reference), read by `manage.py import_ams`
from ITS Redis, never ours (its agent_memory_server/utils/keys.py and summary_views.py):

- `{prefix}:{id}` (hash; prefix its REDISVL_INDEX_PREFIX, `memory_idx` by default): one
  long-term record, fields `id_`, `text`, owner fields ("" for none), timestamps as Unix
  seconds, tags comma-separated, `vector` (float32 bytes).
- `working_memory:[{ns}:][{user}:]{session_id}` (RedisJSON; TTL = the session's
  `ttl_seconds`): one session. `working_memory:migration:complete` is a marker, not a session.
- `summary_view:{id}:config` (string, JSON): a summary view;
  `summary_view:{id}:summary:{partition_key}` (string, JSON): a partition's latest result.
- `auth_token:{hash}` (hash): its own API tokens, which do not carry over.
"""

DEFAULT_RECORD_PREFIX = "memory_idx"
SESSION_MATCH = "working_memory:*"
SESSION_MARKER = "working_memory:migration:complete"
VIEW_CONFIG_MATCH = "summary_view:*:config"
AUTH_TOKEN_MATCH = "auth_token:*"


def record_match(prefix: str) -> str:
    return f"{prefix}:*"


def partition_match(view_id: str) -> str:
    return f"summary_view:{view_id}:summary:*"


def partition_key_of(key: str, view_id: str) -> str:
    """The partition key (the encoded group) a result key ends with."""
    return key.removeprefix(f"summary_view:{view_id}:summary:")


# The families of the other keys a reference holds, and why the import leaves them.
FAMILY_REASONS = {
    "memory-server": "the reference's task queue (docket): its pending work is not carried over",
    "messages": "an older release's session messages: upgrade the reference to 0.15 (it migrates them) first",
    "context": "an older release's session context: upgrade the reference to 0.15 (it migrates them) first",
    "metadata": "an older release's session metadata: upgrade the reference to 0.15 (it migrates them) first",
    "tokens": "an older release's session token count: upgrade the reference to 0.15 (it migrates them) first",
    "sessions": "an older release's session listing: upgrade the reference to 0.15 (it migrates them) first",
}
_IMPORTED = ("working_memory", "summary_view", "auth_token", "auth_tokens")


def family(key: str, record_prefix: str) -> str | None:
    """The family of a key the import does not read (its first `:` part), None for one it does."""
    name = key.split(":", 1)[0]
    return None if name in _IMPORTED or name == record_prefix else name

"""Who made a change: the `actor` every history row and receipt names.

- `admin:<username>`: a person in the Django admin (`admin_actor`);
- `api:<credential>`: a REST caller (`memory.api.auth.request_actor`): `api:anonymous`
  while AUTH_MODE is disabled, `api:key-<prefix>` for an API key (the prefix is the
  public part of the key), `api:jwt-<tenant>/<sub>` for a JWT;
- `mcp:<credential>`: an MCP tool caller (`memory.mcp.scope.mcp_caller`): `mcp:key-<prefix>`,
  `mcp:anonymous` while AUTH_MODE is disabled;
- `system:<process>`: the server itself, e.g. `system:promotion` for the worker's
  extraction, `system:sweep` for the periodic purge of expired snapshots.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

SYSTEM_PROMOTION = "system:promotion"
SYSTEM_SWEEP = "system:sweep"
COMMAND_LINE = "system:command-line"


def admin_actor(user: "AbstractBaseUser | AnonymousUser") -> str:
    return f"admin:{user.get_username()}"

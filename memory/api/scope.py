"""What a request may touch: the ONE place a credential becomes a scope.

A scope is a tenant, its namespaces (or every namespace, for an operator key or while
AUTH_MODE is disabled), optionally fixed user ids, and permissions (read, write,
delete, review). Views ask it three kinds of question:

- a namespace or user the caller *named*: outside the scope is a 403 that says so
  (`namespace`, `user`), never an empty result that hides the denial;
- a namespace or user the caller left out: the key's only one is used; a key with
  several must name one (422), except where the route can narrow to all of them
  (search, see `memory.api.filters.scope_conditions`);
- a record or history entry found by id: outside the scope it does not exist for this
  caller (`allows`), so the view answers 404 and changes nothing.

A scope may be pinned to one of its namespaces (`pinned`): an MCP server reached at
`/{namespace}/mcp` or run with MCP_NAMESPACE acts there only, and a request naming
another namespace is refused with a `PinConflict` naming the argument. The operations
(`memory.api.long_term.operations`, ...) see only the scope, never which door asked.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.request import Request

# `review` changes a memory's review status (approve, reject): a reviewer's, not an agent's.
PERMISSIONS = ("read", "write", "delete", "review")


class OutOfScope(exceptions.PermissionDenied):
    """A 403 naming what was outside the credential's scope."""


class PinConflict(OutOfScope):
    """A 403: the request names a namespace other than the one the scope is pinned to.
    `loc` names the field, as a validation error's does (a tool error names the argument)."""

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc = tuple(loc)


@dataclass(frozen=True)
class Scope:
    tenant: str
    # None: every namespace (an operator key, or AUTH_MODE=disabled).
    namespaces: frozenset[str] | None
    # None: any user.
    user_ids: frozenset[str] | None
    permissions: frozenset[str]
    # How history names the caller (`memory.actor_names`), e.g. "key-AbCd1234".
    credential: str
    # What rate limits count by; None while AUTH_MODE is disabled.
    throttle_id: str | None = None
    # The one namespace this scope is pinned to (`pinned`); None: not pinned.
    pin: str | None = None

    @classmethod
    def unrestricted(cls, *, credential: str) -> "Scope":
        return cls(tenant="", namespaces=None, user_ids=None, permissions=frozenset(PERMISSIONS), credential=credential)

    @property
    def actor(self) -> str:
        return f"api:{self.credential}"

    def pinned(self, namespace: str, loc: Sequence[str | int]) -> "Scope":
        """This scope narrowed to `namespace` (which must lie inside it, else a 403): an
        absent namespace means it, another one is a `PinConflict`."""
        self.namespace(namespace, loc)
        return dataclasses.replace(self, namespaces=frozenset([namespace]), pin=namespace)

    def check_pinned_filter(self, spec: object, loc: Sequence[str | int]) -> None:
        """A search's namespace filter under a pin: absent, or naming the pin alone."""
        if self.pin is None or spec is None:
            return
        asked = {k: v for k, v in spec.items() if v is not None} if isinstance(spec, dict) else spec
        if asked not in ({"eq": self.pin}, {"any": [self.pin]}, {"in_": [self.pin]}):
            raise PinConflict(
                loc,
                f"this MCP server is pinned to namespace {self.pin!r}; "
                f"the filter {spec!r} asks for more or other namespaces.",
            )

    def allows(self, *, namespace: str | None, user_id: str | None) -> bool:
        """Whether a stored record or session of this namespace and user is visible."""
        if self.namespaces is not None and namespace not in self.namespaces:
            return False
        return self.user_ids is None or user_id in self.user_ids

    def namespace(self, value: str | None, loc: Sequence[str | int], *, required: bool = False) -> str | None:
        """The namespace a request acts in: the one named (403 outside the scope), else the
        key's only namespace; 422 when one must be named (`required`, or several to choose).
        Under a pin, another namespace is a `PinConflict` and an absent one is the pin."""
        if self.pin is not None and value is not None and value != self.pin:
            raise PinConflict(loc, f"this MCP server is pinned to namespace {self.pin!r}, not {value!r}.")
        if self.pin is not None and value is None:
            return self.pin
        if value is not None:
            if self.namespaces is not None and value not in self.namespaces:
                raise OutOfScope(f"Namespace {value!r} is outside this credential's scope ({self._namespaces_said()}).")
            return value
        if required:
            raise _missing(loc, "Required: name the namespace to act in.")
        if self.namespaces is None:
            return None
        if len(self.namespaces) == 1:
            return next(iter(self.namespaces))
        raise _missing(loc, f"Required: this credential has several namespaces ({self._namespaces_said()}).")

    def user(self, value: str | None, loc: Sequence[str | int], *, required: bool = False) -> str | None:
        """The user a request acts for, by the same rules as `namespace`; a key not bound
        to users leaves an absent user absent (any user), unless `required`."""
        if value is not None:
            if self.user_ids is not None and value not in self.user_ids:
                raise OutOfScope(f"User {value!r} is outside this credential's scope.")
            return value
        if self.user_ids is None:
            return None
        if len(self.user_ids) == 1 and not required:
            return next(iter(self.user_ids))
        raise _missing(loc, "Required: this credential is bound to users; name the user_id.")

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise exceptions.PermissionDenied(
                f"This credential may not {permission} (its permissions: {self.permissions_said})."
            )

    @property
    def permissions_said(self) -> str:
        return ", ".join(p for p in PERMISSIONS if p in self.permissions) or "none"

    def _namespaces_said(self) -> str:
        return "namespaces " + ", ".join(sorted(self.namespaces)) if self.namespaces is not None else "every namespace"


def _missing(loc: Sequence[str | int], msg: str) -> exceptions.ValidationError:
    # Imported here: memory.api.errors imports rest_framework.views, which loads the
    # authentication classes (memory.api.auth -> this module) from settings.
    from memory.api.errors import field_error

    return field_error(loc, msg, "missing")


def request_scope(request: Request) -> Scope:
    """The scope `memory.api.auth` derived from the request's credential."""
    if isinstance(request.auth, Scope):
        return request.auth
    # Reached only while AUTH_MODE is disabled: HasScopePermission refuses anything else.
    return Scope.unrestricted(credential="anonymous")

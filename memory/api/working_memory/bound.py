"""Working memory's serializers, built once per thread and reused by every request.

Building a DRF serializer deep-copies and binds each of its declared fields (DRF re-runs
each field's `__init__` on the copy): for `WorkingMemoryPutSerializer`, with its nested
memory and strategy serializers, about forty fields per PUT, and most of a PUT's or GET's
validation cost before this module (issue 24's profile). Validation keeps no state on a
serializer or its fields (`run_validation` only reads them; `is_valid` is what stores its
input and result), so one bound instance per thread serves every request. Fields that
read a setting in `__init__` (WORKING_MEMORY_MAX_TTL_SECONDS, MEMORY_MAX_TEXT_CHARS,
MEMORY_MAX_TAGS, ...) still follow a change: every instance is dropped when a setting
changes (Django's `setting_changed`, which `override_settings` sends).

`valid` and `valid_session_id` answer exactly what `memory.api.fields.validated` and
`validated_session_id` answer, errors included (`tests/memory/api/
test_working_memory_validation.py` pins the bodies).
"""

import threading
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework import serializers

from memory.api.errors import located
from memory.api.fields import SessionIdSerializer

_generation = 0  # bumped by every setting change; a thread's instances of an older one are dropped


class _Instances(threading.local):
    """This thread's serializers by class, and the settings generation they were built in."""

    generation = -1
    by_class: dict[type[serializers.Serializer[Any]], serializers.Serializer[Any]]


_instances = _Instances()


@receiver(setting_changed)
def _drop_instances(**kwargs: Any) -> None:
    global _generation
    _generation += 1


def _instance(serializer_class: type[serializers.Serializer[Any]]) -> serializers.Serializer[Any]:
    if _instances.generation != _generation:
        _instances.generation, _instances.by_class = _generation, {}
    serializer = _instances.by_class.get(serializer_class)
    if serializer is None:
        serializer = _instances.by_class[serializer_class] = serializer_class()
        serializer.fields  # noqa: B018 (binds the fields now, once)
    return serializer


def _run(serializer_class: type[serializers.Serializer[Any]], data: dict[str, Any], container: str) -> dict[str, Any]:
    """`data` through this thread's `serializer_class`, as `is_valid` runs it, or a 422
    naming [container, field] with the errors `serializer.errors` would hold."""
    try:
        valid: dict[str, Any] = _instance(serializer_class).run_validation(data)
    except serializers.ValidationError as exc:
        raise located(serializers.ValidationError(exc.detail), (container,)) from None
    return valid


def valid(serializer_class: type[serializers.Serializer[Any]], data: object, container: str = "body") -> dict[str, Any]:
    """`memory.api.fields.validated`, on this thread's bound `serializer_class`."""
    if not isinstance(data, dict):
        raise located(serializers.ValidationError("Must be a JSON object."), (container,))
    return _run(serializer_class, data, container)


def valid_session_id(session_id: object) -> str:
    """`memory.api.fields.validated_session_id` (a path's session id), on this thread's
    bound `SessionIdSerializer`."""
    session: str = _run(SessionIdSerializer, {"session_id": session_id}, "path")["session_id"]
    return session

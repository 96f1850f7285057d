"""How datetimes cross every boundary: the wire, working-memory JSON, history snapshots,
job arguments and the LLM prompt. One form out, one parser in.

- `datetime_encode`: ISO 8601 in UTC with a trailing `Z` (as the reference server writes).
- `datetime_decode`: ISO 8601 with `Z`, an offset, or none (naive means UTC), or a
  datetime already; always returns an aware datetime. Raises ValueError otherwise.
"""

from datetime import UTC, datetime
from typing import overload


@overload
def datetime_encode(value: datetime) -> str: ...
@overload
def datetime_encode(value: None) -> None: ...
@overload
def datetime_encode(value: datetime | None) -> str | None: ...
def datetime_encode(value: datetime | None) -> str | None:
    """`2024-05-01T12:00:00Z`; None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def datetime_decode(value: str | datetime | None) -> datetime | None:
    """An aware datetime; None or "" is None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    elif not isinstance(value, datetime):
        raise ValueError(f"not a datetime: {value!r}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)

"""The review desk in the Django admin. Importing the package registers its admins:
memories (`records`: changelist, change page with provenance, the review view and undo
from `review`, bulk actions from `actions`), the read-only audit trail (`audit`) and API
keys (`keys`)."""

from memory.admin import audit, keys, records

__all__ = ["audit", "keys", "records"]

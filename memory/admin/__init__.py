"""The review desk in the Django admin. Importing the package registers its admins:
memories (`records`: changelist, change page with provenance, the review view and undo
from `review`, bulk actions from `actions`) and the read-only audit trail (`audit`)."""

from memory.admin import audit, records

__all__ = ["audit", "records"]

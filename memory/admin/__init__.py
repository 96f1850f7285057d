"""The review desk in the Django admin. Importing the package registers its admins:
memories (`records`: changelist, change page with provenance, the review view and undo
from `review`, bulk actions from `actions`), the read-only audit trail (`audit`), API
keys (`keys`) and summary views with their partitions, runs and tasks (`summary_views`)."""

from memory.admin import audit, keys, records, summary_views

__all__ = ["audit", "keys", "records", "summary_views"]

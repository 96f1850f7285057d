"""Admin of extraction policies, one module per concern: `versions` (policies and their
versions), `runs` (extraction runs), and, as they land, experiments and evaluations."""

from policies.admin import evaluations, experiments, runs, versions  # noqa: F401  (registers the model admins)

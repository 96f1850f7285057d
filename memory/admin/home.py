"""The admin's home page: what needs attention, by role (issue 23).

A section per role, decided by permission rather than group name: review
(`memory.change_memoryrecord`), policies (`policies.change_policyversion`), operations
(superusers). Each figure comes from an aggregate selector and links to the changelist,
filtered with that list's own parameters, whose count is the figure. The markup contract
(ids, `data-figure` names) is in templates/admin/index.html, which renders this dict."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from memory.admin.filters import NONE_VALUE
from memory.selectors import home as memory_home
from memory.selectors.health import dependency_problems
from memory.selectors.metrics import extraction_lag_seconds
from policies.models import PolicyEvaluation
from policies.selectors import home as policies_home
from workers.queue import queue_depths

REVIEW_PERMISSION = "memory.change_memoryrecord"
POLICIES_PERMISSION = "policies.change_policyversion"


def home_context(request: HttpRequest) -> dict[str, Any]:
    """The figures the signed-in user's roles may see, for templates/admin/index.html:
    `home_review`, `home_policies`, `home_operations`, each None when the role is not theirs."""
    user = request.user
    now = timezone.now()
    return {
        "home_review": _review(now=now) if user.has_perm(REVIEW_PERMISSION) else None,
        "home_policies": _policies() if user.has_perm(POLICIES_PERMISSION) else None,
        "home_operations": _operations(now=now) if user.is_active and user.is_superuser else None,
    }


def _url(name: str, *args: object, **query: str | int) -> str:
    url = reverse(f"admin:{name}", args=args)
    return f"{url}?{urlencode(query)}" if query else url


def in_words(seconds: float) -> str:
    """An age or lag in the largest whole unit: "3 days", "1 hour", "12 minutes", "40 seconds"."""
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            n = seconds // size
            return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
    raise AssertionError("unreachable")


# --- Review --------------------------------------------------------------------------------


def _review(*, now: datetime) -> dict[str, Any]:
    pending = memory_home.pending_by_namespace()
    rows = [
        {
            "figure": f"pending:{row.namespace}",
            "namespace": row.namespace,
            "count": row.count,
            "oldest": in_words((now - row.oldest).total_seconds()),
            "url": _url("memory_memoryrecord_changelist", status="pending", namespace=row.namespace or NONE_VALUE),
        }
        for row in pending
    ]
    start = {"status": "pending"}
    if len(pending) == 1:
        start["namespace"] = pending[0].namespace or NONE_VALUE
    empty = ""
    if not pending:
        empty = "nothing-pending" if memory_home.memories_exist() else "no-memories"
    return {
        "pending": rows,
        "conflicts": {
            "count": memory_home.pending_with_conflicts().count(),
            "url": _url("memory_memoryrecord_changelist", status="pending", conflicts__isnull="False"),
        },
        "start_url": _url("memory_memoryrecord_review", **start),
        "empty": empty,
    }


# --- Policies ------------------------------------------------------------------------------


def _policies() -> dict[str, Any]:
    rows = []
    for standing in policies_home.policy_standings():
        version_id = standing.published_version_id
        evaluation = standing.last_evaluation
        rows.append(
            {
                "name": standing.name,
                "published": f"v{standing.published_number}" if version_id else "none",
                "published_url": _url("policies_policyversion_change", version_id) if version_id else "",
                "drafts": standing.drafts,
                "drafts_url": _url(
                    "policies_policyversion_changelist",
                    policy__id__exact=standing.policy_id,
                    publish_events__isnull="True",
                ),
                "evaluation": evaluation_words(evaluation) if evaluation else "never evaluated",
                "evaluation_url": _url("policies_policyevaluation_change", evaluation.pk) if evaluation else "",
            }
        )
    experiments = [
        {
            "id": running.experiment.pk,
            "name": running.experiment.key,
            "verdict": running.verdict,
            "url": _url("policies_experiment_results", running.experiment.pk),
        }
        for running in memory_home.running_experiments()
    ]
    return {"policies": rows, "experiments": experiments, "llm_configured": bool(settings.LLM_MODEL)}


def evaluation_words(evaluation: PolicyEvaluation) -> str:
    """An evaluation's outcome in words: its scores, its progress or why it failed."""
    status = evaluation.status
    if status == PolicyEvaluation.Status.SUCCEEDED:
        scores = [(name, getattr(evaluation, name)) for name in ("f1", "precision", "recall")]
        shown = ", ".join(f"{name} {value:.2f}" for name, value in scores if value is not None)
        return f"succeeded on {evaluation.dataset_name}: {shown or 'no scores'}"
    if status == PolicyEvaluation.Status.FAILED:
        reason = (evaluation.error.splitlines() or [""])[0][:120]
        return f"failed on {evaluation.dataset_name}" + (f": {reason}" if reason else "")
    return f"{status} on {evaluation.dataset_name} ({evaluation.examples_done} of {evaluation.examples_total})"


# --- Operations ----------------------------------------------------------------------------


def _operations(*, now: datetime) -> dict[str, Any]:
    since = now - policies_home.FAILED_RUNS_WINDOW
    lag = extraction_lag_seconds(now=now)
    drift = memory_home.index_drift()
    return {
        "failed_runs": policies_home.failed_runs_since(since=since),
        "failed_runs_url": _url(
            "policies_extractionrun_changelist", status="failed", started_at__gte=since.isoformat()
        ),
        "lag": in_words(lag) if lag >= 1 else "none",
        "queue_depth": sum(queue_depths().values()),
        "drift": abs(drift),
        "drift_extra": drift < 0,  # more documents than records: deleted records still indexed
        "usage": [
            {
                "figure": f"usage:{row.policy}:v{row.number}",
                "label": f"{row.policy} v{row.number}",
                "tokens_today": row.tokens_today,
                "tokens_month": row.tokens_month,
                "cost_today": _cost(row.cost_today),
                "cost_month": _cost(row.cost_month),
            }
            for row in policies_home.usage_by_version(now=now)
        ],
        "stale_views": len(memory_home.stale_summary_view_ids(now=now)),
        "stale_views_url": _url("memory_summaryview_changelist", stale="yes"),
        "health": _health(now=now),
    }


def _cost(value: Decimal) -> str:
    return f"{value:.4f}"


def _health(*, now: datetime) -> list[dict[str, str]]:
    """(component, "ok" or a short problem) for redis, database, worker, llm: no provider call."""
    problems = dependency_problems()
    # A live worker fetches (and so heartbeats) every second or so even when idle; past the
    # broker's heartbeat timeout Dramatiq itself presumes it dead and redelivers its messages.
    silence = round(settings.DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS)
    last_beat = memory_home.worker_last_heartbeat(now=now) if "redis" not in problems else None
    if "redis" in problems:
        worker = "unknown: Redis is unavailable"
    elif last_beat is None or last_beat > silence:
        worker = f"no worker seen in {silence} s"
    else:
        worker = "ok"
    if not settings.LLM_MODEL:
        llm = "not configured"
    else:
        failure = policies_home.last_model_run_failure()
        llm = f"last run failed: {failure}" if failure else "ok"
    states = (
        ("redis", "Redis", problems.get("redis") or problems.get("search") or "ok"),
        ("database", "Database", problems.get("database") or "ok"),
        ("worker", "Worker", worker),
        ("llm", "LLM provider", llm),
    )
    return [{"name": name, "label": label, "state": state} for name, label, state in states]

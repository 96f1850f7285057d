"""The results page's words and numbers: each variant's figures as the table shows them,
the verdicts, the rejection reasons and the two charts. Formatting only; the figures come
from memory.selectors.experiment_results."""

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from memory.selectors.experiment_results import ExperimentResults, VariantResult
from policies.charts import ApprovalSeries, approval_chart, cost_chart

DASH = "—"


def _percent(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def _number(value: float | None, digits: int = 0) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def _usd(value: Decimal | None) -> str:
    return DASH if value is None else f"${value:.4f}"


def _row(result: VariantResult) -> dict[str, Any]:
    figures = result.figures
    interval = figures.approval_interval
    return {
        "name": result.variant.name,
        "version": result.variant.version,
        "weight": result.variant.weight,
        "is_control": result.is_control,
        "sessions": result.sessions,
        "runs": figures.runs,
        "failed_runs": figures.failed_runs,
        "messages": figures.messages,
        "memories": figures.memories_created,
        "memories_per_100": _number(figures.memories_per_100_messages, 1),
        "approved": figures.approved,
        "reviewed": figures.reviewed,
        "approval_rate": _percent(figures.approval_rate),
        "approval_interval": DASH if interval is None else f"{_percent(interval.low)} – {_percent(interval.high)}",
        "duplicate_rate": _percent(figures.duplicate_rate),
        "tokens_per_run": _number(figures.tokens_per_run),
        "cost_per_run": _usd(figures.cost_per_run),
        "cost_per_100": _usd(figures.cost_per_100_messages),
        "latency_p50": _number(figures.latency_p50_ms),
        "latency_p95": _number(figures.latency_p95_ms),
        "rejection_reasons": figures.rejection_reasons,
        "verdict": result.verdict,
    }


def _approval_series(result: VariantResult) -> ApprovalSeries:
    # Every day listed has a decision (reviewed > 0), so a rate and an interval.
    days = [(d, interval) for d in result.daily if (interval := d.interval) is not None]
    return ApprovalSeries(
        name=result.variant.name,
        days=[d.day for d, _ in days],
        rates=[d.approved / d.reviewed for d, _ in days],
        lows=[interval.low for _, interval in days],
        highs=[interval.high for _, interval in days],
    )


def results_context(results: ExperimentResults) -> dict[str, Any]:
    experiment = results.experiment
    # The evaluation admin's compare view; by path, so this page stands without it.
    compare = reverse("admin:index") + "policies/policyevaluation/compare/?" + urlencode({"experiment": experiment.pk})
    costs = [r.figures.cost_per_100_messages for r in results.variants]
    return {
        "experiment": experiment,
        "control": results.control,
        "rows": [_row(r) for r in results.variants],
        "approval_chart": approval_chart([_approval_series(r) for r in results.variants]),
        "cost_chart": cost_chart(
            [r.variant.name for r in results.variants], [None if c is None else float(c) for c in costs]
        ),
        "compare_url": compare,
        "experiment_url": reverse("admin:policies_experiment_change", args=[experiment.pk]),
    }

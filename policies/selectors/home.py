"""Figures of the admin's home page that read policies' tables only: each policy's published
version, drafts and last offline evaluation, failed runs of the last 24 hours, tokens and
cost by policy version, and the last model run's failure. Each is one aggregate query (or
a constant few), however many runs or versions exist; memory's figures, which read review
state, are in `memory.selectors.home`."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from policies.models import ExtractionRun, Policy, PolicyEvaluation, PolicyVersion, PublishEvent, SummaryRun

FAILED_RUNS_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class PolicyStanding:
    """One policy on the home page: its published version (None: nothing published), how
    many of its versions were never published, and the published version's last evaluation."""

    policy_id: int
    name: str
    published_version_id: int | None
    published_number: int | None
    drafts: int
    last_evaluation: PolicyEvaluation | None


def version_never_published_q() -> Q:
    """A version no publish ever moved a policy to (every publish leaves a PublishEvent).
    The versions changelist's `publish_events__isnull=True` is the same condition."""
    return ~Q(Exists(PublishEvent.objects.filter(to_version=OuterRef("pk"))))


def policy_standings() -> list[PolicyStanding]:
    """Every policy by name: two queries whatever the number of versions and evaluations."""
    drafts = (
        PolicyVersion.objects.filter(policy=OuterRef("pk"))
        .filter(version_never_published_q())
        .order_by()
        .values("policy")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_evaluation = PolicyEvaluation.objects.filter(version=OuterRef("published_version")).order_by(
        "-created_at", "-pk"
    )
    rows = list(
        Policy.objects.annotate(
            drafts=Subquery(drafts[:1]),
            last_evaluation_id=Subquery(last_evaluation.values("pk")[:1]),
        )
        .order_by("name")
        .values("pk", "name", "published_version_id", "published_version__number", "drafts", "last_evaluation_id")
    )
    evaluations = PolicyEvaluation.objects.in_bulk([r["last_evaluation_id"] for r in rows if r["last_evaluation_id"]])
    return [
        PolicyStanding(
            policy_id=row["pk"],
            name=row["name"],
            published_version_id=row["published_version_id"],
            published_number=row["published_version__number"],
            drafts=row["drafts"] or 0,
            last_evaluation=evaluations.get(row["last_evaluation_id"]),
        )
        for row in rows
    ]


def failed_runs_since(*, since: datetime) -> int:
    """Extraction runs that ended failed and started at or after `since` (one COUNT)."""
    return ExtractionRun.objects.filter(status=ExtractionRun.Status.FAILED, started_at__gte=since).count()


@dataclass(frozen=True)
class VersionUsage:
    """Tokens (in + out) and cost of one policy version's runs, today and this month."""

    policy: str
    number: int
    tokens_today: int
    tokens_month: int
    cost_today: Decimal
    cost_month: Decimal


def usage_by_version(*, now: datetime | None = None) -> list[VersionUsage]:
    """Extraction and summary runs of this month (server time zone), per policy version:
    one GROUP BY per run table with sums filtered to today. Runs without a version
    (no published policy) are left out: nothing to put them against."""
    local = timezone.localtime(now or timezone.now())
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    today = Q(started_at__gte=day_start)
    totals: dict[tuple[str, int], VersionUsage] = {}
    for runs in (ExtractionRun.objects, SummaryRun.objects):
        rows = (
            runs.filter(started_at__gte=month_start, policy_version__isnull=False)
            .order_by()
            .values("policy_version__policy__name", "policy_version__number")
            .annotate(
                tokens_month=Sum(F("tokens_in") + F("tokens_out")),
                tokens_today=Sum(F("tokens_in") + F("tokens_out"), filter=today),
                cost_month=Sum("cost_usd"),
                cost_today=Sum("cost_usd", filter=today),
            )
        )
        for row in rows:
            key = (row["policy_version__policy__name"], row["policy_version__number"])
            seen = totals.get(key) or VersionUsage(*key, 0, 0, Decimal(0), Decimal(0))
            totals[key] = VersionUsage(
                *key,
                tokens_today=seen.tokens_today + (row["tokens_today"] or 0),
                tokens_month=seen.tokens_month + (row["tokens_month"] or 0),
                cost_today=seen.cost_today + Decimal(row["cost_today"] or 0),
                cost_month=seen.cost_month + Decimal(row["cost_month"] or 0),
            )
    return [totals[key] for key in sorted(totals)]


def last_model_run_failure() -> str:
    """How the latest finished run that called a model failed, in words (every failure
    kind concerns the provider or the way to it), or "" if it did not: the LLM's health
    without calling the provider."""
    last = (
        ExtractionRun.objects.exclude(model="")
        .exclude(status=ExtractionRun.Status.RUNNING)
        .order_by("-started_at", "-pk")
        .values_list("status", "failure")
        .first()
    )
    if last is None or last[0] != ExtractionRun.Status.FAILED or last[1] not in ExtractionRun.Failure.values:
        return ""
    return str(ExtractionRun.Failure(last[1]).label)

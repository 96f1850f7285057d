"""GET /metrics: Prometheus text for an operator's scraper.

Readable by an operator only: a staff user's admin session, or an API key over every
namespace and user (namespaces `*`) with the read permission; open while AUTH_MODE
is disabled. Latency and cache counters come from the processes (memoryproject.metrics,
added up over PROMETHEUS_MULTIPROC_DIR when set); the rest is read from the DB and
Redis on each scrape (memory.selectors.metrics).
"""

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from rest_framework import exceptions, permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from memory.api.auth import BearerAuthentication
from memory.api.scope import Scope
from memory.selectors import metrics
from workers.queue import queue_depths


class IsOperator(permissions.BasePermission):
    message = "GET /metrics needs a staff user's session or an API key over every namespace (namespaces '*')."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if settings.AUTH_MODE == "disabled":
            return True
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            return True
        scope = request.auth
        if not isinstance(scope, Scope):
            raise exceptions.NotAuthenticated()
        return scope.namespaces is None and scope.user_ids is None and "read" in scope.permissions


class StoredFiguresCollector:
    """The figures read from the DB and Redis, as metric families for one scrape."""

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily("memory_extraction_runs", "Extraction runs by status.", labels=["status"])
        for status, count in metrics.extraction_runs_by_status().items():
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily(
            "memory_extraction_lag_seconds",
            "Age of the oldest turn not yet extracted (0 when every turn is).",
            value=metrics.extraction_lag_seconds(),
        )
        queues = GaugeMetricFamily(
            "memory_queue_messages", "Dramatiq messages not yet acknowledged, by queue.", labels=["queue"]
        )
        for queue, depth in queue_depths().items():
            queues.add_metric([queue], depth)
        yield queues
        yield GaugeMetricFamily(
            "memory_index_drift_records",
            "Records in the DB whose index document is missing.",
            value=metrics.index_drift(),
        )
        yield from _usage_families(metrics.usage_by_policy_version())


def _usage_families(usage: list[dict[str, Any]]) -> Iterator[Metric]:
    labels = ["policy", "version"]
    tokens = CounterMetricFamily(
        "memory_extraction_tokens", "LLM tokens of extraction runs, per policy version.", labels=[*labels, "direction"]
    )
    cost = CounterMetricFamily(
        "memory_extraction_cost_usd", "LLM cost of extraction runs, per policy version.", labels=labels
    )
    for row in usage:
        tokens.add_metric([row["policy"], row["version"], "in"], row["tokens_in"])
        tokens.add_metric([row["policy"], row["version"], "out"], row["tokens_out"])
        cost.add_metric([row["policy"], row["version"]], row["cost_usd"])
    yield tokens
    yield cost


def _process_registry() -> CollectorRegistry:
    if not settings.PROMETHEUS_MULTIPROC_DIR:
        return REGISTRY
    registry = CollectorRegistry()
    # prometheus_client's MultiProcessCollector.__init__ carries no annotations.
    multiprocess.MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)  # type: ignore[no-untyped-call]
    return registry


class MetricsView(APIView):
    # Bearer first: its WWW-Authenticate header makes a missing credential a 401, not a 403.
    authentication_classes = [BearerAuthentication, SessionAuthentication]
    permission_classes = [IsOperator]
    throttle_classes: list[type[BaseThrottle]] = []

    @extend_schema(exclude=True)  # Prometheus text, not part of the JSON API
    def get(self, request: Request) -> HttpResponse:
        stored = CollectorRegistry()
        stored.register(StoredFiguresCollector())
        body = generate_latest(_process_registry()) + generate_latest(stored)
        return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)

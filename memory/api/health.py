import logging
import time
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from memory.services.health import recent_health

logger = logging.getLogger(__name__)

# What an unauthenticated caller learns of a failing component: its name, never the
# database's error text or Redis's host and port (those go to the log, and `preflight`).
PUBLIC_REASONS = {
    "database": "database is not answering",
    "redis": "redis is not answering",
    "search": "redis lacks the search or JSON module",
}


class HealthView(APIView):
    """Liveness: 200 with the server time when the DB, Redis and search answer.

    `index_drift` counts records in the DB whose index document is missing (a flushed
    or lost index): the server still answers, so it stays a 200, but search misses
    those records until the sweep or `reindex_memories` writes them again. It is up to
    six seconds old (GET /metrics has the fresh figure).

    Each process reuses a healthy answer for up to a second: a component that fails shows
    within a second. A 503 names each failing component in one fixed line; the reason in
    full is logged."""

    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # A GET is answered without DRF: no authentication, permission, throttle, parser or
        # content negotiation applies, and wrapping the request cost more than the check.
        # Other methods get DRF's answers (405, OPTIONS) as before.
        if request.method == "GET":
            return self.get(request)
        response: HttpResponseBase = super().dispatch(request, *args, **kwargs)
        return response

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health", {"now": serializers.IntegerField(), "index_drift": serializers.IntegerField()}
            ),
            503: inline_serializer(
                "Unavailable",
                {"detail": serializers.CharField(), "down": serializers.DictField(child=serializers.CharField())},
            ),
        }
    )
    def get(self, request: HttpRequest) -> HttpResponse:
        health = recent_health()
        if health.problems:
            for reason in health.problems.values():
                logger.warning("health: %s", reason)
            down = {component: PUBLIC_REASONS[component] for component in health.problems}
            return _json({"detail": "unavailable", "down": down}, status=503)
        return _json({"now": int(time.time() * 1000), "index_drift": health.index_drift})


def _json(body: dict[str, Any], status: int = 200) -> HttpResponse:
    """The body as the API's renderer (drf_orjson_renderer) writes it."""
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")

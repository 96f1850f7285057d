import logging
import time

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from memory.selectors.health import dependency_problems
from memory.services.health import recent_index_drift

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
    five seconds old (GET /metrics has the fresh figure).

    A 503 names each failing component in one fixed line; the reason in full is logged."""

    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]

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
    def get(self, request: Request) -> Response:
        problems = dependency_problems()
        if problems:
            for reason in problems.values():
                logger.warning("health: %s", reason)
            down = {component: PUBLIC_REASONS[component] for component in problems}
            return Response({"detail": "unavailable", "down": down}, status=503)
        return Response({"now": int(time.time() * 1000), "index_drift": recent_index_drift()})

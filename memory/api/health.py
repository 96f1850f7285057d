import time

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from memory.selectors.health import dependency_problems


class HealthView(APIView):
    """Liveness: 200 with the server time when the DB, Redis and search answer."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: inline_serializer("Health", {"now": serializers.IntegerField()})})
    def get(self, request):
        problems = dependency_problems()
        if problems:
            return Response({"detail": "unavailable", "down": problems}, status=503)
        return Response({"now": int(time.time() * 1000)})

"""Probes for load balancers and process supervisors; anonymous, and they say nothing else.

- `GET /api/status` (FusionAuth's path; its anonymous form): 200 `{"status": "ok"}` when the
  database answers, 503 `{"status": "unavailable"}` when it does not. A readiness check.
- `GET /api/health/live`: 200 `{"status": "ok"}` whenever the process can answer at all; touches no
  database, cache or key. A liveness check: restart the process only when this fails.
"""

from __future__ import annotations

from django.utils.decorators import method_decorator
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.http_cache import never_cache
from identity.selectors import database_answers


@method_decorator(never_cache, name="dispatch")
class StatusApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        if database_answers():
            return Response({"status": "ok"})
        return Response({"status": "unavailable"}, status=503)


@method_decorator(never_cache, name="dispatch")
class LivenessApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})

"""Ceiling (a): a DRF view answering a constant. Ceiling (c): the same plus one single-row UPDATE
(autocommit, by primary key, a different row each time among ROWS), the least a refresh writes."""

import random

from django.db import connection
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

ROWS = 1000
"""bench/run_http.py creates `ceiling_row` with ids 1..ROWS."""


class Bare(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class OneUpdate(APIView):
    def post(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE ceiling_row SET uses = uses + 1 WHERE id = %s",
                [random.randint(1, ROWS)],  # noqa: S311 (spreading rows, not a secret)
            )
        return Response({"ok": True})

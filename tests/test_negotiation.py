"""identity.negotiation picks what DRF's DefaultContentNegotiation picks, or refuses what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from identity.negotiation import FastContentNegotiation

CASES = [
    ({}, ""),
    ({"HTTP_ACCEPT": "*/*"}, ""),
    ({"HTTP_ACCEPT": "application/json"}, ""),
    ({"HTTP_ACCEPT": "application/json; indent=4"}, ""),
    ({"HTTP_ACCEPT": "text/html"}, ""),
    ({"HTTP_ACCEPT": "text/html, */*;q=0.1"}, ""),
    ({"HTTP_ACCEPT": ""}, ""),
    ({}, "format=json"),
    ({}, "format=api"),
    ({}, "format=xml"),
    ({"HTTP_ACCEPT": "*/*"}, "a=1&format=api"),
]
IDS = [
    "none",
    "any",
    "json",
    "json-indent",
    "html",
    "html-or-any",
    "empty",
    "fmt-json",
    "fmt-api",
    "fmt-xml",
    "any-fmt",
]


def outcome(negotiation: Any, request: Request, renderers: list[BaseRenderer]) -> Any:
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except (NotAcceptable, Http404) as exc:
        return type(exc)
    return type(renderer), media_type


@pytest.mark.parametrize(
    "renderer_classes", [[JSONRenderer], [JSONRenderer, BrowsableAPIRenderer]], ids=["json", "both"]
)
@pytest.mark.parametrize(("meta", "query"), CASES, ids=IDS)
def test_same_choice_as_drf(
    meta: dict[str, str], query: str, renderer_classes: list[type[BaseRenderer]]
) -> None:
    request = Request(
        APIRequestFactory().get(f"/api/jwt/validate?{query}" if query else "/api/jwt/validate", **meta)
    )
    renderers = [cls() for cls in renderer_classes]
    assert outcome(FastContentNegotiation(), request, renderers) == outcome(
        DefaultContentNegotiation(), request, renderers
    )

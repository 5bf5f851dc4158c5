"""DRF's content negotiation, answered at once for what nearly every API client sends.

A request with no `Accept` header, `Accept: */*`, or exactly the first renderer's media type, and
no `format` override in the query string, gets the first renderer: what DRF's
DefaultContentNegotiation answers for it too, without parsing the header into media types and the
query string into a QueryDict on every request. Anything else goes through DRF's own negotiation
(406 included)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

ANY = "*/*"


def first_renderer_fits(meta: Mapping[str, Any], media_type: str) -> bool:
    """No `Accept`, `*/*` or exactly `media_type` (the first renderer's), and no `format` in the
    query string: the requests DRF's negotiation answers with the first renderer."""
    accept = meta.get("HTTP_ACCEPT", ANY)
    return (accept == ANY or accept == media_type) and "format" not in meta.get("QUERY_STRING", "")


class FastContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str] | Any:
        renderers = renderers if isinstance(renderers, list) else list(renderers)
        if renderers and format_suffix is None:
            first = renderers[0]
            if first_renderer_fits(getattr(request, "_request", request).META, first.media_type):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)

"""DRF's content negotiation, answered at once for what nearly every API client sends.

A request with no `Accept` header, `Accept: */*`, or exactly the first renderer's media type, and
no `format` override in the query string, gets the first renderer: what DRF's
DefaultContentNegotiation answers for it too, without parsing the header into media types and the
query string into a QueryDict on every request. Anything else goes through DRF's own negotiation
(406 included)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

ANY = "*/*"


class FastContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str] | Any:
        renderers = renderers if isinstance(renderers, list) else list(renderers)
        if renderers and format_suffix is None:
            meta = getattr(request, "_request", request).META
            first = renderers[0]
            accept = meta.get("HTTP_ACCEPT", ANY)
            if (accept == ANY or accept == first.media_type) and "format" not in meta.get("QUERY_STRING", ""):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)

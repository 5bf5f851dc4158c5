"""JSON request parsing that fails with a 400, never a 500, on hostile documents."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64


def _depth_ok(document: str) -> bool:
    """Whether brackets nest at most MAX_JSON_DEPTH deep (counting outside strings), checked
    before json.loads, whose recursion would otherwise raise RecursionError (a 500) or spend time."""
    if document.count("[") + document.count("{") <= MAX_JSON_DEPTH:
        return True  # cannot nest deeper than it has brackets (the common, small case)
    depth = 0
    in_string = escaped = False
    for char in document:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif char in "]}":
            depth -= 1
    return True


class SafeJSONParser(JSONParser):
    """DRF's JSON parser with a nesting limit and RecursionError turned into a parse error."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            document = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError("JSON parse error - the body is not valid text.") from exc
        if not _depth_ok(document):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        try:
            return json.loads(document, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError("JSON parse error.") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")

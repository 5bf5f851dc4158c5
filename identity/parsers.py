"""JSON request parsing that fails with a 400, never a 500, on hostile documents.

Besides malformed JSON, a document is refused when it holds a value no part of the stack can store
or sign: a NUL character (PostgreSQL text and jsonb refuse it), a lone UTF-16 surrogate such as
"\\ud800" (not encodable as UTF-8) or a number beyond a double's range (`1e400` parses as
infinity, which jsonb and JWTs cannot hold). Checked once here, for every API, as a field error
naming where in the document the value sits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from identity.exceptions import ValidationFailed

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
        overflowed: list[str] = []
        try:
            parsed = json.loads(
                document, parse_constant=_refuse_constant, parse_float=_float_noting_overflow(overflowed)
            )
        except (ValueError, RecursionError) as exc:
            raise ParseError("JSON parse error.") from exc
        # Strict JSON holds no raw control characters or surrogates in strings: NUL and lone
        # surrogates can only come from \u escapes, so most documents need no walk at all.
        if overflowed or _SUSPECT_ESCAPE.search(document):
            _refuse_unstorable(parsed)
        return parsed


# \u0000 and \uD800-\uDFFF (a false match, e.g. after an escaped backslash, only costs the walk).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")


def _float_noting_overflow(overflowed: list[str]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            overflowed.append(text)
        return value

    return parse


def storable_text(text: str) -> bool:
    """No NUL and no lone surrogate: text PostgreSQL, SQLite's JSON and UTF-8 answers can hold
    (also identity.validators' check of `data` from any door)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(key: str) -> str:
    """A member name fit to echo in an error path (escapes NUL and surrogates)."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def _refuse_unstorable(document: Any) -> None:
    """Raise a field error at the first string (member name or value) holding NUL or a lone
    surrogate, or the first non-finite number. Positions inside a list report on the list, as
    other field errors do."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{_shown(key)}" if path else _shown(key)
                if not storable_text(key):
                    _raise(child, "The member name holds a NUL character or an unpaired surrogate.")
                stack.append((item, child))
        elif isinstance(value, list):
            stack.extend((item, path) for item in value)
        elif isinstance(value, str):
            if not storable_text(value):
                _raise(path, "The value holds a NUL character or an unpaired surrogate.")
        elif isinstance(value, float) and not math.isfinite(value):
            _raise(path, "The number is out of range.")


def _raise(path: str, message: str) -> None:
    if not path:
        raise ValidationFailed.general("[invalid]", message)
    raise ValidationFailed.on_field(path, "invalid", message)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")

"""Hostile JSON bodies are 400s, never 500s (checklist 11, 32)."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from identity.exceptions import ValidationFailed
from identity.parsers import MAX_JSON_DEPTH, SafeJSONParser


def _parse(text: str | bytes):
    raw = text.encode() if isinstance(text, str) else text
    return SafeJSONParser().parse(io.BytesIO(raw), parser_context={"encoding": "utf-8"})


@pytest.mark.parametrize(
    "document",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
        '{"x": NaN}',
        '{"x": Infinity}',
        "{not json",
        b"\xff\xfe",
    ],
)
def test_hostile_documents_are_parse_errors(document):
    with pytest.raises(ParseError):
        _parse(document)


@pytest.mark.parametrize(
    "document",
    [
        "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH,
        '{"s": "' + "[" * 200 + '"}',  # brackets inside strings do not count
        '{"a": [1, {"b": "\\"]"}]}',
        '{"loginId": "ann@example.com", "password": "p"}',
    ],
)
def test_ordinary_documents_parse(document):
    assert _parse(document) == json.loads(document)


def test_oversized_bodies_are_refused_with_an_errors_body(api_client, db):
    response = api_client.post(
        "/api/jwt/refresh", '{"refreshToken": "' + "a" * 2_000_000 + '"}', content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["generalErrors"][0]["code"] == "[tooLarge]"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ('{"user": {"data": {"a": "x\\u0000"}}}', "user.data.a"),
        ('{"user": {"firstName": "\\ud800"}}', "user.firstName"),
        ('{"user": {"data": {"\\udfff": 1}}}', "user.data.\\udfff"),
        ('{"a\\u0000": 1}', "a\\u0000"),
        ('{"ttl": 1e400}', "ttl"),
        ('{"roles": ["x", -1e400]}', "roles"),
    ],
)
def test_unstorable_values_are_field_errors(document, field):
    with pytest.raises(ValidationFailed) as info:
        _parse(document)
    assert list(info.value.field_errors) == [field]


def test_unstorable_top_level_values_are_general_errors():
    with pytest.raises(ValidationFailed) as info:
        _parse('"\\u0000"')
    assert info.value.general_errors and not info.value.field_errors


def test_paired_surrogates_and_ordinary_text_parse():
    assert _parse('{"s": "\\ud83d\\ude00 \\u00e9", "n": 1e300}') == {"s": "\U0001f600 \u00e9", "n": 1e300}

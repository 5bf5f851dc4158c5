"""The refresh view's input fast path answers exactly what RefreshInputSerializer answers."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from identity.views.common import parse
from identity.views.refresh_tokens import RefreshInputSerializer, parse_refresh_input

VALUE = "S" + "A" * 35 + "b-_9" * 8 + "Zz3"  # 71 URL-safe characters, the shape of our values

CASES: list[tuple[str, Any]] = [
    ("empty", {}),
    ("value", {"refreshToken": VALUE}),
    ("max-length", {"refreshToken": "x" * 512}),
    ("too-long", {"refreshToken": "x" * 513}),
    ("blank", {"refreshToken": ""}),
    ("spaces-only", {"refreshToken": "   "}),
    ("padded", {"refreshToken": f" {VALUE} "}),
    ("tab-padded", {"refreshToken": f"\t{VALUE}\n"}),
    ("inner-space", {"refreshToken": "ab cd"}),
    ("nul", {"refreshToken": "ab\x00cd"}),
    ("control", {"refreshToken": "ab\x07cd"}),
    ("surrogate", {"refreshToken": "ab\ud800cd"}),
    ("non-ascii", {"refreshToken": "abcé"}),
    ("null", {"refreshToken": None}),
    ("int", {"refreshToken": 12345}),
    ("float", {"refreshToken": 1.5}),
    ("bool", {"refreshToken": True}),
    ("list", {"refreshToken": [VALUE]}),
    ("dict", {"refreshToken": {"v": VALUE}}),
    ("str-subclass", {"refreshToken": type("S", (str,), {})(VALUE)}),
    ("other-key", {"token": VALUE}),
    ("unknown-key", {"nope": 1}),
    ("with-ttl", {"refreshToken": VALUE, "timeToLiveInSeconds": 60}),
    ("bad-ttl", {"refreshToken": VALUE, "timeToLiveInSeconds": 0}),
    ("ttl-only", {"timeToLiveInSeconds": "30"}),
]


def _answer(function: Any, data: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", function(data)
    except ValidationError as exc:
        return "refused", exc.detail


@pytest.mark.parametrize("data", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_fast_path_answers_like_the_serializer(data: dict[str, Any]) -> None:
    expected = _answer(lambda d: parse(RefreshInputSerializer, d), dict(data))
    got = _answer(parse_refresh_input, dict(data))
    assert got == expected
    if got[0] == "ok":
        assert type(got[1]) is dict
        assert {k: type(v) for k, v in got[1].items()} == {k: type(v) for k, v in expected[1].items()}

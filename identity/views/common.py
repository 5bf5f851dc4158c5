"""Small helpers every API view uses to read the request: ids from the URL and the query string,
and plain (envelope-free) bodies. Objects in FusionAuth envelopes are read by
identity.serializers.common.parse_body."""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from identity.exceptions import NotFound, ValidationFailed
from identity.serializers.common import validated


def parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validate input with a plain serializer; errors surface as FusionAuth field errors."""
    return validated(serializer_class, data)


def path_uuid(value: str | None) -> uuid.UUID:
    """An id from the URL; a malformed one is simply not found (404 with an empty body)."""
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound() from exc


def optional_path_uuid(value: str | None) -> uuid.UUID | None:
    """The id chosen by `POST /api/<object>/{id}`; None for `POST /api/<object>`."""
    return path_uuid(value) if value else None


def query_uuid(request: Request, name: str) -> uuid.UUID | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise ValidationFailed.on_field(name, "couldNotConvert", f"{name} is not a valid UUID.") from exc


def query_flag(request: Request, name: str) -> bool:
    """`?name=true` (FusionAuth's query flags: `hardDelete`, `reactivate`, `inactive`)."""
    return request.query_params.get(name) == "true"


PUBLIC_CACHE_SECONDS = 60


def public_document(body: dict[str, Any]) -> Response:
    """An anonymous, public document (JWKS, public keys, discovery metadata): cacheable for a
    minute, and readable by any origin (`Access-Control-Allow-Origin: *`), so a verifier running
    in a browser can fetch the keys. No credentials are involved, so none are allowed."""
    response = Response(body)
    response["Cache-Control"] = f"public, max-age={PUBLIC_CACHE_SECONDS}"
    response["Access-Control-Allow-Origin"] = "*"
    return response

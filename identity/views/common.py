"""Small helpers every API view uses to read the request: ids from the URL and the query string,
and plain (envelope-free) bodies. Objects in FusionAuth envelopes are read by
identity.serializers.common.parse_body."""

from __future__ import annotations

import functools
import io
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework import serializers
from rest_framework.compat import LONG_SEPARATORS, SHORT_SEPARATORS
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from identity.exception_handler import identity_exception_handler
from identity.exceptions import NotFound, ValidationFailed
from identity.http_cache import add_never_cache_headers
from identity.negotiation import first_renderer_fits
from identity.parsers import SafeJSONParser
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


_JSON = JSONRenderer()
_JSON_PARSER = SafeJSONParser()


# What _JSON.render(body, "application/json", {}) runs, made once: DRF's encoder with the
# renderer's settings (no indent is asked for on the lean paths).
_ENCODER = _JSON.encoder_class(
    ensure_ascii=_JSON.ensure_ascii,
    allow_nan=not _JSON.strict,
    separators=SHORT_SEPARATORS if _JSON.compact else LONG_SEPARATORS,
)


def json_response(body: Any, *, status: int = 200) -> HttpResponse:
    """`body` as DRF's JSON renderer renders it, as DRF's view would answer it (for the lean paths)."""
    if body is None:
        return HttpResponse(b"", _JSON.media_type, status=status)
    text = _ENCODER.encode(body).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return HttpResponse(text.encode(), _JSON.media_type, status=status)


def _lean(
    view: Any, handle: Callable[[Any, HttpRequest], HttpResponseBase | None], *, action: str | None = None
) -> Callable[..., HttpResponseBase]:
    """`view` with the requests `handle` takes answered without DRF's dispatch (None: not one it
    takes, DRF's view answers). What stays the same: errors go through the one exception handler,
    bodies through DRF's JSON renderer, and the response gets the `Allow` and never-cache headers
    DRF's view gives it, then every middleware (security headers included). A request whose
    `Accept` or `format` needs DRF's negotiation always goes to `view`. `action`: the one action
    the lean requests are (what the view's throttle scope is looked up by)."""
    instance = view.cls(**view.initkwargs)
    instance.action = action
    actions = {"head": view.actions.get("get"), **view.actions}  # as DRF's ViewSet binds them per request
    for method, bound in actions.items():
        if bound is not None:
            setattr(instance, method, getattr(instance, bound))
    allow = ", ".join(instance.allowed_methods)

    @functools.wraps(view)  # keeps `cls`, `actions`, `initkwargs` (the OpenAPI document) and csrf_exempt
    def lean_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not first_renderer_fits(request.META, _JSON.media_type):
            return view(request, *args, **kwargs)
        response: HttpResponseBase | None
        try:
            response = handle(instance, request)
        except Exception as exc:
            context = {"request": request, "args": args, "kwargs": kwargs}
            handled = identity_exception_handler(exc, context)
            if handled is None:
                raise
            handled.exception = True
            handled.accepted_renderer = _JSON
            handled.accepted_media_type = _JSON.media_type
            handled.renderer_context = context  # type: ignore[attr-defined]
            response = handled
        if response is None:
            return view(request, *args, **kwargs)
        response["Allow"] = allow
        add_never_cache_headers(response)
        return response

    return lean_view


def lean_get(view: Any, answer: Callable[[HttpRequest], Any]) -> Callable[..., HttpResponseBase]:
    """`view` (a DRF view routed to one anonymous GET action that neither throttles nor parses a
    body) with its plain GETs answered by `answer` (the 200 body) without DRF's dispatch (`_lean`):
    no DRF Request, no authenticator, permission or throttle pass, whose only outcome on such an
    action is the Caller `answer` builds itself (identity.caller.Caller.build, the one tenant
    rule). Any other method goes to `view` itself. validate is the hottest path (issue 16): DRF's
    dispatch was about a sixth of its CPU. tests/views/test_lean.py compares both answers."""

    def handle(instance: Any, request: HttpRequest) -> HttpResponseBase | None:
        return json_response(answer(request)) if request.method == "GET" else None

    return _lean(view, handle)


def lean_post(
    view: Any,
    action: str,
    answer: Callable[[HttpRequest, Any, Any], HttpResponseBase],
    *,
    authenticate: Callable[[HttpRequest], Any],
) -> Callable[..., HttpResponseBase]:
    """`view` (a DRF view whose POST is the anonymous `action`, with AllowAny and one
    authenticator that always answers) with its POSTs of a plain JSON body answered without DRF's
    dispatch (`_lean`), in DRF's order: `authenticate(request)` (what that authenticator builds,
    refusing as it would), the view's throttles (DRF's own `check_throttles` on the view, its
    action set), then `answer(request, body, authenticated)`. The body is parsed first by the same
    SafeJSONParser DRF's view would use, and only a body it accepts stays here, so a malformed one
    gets DRF's own error, counted once, by DRF. A form body, a charset or any other content type,
    and every other method go to `view` itself. The refresh is the hottest write (issue 16).
    tests/views/test_lean.py compares both answers."""

    def handle(instance: Any, request: HttpRequest) -> HttpResponseBase | None:
        if request.method != "POST" or request.META.get("CONTENT_TYPE") != _JSON_PARSER.media_type:
            return None
        try:
            raw = request.body
            body = _JSON_PARSER.parse(io.BytesIO(raw), _JSON_PARSER.media_type, {}) if raw else {}
        except Exception:  # DRF's view answers it, with the same parser and the same handler
            return None
        authenticated = authenticate(request)
        instance.check_throttles(request)
        return answer(request, body, authenticated)

    return _lean(view, handle, action=action)

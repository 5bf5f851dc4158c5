"""`POST /api/user/import`, `GET|POST /api/user/search`, and the FusionAuth paths we do not serve:
under /api/user/ (`forgot-password`, `verify-email`, …) a route answers 404 with an empty body
instead of falling through to `/api/user/{id}`; elsewhere (`/api/group`, …) the 404 handler does."""

from __future__ import annotations

import io
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.defaults import page_not_found
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.authentication import APIKeyAuthentication, HasAPIKey, caller_of
from identity.exceptions import NotFound
from identity.http_cache import never_cache
from identity.models import User
from identity.parsers import SafeJSONParser
from identity.selectors import users_search
from identity.serializers.user_import import import_request, search_query_params, search_request
from identity.serializers.users import user_body
from identity.services.user_import import users_import

# An import carries thousands of users (10,000 are ~4 MB); every other body stays under the 1 MB
# DATA_UPLOAD_MAX_MEMORY_SIZE. Read only after the API key (with the import permission) is checked.
MAX_IMPORT_BODY_BYTES = 64 * 1024 * 1024


def _import_body(request: Request) -> Any:
    """The JSON body, read with the import's own size limit and parsed like every other body."""
    if not (request.content_type or "").startswith("application/json"):
        raise UnsupportedMediaType(request.content_type)
    raw_request = request._request
    if int(raw_request.META.get("CONTENT_LENGTH") or 0) > MAX_IMPORT_BODY_BYTES:
        raise RequestDataTooBig("The import body is too large.")
    raw = raw_request.read(MAX_IMPORT_BODY_BYTES + 1)
    if len(raw) > MAX_IMPORT_BODY_BYTES:
        raise RequestDataTooBig("The import body is too large.")
    return SafeJSONParser().parse(io.BytesIO(raw), "application/json", {"encoding": "utf-8"})


class UserImportApi(APIView):
    """FusionAuth's Import Users API: all or nothing, 200 with an empty body."""

    throttle_scope = "import"
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def post(self, request: Request) -> Response:
        parsed = import_request(_import_body(request))
        users_import(
            tenant=caller_of(request).tenant(),
            users=parsed.users,
            validate_db_constraints=parsed.validate_db_constraints,
            encryption_scheme=parsed.encryption_scheme,
            factor=parsed.factor,
        )
        return Response(status=200)


@method_decorator(never_cache, name="dispatch")
class UserSearchApi(APIView):
    """FusionAuth's user search (`queryString` or `ids`, paged), within what the caller may see."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def get(self, request: Request) -> Response:
        return self._search(request, search_query_params(request.query_params))

    def post(self, request: Request) -> Response:
        return self._search(request, request.data)

    def _search(self, request: Request, data: Any) -> Response:
        criteria = search_request(data)
        users, total = users_search(
            users=caller_of(request).scope(User.objects.all()),
            query=criteria.query_string,
            ids=criteria.ids,
            start_row=criteria.start_row,
            number_of_results=criteria.number_of_results,
            order_by=criteria.order_by,
        )
        return Response({"users": [user_body(u, list(u.registrations.all())) for u in users], "total": total})


class UnservedUserApi(APIView):
    """A FusionAuth path under /api/user/ that this service does not implement: 404, empty body,
    whatever the method or credentials (nothing is looked up, so nothing is revealed)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def handle(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFound()

    get = post = put = patch = delete = handle


def api_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: an API path no route serves (a FusionAuth API we do not implement, such as
    /api/group or /oauth2/device) is a 404 with an empty body, like every other API 404; pages
    outside the APIs keep Django's page."""
    if request.path.startswith(("/api/", "/oauth2/")):
        return HttpResponse(status=404)
    return page_not_found(request, exception)

"""The Key API (`/api/key…`): list, retrieve, generate, import, rename, delete and search keys."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from identity.authentication import APIKeyAuthentication, HasGlobalAPIKey
from identity.exceptions import NotFound
from identity.http_cache import never_cache
from identity.models import SigningKey
from identity.selectors import signing_key_get, signing_key_list, signing_key_search
from identity.serializers.keys import (
    KeyGenerateRequest,
    KeyImportRequest,
    KeySearchRequest,
    KeySerializer,
    KeyUpdateRequest,
)
from identity.services.signing_keys import (
    signing_key_delete,
    signing_key_generate,
    signing_key_import,
    signing_key_rename,
)
from identity.views.common import optional_path_uuid, parse, path_uuid, query_flag


def _get(key_id: str | None) -> SigningKey:
    key = signing_key_get(key_id=path_uuid(key_id))
    if key is None:
        raise NotFound()
    return key


@method_decorator(never_cache, name="dispatch")  # generate answers an HMAC secret once
class KeyViewSet(viewsets.ViewSet):
    """Routed to FusionAuth's paths; each action parses, calls one service and serializes."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasGlobalAPIKey]

    def list(self, request: Request) -> Response:
        return Response({"keys": KeySerializer(signing_key_list(), many=True).data})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"key": KeySerializer(_get(pk)).data})

    def generate(self, request: Request, pk: str | None = None) -> Response:
        key_id = optional_path_uuid(pk)  # a path that is no id is a 404 before the body is read
        data = parse(KeyGenerateRequest, request.data)["key"]
        generated = signing_key_generate(tenant=None, key_id=key_id, **data)
        body = dict(KeySerializer(generated.key).data)
        if generated.hmac_secret is not None:
            body["secret"] = generated.hmac_secret  # shown this once; only the encrypted form is kept
        return Response({"key": body})

    def import_key(self, request: Request, pk: str | None = None) -> Response:
        key_id = optional_path_uuid(pk)
        data = parse(KeyImportRequest, request.data)["key"]
        key = signing_key_import(tenant=None, key_id=key_id, **data)
        return Response({"key": KeySerializer(key).data})

    def update(self, request: Request, pk: str | None = None) -> Response:
        key = _get(pk)
        data = parse(KeyUpdateRequest, request.data)["key"]
        return Response({"key": KeySerializer(signing_key_rename(key=key, name=data["name"])).data})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """`?revokePersonalAccessTokens=true` deletes a key that verifies live personal access
        tokens, revoking them (they stop working); without it such a key is refused."""
        revoke = query_flag(request, "revokePersonalAccessTokens")
        signing_key_delete(key=_get(pk), revoke_personal_access_tokens=revoke)
        return Response(status=200)

    def search(self, request: Request) -> Response:
        """POST with `{"search": {...}}`, or GET with the criteria as query parameters."""
        source = request.data if request.method == "POST" else {"search": request.query_params.dict()}
        criteria = parse(KeySearchRequest, source).get("search") or {}
        keys, total = signing_key_search(**criteria)
        return Response({"keys": KeySerializer(keys, many=True).data, "total": total})

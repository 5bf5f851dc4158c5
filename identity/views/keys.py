"""The Key API (`/api/key…`): list, retrieve, generate, import, rename, delete and search keys."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from identity.authentication import APIKeyAuthentication, HasGlobalAPIKey
from identity.exceptions import NotFound
from identity.models import KeyAlgorithm, SigningKey
from identity.serializers.common import instant
from identity.services.signing_keys import (
    signing_key_delete,
    signing_key_generate,
    signing_key_import,
    signing_key_rename,
)
from identity.views.common import parse, path_uuid

KEY_TYPES = {"HMAC": "HS", "RSA": "RS", "EC": "ES", "OKP": "EdDSA"}


class KeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    algorithm = serializers.CharField()
    type = serializers.CharField(source="key_type")
    kid = serializers.CharField()
    tenantId = serializers.UUIDField(source="tenant_id", allow_null=True)
    issuer = serializers.CharField()
    length = serializers.IntegerField(allow_null=True)
    publicKey = serializers.CharField(source="public_key")
    certificate = serializers.CharField()
    hasPrivateKey = serializers.BooleanField(source="has_private_key")
    use = serializers.CharField()
    expirationInstant = serializers.SerializerMethodField()
    insertInstant = serializers.SerializerMethodField()
    lastUpdateInstant = serializers.SerializerMethodField()

    def get_expirationInstant(self, key: SigningKey) -> int | None:
        return instant(key.expires_at)

    def get_insertInstant(self, key: SigningKey) -> int | None:
        return instant(key.created_at)

    def get_lastUpdateInstant(self, key: SigningKey) -> int | None:
        return instant(key.updated_at)

    def to_representation(self, instance: SigningKey) -> dict[str, Any]:
        data = super().to_representation(instance)
        # Like FusionAuth: HMAC keys have no public half; empty optional members are left out.
        return {k: v for k, v in data.items() if v not in ("", None)}


class GenerateInputSerializer(serializers.Serializer):
    class Key(serializers.Serializer):
        name = serializers.CharField(max_length=191)
        algorithm = serializers.ChoiceField(choices=KeyAlgorithm.values)
        length = serializers.IntegerField(required=False, min_value=1, max_value=8192)
        issuer = serializers.CharField(required=False, allow_blank=True, max_length=255)

    key = Key()


class ImportInputSerializer(serializers.Serializer):
    class Key(serializers.Serializer):
        name = serializers.CharField(max_length=191)
        kid = serializers.CharField(required=False, allow_blank=True, max_length=64)
        algorithm = serializers.ChoiceField(choices=KeyAlgorithm.values, required=False)
        publicKey = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
        privateKey = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
        certificate = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
        secret = serializers.CharField(
            required=False, allow_blank=True, max_length=4096, trim_whitespace=False
        )
        issuer = serializers.CharField(required=False, allow_blank=True, max_length=255)
        type = serializers.ChoiceField(choices=list(KEY_TYPES), required=False)

    key = Key()


class UpdateInputSerializer(serializers.Serializer):
    class Key(serializers.Serializer):
        name = serializers.CharField(max_length=191)

    key = Key()


class SearchInputSerializer(serializers.Serializer):
    class Criteria(serializers.Serializer):
        name = serializers.CharField(required=False, allow_blank=True, max_length=191)
        algorithm = serializers.ChoiceField(choices=KeyAlgorithm.values, required=False)
        type = serializers.ChoiceField(choices=list(KEY_TYPES), required=False)
        numberOfResults = serializers.IntegerField(required=False, min_value=1, max_value=500, default=25)
        startRow = serializers.IntegerField(required=False, min_value=0, default=0)

    search = Criteria(required=False)


def _render(key: SigningKey) -> dict[str, Any]:
    return dict(KeyOutputSerializer(key).data)


def _get(key_id: str | None) -> SigningKey:
    key = SigningKey.objects.filter(pk=path_uuid(key_id)).first()
    if key is None:
        raise NotFound()
    return key


@method_decorator(never_cache, name="dispatch")  # generate answers an HMAC secret once
class KeyViewSet(viewsets.ViewSet):
    """Routed to FusionAuth's paths; each action parses, calls one service and serializes."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasGlobalAPIKey]

    def list(self, request: Request) -> Response:
        return Response({"keys": [_render(k) for k in SigningKey.objects.order_by("name", "created_at")]})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"key": _render(_get(pk))})

    def generate(self, request: Request, pk: str | None = None) -> Response:
        data = parse(GenerateInputSerializer, request.data)["key"]
        generated = signing_key_generate(
            tenant=None,
            algorithm=data["algorithm"],
            name=data["name"],
            length=data.get("length"),
            issuer=data.get("issuer", ""),
            key_id=path_uuid(pk) if pk else None,
        )
        body = _render(generated.key)
        if generated.hmac_secret is not None:
            body["secret"] = generated.hmac_secret  # shown this once; only the encrypted form is kept
        return Response({"key": body})

    def import_key(self, request: Request, pk: str | None = None) -> Response:
        data = parse(ImportInputSerializer, request.data)["key"]
        key = signing_key_import(
            tenant=None,
            name=data["name"],
            algorithm=data.get("algorithm"),
            public_key=data.get("publicKey", ""),
            private_key=data.get("privateKey", ""),
            certificate=data.get("certificate", ""),
            secret=data.get("secret", ""),
            kid=data.get("kid") or None,
            issuer=data.get("issuer", ""),
            key_id=path_uuid(pk) if pk else None,
        )
        return Response({"key": _render(key)})

    def update(self, request: Request, pk: str | None = None) -> Response:
        key = _get(pk)
        data = parse(UpdateInputSerializer, request.data)["key"]
        return Response({"key": _render(signing_key_rename(key=key, name=data["name"]))})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        signing_key_delete(key=_get(pk))
        return Response(status=200)

    def search(self, request: Request) -> Response:
        source = request.data if request.method == "POST" else {"search": request.query_params.dict()}
        criteria = parse(SearchInputSerializer, source).get("search") or {
            "numberOfResults": 25,
            "startRow": 0,
        }
        keys = SigningKey.objects.order_by("name", "created_at")
        if criteria.get("name"):
            keys = keys.filter(name__icontains=criteria["name"].replace("*", ""))
        if criteria.get("algorithm"):
            keys = keys.filter(algorithm=criteria["algorithm"])
        if criteria.get("type"):
            prefix = KEY_TYPES[criteria["type"]]
            keys = keys.filter(Q(algorithm__startswith=prefix))
        start = criteria.get("startRow", 0)
        page = keys[start : start + criteria.get("numberOfResults", 25)]
        return Response({"keys": [_render(k) for k in page], "total": keys.count()})

"""Routes of the identity service, on FusionAuth's paths."""

from django.urls import URLPattern, URLResolver, path

from identity.views.jwt import JWTViewSet
from identity.views.keys import KeyViewSet
from identity.views.login import LoginApi, LoginPingApi, LogoutApi
from identity.views.refresh_tokens import RefreshTokenViewSet
from identity.views.well_known import JWKSApi, OpenIDConfigurationApi, PublicKeyApi

app_name = "identity"

keys = KeyViewSet.as_view({"get": "list"})
key = KeyViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"})
key_generate = KeyViewSet.as_view({"post": "generate"})
key_import = KeyViewSet.as_view({"post": "import_key"})
key_search = KeyViewSet.as_view({"get": "search", "post": "search"})

refresh_tokens = RefreshTokenViewSet.as_view({"post": "exchange", "get": "list", "delete": "revoke"})
refresh_token = RefreshTokenViewSet.as_view({"get": "retrieve", "delete": "destroy"})

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/jwt/validate", JWTViewSet.as_view({"get": "validate"}), name="jwt-validate"),
    path("api/jwt/issue", JWTViewSet.as_view({"get": "issue"}), name="jwt-issue"),
    path("api/jwt/vend", JWTViewSet.as_view({"post": "vend"}), name="jwt-vend"),
    path("api/jwt/reconcile", JWTViewSet.as_view({"post": "reconcile"}), name="jwt-reconcile"),
    path("api/login", LoginApi.as_view(), name="login"),
    path("api/login/<str:user_id>/<str:application_id>", LoginPingApi.as_view(), name="login-ping"),
    path("api/logout", LogoutApi.as_view(), name="logout"),
    path("api/jwt/refresh", refresh_tokens, name="refresh-tokens"),
    path("api/jwt/refresh/<str:pk>", refresh_token, name="refresh-token"),
    path("api/key", keys, name="keys"),
    path("api/key/search", key_search, name="key-search"),
    path("api/key/generate", key_generate, name="key-generate"),
    path("api/key/generate/<str:pk>", key_generate, name="key-generate-id"),
    path("api/key/import", key_import, name="key-import"),
    path("api/key/import/<str:pk>", key_import, name="key-import-id"),
    path("api/key/<str:pk>", key, name="key"),
    path("api/jwt/public-key", PublicKeyApi.as_view(), name="public-key"),
    path(".well-known/jwks.json", JWKSApi.as_view(), name="jwks"),
    path("<uuid:tenant_id>/.well-known/jwks.json", JWKSApi.as_view(), name="tenant-jwks"),
    path(".well-known/openid-configuration", OpenIDConfigurationApi.as_view(), name="openid-configuration"),
    path(
        "<uuid:tenant_id>/.well-known/openid-configuration",
        OpenIDConfigurationApi.as_view(),
        name="tenant-openid-configuration",
    ),
]

"""Routes of the identity service, on FusionAuth's paths."""

from django.urls import URLPattern, URLResolver, path, re_path

from identity.views.common import lean_get, lean_post
from identity.views.demo import demo_hello
from identity.views.jwt import JWTViewSet, validate_plain_get
from identity.views.keys import KeyViewSet
from identity.views.login import LoginApi, LoginPingApi, LogoutApi
from identity.views.login_backends import BackendLoginApi, BackendLogoutApi
from identity.views.oauth import (
    AuthorizationServerMetadataApi,
    ClientSecretApi,
    IntrospectApi,
    RevokeApi,
    TokenApi,
)
from identity.views.personal_access_tokens import AccessTokenViewSet, TokenExchangeApi
from identity.views.refresh_tokens import RefreshTokenViewSet, anonymous_caller, refresh_exchange_lean
from identity.views.status import LivenessApi, StatusApi
from identity.views.tenants import ApplicationViewSet, LoginBackendViewSet, TenantViewSet
from identity.views.user_import import UnservedUserApi, UserImportApi, UserSearchApi
from identity.views.users import APIKeyViewSet, ChangePasswordViewSet, RegistrationViewSet, UserViewSet
from identity.views.webhooks import WebhookViewSet
from identity.views.well_known import JWKSApi, OpenIDConfigurationApi, PublicKeyApi

app_name = "identity"

# /api/user/<first segment that is not a UUID>[/...]: never a user id, so never /api/user/{id}.
UNSERVED_USER_PATHS = (
    r"^api/user/(?![0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}(?:/|$))[^/]+(?:/.*)?$"
)

keys = KeyViewSet.as_view({"get": "list"})
key = KeyViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"})
key_generate = KeyViewSet.as_view({"post": "generate"})
key_import = KeyViewSet.as_view({"post": "import_key"})
key_search = KeyViewSet.as_view({"get": "search", "post": "search"})

refresh_tokens = lean_post(
    RefreshTokenViewSet.as_view({"post": "exchange", "get": "list", "delete": "revoke"}),
    "exchange",
    refresh_exchange_lean,
    authenticate=anonymous_caller,
)
refresh_token = RefreshTokenViewSet.as_view({"get": "retrieve", "delete": "destroy"})

# Provisioning (FusionAuth's paths; PUT and PATCH both change only what they send).
tenants = TenantViewSet.as_view({"get": "list", "post": "create"})
tenant = TenantViewSet.as_view(
    {"get": "retrieve", "post": "create", "put": "update", "patch": "update", "delete": "destroy"}
)
applications = ApplicationViewSet.as_view({"get": "list", "post": "create"})
application = ApplicationViewSet.as_view(
    {"get": "retrieve", "post": "create", "put": "update", "patch": "update", "delete": "destroy"}
)
roles = ApplicationViewSet.as_view({"post": "create_role"})
role = ApplicationViewSet.as_view({"post": "create_role", "put": "update_role", "patch": "update_role",
                                   "delete": "destroy_role"})  # fmt: skip
login_backends = LoginBackendViewSet.as_view({"get": "list", "post": "create"})
login_backend = LoginBackendViewSet.as_view({"get": "retrieve", "post": "create", "put": "update",
                                             "patch": "update", "delete": "destroy"})  # fmt: skip
users = UserViewSet.as_view({"get": "search", "post": "create"})
user = UserViewSet.as_view(
    {"get": "retrieve", "post": "create", "put": "update", "patch": "update", "delete": "destroy"}
)
registrations = RegistrationViewSet.as_view({"post": "create"})
user_registrations = RegistrationViewSet.as_view({"post": "create", "put": "update", "patch": "update"})
registration = RegistrationViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "update", "delete": "destroy"}
)
change_password = ChangePasswordViewSet.as_view({"post": "create"})
api_keys = APIKeyViewSet.as_view({"post": "create"})
api_key = APIKeyViewSet.as_view({"get": "retrieve", "post": "create", "put": "update", "patch": "update",
                                 "delete": "destroy"})  # fmt: skip
access_tokens = AccessTokenViewSet.as_view({"get": "list", "post": "create"})
access_token = AccessTokenViewSet.as_view({"get": "retrieve", "delete": "destroy"})

webhook = WebhookViewSet.as_view(
    {"get": "retrieve", "post": "create", "put": "update", "patch": "update", "delete": "destroy"}
)

urlpatterns: list[URLPattern | URLResolver] = [
    # Hot paths first: Django tries the patterns in order, and each one tried before the match costs
    # time (bench/README.md, "What was cut"; the token endpoint came after ~55 others, about a tenth
    # of a client-credentials grant's CPU). None of these literal paths overlaps another pattern, so
    # the order changes no route.
    path(
        "api/jwt/validate",
        lean_get(JWTViewSet.as_view({"get": "validate"}), validate_plain_get),
        name="jwt-validate",
    ),
    path("api/jwt/refresh", refresh_tokens, name="refresh-tokens"),
    path("api/login", LoginApi.as_view(), name="login"),
    path("oauth2/token", TokenApi.as_view(), name="oauth2-token"),
    path("connect/token", TokenApi.as_view(), name="connect-token"),
    path("oauth2/introspect", IntrospectApi.as_view(), name="oauth2-introspect"),
    path("oauth2/revoke", RevokeApi.as_view(), name="oauth2-revoke"),
    path("api/status", StatusApi.as_view(), name="status"),
    path("api/health/live", LivenessApi.as_view(), name="liveness"),
    path("demo/api/hello", demo_hello, name="demo-hello"),
    path("auth/<str:name>/login", BackendLoginApi.as_view(), name="backend-login"),
    path("auth/<str:name>/logout", BackendLogoutApi.as_view(), name="backend-logout"),
    path("api/tenant", tenants, name="tenants"),
    path("api/tenant/<str:pk>", tenant, name="tenant"),
    path("api/application", applications, name="applications"),
    path("api/application/<str:pk>/role", roles, name="application-roles"),
    path("api/application/<str:pk>/role/<str:role_id>", role, name="application-role"),
    path("api/application/<str:pk>/login-backend", login_backends, name="application-login-backends"),
    path(
        "api/application/<str:pk>/login-backend/<str:backend_id>",
        login_backend,
        name="application-login-backend",
    ),
    path(
        "api/application/<str:pk>/oauth-configuration",
        ApplicationViewSet.as_view({"get": "retrieve_oauth_configuration"}),
        name="application-oauth-configuration",
    ),
    path(
        "api/application/<str:pk>/oauth-configuration/client-secret",
        ClientSecretApi.as_view(),
        name="application-client-secret",
    ),
    path("api/application/<str:pk>", application, name="application"),
    path("api/user/registration", registrations, name="registrations"),
    path("api/user/registration/<str:user_id>", user_registrations, name="user-registrations"),
    path("api/user/registration/<str:user_id>/<str:application_id>", registration, name="registration"),
    path("api/user/change-password", change_password, name="change-password"),
    path("api/user/change-password/<str:change_password_id>", change_password, name="change-password-id"),
    path("api/user", users, name="users"),
    path("api/user/<str:user_id>/access-token", access_tokens, name="access-tokens"),
    path("api/user/<str:user_id>/access-token/<str:pk>", access_token, name="access-token"),
    path("api/user/import", UserImportApi.as_view(), name="user-import"),
    path("api/user/search", UserSearchApi.as_view(), name="user-search"),
    # FusionAuth's other /api/user/<word> paths (forgot-password, verify-email, action, bulk, …):
    # 404 with an empty body rather than /api/user/{id} reading the word as an id.
    re_path(UNSERVED_USER_PATHS, UnservedUserApi.as_view(), name="user-unserved"),
    path("api/user/<str:pk>", user, name="user"),
    path("api/api-key", api_keys, name="api-keys"),
    path("api/api-key/<str:pk>", api_key, name="api-key"),
    path("api/jwt/issue", JWTViewSet.as_view({"get": "issue"}), name="jwt-issue"),
    path("api/jwt/exchange", TokenExchangeApi.as_view(), name="jwt-exchange"),
    path("api/jwt/vend", JWTViewSet.as_view({"post": "vend"}), name="jwt-vend"),
    path("api/jwt/reconcile", JWTViewSet.as_view({"post": "reconcile"}), name="jwt-reconcile"),
    path("api/login/<str:user_id>/<str:application_id>", LoginPingApi.as_view(), name="login-ping"),
    path("api/logout", LogoutApi.as_view(), name="logout"),
    path("api/jwt/refresh/<str:pk>", refresh_token, name="refresh-token"),
    path("api/key", keys, name="keys"),
    path("api/key/search", key_search, name="key-search"),
    path("api/key/generate", key_generate, name="key-generate"),
    path("api/key/generate/<str:pk>", key_generate, name="key-generate-id"),
    path("api/key/import", key_import, name="key-import"),
    path("api/key/import/<str:pk>", key_import, name="key-import-id"),
    path("api/key/<str:pk>", key, name="key"),
    path("api/jwt/public-key", PublicKeyApi.as_view(), name="public-key"),
    path("api/webhook", WebhookViewSet.as_view({"get": "list", "post": "create"}), name="webhooks"),
    path("api/webhook/<str:pk>", webhook, name="webhook"),
    path(".well-known/jwks.json", JWKSApi.as_view(), name="jwks"),
    path("<uuid:tenant_id>/.well-known/jwks.json", JWKSApi.as_view(), name="tenant-jwks"),
    path(".well-known/openid-configuration", OpenIDConfigurationApi.as_view(), name="openid-configuration"),
    path(
        "<uuid:tenant_id>/.well-known/openid-configuration",
        OpenIDConfigurationApi.as_view(),
        name="tenant-openid-configuration",
    ),
    path(
        ".well-known/oauth-authorization-server",
        AuthorizationServerMetadataApi.as_view(),
        name="oauth-authorization-server",
    ),
    path(
        "<uuid:tenant_id>/.well-known/oauth-authorization-server",
        AuthorizationServerMetadataApi.as_view(),
        name="tenant-oauth-authorization-server",
    ),
    path(
        ".well-known/oauth-authorization-server/<path:issuer_path>",
        AuthorizationServerMetadataApi.as_view(),
        name="issuer-oauth-authorization-server",
    ),
]

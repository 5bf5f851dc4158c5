"""The OpenAPI description (drf-spectacular): security schemes for our authentication classes, the
FusionAuth error shapes, and fixes that belong to the whole document rather than to one view.

Imported by IdentityConfig.ready() so the extensions are registered before a schema is built.
Served at `/api/schema/` (YAML; JSON with `?format=json` or `Accept: application/vnd.oai.openapi+json`)
and browsable at `/api/docs/` (Swagger UI from drf-spectacular-sidecar's bundled assets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_mock_request
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from identity.serializers.api_keys import APIKeySerializer, APIKeyUpdateSerializer
from identity.serializers.applications import (
    ApplicationCreateSerializer,
    ApplicationSerializer,
    RoleSerializer,
)
from identity.serializers.keys import KeyGenerateRequest, KeyImportRequest, KeySearchRequest, KeyUpdateRequest
from identity.serializers.login_backends import LoginBackendSerializer
from identity.serializers.oauth import MAX_ASSERTION_KEYS
from identity.serializers.personal_access_tokens import AccessTokenCreateSerializer, TokenExchangeSerializer
from identity.serializers.registrations import RegistrationSerializer
from identity.serializers.tenants import TenantSerializer
from identity.serializers.user_import import ImportRequestSerializer, SearchRequestSerializer
from identity.serializers.users import ChangePasswordSerializer, UserSerializer
from identity.serializers.webhooks import WebhookRequestSerializer
from identity.throttles import view_scope
from identity.views.oauth import FORM, SecretRotationSerializer

API_KEY_SCHEME = "ApiKeyAuth"
BEARER_SCHEME = "BearerAuth"
CLIENT_BASIC_SCHEME = "ClientBasicAuth"
CLIENT_CREDENTIALS_SCHEME = "OAuth2ClientCredentials"
OAUTH2_TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a path, not a secret)
# Schemes no authentication class stands for (the views check these credentials themselves);
# added to the document by `postprocess`.
EXTRA_SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    CLIENT_BASIC_SCHEME: {
        "type": "http",
        "scheme": "basic",
        "description": "An OAuth client: its id and secret, each form-encoded (RFC 6749 §2.3.1). "
        "Clients may instead send `client_id` + `client_secret` or a `client_assertion` in the form.",
    },
    CLIENT_CREDENTIALS_SCHEME: {
        "type": "oauth2",
        "description": "An OAuth client's own access token, from the client credentials grant at "
        f"`{OAUTH2_TOKEN_PATH}` (or `/connect/token`), sent as `Authorization: Bearer`. Its scopes are the "
        "ones configured on the client's application (`oauthConfiguration.scopes`).",
        # Relative to the server the document is served from (OpenAPI 3.0 §4.7.32).
        "flows": {"clientCredentials": {"tokenUrl": OAUTH2_TOKEN_PATH, "scopes": {}}},
    },
}


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.APIKeyAuthentication"
    name = API_KEY_SCHEME
    priority = 1

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API key, sent as the whole header value with no scheme (FusionAuth's way).",
        }


class AccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.AccessTokenAuthentication"
    name = BEARER_SCHEME
    priority = 1

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A user's access token, or the `access_token` cookie a login set.",
        }


class AnonymousScheme(OpenApiAuthenticationExtension):
    """AnonymousCaller adds no scheme: whether a request without credentials is answered is the
    permission's call (AllowAny adds the empty requirement `{}`)."""

    target_class = "identity.authentication.AnonymousCaller"
    name: list[str] = []

    def get_security_requirement(self, auto_schema: AutoSchema) -> None:  # type: ignore[override]
        return None

    def get_security_definition(self, auto_schema: AutoSchema) -> list[dict[str, Any]]:
        return []


# ---------------------------------------------------------------------------------------------------
# Shapes. Plain JSON Schema, registered as components by `postprocess`; operations refer to them.
# ---------------------------------------------------------------------------------------------------


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


UUID = {"type": "string", "format": "uuid"}
TEXT = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
INSTANT = {"type": "integer", "format": "int64", "description": "Epoch milliseconds."}
FREE = {"type": "object", "additionalProperties": True}
JWT = {"type": "string", "description": "A compact JWS."}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": obj({"code": TEXT, "message": TEXT, "data": FREE}, ["code"]),
    "Errors": obj(
        {
            "fieldErrors": {"type": "object", "additionalProperties": array(ref("Error"))},
            "generalErrors": array(ref("Error")),
        },
        description="FusionAuth's error shape: codes like `[blank]user.email` on field paths.",
    ),
    "Registration": obj(
        {
            "id": UUID,
            "applicationId": UUID,
            "roles": array(TEXT),
            "username": TEXT,
            "data": FREE,
            "verified": BOOL,
            "insertInstant": INSTANT,
            "lastUpdateInstant": INSTANT,
            "lastLoginInstant": INSTANT,
        }
    ),
    "User": obj(
        {
            "id": UUID,
            "tenantId": UUID,
            "email": TEXT,
            "username": TEXT,
            "password": {**TEXT, "writeOnly": True},
            "firstName": TEXT,
            "middleName": TEXT,
            "lastName": TEXT,
            "fullName": TEXT,
            "active": BOOL,
            "verified": BOOL,
            "expiry": INSTANT,
            "data": FREE,
            "registrations": array(ref("Registration")),
            "insertInstant": INSTANT,
            "lastUpdateInstant": INSTANT,
            "lastLoginInstant": INSTANT,
            "passwordLastUpdateInstant": INSTANT,
        }
    ),
    "Role": obj(
        {
            "id": UUID,
            "name": TEXT,
            "description": TEXT,
            "isDefault": BOOL,
            "isSuperRole": BOOL,
            "insertInstant": INSTANT,
            "lastUpdateInstant": INSTANT,
        }
    ),
    "LoginBackend": obj(
        {
            "id": UUID,
            "applicationId": UUID,
            "name": {
                **TEXT,
                "pattern": "^[A-Za-z0-9_-]{1,64}$",
                "description": "The path segment of /auth/{name}/login; unique across the service.",
            },
            "transport": {"type": "string", "enum": ["bearer", "cookie"]},
            "lifetimeSeconds": INT,
            "cookieName": TEXT,
            "cookieDomain": TEXT,
            "cookiePath": TEXT,
            "cookieSecure": {**BOOL, "description": "Always Secure outside debug mode."},
            "cookieSameSite": {"type": "string", "enum": ["lax", "strict", "none"]},
            "insertInstant": INSTANT,
            "lastUpdateInstant": INSTANT,
        }
    ),
    "JWTConfiguration": obj(
        {
            "enabled": BOOL,
            "timeToLiveInSeconds": INT,
            "refreshTokenTimeToLiveInMinutes": INT,
            "refreshTokenExpirationPolicy": {
                "type": "string",
                "enum": ["Fixed", "SlidingWindow", "SlidingWindowWithMaximumLifetime"],
            },
            "refreshTokenUsagePolicy": {"type": "string", "enum": ["Reusable", "OneTimeUse"]},
            "refreshTokenSlidingWindowConfiguration": obj({"maximumTimeToLiveInMinutes": INT}),
            "refreshTokenOneTimeUseConfiguration": obj({"gracePeriodInSeconds": INT}),
            "refreshTokenRevocationPolicy": obj(
                {"onPasswordChanged": BOOL, "onLoginPrevented": BOOL, "onOneTimeTokenReuse": BOOL}
            ),
            "personalAccessTokenRevocationPolicy": obj({"onPasswordChanged": BOOL}),
            "accessTokenKeyId": {**UUID, "nullable": True},
            "idTokenKeyId": {**UUID, "nullable": True},
        },
        description="The tenant's, or an application's override (used when `enabled`).",
    ),
    "Application": obj(
        {
            "id": UUID,
            "tenantId": UUID,
            "name": TEXT,
            "active": BOOL,
            "roles": array(ref("Role")),
            "jwtConfiguration": ref("JWTConfiguration"),
            "loginConfiguration": obj(
                {"generateRefreshTokens": BOOL, "allowTokenRefresh": BOOL, "requireAuthentication": BOOL}
            ),
            "oauthConfiguration": {"allOf": [ref("OAuthConfiguration")], "nullable": True},
            "insertInstant": INSTANT,
            "lastUpdateInstant": INSTANT,
        }
    ),
    "Tenant": obj(
        {
            "id": UUID,
            "name": TEXT,
            "issuer": TEXT,
            "jwtConfiguration": ref("JWTConfiguration"),
            "loginConfiguration": obj({"requireAuthentication": BOOL}),
            "failedAuthenticationConfiguration": obj(
                {
                    "tooManyAttempts": INT,
                    "resetCountInSeconds": INT,
                    "actionDurationInSeconds": INT,
                    "actionDuration": INT,
                    "actionDurationUnit": {
                        "type": "string",
                        "enum": ["SECONDS", "MINUTES", "HOURS", "DAYS", "WEEKS"],
                    },
                }
            ),
            "insertInstant": INSTANT,
            "lastUpdateInstant": INSTANT,
        }
    ),
    "Key": obj(
        {
            "id": UUID,
            "name": TEXT,
            "algorithm": TEXT,
            "type": {"type": "string", "enum": ["EC", "RSA", "HMAC", "OKP"]},
            "kid": TEXT,
            "tenantId": UUID,
            "issuer": TEXT,
            "length": INT,
            "publicKey": TEXT,
            "privateKey": {**TEXT, "writeOnly": True},
            "secret": {**TEXT, "description": "HMAC only: answered once, by the request that generated it."},
            "certificate": TEXT,
            "hasPrivateKey": BOOL,
            "use": TEXT,
            "expirationInstant": INSTANT,
            "insertInstant": INSTANT,
            "lastUpdateInstant": INSTANT,
        }
    ),
    "APIKey": obj(
        {
            "id": UUID,
            "key": {**TEXT, "description": "The value: sent to create one, answered once, never again."},
            "name": TEXT,
            "prefix": TEXT,
            "tenantId": UUID,
            "keyManager": BOOL,
            "metaData": obj({"attributes": obj({"description": TEXT})}),
            "permissions": obj(
                {"endpoints": {"type": "object", "additionalProperties": array(TEXT)}},
                description="Endpoint → HTTP methods. Empty: every endpoint.",
            ),
            "expirationInstant": INSTANT,
            "insertInstant": INSTANT,
            "lastUpdateInstant": INSTANT,
        }
    ),
    "RefreshToken": obj(
        {
            "id": UUID,
            "applicationId": UUID,
            "tenantId": UUID,
            "userId": UUID,
            "insertInstant": INSTANT,
            "startInstant": INSTANT,
            "expirationInstant": INSTANT,
            "metaData": obj(
                {
                    "device": obj(
                        {
                            "name": TEXT,
                            "description": TEXT,
                            "type": TEXT,
                            "lastAccessedAddress": TEXT,
                            "lastAccessedInstant": INSTANT,
                        }
                    ),
                    "scopes": array(TEXT),
                    "data": FREE,
                }
            ),
            "data": FREE,
        },
        description="FusionAuth's refresh-token object without `token`: only a digest of it is kept.",
    ),
    "Device": obj(
        {
            "metaData": obj({"device": obj({"name": TEXT, "description": TEXT, "type": TEXT})}),
            "ipAddress": TEXT,
        }
    ),
    "LoginRequest": obj(
        {
            "loginId": TEXT,
            "password": {**TEXT, "format": "password"},
            "applicationId": UUID,
            "ipAddress": TEXT,
            "noJWT": BOOL,
            "loginIdTypes": array({"type": "string", "enum": ["email", "username"]}),
            "metaData": obj({"device": obj({"name": TEXT, "description": TEXT, "type": TEXT})}),
        },
        ["loginId", "password"],
    ),
    "LoginResponse": obj(
        {
            "user": ref("User"),
            "token": JWT,
            "tokenExpirationInstant": INSTANT,
            "refreshToken": TEXT,
            "refreshTokenId": UUID,
        },
        ["user"],
    ),
    "TokenResponse": obj({"token": JWT, "refreshToken": TEXT, "refreshTokenId": UUID}, ["token"]),
    "OAuthConfiguration": obj(
        {
            "clientId": {**UUID, "readOnly": True, "description": "The application's id."},
            "clientSecret": {
                **TEXT,
                "readOnly": True,
                "description": "Answered once, by the request that created or rotated it.",
            },
            "enabledGrants": array(TEXT),
            "clientAuthenticationPolicy": TEXT,
            "clientAuthenticationMethods": array(TEXT),
            "scopes": array(TEXT),
            "jwks": FREE,
            "assertionKeyIds": array(UUID),
            "tokenRequestsPerMinute": INT,
        }
    ),
    "OAuthError": obj(
        {"error": TEXT, "error_description": TEXT},
        ["error"],
        description="RFC 6749 §5.2: `invalid_request`, `invalid_client`, `invalid_grant`, "
        "`unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `invalid_target` (RFC 8693), "
        "`slow_down`, `server_error`.",
    ),
    "OAuthTokenResponse": obj(
        {
            "access_token": JWT,
            "token_type": {"type": "string", "description": "`Bearer`."},
            "expires_in": INT,
            "scope": TEXT,
            "refresh_token": TEXT,
            "issued_token_type": {
                "type": "string",
                "enum": ["urn:ietf:params:oauth:token-type:access_token"],
                "description": "Token exchange only (RFC 8693 §2.2.1).",
            },
        },
        ["access_token", "token_type", "expires_in"],
        description="RFC 6749 §5.1 (and RFC 8693 §2.2.1 for a token exchange).",
    ),
    "OAuthTokenRequest": obj(
        {
            "grant_type": {
                "type": "string",
                "enum": [
                    "client_credentials",
                    "refresh_token",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ],
            },
            "scope": TEXT,
            "refresh_token": TEXT,
            "subject_token": {**JWT, "description": "Token exchange: the personal access token."},
            "subject_token_type": {"type": "string", "enum": ["urn:ietf:params:oauth:token-type:jwt"]},
            "requested_token_type": {
                "type": "string",
                "enum": ["urn:ietf:params:oauth:token-type:access_token"],
            },
            "client_id": TEXT,
            "client_secret": {**TEXT, "format": "password"},
            "client_assertion_type": {
                "type": "string",
                "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
            },
            "client_assertion": JWT,
        },
        ["grant_type"],
        description="RFC 6749 §4.4 / §6 and RFC 8693 §2.1 (a personal access token exchanged for a "
        "short-lived access token; no actor tokens, `resource` or `audience`); the client authenticates "
        "with HTTP Basic, `client_id` + `client_secret`, or a `private_key_jwt` assertion (RFC 7523).",
    ),
    "AccessToken": obj(
        {
            "id": UUID,
            "name": TEXT,
            "JWTTokenExpiry": TEXT,
            "JWTTokenExpiresAt": {**INSTANT, "nullable": True},
            "userId": UUID,
            "tenantId": UUID,
            "applicationId": {**UUID, "nullable": True},
            "scopes": array(TEXT),
            "allowedIps": array(TEXT),
            "insertInstant": INSTANT,
            "lastUsedInstant": {**INSTANT, "nullable": True},
            "revokedInstant": {**INSTANT, "nullable": True},
            "revokedBy": {**TEXT, "nullable": True},
        },
        description="A personal access token's record; never its value.",
    ),
    "AuthorizationServerMetadata": obj(
        {
            "issuer": TEXT,
            "token_endpoint": TEXT,
            "jwks_uri": TEXT,
            "response_types_supported": array(TEXT),
            "grant_types_supported": array(TEXT),
            "token_endpoint_auth_methods_supported": array(TEXT),
            "token_endpoint_auth_signing_alg_values_supported": array(TEXT),
            "introspection_endpoint": TEXT,
            "introspection_endpoint_auth_methods_supported": array(TEXT),
            "revocation_endpoint": TEXT,
            "revocation_endpoint_auth_methods_supported": array(TEXT),
        },
        ["issuer", "token_endpoint", "jwks_uri", "response_types_supported"],
        description="RFC 8414 §2.",
    ),
    "Webhook": obj(
        {
            "id": UUID,
            "url": TEXT,
            "description": TEXT,
            "connectTimeout": INT,
            "readTimeout": INT,
            "maxAttempts": INT,
            "eventsEnabled": {"type": "object", "additionalProperties": BOOL},
            "global": BOOL,
            "tenantIds": array(UUID),
            "secret": {**TEXT, "description": "The signing secret: answered once, by the creating request."},
            "insertInstant": {**INSTANT, "nullable": True},
            "lastUpdateInstant": {**INSTANT, "nullable": True},
        }
    ),
    "FastAPIUsersError": obj(
        {"detail": TEXT},
        ["detail"],
        description="fastapi-users' shape: `LOGIN_BAD_CREDENTIALS` or `LOGIN_USER_NOT_VERIFIED`.",
    ),
}


def body(*members: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A request or response object whose members are the named components (`user` → User)."""
    if schema is not None:
        return schema
    return obj({m: ref(m[0].upper() + m[1:]) for m in members})


EMPTY_OK = OpenApiResponse(description="Done; empty body.")
STATUS = obj({"status": {"type": "string", "enum": ["ok", "unavailable"]}}, ["status"])


@dataclass(frozen=True)
class Op:
    """One operation: its FusionAuth SDK-style id, summary, request body, answers and parameters."""

    operation_id: str
    summary: str
    request: dict[str, Any] | type[serializers.Serializer] | serializers.Serializer | None = None
    ok: dict[str, Any] | OpenApiResponse | None = None
    errors: tuple[int, ...] = (400, 401)
    query: tuple[tuple[str, Any, str], ...] = ()
    tag: str = ""
    extra: dict[int, OpenApiResponse] = field(default_factory=dict)
    # Set where the view checks a credential itself (the token it validates): replaces the
    # requirements drf-spectacular derives from the authentication and permission classes.
    security: tuple[dict[str, list[str]], ...] | None = None
    # The request body's media type when `request` is a schema (OAuth endpoints read forms).
    media: str = "application/json"
    # The success status (204 where the answer has no body).
    ok_status: int = 200

    def responses(self, path: str) -> dict[int, Any]:
        answers: dict[int, Any] = {}
        if isinstance(self.ok, OpenApiResponse):
            answers[self.ok_status] = self.ok
        elif self.ok is not None:
            answers[self.ok_status] = OpenApiResponse(response=self.ok, description="OK")
        else:
            answers[self.ok_status] = EMPTY_OK
        answers.update(self.extra)
        codes = set(self.errors)
        if path.startswith("/api/") and path not in UNTENANTED:
            # Anywhere the tenant header is read: 400 when it is not a UUID, 401 when a tenant-locked
            # key names another tenant, 404 for objects outside the tenant it names.
            codes |= {400, 401, 404}
        for code in sorted(codes):
            answers.setdefault(code, ERRORS[code])
        return answers


ERRORS: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(response=ref("Errors"), description="Invalid input: field and general errors."),
    401: OpenApiResponse(description="No, a wrong or an unpermitted credential; empty body."),
    404: OpenApiResponse(description="Not found (or not visible to the caller); empty body."),
    409: OpenApiResponse(description="Locked out (too many failed logins); empty body."),
    410: OpenApiResponse(description="The user has expired; empty body."),
    423: OpenApiResponse(description="The user is deactivated; empty body."),
    500: OpenApiResponse(response=ref("Errors"), description="Server error: one generic body."),
}
# gunicorn refuses a request line over `limit_request_line` (config/gunicorn.conf.py) before Django
# sees it; documented where a query string is read, since a long one (e.g. many `ids`) meets it.
REQUEST_LINE_LIMIT = 4094
REQUEST_LINE_TOO_LONG = OpenApiResponse(
    description=f"The request line is over {REQUEST_LINE_LIMIT} bytes: gunicorn's own answer (HTML, "
    "not JSON). Send long lists in a POST body where one is accepted (`POST /api/user/search`)."
)
THROTTLED = OpenApiResponse(
    response=ref("Errors"),
    description="Over a request budget: `[TooManyRequests]`, with Retry-After (seconds).",
)
OAUTH_PATHS = ("/oauth2/", "/connect/")

CRUD = (400, 401, 404)

# OAuth2 endpoints answer every refusal in RFC 6749 §5.2's shape.
OAUTH_ERRORS: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(
        response=ref("OAuthError"),
        description="invalid_request, invalid_grant, "
        "unauthorized_client, unsupported_grant_type, invalid_scope, invalid_target.",
    ),
    401: OpenApiResponse(
        response=ref("OAuthError"),
        description="invalid_client (WWW-Authenticate: Basic when the client tried HTTP Basic).",
    ),
    405: OpenApiResponse(response=ref("OAuthError"), description="invalid_request: use POST."),
    413: OpenApiResponse(response=ref("OAuthError"), description="invalid_request: the body is too large."),
    429: OpenApiResponse(response=ref("OAuthError"), description="slow_down, with Retry-After (seconds)."),
}
# A client authenticates with HTTP Basic or with credentials in the form (`{}`: none in a header).
OAUTH_CLIENT: tuple[dict[str, list[str]], ...] = ({CLIENT_BASIC_SCHEME: []}, {})
CLIENT_FORM = {
    "client_id": TEXT,
    "client_secret": {**TEXT, "format": "password"},
    "client_assertion_type": TEXT,
    "client_assertion": JWT,
}
Q_HARD_DELETE = (("hardDelete", OpenApiTypes.BOOL, "Delete for good instead of deactivating."),)

OPERATIONS: dict[tuple[str, str], Op] = {
    # Probes
    ("GET", "/api/status"): Op("retrieveStatus", "Readiness: 200 when the database answers, else 503.",
                               ok=STATUS, errors=(), tag="Status",
                               extra={503: OpenApiResponse(response=STATUS, description="Database down.")}),
    ("GET", "/api/health/live"): Op("retrieveLiveness", "Liveness: 200 whenever the process answers.",
                                    ok=STATUS, errors=(), tag="Status"),
    # Login
    ("POST", "/api/login"): Op(
        "login", "Log a user in with a login id and password.", request=ref("LoginRequest"),
        ok=ref("LoginResponse"), errors=(400, 401, 404, 409, 410, 423), tag="Login",
        extra={202: OpenApiResponse(response=ref("LoginResponse"),
                                    description="Logged in, but not registered for the application.")},
    ),
    ("PUT", "/api/login"): Op(
        "loginPingWithRequest", "Record a login without a password.",
        request=obj({"userId": UUID, "applicationId": UUID, "ipAddress": TEXT}, ["userId", "applicationId"]),
        ok=ref("LoginResponse"), errors=(400, 401, 404, 409, 410, 423), tag="Login",
    ),
    ("PUT", "/api/login/{user_id}/{application_id}"): Op(
        "loginPing", "Record a login without a password.", ok=ref("LoginResponse"),
        errors=(400, 401, 404, 409, 410, 423), tag="Login",
    ),
    ("POST", "/api/logout"): Op(
        "logout", "Revoke a refresh token (or all of the user's with global=true) and clear the cookies.",
        request=obj({"global": BOOL, "refreshToken": TEXT}),
        query=(("global", OpenApiTypes.BOOL, "Revoke every session of the token's user."),
               ("refreshToken", OpenApiTypes.STR, "The token to revoke (wins over the cookie).")),
        errors=(400, 401), tag="Login",
    ),
    # JWT
    ("GET", "/api/jwt/validate"): Op(
        "validateJWT", "Validate an access token, a user's or an OAuth client's (Bearer header or "
        "access_token cookie).",
        ok=obj({"jwt": FREE, "tokenKind": TEXT}, ["jwt"]), errors=(401,), tag="JWT",
        security=({BEARER_SCHEME: []}, {CLIENT_CREDENTIALS_SCHEME: []}),
    ),
    ("GET", "/api/jwt/issue"): Op(
        "issueJWT", "Issue an access token for another application from a user's access token.",
        ok=ref("TokenResponse"), errors=(400, 401), tag="JWT",
        query=(("applicationId", OpenApiTypes.UUID, "The application the new token is for."),
               ("refreshToken", OpenApiTypes.STR, "A refresh token to exchange along.")),
        extra={202: OpenApiResponse(response=ref("TokenResponse"),
                                    description="Issued, but the user is not registered for it.")},
    ),
    ("POST", "/api/jwt/vend"): Op(
        "vendJWT", "Sign arbitrary claims with a tenant key.",
        request=obj({"claims": FREE, "keyId": UUID, "timeToLiveInSeconds": INT}),
        ok=obj({"token": JWT}, ["token"]), tag="JWT",
    ),
    ("POST", "/api/jwt/reconcile"): Op(
        "reconcileJWT", "Log in with a token from an external identity provider.",
        request=obj({"applicationId": UUID, "identityProviderId": UUID, "data": obj({"token": TEXT}),
                     "encodedJWT": TEXT, "ipAddress": TEXT}, ["applicationId", "identityProviderId"]),
        ok=ref("LoginResponse"), errors=(400, 401, 404, 409, 410, 423), tag="JWT",
    ),
    ("POST", "/api/jwt/refresh"): Op(
        "exchangeRefreshTokenForJWT", "Exchange a refresh token (body or cookie) for a new access token.",
        request=obj({"refreshToken": TEXT, "token": TEXT, "timeToLiveInSeconds": INT}),
        ok=ref("TokenResponse"), errors=(400, 401), tag="Refresh tokens",
    ),
    ("GET", "/api/jwt/refresh"): Op(
        "retrieveRefreshTokens", "A user's sessions, newest first (values are never shown).",
        ok=obj({"refreshTokens": array(ref("RefreshToken"))}), errors=CRUD, tag="Refresh tokens",
        query=(("userId", OpenApiTypes.UUID, "The user whose sessions to list."),),
    ),
    ("DELETE", "/api/jwt/refresh"): Op(
        "revokeRefreshTokens", "Revoke by token, user, application or user and application.",
        request=obj({"token": TEXT, "userId": UUID, "applicationId": UUID}),
        query=(("token", OpenApiTypes.STR, "A refresh-token value."),
               ("userId", OpenApiTypes.UUID, "Every session of this user."),
               ("applicationId", OpenApiTypes.UUID, "Every session for this application.")),
        errors=CRUD, tag="Refresh tokens",
    ),
    ("GET", "/api/jwt/refresh/{id}"): Op("retrieveRefreshTokenById", "One session.",
                                         ok=obj({"refreshToken": ref("RefreshToken")}), errors=CRUD,
                                         tag="Refresh tokens"),
    ("DELETE", "/api/jwt/refresh/{id}"): Op("revokeRefreshTokenById", "Revoke one session.", errors=CRUD,
                                            tag="Refresh tokens"),
    # Public keys
    ("GET", "/api/jwt/public-key"): Op(
        "retrieveJWTPublicKeys", "Public keys (PEM) by kid, of an application, or all.",
        ok=obj({"publicKey": TEXT, "publicKeys": {"type": "object", "additionalProperties": TEXT}}),
        errors=(404,), tag="Keys",
        query=(("kid", OpenApiTypes.STR, "One key's id."),
               ("applicationId", OpenApiTypes.UUID, "The keys that verify this application's tokens.")),
    ),
    ("GET", "/.well-known/jwks.json"): Op(
        "retrieveJsonWebKeySet", "Every published public key as a JWK set.",
        ok=obj({"keys": array(FREE)}, ["keys"]), errors=(), tag="Keys",
    ),
    ("GET", "/{tenant_id}/.well-known/jwks.json"): Op(
        "retrieveTenantJsonWebKeySet", "A tenant's published public keys as a JWK set.",
        ok=obj({"keys": array(FREE)}, ["keys"]), errors=(404,), tag="Keys",
    ),
    ("GET", "/.well-known/openid-configuration"): Op(
        "retrieveOpenIdConfiguration",
        "OpenID discovery for the default tenant, or `?tenantId=`'s (a tenant's tokens carry its own "
        "issuer: use `/{tenant_id}/.well-known/openid-configuration`).",
        ok=obj({"issuer": TEXT, "jwks_uri": TEXT, "response_types_supported": array(TEXT)}, ["issuer"]),
        errors=(400, 404), tag="Keys",
        query=(("tenantId", OpenApiTypes.UUID, "The tenant to describe."),),
    ),
    ("GET", "/{tenant_id}/.well-known/openid-configuration"): Op(
        "retrieveTenantOpenIdConfiguration", "OpenID discovery for a tenant.",
        ok=obj({"issuer": TEXT, "jwks_uri": TEXT, "response_types_supported": array(TEXT)}, ["issuer"]),
        errors=(404,), tag="Keys",
    ),
    # Key API
    ("GET", "/api/key"): Op("retrieveKeys", "Every signing and verification key.",
                            ok=obj({"keys": array(ref("Key"))}), errors=(401,), tag="Keys"),
    ("GET", "/api/key/{id}"): Op("retrieveKey", "One key.", ok=body("key"), errors=CRUD, tag="Keys"),
    ("PUT", "/api/key/{id}"): Op("updateKey", "Rename a key.", request=obj({"key": obj({"name": TEXT})}),
                                 ok=body("key"), errors=CRUD, tag="Keys"),
    ("DELETE", "/api/key/{id}"): Op(
        "deleteKey",
        "Delete a key no tenant or application uses. A key that verifies live personal access tokens "
        "is refused ([KeyVerifiesPersonalAccessTokens]) unless they are to be revoked.",
        errors=CRUD, tag="Keys",
        query=(("revokePersonalAccessTokens", OpenApiTypes.BOOL,
                "`true`: delete it anyway, revoking the live personal access tokens it signed (they stop "
                "working)."),),
    ),
    ("POST", "/api/key/generate"): Op("generateKey", "Generate a key (an HMAC secret is answered once).",
                                      request=body("key"), ok=body("key"), tag="Keys"),
    ("POST", "/api/key/generate/{id}"): Op("generateKeyWithId", "Generate a key with the given id.",
                                           request=body("key"), ok=body("key"), tag="Keys"),
    ("POST", "/api/key/import"): Op("importKey", "Import a key (PEM, certificate or HMAC secret).",
                                    request=body("key"), ok=body("key"), tag="Keys"),
    ("POST", "/api/key/import/{id}"): Op("importKeyWithId", "Import a key with the given id.",
                                         request=body("key"), ok=body("key"), tag="Keys"),
    ("GET", "/api/key/search"): Op("searchKeys", "Search keys by name, algorithm or type.",
                                   ok=obj({"keys": array(ref("Key")), "total": INT}), tag="Keys",
                                   query=(("name", OpenApiTypes.STR, "Name contains."),
                                          ("algorithm", OpenApiTypes.STR, "Algorithm."),
                                          ("type", OpenApiTypes.STR, "Key type."))),
    ("POST", "/api/key/search"): Op(
        "searchKeysWithRequest", "Search keys by name, algorithm or type.",
        request=obj({"search": obj({"name": TEXT, "algorithm": TEXT, "type": TEXT,
                                    "numberOfResults": INT, "startRow": INT})}),
        ok=obj({"keys": array(ref("Key")), "total": INT}), tag="Keys",
    ),
    # Tenants
    ("GET", "/api/tenant"): Op("retrieveTenants", "Every tenant the caller sees.",
                               ok=obj({"tenants": array(ref("Tenant"))}), errors=(401,), tag="Tenants"),
    ("POST", "/api/tenant"): Op("createTenant", "Create a tenant.", request=body("tenant"),
                                ok=body("tenant"), tag="Tenants"),
    ("GET", "/api/tenant/{id}"): Op("retrieveTenant", "One tenant.", ok=body("tenant"), errors=CRUD,
                                    tag="Tenants"),
    ("POST", "/api/tenant/{id}"): Op("createTenantWithId", "Create a tenant with the given id.",
                                     request=body("tenant"), ok=body("tenant"), tag="Tenants"),
    ("PUT", "/api/tenant/{id}"): Op("updateTenant", "Change a tenant (only what is sent).",
                                    request=body("tenant"), ok=body("tenant"), errors=CRUD, tag="Tenants"),
    ("PATCH", "/api/tenant/{id}"): Op("patchTenant", "Change a tenant (only what is sent).",
                                      request=body("tenant"), ok=body("tenant"), errors=CRUD, tag="Tenants"),
    ("DELETE", "/api/tenant/{id}"): Op("deleteTenant", "Delete a tenant (never the default one).",
                                       errors=(*CRUD, 409), tag="Tenants",
                                       extra={409: OpenApiResponse(response=ref("Errors"),
                                                                   description="The tenant is in use.")}),
    # Applications
    ("GET", "/api/application"): Op("retrieveApplications", "Every application the caller sees.",
                                    ok=obj({"applications": array(ref("Application"))}), errors=(401,),
                                    tag="Applications"),
    ("POST", "/api/application"): Op("createApplication", "Create an application (with roles).",
                                     request=obj({"application": ref("Application")}),
                                     ok=body("application"), tag="Applications"),
    ("GET", "/api/application/{id}"): Op("retrieveApplication", "One application.", ok=body("application"),
                                         errors=CRUD, tag="Applications"),
    ("GET", "/api/application/{id}/oauth-configuration"): Op(
        "retrieveOAuthConfiguration",
        "The application's OAuth client configuration (never its secret); null for no OAuth client.",
        ok=obj({"oauthConfiguration": {"allOf": [ref("OAuthConfiguration")], "nullable": True}}),
        errors=CRUD, tag="Applications",
    ),
    ("POST", "/api/application/{id}"): Op("createApplicationWithId", "Create an application with an id.",
                                          request=body("application"), ok=body("application"),
                                          tag="Applications"),
    ("PUT", "/api/application/{id}"): Op("updateApplication", "Change an application (only what is sent).",
                                         request=body("application"), ok=body("application"), errors=CRUD,
                                         tag="Applications"),
    ("PATCH", "/api/application/{id}"): Op("patchApplication", "Change an application (only what is sent).",
                                           request=body("application"), ok=body("application"),
                                           errors=CRUD, tag="Applications"),
    ("DELETE", "/api/application/{id}"): Op("deleteApplication", "Deactivate an application.",
                                            errors=CRUD, query=Q_HARD_DELETE, tag="Applications"),
    ("POST", "/api/application/{id}/role"): Op("createApplicationRole", "Add a role.", request=body("role"),
                                               ok=body("role"), errors=CRUD, tag="Applications"),
    ("POST", "/api/application/{id}/role/{role_id}"): Op(
        "createApplicationRoleWithId", "Add a role with the given id.", request=body("role"),
        ok=body("role"), errors=CRUD, tag="Applications"),
    ("PUT", "/api/application/{id}/role/{role_id}"): Op(
        "updateApplicationRole", "Change a role (registrations follow a rename).", request=body("role"),
        ok=body("role"), errors=CRUD, tag="Applications"),
    ("PATCH", "/api/application/{id}/role/{role_id}"): Op(
        "patchApplicationRole", "Change a role (registrations follow a rename).", request=body("role"),
        ok=body("role"), errors=CRUD, tag="Applications"),
    ("DELETE", "/api/application/{id}/role/{role_id}"): Op(
        "deleteApplicationRole", "Delete a role (and remove it from registrations).", errors=CRUD,
        tag="Applications"),
    # Users
    ("GET", "/api/user"): Op("retrieveUserByLoginId", "Find a user by email, username or login id.",
                             ok=body("user"), errors=CRUD, tag="Users",
                             query=(("email", OpenApiTypes.STR, "Email."),
                                    ("username", OpenApiTypes.STR, "Username."),
                                    ("loginId", OpenApiTypes.STR, "Email or username."))),
    ("POST", "/api/user"): Op("createUser", "Create a user.", request=body("user"), ok=body("user"),
                              tag="Users"),
    ("GET", "/api/user/{id}"): Op("retrieveUser", "One user with registrations.", ok=body("user"),
                                  errors=CRUD, tag="Users"),
    ("POST", "/api/user/{id}"): Op("createUserWithId", "Create a user with the given id.",
                                   request=body("user"), ok=body("user"), tag="Users"),
    ("PUT", "/api/user/{id}"): Op("updateUser", "Change a user (only what is sent).", request=body("user"),
                                  ok=body("user"), errors=CRUD, tag="Users"),
    ("PATCH", "/api/user/{id}"): Op("patchUser", "Change a user (only what is sent).", request=body("user"),
                                    ok=body("user"), errors=CRUD, tag="Users"),
    ("DELETE", "/api/user/{id}"): Op("deleteUser", "Deactivate a user (hardDelete: delete for good).",
                                     errors=CRUD, query=Q_HARD_DELETE, tag="Users"),
    ("POST", "/api/user/registration"): Op(
        "register", "Create a user and register them, in one transaction.",
        request=obj({"user": ref("User"), "registration": ref("Registration")}),
        ok=obj({"user": ref("User"), "registration": ref("Registration")}), errors=CRUD, tag="Users"),
    ("POST", "/api/user/registration/{user_id}"): Op(
        "registerExistingUser", "Register an existing user (or create them with the given id).",
        request=obj({"user": ref("User"), "registration": ref("Registration")}),
        ok=obj({"user": ref("User"), "registration": ref("Registration")}), errors=CRUD, tag="Users"),
    ("PUT", "/api/user/registration/{user_id}"): Op(
        "updateRegistration", "Change a registration (application in the body).",
        request=body("registration"), ok=body("registration"), errors=CRUD, tag="Users"),
    ("PATCH", "/api/user/registration/{user_id}"): Op(
        "patchRegistration", "Change a registration (application in the body).",
        request=body("registration"), ok=body("registration"), errors=CRUD, tag="Users"),
    ("GET", "/api/user/registration/{user_id}/{application_id}"): Op(
        "retrieveRegistration", "One registration.", ok=body("registration"), errors=CRUD, tag="Users"),
    ("PUT", "/api/user/registration/{user_id}/{application_id}"): Op(
        "updateRegistrationForApplication", "Change a registration.", request=body("registration"),
        ok=body("registration"), errors=CRUD, tag="Users"),
    ("PATCH", "/api/user/registration/{user_id}/{application_id}"): Op(
        "patchRegistrationForApplication", "Change a registration.", request=body("registration"),
        ok=body("registration"), errors=CRUD, tag="Users"),
    ("DELETE", "/api/user/registration/{user_id}/{application_id}"): Op(
        "deleteRegistration", "Remove a registration (and end its sessions).", errors=CRUD, tag="Users"),
    ("POST", "/api/user/change-password"): Op(
        "changePasswordByIdentity", "Change a password with the current one.",
        request=obj({"loginId": TEXT, "currentPassword": {**TEXT, "format": "password"},
                     "password": {**TEXT, "format": "password"}, "applicationId": UUID},
                    ["loginId", "currentPassword", "password"]),
        errors=(400, 401, 404), tag="Users"),
    ("POST", "/api/user/change-password/{change_password_id}"): Op(
        "changePassword", "Change a password with a change-password id (not part of this service: 404).",
        request=FREE, errors=(404,), tag="Users"),
    ("POST", "/api/user/import"): Op(
        "importUsers", "Import users with their password hashes and registrations, all or nothing.",
        request=ImportRequestSerializer, errors=(400, 401), tag="Users"),
    ("GET", "/api/user/search"): Op(
        "searchUsers", "Search users by queryString or ids, paged.",
        ok=obj({"users": array(ref("User")), "total": INT}), tag="Users",
        query=(("queryString", OpenApiTypes.STR, "Terms every match contains; `*` for everyone."),
               ("ids", OpenApiTypes.UUID, "User ids (repeat the parameter)."),
               ("numberOfResults", OpenApiTypes.INT, "Page size (default 25)."),
               ("startRow", OpenApiTypes.INT, "Offset of the page."))),
    ("POST", "/api/user/search"): Op(
        "searchUsersByQuery", "Search users by queryString or ids, paged and sorted.",
        request=SearchRequestSerializer, ok=obj({"users": array(ref("User")), "total": INT}),
        tag="Users"),
    # API keys
    ("POST", "/api/api-key"): Op("createAPIKey", "Create an API key (key managers only).",
                                 request=obj({"apiKey": ref("APIKey")}), ok=obj({"apiKey": ref("APIKey")}),
                                 tag="API keys"),
    ("POST", "/api/api-key/{id}"): Op("createAPIKeyWithId", "Create an API key with the given id.",
                                      request=obj({"apiKey": ref("APIKey")}),
                                      ok=obj({"apiKey": ref("APIKey")}), tag="API keys"),
    ("GET", "/api/api-key/{id}"): Op("retrieveAPIKey", "One API key (never its value).",
                                     ok=obj({"apiKey": ref("APIKey")}), errors=CRUD, tag="API keys"),
    ("PUT", "/api/api-key/{id}"): Op("updateAPIKey", "Change an API key within the caller's reach.",
                                     request=obj({"apiKey": ref("APIKey")}),
                                     ok=obj({"apiKey": ref("APIKey")}), errors=CRUD, tag="API keys"),
    ("PATCH", "/api/api-key/{id}"): Op("patchAPIKey", "Change an API key within the caller's reach.",
                                       request=obj({"apiKey": ref("APIKey")}),
                                       ok=obj({"apiKey": ref("APIKey")}), errors=CRUD, tag="API keys"),
    ("DELETE", "/api/api-key/{id}"): Op("deleteAPIKey", "Delete an API key within the caller's reach.",
                                        errors=CRUD, tag="API keys"),
    # OAuth2 (RFC 6749 / 7662 / 7009 / 8414): form bodies, RFC 6749 §5.2 errors, no-store answers
    ("POST", "/oauth2/token"): Op(
        "oauthToken", "Issue an access token (client credentials, refresh token or token exchange).",
        request=ref("OAuthTokenRequest"), media=FORM, ok=ref("OAuthTokenResponse"), errors=(),
        tag="OAuth2", extra=OAUTH_ERRORS, security=OAUTH_CLIENT,
    ),
    ("POST", "/connect/token"): Op(
        "oauthConnectToken", "The token endpoint at its OpenID Connect path (same as /oauth2/token).",
        request=ref("OAuthTokenRequest"), media=FORM, ok=ref("OAuthTokenResponse"), errors=(),
        tag="OAuth2", extra=OAUTH_ERRORS, security=OAUTH_CLIENT,
    ),
    ("POST", "/oauth2/introspect"): Op(
        "oauthIntrospect", "RFC 7662: whether a token of the caller's tenant is active, and its claims.",
        request=obj({"token": TEXT, "token_type_hint": TEXT, **CLIENT_FORM}), media=FORM,
        ok=obj({"active": BOOL, "client_id": TEXT, "token_type": TEXT, "scope": TEXT, "sub": TEXT,
                "exp": INT, "iat": INT}, ["active"], additionalProperties=True,
               description="`{\"active\": false}` alone for anything not active; else the claims."),
        errors=(), tag="OAuth2", extra=OAUTH_ERRORS,
        security=({API_KEY_SCHEME: []}, *OAUTH_CLIENT),
    ),
    ("POST", "/oauth2/revoke"): Op(
        "oauthRevoke", "RFC 7009: revoke a token issued to the client (unknown tokens answer the same).",
        request=obj({"token": TEXT, "token_type_hint": TEXT, **CLIENT_FORM}, ["token"]), media=FORM,
        ok=OpenApiResponse(response=obj({}), description="Done (or nothing to revoke): `{}`."),
        errors=(), tag="OAuth2", extra=OAUTH_ERRORS, security=OAUTH_CLIENT,
    ),
    ("GET", "/.well-known/oauth-authorization-server"): Op(
        "retrieveAuthorizationServerMetadata",
        "RFC 8414 metadata of the tenant whose issuer is this server's origin, else the default tenant.",
        ok=ref("AuthorizationServerMetadata"), errors=(404,), tag="OAuth2",
    ),
    ("GET", "/.well-known/oauth-authorization-server/{issuer_path}"): Op(
        "retrieveIssuerAuthorizationServerMetadata",
        "RFC 8414 §3.1 metadata of the tenant whose issuer is this origin followed by the path "
        "(`issuer` is then the URL the document describes); 404 when no tenant has that issuer.",
        ok=ref("AuthorizationServerMetadata"), errors=(404,), tag="OAuth2",
    ),
    ("GET", "/{tenant_id}/.well-known/oauth-authorization-server"): Op(
        "retrieveTenantAuthorizationServerMetadata", "RFC 8414 metadata of a tenant.",
        ok=ref("AuthorizationServerMetadata"), errors=(404,), tag="OAuth2",
    ),
    ("POST", "/api/application/{id}/oauth-configuration/client-secret"): Op(
        "rotateOAuthClientSecret",
        "A new client secret, answered once; overlapSeconds keeps the previous one working that long.",
        request=SecretRotationSerializer,
        ok=obj({"oauthConfiguration": obj({"clientId": UUID, "clientSecret": TEXT},
                                          ["clientId", "clientSecret"])}, ["oauthConfiguration"]),
        errors=CRUD, tag="Applications",
    ),
    # Login backends of an application (ours: fastapi-users style; docs/fusionauth-differences.md)
    ("GET", "/api/application/{id}/login-backend"): Op(
        "retrieveLoginBackends", "An application's login backends.",
        ok=obj({"loginBackends": array(ref("LoginBackend"))}, ["loginBackends"]), errors=CRUD,
        tag="Login backends"),
    ("POST", "/api/application/{id}/login-backend"): Op(
        "createLoginBackend", "Add a login backend (absent members take their defaults).",
        ok=body("loginBackend"), errors=CRUD, tag="Login backends"),
    ("POST", "/api/application/{id}/login-backend/{backend_id}"): Op(
        "createLoginBackendWithId", "Add a login backend with the given id.", ok=body("loginBackend"),
        errors=CRUD, tag="Login backends"),
    ("GET", "/api/application/{id}/login-backend/{backend_id}"): Op(
        "retrieveLoginBackend", "One login backend.", ok=body("loginBackend"), errors=CRUD,
        tag="Login backends"),
    ("PUT", "/api/application/{id}/login-backend/{backend_id}"): Op(
        "updateLoginBackend", "Change a login backend (only what is sent).", ok=body("loginBackend"),
        errors=CRUD, tag="Login backends"),
    ("PATCH", "/api/application/{id}/login-backend/{backend_id}"): Op(
        "patchLoginBackend", "Change a login backend (only what is sent).", ok=body("loginBackend"),
        errors=CRUD, tag="Login backends"),
    ("DELETE", "/api/application/{id}/login-backend/{backend_id}"): Op(
        "deleteLoginBackend", "Delete a login backend (its tokens stay valid until they expire).",
        errors=CRUD, tag="Login backends"),
    # Personal access tokens
    ("POST", "/api/user/{user_id}/access-token"): Op(
        "createAccessToken", "Create a personal access token (API key); its value is answered once.",
        request=AccessTokenCreateSerializer,
        ok=obj({"accessToken": ref("AccessToken"), "JWTToken": {**TEXT, "description": "The value."}},
               ["accessToken", "JWTToken"]),
        errors=CRUD, tag="Personal access tokens",
    ),
    ("GET", "/api/user/{user_id}/access-token"): Op(
        "retrieveAccessTokens", "A user's personal access tokens (API key, or the user's own token).",
        ok=obj({"accessTokens": array(ref("AccessToken"))}, ["accessTokens"]), errors=CRUD,
        tag="Personal access tokens",
    ),
    ("GET", "/api/user/{user_id}/access-token/{id}"): Op(
        "retrieveAccessToken", "One personal access token.",
        ok=obj({"accessToken": ref("AccessToken")}, ["accessToken"]), errors=CRUD,
        tag="Personal access tokens",
    ),
    ("DELETE", "/api/user/{user_id}/access-token/{id}"): Op(
        "revokeAccessToken", "Revoke a personal access token; answers its record.",
        ok=obj({"accessToken": ref("AccessToken")}, ["accessToken"]), errors=CRUD,
        tag="Personal access tokens",
    ),
    ("POST", "/api/jwt/exchange"): Op(
        "exchangePersonalAccessToken", "RFC 8693: a personal access token for a short-lived access token.",
        request=TokenExchangeSerializer,
        ok=obj({"access_token": JWT, "issued_token_type": TEXT, "token_type": TEXT, "expires_in": INT,
                "scope": TEXT}, ["access_token", "issued_token_type", "token_type", "expires_in"]),
        errors=(400, 401), tag="Personal access tokens",
    ),
    # fastapi-users style login backends
    ("POST", "/auth/{name}/login"): Op(
        "backendLogin", "Log in with the OAuth2 password form; a bearer backend answers the token, a "
        "cookie backend sets it (204).",
        request=obj({"username": TEXT, "password": {**TEXT, "format": "password"}, "grant_type": TEXT,
                     "scope": TEXT, "client_id": TEXT, "client_secret": TEXT},
                    ["username", "password"]), media=FORM,
        ok=OpenApiResponse(response=obj({"access_token": JWT, "token_type": {"type": "string",
                                                                            "enum": ["bearer"]}},
                                        ["access_token", "token_type"]),
                           description="Bearer transport: the access token."),
        errors=(401, 404), tag="Login backends", security=({},),
        extra={204: OpenApiResponse(description="Cookie transport: the token is in Set-Cookie."),
               # anyOf: `Errors` has no required member, so `{"detail": ...}` matches both.
               400: OpenApiResponse(response={"anyOf": [ref("FastAPIUsersError"), ref("Errors")]},
                                    description="`{\"detail\": ...}` for refused credentials; field "
                                                "errors for a malformed form.")},
    ),
    ("POST", "/auth/{name}/logout"): Op(
        "backendLogout", "Log out of a backend (its bearer token or cookie); a cookie backend clears it.",
        ok=OpenApiResponse(description="Logged out; empty body."), ok_status=204, errors=(401, 404),
        tag="Login backends", security=({BEARER_SCHEME: []}, {}),
    ),
    # Webhooks
    ("GET", "/api/webhook"): Op("retrieveWebhooks", "Every webhook.",
                                ok=obj({"webhooks": array(ref("Webhook"))}), errors=CRUD, tag="Webhooks"),
    ("POST", "/api/webhook"): Op("createWebhook", "Create a webhook; its signing secret is answered once.",
                                 request=WebhookRequestSerializer, ok=obj({"webhook": ref("Webhook")}),
                                 errors=CRUD, tag="Webhooks"),
    ("GET", "/api/webhook/{id}"): Op("retrieveWebhook", "One webhook.", ok=obj({"webhook": ref("Webhook")}),
                                     errors=CRUD, tag="Webhooks"),
    ("POST", "/api/webhook/{id}"): Op("createWebhookWithId", "Create a webhook with the given id.",
                                      request=WebhookRequestSerializer, ok=obj({"webhook": ref("Webhook")}),
                                      errors=CRUD, tag="Webhooks"),
    ("PUT", "/api/webhook/{id}"): Op("updateWebhook", "Change a webhook (only what is sent).",
                                     request=WebhookRequestSerializer, ok=obj({"webhook": ref("Webhook")}),
                                     errors=CRUD, tag="Webhooks"),
    ("PATCH", "/api/webhook/{id}"): Op("patchWebhook", "Change a webhook (only what is sent).",
                                       request=WebhookRequestSerializer, ok=obj({"webhook": ref("Webhook")}),
                                       errors=CRUD, tag="Webhooks"),
    ("DELETE", "/api/webhook/{id}"): Op("deleteWebhook", "Delete a webhook.", errors=CRUD, tag="Webhooks"),
    # The middleware demo (a plain Django view: its path is added by `postprocess`)
    ("GET", "/demo/api/hello"): Op(
        "demoHello", "A sample endpoint identity.middleware protects: greets the token's user.",
        ok=obj({"message": TEXT, "sub": TEXT, "aud": {"oneOf": [TEXT, array(TEXT)]}}, ["message"]),
        errors=(), tag="Demo", security=({BEARER_SCHEME: []},),
        extra={401: OpenApiResponse(response=obj({"error": TEXT, "errorMessage": TEXT}, ["error"]),
                                    description="No valid token.")},
    ),
}  # fmt: skip


def envelope(name: str, **members: serializers.Field) -> serializers.Serializer:
    """A request body `{member: {...}}` made of the serializers the views parse with."""
    return inline_serializer(name=name, fields=members)


# Request bodies the views parse with DRF serializers (identity/serializers/) are described by those
# serializers, so the document follows the code; the responses stay the components above, which
# schemathesis checks against live answers.
_TENANT = envelope("TenantBody", tenant=TenantSerializer())
_APPLICATION = envelope(
    "ApplicationBody",
    application=ApplicationCreateSerializer(),
    roles=RoleSerializer(many=True, required=False),
)
_APPLICATION_UPDATE = envelope("ApplicationUpdateBody", application=ApplicationSerializer())
_ROLE = envelope("RoleBody", role=RoleSerializer())
_LOGIN_BACKEND = envelope("LoginBackendBody", loginBackend=LoginBackendSerializer())
_USER = envelope("UserBody", user=UserSerializer())
_REGISTER = envelope(
    "RegisterBody", user=UserSerializer(required=False), registration=RegistrationSerializer()
)
_REGISTRATION = envelope("RegistrationBody", registration=RegistrationSerializer())
_API_KEY = envelope("APIKeyBody", apiKey=APIKeySerializer())
_API_KEY_UPDATE = envelope("APIKeyUpdateBody", apiKey=APIKeyUpdateSerializer())
SERIALIZED_REQUESTS: dict[tuple[str, str], Any] = {
    ("POST", "/api/key/generate"): KeyGenerateRequest,
    ("POST", "/api/key/generate/{id}"): KeyGenerateRequest,
    ("POST", "/api/key/import"): KeyImportRequest,
    ("POST", "/api/key/import/{id}"): KeyImportRequest,
    ("PUT", "/api/key/{id}"): KeyUpdateRequest,
    ("POST", "/api/key/search"): KeySearchRequest,
    ("POST", "/api/tenant"): _TENANT,
    ("POST", "/api/tenant/{id}"): _TENANT,
    ("PUT", "/api/tenant/{id}"): _TENANT,
    ("PATCH", "/api/tenant/{id}"): _TENANT,
    ("POST", "/api/application"): _APPLICATION,
    ("POST", "/api/application/{id}"): _APPLICATION,
    ("PUT", "/api/application/{id}"): _APPLICATION_UPDATE,
    ("PATCH", "/api/application/{id}"): _APPLICATION_UPDATE,
    ("POST", "/api/application/{id}/role"): _ROLE,
    ("POST", "/api/application/{id}/role/{role_id}"): _ROLE,
    ("PUT", "/api/application/{id}/role/{role_id}"): _ROLE,
    ("PATCH", "/api/application/{id}/role/{role_id}"): _ROLE,
    ("POST", "/api/application/{id}/login-backend"): _LOGIN_BACKEND,
    ("POST", "/api/application/{id}/login-backend/{backend_id}"): _LOGIN_BACKEND,
    ("PUT", "/api/application/{id}/login-backend/{backend_id}"): _LOGIN_BACKEND,
    ("PATCH", "/api/application/{id}/login-backend/{backend_id}"): _LOGIN_BACKEND,
    ("POST", "/api/user"): _USER,
    ("POST", "/api/user/{id}"): _USER,
    ("PUT", "/api/user/{id}"): _USER,
    ("PATCH", "/api/user/{id}"): _USER,
    ("POST", "/api/user/registration"): _REGISTER,
    ("POST", "/api/user/registration/{user_id}"): _REGISTER,
    ("PUT", "/api/user/registration/{user_id}"): _REGISTRATION,
    ("PATCH", "/api/user/registration/{user_id}"): _REGISTRATION,
    ("PUT", "/api/user/registration/{user_id}/{application_id}"): _REGISTRATION,
    ("PATCH", "/api/user/registration/{user_id}/{application_id}"): _REGISTRATION,
    ("POST", "/api/user/change-password"): ChangePasswordSerializer,
    ("POST", "/api/api-key"): _API_KEY,
    ("POST", "/api/api-key/{id}"): _API_KEY,
    ("PUT", "/api/api-key/{id}"): _API_KEY_UPDATE,
    ("PATCH", "/api/api-key/{id}"): _API_KEY_UPDATE,
}
for _key, _request in SERIALIZED_REQUESTS.items():
    OPERATIONS[_key] = replace(OPERATIONS[_key], request=_request)


PATH_PARAMETERS = {
    "id": "The object's id.",
    "user_id": "The user's id.",
    "application_id": "The application's id.",
    "role_id": "The role's id.",
    "backend_id": "The login backend's id.",
    "tenant_id": "The tenant's id.",
    "change_password_id": "A change-password id.",
    "name": "The login backend's name.",
}
NON_UUID_PATH_PARAMETERS = {"name"}

UNTENANTED = ("/api/status", "/api/health/live")

TENANT_HEADER_PARAMETER = OpenApiParameter(
    "X-FusionAuth-TenantId",
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description="The tenant to act in (README: the tenant-header table).",
)


class IdentityAutoSchema(AutoSchema):
    """Every operation is described by OPERATIONS, keyed by method and path. An endpoint missing
    from it falls back to drf-spectacular's guessing, whose error fails tests/test_openapi.py."""

    def _op(self) -> Op | None:
        return OPERATIONS.get((self.method.upper(), self.path))

    def _is_list_view(self, serializer: Any = None) -> bool:
        # Our list answers are objects (`{"tenants": [...]}`), never bare arrays.
        return False if self._op() is not None else super()._is_list_view(serializer)

    def get_operation_id(self) -> str:
        op = self._op()
        return op.operation_id if op else super().get_operation_id()

    def get_summary(self) -> str | None:
        op = self._op()
        return op.summary if op else super().get_summary()

    def get_tags(self) -> list[str]:
        op = self._op()
        return [op.tag] if op and op.tag else super().get_tags()

    def get_auth(self) -> list[Any]:
        op = self._op()
        auths = super().get_auth()
        return list(op.security) if op is not None and op.security is not None else auths

    def get_request_serializer(self) -> Any:
        op = self._op()
        if op is None:
            return super().get_request_serializer()
        if op.request is None or not isinstance(op.request, dict):
            return op.request  # none, or the serializer the view validates the body with
        # A mapping of media types (a bare schema dict would be read as one).
        return {op.media: op.request}

    def get_response_serializers(self) -> Any:
        op = self._op()
        if op is None:
            return super().get_response_serializers()
        answers = op.responses(self.path)
        if op.query:
            answers.setdefault(414, REQUEST_LINE_TOO_LONG)
        if view_scope(self.view) is not None:  # a request budget (identity/throttles.py)
            answers.setdefault(429, OAUTH_ERRORS[429] if self.path.startswith(OAUTH_PATHS) else THROTTLED)
        return answers

    def get_override_parameters(self) -> list[Any]:
        op = self._op()
        parameters = list(super().get_override_parameters())
        for name in re.findall(r"{(\w+)}", self.path):
            parameters.append(
                OpenApiParameter(
                    name,
                    OpenApiTypes.STR if name in NON_UUID_PATH_PARAMETERS else OpenApiTypes.UUID,
                    OpenApiParameter.PATH,
                    description=PATH_PARAMETERS.get(name, ""),
                )
            )
        if op is not None:
            parameters += [
                OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=text)
                for name, kind, text in op.query
            ]
        if self.path.startswith("/api/") and self.path not in UNTENANTED:
            parameters.append(TENANT_HEADER_PARAMETER)
        return parameters


class InstantField(OpenApiSerializerFieldExtension):
    """Epoch-millisecond instants (identity.serializers.common.Instant; null clears)."""

    target_class = "identity.serializers.common.Instant"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        return {**INSTANT, "nullable": True}


class ImportInstantField(InstantField):
    """The user import's own instant field."""

    target_class = "identity.serializers.user_import._Instant"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        return dict(INSTANT)


class AssertionKeyIdsField(OpenApiSerializerFieldExtension):
    """An OAuth client's `assertionKeyIds`: ids of key-store keys verifying its assertions."""

    target_class = "identity.serializers.oauth.AssertionKeyIds"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        return {**array(UUID), "maxItems": MAX_ASSERTION_KEYS}


class EndpointPermissionsField(OpenApiSerializerFieldExtension):
    """An API key's `permissions`: `{"endpoints": {"/api/user": ["GET", ...]}}`."""

    target_class = "identity.serializers.api_keys.EndpointPermissions"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        return obj(
            {"endpoints": {"type": "object", "additionalProperties": array(TEXT)}},
            description="Endpoint → HTTP methods. Empty: every endpoint.",
        )


# Routes that exist only to answer 404 for FusionAuth paths this service does not serve.
UNDOCUMENTED_VIEWS = {"UnservedUserApi"}


def preprocess(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """drf-spectacular PREPROCESSING_HOOKS: leave out the routes that serve nothing."""
    return [
        e for e in endpoints if getattr(getattr(e[3], "cls", None), "__name__", "") not in UNDOCUMENTED_VIEWS
    ]


def mock_request(method: str, path: str, view: Any, original_request: Any, **kwargs: Any) -> Request:
    """drf-spectacular's mock request, with `view.request` set first as Django's `View.setup()` does
    for a real request: views choose their authenticators by the request's method."""
    view.request = APIRequestFactory().generic(method, path)
    return build_mock_request(method, path, view, original_request, **kwargs)


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Whole-document additions (drf-spectacular POSTPROCESSING_HOOKS): the shared shapes."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        schemas.setdefault(name, schema)
    schemes = result["components"].setdefault("securitySchemes", {})
    for name, scheme in EXTRA_SECURITY_SCHEMES.items():
        schemes.setdefault(name, scheme)
    for (method, path), op in PLAIN_DJANGO_OPERATIONS.items():
        result.setdefault("paths", {}).setdefault(path, {})[method.lower()] = plain_operation(op, path)
    return result


# Plain Django views (not DRF): drf-spectacular does not see them, so `postprocess` adds them.
PLAIN_DJANGO_OPERATIONS = {key: OPERATIONS[key] for key in [("GET", "/demo/api/hello")]}


def plain_operation(op: Op, path: str) -> dict[str, Any]:
    """An operation object written by hand from its table row (JSON bodies, no parameters)."""
    responses: dict[str, Any] = {}
    for code, answer in sorted(op.responses(path).items()):
        described: dict[str, Any] = {"description": answer.description or ""}
        if answer.response is not None:
            described["content"] = {"application/json": {"schema": answer.response}}
        responses[str(code)] = described
    return {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "security": list(op.security or ({},)),
        "responses": responses,
    }

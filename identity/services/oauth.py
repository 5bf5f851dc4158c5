"""The OAuth2 token endpoint's rules: grants (dispatched through `GRANTS`), introspection, revocation.

`oauth_token_grant` authenticates the client (identity.services.oauth_clients), counts the request
against its throttle, checks the grant is enabled for it and hands over to the grant's handler.
Client-credentials access tokens are JWTs of their own kind (`tkn: client`, `typ: at+jwt`, RFC
9068), signed with the application's (or tenant's) access-token key: `/api/jwt/validate` accepts
them, `/api/jwt/issue` and the JWT-authenticated APIs do not. The refresh grant is the same
exchange as `/api/jwt/refresh` (one call, `_refresh_exchange`); the token exchange (RFC 8693) is the
one of `/api/jwt/exchange` (`pat_exchange`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from identity.caller import Caller
from identity.exceptions import (
    NotAuthenticated,
    OAuthInvalidGrant,
    OAuthInvalidRequest,
    OAuthInvalidScope,
    OAuthInvalidTarget,
    OAuthUnauthorizedClient,
    OAuthUnsupportedGrantType,
    RefreshTokenUnusable,
    TokenInvalid,
    ValidationFailed,
)
from identity.models import ClientAuthenticationMethod, KeyAlgorithm, OAuthGrant, RefreshToken
from identity.services.access_tokens import access_token_signing_key
from identity.services.jwt import ValidatedToken, jwt_validate
from identity.services.oauth_clients import (
    AuthenticatedClient,
    ClientCredentials,
    oauth_client_authenticate,
    oauth_client_throttle,
)
from identity.services.personal_access_tokens import ACCESS_TOKEN_TYPE as EXCHANGED_TOKEN_TYPE
from identity.services.personal_access_tokens import JWT_TOKEN_TYPE as PAT_TOKEN_TYPE
from identity.services.personal_access_tokens import pat_exchange, pat_revoke_by_id
from identity.services.refresh_tokens import (
    RevokeReason,
    TokenPair,
    refresh_grant,
    refresh_token_find,
    refresh_tokens_revoke_family,
)
from identity.services.revocations import token_revoke
from identity.signing import COMPACT_JWS, MAX_TOKEN_BYTES, TokenKind, sign
from identity.validators import SCOPE_TOKEN

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
CLIENT_TOKEN_DEFAULT_TTL_SECONDS = 86_400
"""A client-credentials token's lifetime when its application has no JWT configuration of its own:
one day, seed 002's `expires_in` (the tenant's access-token lifetime is for users' tokens)."""
INACTIVE: dict[str, Any] = {"active": False}


@dataclass(frozen=True)
class TokenResponse:
    """RFC 6749 §5.1."""

    access_token: str
    expires_in: int
    scope: str | None = None
    refresh_token: str | None = None
    token_type: str = "Bearer"  # noqa: S105
    issued_token_type: str | None = None
    """RFC 8693 §2.2.1, a token exchange's answer only."""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }
        if self.issued_token_type is not None:
            body["issued_token_type"] = self.issued_token_type
        if self.scope:
            body["scope"] = self.scope
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


@dataclass(frozen=True)
class GrantRequest:
    client: AuthenticatedClient
    params: Mapping[str, str]
    now: datetime
    address: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def _scope(requested: str | None, allowed: Sequence[str]) -> str:
    """The scope granted: what was asked for if the client may have all of it, else invalid_scope;
    everything it may have when nothing was asked for."""
    if requested is None:
        return " ".join(allowed)
    wanted = requested.split(" ")
    if any(not SCOPE_TOKEN.fullmatch(s) for s in wanted) or not set(wanted) <= set(allowed):
        raise OAuthInvalidScope()
    return " ".join(dict.fromkeys(wanted))


def _client_credentials(grant: GrantRequest) -> TokenResponse:
    """RFC 6749 §4.4: an access token for the client itself, no refresh token."""
    client, now = grant.client, grant.now
    application, tenant = client.application, client.tenant
    scope = _scope(grant.params.get("scope"), client.configuration.scopes)
    ttl = (
        application.access_token_ttl_seconds if application.jwt_enabled else CLIENT_TOKEN_DEFAULT_TTL_SECONDS
    )
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "aud": client.client_id,
        "client_id": client.client_id,
        "exp": issued + ttl,
        "gty": OAuthGrant.CLIENT_CREDENTIALS.value,
        "iat": issued,
        "iss": tenant.issuer,
        "jti": str(uuid.uuid4()),
        "sub": client.client_id,
        "tid": str(tenant.pk),
    }
    if scope:
        claims["scope"] = scope
    key = access_token_signing_key(tenant=tenant, application=application, now=now)
    token = sign(claims=claims, key=key, kind=TokenKind.CLIENT, now=now, typ=ACCESS_TOKEN_TYPE)
    return TokenResponse(access_token=token, expires_in=ttl, scope=scope or None)


def _refresh_exchange(*, value: str, tenant_id: uuid.UUID, address: str, now: datetime) -> TokenPair:
    """The one call into the refresh grant of `/api/jwt/refresh` (same policies, rotation and
    reuse detection); its refusal is this grant's `invalid_grant`."""
    try:
        return refresh_grant(value=value, address=address, tenant_id=tenant_id, now=now)
    except RefreshTokenUnusable as exc:
        raise OAuthInvalidGrant() from exc


def _refresh_token(grant: GrantRequest) -> TokenResponse:
    """RFC 6749 §6: the refresh token must have been issued to this client; a narrower scope may be
    asked for, never a wider one. A token of another client is refused before anything changes."""
    value = grant.params.get("refresh_token")
    if value is None:
        raise OAuthInvalidRequest("refresh_token is required.")
    application_id = grant.client.application.pk
    current = refresh_token_find(value=value)
    if current is not None and current.application_id != application_id:
        raise OAuthInvalidGrant()
    if current is not None and "scope" in grant.params:
        _scope(grant.params["scope"], current.scopes)
    exchanged = _refresh_exchange(
        value=value, tenant_id=grant.client.tenant.pk, address=grant.address, now=grant.now
    )
    token: RefreshToken = exchanged.refresh_token
    if token.application_id != application_id:
        raise OAuthInvalidGrant()  # an older value of another client's token, answered unrotated (grace)
    access = exchanged.access_token
    return TokenResponse(
        access_token=access.value,
        expires_in=max(0, int((access.expires_at - grant.now).total_seconds())),
        scope=" ".join(token.scopes) or None,
        refresh_token=exchanged.refresh_token_value,
    )


# RFC 8693 §2.1 parameters this server does not serve: delegation (actor tokens) and targets.
UNSERVED_EXCHANGE_PARAMETERS = ("actor_token", "actor_token_type")
TARGET_PARAMETERS = ("resource", "audience")
# RFC 8693 §2.2.2: a subject token that is invalid or unacceptable is `invalid_request`; one message
# for every reason (revoked, expired, foreign, its user locked), so the answer tells nothing apart.
UNUSABLE_SUBJECT = "The subject_token is invalid, expired, revoked or not this client's to exchange."


def _token_exchange(grant: GrantRequest) -> TokenResponse:
    """RFC 8693 impersonation: a personal access token (the subject token, of the client's tenant)
    exchanged for a short-lived access token by `pat_exchange`, the exchange `/api/jwt/exchange`
    makes. A PAT bound to an application is exchanged only by that application's client; `scope`
    may narrow the token, never widen it. Nothing is written."""
    params = grant.params
    for name in ("subject_token", "subject_token_type"):
        if name not in params:
            raise OAuthInvalidRequest(f"{name} is required.")
    if any(name in params for name in UNSERVED_EXCHANGE_PARAMETERS):
        raise OAuthInvalidRequest("Actor tokens (delegation) are not supported.")
    if any(name in params for name in TARGET_PARAMETERS):
        raise OAuthInvalidTarget()
    requested_type = params.get("requested_token_type", EXCHANGED_TOKEN_TYPE)
    if requested_type != EXCHANGED_TOKEN_TYPE:
        raise OAuthInvalidRequest(f"Only {EXCHANGED_TOKEN_TYPE} tokens are issued.")
    scopes = None
    if "scope" in params:
        scopes = params["scope"].split(" ")
        if any(not SCOPE_TOKEN.fullmatch(s) for s in scopes):
            raise OAuthInvalidScope()
    try:
        access = pat_exchange(
            subject_token=params["subject_token"],
            subject_token_type=params["subject_token_type"],
            address=grant.address or None,
            now=grant.now,
            tenant_id=grant.client.tenant.pk,
            scopes=scopes,
        )
    except ValidationFailed as exc:
        if "scope" in exc.field_errors:
            raise OAuthInvalidScope() from exc
        raise OAuthInvalidRequest(f"subject_token_type must be {PAT_TOKEN_TYPE}.") from exc
    except (TokenInvalid, NotAuthenticated) as exc:
        raise OAuthInvalidRequest(UNUSABLE_SUBJECT) from exc
    if access.claims.get("applicationId", grant.client.client_id) != grant.client.client_id:
        raise OAuthInvalidRequest(UNUSABLE_SUBJECT)
    scope = access.claims.get("scope")
    return TokenResponse(
        access_token=access.value,
        expires_in=max(0, int((access.expires_at - grant.now).total_seconds())),
        scope=scope if isinstance(scope, str) and scope else None,
        issued_token_type=EXCHANGED_TOKEN_TYPE,
    )


GrantHandler = Callable[[GrantRequest], TokenResponse]
# grant_type → handler.
GRANTS: dict[str, GrantHandler] = {
    OAuthGrant.CLIENT_CREDENTIALS.value: _client_credentials,
    OAuthGrant.REFRESH_TOKEN.value: _refresh_token,
    OAuthGrant.TOKEN_EXCHANGE.value: _token_exchange,
}
# Grants only a confidential (authenticated) client may use, whatever its policy says.
CONFIDENTIAL_GRANTS = frozenset({OAuthGrant.CLIENT_CREDENTIALS.value, OAuthGrant.TOKEN_EXCHANGE.value})


def oauth_token_grant(
    *,
    credentials: ClientCredentials,
    params: Mapping[str, str],
    audiences: Sequence[str],
    now: datetime,
    address: str = "",
) -> TokenResponse:
    """`POST /oauth2/token`: the grant named by `grant_type`, for the client the request
    authenticates (then throttled per client), if the grant is enabled for it."""
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise OAuthInvalidRequest("grant_type is required.")
    handler = GRANTS.get(grant_type)
    if handler is None:
        raise OAuthUnsupportedGrantType()
    client = oauth_client_authenticate(
        credentials=credentials, audiences=audiences, now=now, required=grant_type in CONFIDENTIAL_GRANTS
    )
    oauth_client_throttle(configuration=client.configuration, now=now)
    if grant_type not in client.configuration.enabled_grants:
        raise OAuthUnauthorizedClient()
    return handler(GrantRequest(client=client, params=params, now=now, address=address))


# --- introspection and revocation -----------------------------------------------------------------


def _validated(token: str, *, tenant_id: uuid.UUID | None, now: datetime) -> ValidatedToken | None:
    """A user or client access token valid in the tenant (validate's machinery: no SQL unless the
    tenant checks state), else None. Vended tokens are not OAuth access tokens."""
    if not COMPACT_JWS.fullmatch(token):
        return None
    try:
        validated = jwt_validate(token=token, now=now, tenant_id=tenant_id)
    except TokenInvalid:
        return None
    return None if validated.kind == TokenKind.VENDED else validated


def _owner(validated: ValidatedToken) -> str | None:
    """The client (application id) an access token was issued to."""
    claims = validated.claims
    owner = claims.get("client_id") if validated.kind == TokenKind.CLIENT else claims.get("aud")
    return owner if isinstance(owner, str) else None


def _live_refresh_token(token: str, *, tenant_id: uuid.UUID | None, now: datetime) -> RefreshToken | None:
    found = refresh_token_find(value=token)
    if (
        found is None
        or found.revoked_at is not None
        or found.expires_at <= now
        or (tenant_id is not None and found.tenant_id != tenant_id)
    ):
        return None
    return found


def oauth_token_introspect(
    *,
    token: str | None,
    caller: Caller,
    credentials: ClientCredentials,
    audiences: Sequence[str],
    now: datetime,
) -> dict[str, Any]:
    """RFC 7662 for a caller with an API key (its tenant scope) or an authenticated client (its
    tenant): `{"active": true, ...claims}` for a valid access token of that tenant, which resource
    servers present, or a live refresh token of it (to a client, only one issued to that client:
    nobody else ever holds one legitimately); `{"active": false}` and nothing else for anything
    else. Without `token`, `invalid_request` (§2.1 requires it). An access token costs no SQL."""
    client: AuthenticatedClient | None = None
    if caller.api_key is not None:
        tenant_id = caller.tenant_id
    else:
        client = oauth_client_authenticate(credentials=credentials, audiences=audiences, now=now)
        tenant_id = client.tenant.pk
    if token is None:
        raise OAuthInvalidRequest("token is required.")
    if len(token) > MAX_TOKEN_BYTES:
        return INACTIVE
    validated = _validated(token, tenant_id=tenant_id, now=now)
    if validated is not None:
        return {
            **validated.claims,
            "active": True,
            "client_id": _owner(validated),
            "token_type": "Bearer",
        }
    found = _live_refresh_token(token, tenant_id=tenant_id, now=now)
    if found is None or (client is not None and found.application_id != client.application.pk):
        return INACTIVE  # a refresh token is for the client it was issued to (RFC 6749 §1.5) alone
    return {
        "active": True,
        "token_type": "refresh_token",
        "client_id": str(found.application_id),
        "sub": str(found.user_id),
        "iat": int(found.created_at.timestamp()),
        "exp": int(found.expires_at.timestamp()),
        "tid": str(found.tenant_id),
        **({"scope": " ".join(found.scopes)} if found.scopes else {}),
    }


def oauth_token_revoke(
    *, token: str | None, credentials: ClientCredentials, audiences: Sequence[str], now: datetime
) -> None:
    """RFC 7009: a client revokes a token issued to it. A refresh token takes its whole family with
    it; an access token's `jti` is denied until it expires; a personal access token bound to the
    client's application is revoked as its record (pat_revoke: listed as revoked, by this client,
    an Unlimited one included). A token that is unknown, invalid or another client's is left
    alone and answered the same (200), so the endpoint reveals nothing."""
    client = oauth_client_authenticate(credentials=credentials, audiences=audiences, now=now)
    if token is None:
        raise OAuthInvalidRequest("token is required.")
    if len(token) > MAX_TOKEN_BYTES:
        return
    validated = _validated(token, tenant_id=client.tenant.pk, now=now)
    if validated is not None:
        if _owner(validated) != client.client_id:
            return
        if validated.kind == TokenKind.PAT:
            pat_revoke_by_id(token_id=validated.claims["jti"], by=f"oauth client {client.client_id}", now=now)
        else:
            _access_token_revoke(validated, client=client)
        return
    found = _live_refresh_token(token, tenant_id=client.tenant.pk, now=now)
    if found is not None and found.application_id == client.application.pk:
        refresh_tokens_revoke_family(family_id=found.family_id, reason=RevokeReason.API, now=now)


def _access_token_revoke(validated: ValidatedToken, *, client: AuthenticatedClient) -> None:
    """Deny the token's `jti` until it expires; every process refuses it within a second."""
    token_revoke(
        jti=str(validated.claims["jti"]),
        tenant=client.tenant,
        expires_at=datetime.fromtimestamp(int(validated.claims["exp"]), tz=UTC),
        kind="oauth_access_token" if validated.kind == TokenKind.CLIENT else "access_token",
    )


# What the metadata documents advertise: exactly what is served.
GRANT_TYPES_SUPPORTED = tuple(GRANTS)
RESPONSE_TYPES_SUPPORTED: tuple[str, ...] = ()  # no authorization endpoint, so no response_type
TOKEN_ENDPOINT_AUTH_METHODS = tuple(ClientAuthenticationMethod.values)
ASSERTION_SIGNING_ALGORITHMS = tuple(a for a in KeyAlgorithm.values if not a.startswith("HS"))

"""The JWT API's rules: validate, issue for another application, vend, reconcile a foreign JWT."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from identity.caller import Caller
from identity.exceptions import IdentityError, NotAuthenticated, ValidationFailed
from identity.key_store import KEYS, key_snapshot
from identity.login_ids import login_id_key
from identity.models import (
    Application,
    ExternalJWTProvider,
    IdentityProviderLink,
    RefreshToken,
    Registration,
    SigningKey,
    Tenant,
    User,
)
from identity.revocations import token_revoked
from identity.selectors import application_get, jwt_configuration_for, signing_key_get, tenant_get_default
from identity.services.access_tokens import (
    AccessToken,
    AuthenticationType,
    VerifiedToken,
    access_token_issue,
    access_token_verify,
    uuid_or_none,
)
from identity.services.audit import audit_record
from identity.services.jwt_sql import TokenUser, token_user_read
from identity.services.login import LoginResult, login_success, user_login_check
from identity.services.personal_access_tokens import pat_check
from identity.services.refresh_tokens import (
    DeviceInfo,
    IssuedRefreshToken,
    refresh_token_create,
    refresh_token_find,
)
from identity.services.registrations import MAPPABLE_USER_FIELDS, registration_create
from identity.services.signing_keys import signing_key_within_reach
from identity.services.users import user_create
from identity.signing import TokenInvalid, TokenKind, load_key, numeric_date, sign, unverified_header, verify

MAX_VEND_CLAIMS_BYTES = 64 * 1024
MAX_VEND_TTL_SECONDS = 10 * 365 * 24 * 3600
RESERVED_VEND_CLAIMS = frozenset({"exp", "iat", "amr", "cnf", "jti"})


@dataclass(frozen=True)
class ValidatedToken:
    kind: TokenKind
    """What the token is: a user's access token, an OAuth client's, or a vended (service) token."""
    claims: dict[str, Any]


def jwt_validate(
    *, token: str, now: datetime, tenant_id: uuid.UUID | None = None, address: str | None = None
) -> ValidatedToken:
    """Check a token we issued and say what it is: a user access token (signature by a key its
    tenant trusts, expiry, tenant, issuer) or a vended token (signature by a signing key of the
    tenant it names, or a global one; that tenant's issuer). Keys imported to verify an external
    identity provider's tokens never verify anything here. With a tenant named by the caller, a
    token of another tenant is refused. With the tenant's `validate_checks_state` on, a user access
    token is also refused when its user is deactivated, locked or expired, its application
    inactive, or its session (`sid`) revoked or expired (FusionAuth #1013). Default mode does no
    SQL: keys come from the in-memory key store. A personal access token validates too (kind
    `pat`), unless revoked or presented from an `address` outside its allowlist."""
    kind = unverified_header(token).get("tkn")
    if kind == TokenKind.VENDED:
        claims = _vended_verify(token=token, now=now)
        if tenant_id is not None and uuid_or_none(claims["tid"]) != tenant_id:
            raise TokenInvalid()
        return ValidatedToken(kind=TokenKind.VENDED, claims=claims)
    # OAuth client-credentials tokens (identity.services.oauth) verify like user access tokens.
    verified = access_token_verify(
        token=token, now=now, kinds=(TokenKind.ACCESS, TokenKind.CLIENT, TokenKind.PAT)
    )
    if tenant_id is not None and verified.tenant_id != tenant_id:
        raise TokenInvalid()
    if verified.kind == TokenKind.CLIENT:
        if key_snapshot().validate_state.get(verified.tenant_id):
            client_id = uuid_or_none(verified.claims.get("client_id"))
            if client_id is None or not Application.objects.filter(pk=str(client_id), active=True).exists():
                raise TokenInvalid()
        return ValidatedToken(kind=TokenKind.CLIENT, claims=verified.claims)
    if verified.kind == TokenKind.PAT:
        pat_check(verified=verified, address=address, now=now)
    if key_snapshot().validate_state.get(verified.tenant_id):
        _check_state(verified=verified, found=_token_user(verified), now=now)
    return ValidatedToken(kind=verified.kind, claims=verified.claims)


def _vended_verify(*, token: str, now: datetime) -> dict[str, Any]:
    kid = unverified_header(token)["kid"]
    snapshot = key_snapshot()
    if kid not in snapshot.vend_by_kid:
        snapshot = KEYS.reload_on_miss(reason="unknown kid") or snapshot
    claims, key = verify(
        token=token,
        trusted=snapshot.vend_by_kid,
        kinds=(TokenKind.VENDED,),
        now=now,
        require=("exp", "iat", "tid", "iss"),
    )
    tenant_id = uuid_or_none(claims["tid"])
    if (
        tenant_id is None
        or (key.tenant_id is not None and key.tenant_id != tenant_id)
        or claims["iss"] != snapshot.issuers.get(tenant_id)
        or token_revoked(claims.get("jti"))
    ):
        raise TokenInvalid()
    return claims


def _token_user(verified: VerifiedToken, *, registration_for: uuid.UUID | None = None) -> TokenUser | None:
    """The token's user with, in the same SELECT (token_user_read), what _check_state asks of the
    token's application and session, and (`registration_for`) the user's registration roles for
    another application: one round trip instead of one per fact."""
    user_id = uuid_or_none(verified.claims.get("sub"))
    if user_id is None:
        return None
    return token_user_read(
        user_id=user_id,
        tenant_id=verified.tenant_id,
        application_id=uuid_or_none(verified.claims.get("applicationId")),
        session_id=uuid_or_none(verified.claims.get("sid")),
        registration_for=registration_for,
    )


def _check_state(*, verified: VerifiedToken, found: TokenUser | None, now: datetime) -> None:
    """validate's state mode: the token's user may still log in (user_login_check, the one rule
    on an account's state), its application is active, its session (`sid`) still usable
    (RefreshToken.is_usable). Every refusal is the same TokenInvalid. `found` comes from
    _token_user, which read the application's and the session's state with the user."""
    if found is None:
        raise TokenInvalid()
    try:
        user_login_check(user=found.user, now=now)
    except IdentityError as exc:
        raise TokenInvalid() from exc
    if found.token_application_active is False:
        raise TokenInvalid()
    if uuid_or_none(verified.claims.get("sid")) is not None:
        expires_at = found.session_expires_at
        session = RefreshToken(revoked_at=found.session_revoked_at, expires_at=expires_at)
        if expires_at is None or not session.is_usable(now):  # no such session
            raise TokenInvalid()


def access_token_renewable(*, verified: VerifiedToken, now: datetime) -> bool:
    """Whether a user's access token may be re-signed with a later expiry (identity.middleware's
    refresh inside this service): validate's state mode, whatever the tenant's setting (its user
    may still log in, its application is active, its session usable), since a renewal extends
    access; one SELECT, asked only when a token is due for renewal."""
    try:
        _check_state(verified=verified, found=_token_user(verified), now=now)
    except TokenInvalid:
        return False
    return True


@dataclass(frozen=True)
class IssuedForApplication:
    access_token: AccessToken
    registered: bool
    refresh_token: RefreshToken | None
    refresh_token_value: str | None


def jwt_issue(
    *,
    verified: VerifiedToken,
    application_id: str | None,
    refresh_value: str | None,
    now: datetime | None = None,
) -> IssuedForApplication:
    """`GET /api/jwt/issue`: issue a token for another application of the same tenant to the holder of
    a valid access token (single sign-on between applications). The new token expires when the
    presented one does, so chaining issue calls never extends a session. The checks of validate's
    state mode (user not deactivated, locked or expired, application active, session `sid` neither
    revoked nor expired) apply on every call, whatever the tenant's mode, so a locked user or a
    logged-out session gets no fresh token (401); the new token carries the same `sid`. A refresh
    token comes only with a valid one of the same user, when the target application generates refresh
    tokens and both applications use the same expiration policy; it keeps the original session's start
    and family, and the new token's `sid` is then that refresh token's id. Not atomic itself: its one
    write (refresh_token_create) is, and the checks before it read what a transaction would not hold
    still anyway; the plain path costs two SELECTs (one once the process remembers the
    application, as a login does) and no BEGIN/COMMIT (tests/test_query_budgets.py)."""
    if verified.kind != TokenKind.ACCESS or "pat" in verified.claims:
        raise NotAuthenticated()  # a personal access token (or one exchanged from it) never widens
    now = now or timezone.now()
    target = uuid_or_none(application_id)
    if target is None:
        raise ValidationFailed.on_field("applicationId", "invalid", "applicationId must be a UUID.")
    application = application_get(application_id=target, remembered=True)
    if application is None or application.tenant_id != verified.tenant_id or not application.active:
        raise ValidationFailed.on_field("applicationId", "invalid", "No active application has this id.")
    found = _token_user(verified, registration_for=application.pk)
    if found is None:
        raise NotAuthenticated()
    _check_state(verified=verified, found=found, now=now)  # validate's state mode, applied here always
    user, registered = found.user, bool(found.registered)
    refresh = None
    if registered and refresh_value:
        refresh = _refresh_for(application=application, user=user, value=refresh_value, now=now)
    session_id = refresh.token.pk if refresh is not None else uuid_or_none(verified.claims.get("sid"))
    expires_at = datetime.fromtimestamp(int(verified.claims["exp"]), tz=now.tzinfo)
    access = access_token_issue(
        user=user,
        tenant=application.tenant,
        application=application,
        roles=(found.registration_roles or []) if registered else None,
        authentication_type=AuthenticationType.JWT_SSO,
        now=now,
        session_id=session_id,
        auth_time=datetime.fromtimestamp(
            int(verified.claims.get("auth_time", verified.claims["iat"])), tz=now.tzinfo
        ),
        expires_at=expires_at,
    )
    return IssuedForApplication(
        access_token=access,
        registered=registered,
        refresh_token=refresh.token if refresh is not None else None,
        refresh_token_value=refresh.value if refresh is not None else None,
    )


def _refresh_for(
    *, application: Application, user: User, value: str, now: datetime
) -> IssuedRefreshToken | None:
    source = refresh_token_find(value=value)
    if (
        source is None
        or source.user_id != user.pk
        or not source.is_usable(now)
        or not application.generate_refresh_tokens
    ):
        return None
    same_policy = (
        jwt_configuration_for(application=source.application).refresh_token_expiration_policy
        == jwt_configuration_for(application=application).refresh_token_expiration_policy
    )
    if not same_policy:
        return None
    return refresh_token_create(
        user=user, application=application, started_at=source.started_at, family_id=source.family_id, now=now
    )


def jwt_vend(
    *,
    caller: Caller,
    claims: Any,
    key_id: uuid.UUID | None,
    ttl_seconds: int | None,
    now: datetime | None = None,
) -> str:
    """`POST /api/jwt/vend`: sign free-form claims for a caller with an API key, in its tenant
    (Caller.tenant; a global key naming no tenant vends in the tenant of the `keyId`, else in the
    default tenant, since FusionAuth never asks for the header here): service-to-service tokens not
    tied to a user. `exp`, `iat`, `amr`, `cnf` are
    reserved and ignored if sent; `iat`, `exp`, `jti`, and the tenant claims `tid` and `iss` are ours:
    a token names the tenant that signed it, never one the caller picks, and an `aud` naming another
    tenant or its application is refused. The key must be able to sign and belong to the tenant or be
    global; a caller locked to the tenant (a tenant-locked key) cannot reach a global key another
    tenant signs with. Vended tokens carry their own kind, so they cannot pass as a user's access
    token."""
    now = now or timezone.now()
    tenant = caller.tenant(inferred=lambda: _vend_tenant(key_id))
    tenant_locked = caller.locked_tenant is not None
    if not isinstance(claims, dict):
        raise ValidationFailed.on_field("claims", "invalid", "claims must be a JSON object.")
    if len(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_VEND_CLAIMS_BYTES:
        raise ValidationFailed.on_field(
            "claims", "tooLarge", f"claims may take at most {MAX_VEND_CLAIMS_BYTES} bytes."
        )
    ttl = ttl_seconds if ttl_seconds is not None else tenant.access_token_ttl_seconds
    if not 0 < ttl <= MAX_VEND_TTL_SECONDS:
        raise ValidationFailed.on_field("timeToLiveInSeconds", "invalid", "Must be between 1 and 315360000.")
    _check_audience(claims.get("aud"), tenant=tenant)
    _check_registered_claims(claims, expires=now.timestamp() + ttl)
    record = (
        SigningKey.objects.filter(pk=key_id).first()
        if key_id is not None
        else tenant.access_token_signing_key
    )
    if record is None and key_id is None:
        raise ValidationFailed.on_field(
            "keyId",
            "invalid",
            f"Tenant {tenant.name} has no signing key: name one with keyId, or another tenant with "
            "X-FusionAuth-TenantId.",
        )
    key = load_key(record) if record is not None else None
    if (
        record is None
        or key is None
        or not key.can_sign
        or key.expired(now)
        or record.external_jwt_providers.exists()
        or (
            key_id is not None
            and not signing_key_within_reach(key=record, tenant=tenant, tenant_locked=tenant_locked)
        )
    ):
        raise ValidationFailed.on_field("keyId", "invalid", "keyId must name a signing key of this tenant.")
    payload = {name: value for name, value in claims.items() if name not in RESERVED_VEND_CLAIMS}
    issued = int(now.timestamp())
    payload.update(iat=issued, exp=issued + ttl, jti=str(uuid.uuid4()), tid=str(tenant.pk), iss=tenant.issuer)
    return sign(claims=payload, key=key, kind=TokenKind.VENDED, now=now)


def _vend_tenant(key_id: uuid.UUID | None) -> Tenant:
    """Vend's tenant when the caller names none: the `keyId`'s tenant, else the default tenant (a
    global or unknown key, or none: the key checks that follow refuse what this tenant cannot use)."""
    key = signing_key_get(key_id=key_id) if key_id is not None else None
    if key is not None and key.tenant is not None:
        return key.tenant
    return tenant_get_default()


def _check_registered_claims(claims: dict[str, Any], *, expires: float) -> None:
    """The registered claims a caller may set, in the types every verifier (validate first of
    all) takes, so a vended token is never one that verifies nowhere: `sub` a string (RFC 7519
    §4.1.2), `nbf` and `auth_time` NumericDates, `nbf` before the token's own expiry."""
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise ValidationFailed.on_field("claims.sub", "invalid", "sub must be a string.")
    for name in ("nbf", "auth_time"):
        if name in claims and not numeric_date(claims[name]):
            message = f"{name} must be a number of seconds."
            raise ValidationFailed.on_field(f"claims.{name}", "invalid", message)
    if "nbf" in claims and claims["nbf"] >= expires:
        raise ValidationFailed.on_field("claims.nbf", "invalid", "nbf must come before the token expires.")


def _check_audience(audience: Any, *, tenant: Tenant) -> None:
    """An `aud` may be anything the caller's services agree on, except the id of another tenant or
    of another tenant's application: that would make the token look like one of theirs."""
    values = audience if isinstance(audience, list) else [audience]
    ids = {value for value in (uuid_or_none(v) if isinstance(v, str) else None for v in values) if value}
    if not ids:
        return
    foreign = (
        Tenant.objects.filter(pk__in=ids).exclude(pk=tenant.pk).exists()
        or Application.objects.filter(pk__in=ids).exclude(tenant=tenant).exists()
    )
    if foreign:
        raise ValidationFailed.on_field("claims.aud", "invalid", "aud names another tenant.")


def jwt_reconcile(
    *,
    application_id: uuid.UUID,
    provider_id: uuid.UUID,
    token: str,
    device: DeviceInfo | None,
    now: datetime | None = None,
) -> LoginResult:
    """`POST /api/jwt/reconcile`: log in with a JWT from an external identity provider: verify it with
    the provider's keys, find the user by the provider's unique claim (linking an existing account
    with that email, or creating one without a password), register them to the application with its
    default roles, and answer like a login. An unknown, disabled or foreign provider or application is
    a 401. The account work and the login are one transaction: a refused login leaves no half-made
    user."""
    now = now or timezone.now()
    provider = (
        ExternalJWTProvider.objects.select_related("tenant")
        .filter(pk=provider_id, enabled=True, applications=application_id)
        .first()
    )
    application = Application.objects.select_related("tenant").filter(pk=application_id).first()
    if provider is None or application is None or application.tenant_id != provider.tenant_id:
        raise NotAuthenticated()
    trusted = {key.kid: key for key in (load_key(record) for record in provider.verification_keys.all())}
    require = ["exp"] + (["iss"] if provider.issuer else []) + (["aud"] if provider.audience else [])
    claims, _ = verify(
        token=token,
        trusted=trusted,
        kinds=None,
        now=now,
        issuer=provider.issuer or None,
        audience=provider.audience or None,
        require=tuple(require),
    )
    subject = claims.get(provider.unique_identity_claim)
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 320:
        raise ValidationFailed.on_field(
            "token", "invalid", f"The token carries no usable {provider.unique_identity_claim!r} claim."
        )
    with transaction.atomic():
        user = _reconciled_user(provider=provider, subject=subject.strip(), claims=claims, now=now)
        if not Registration.objects.filter(user=user, application=application).exists():
            registration_create(user=user, application=application)
        return login_success(
            user=user,
            tenant=provider.tenant,
            application=application,
            no_jwt=False,
            device=device,
            now=now,
            authentication_type=AuthenticationType.FEDERATED_JWT,
        )


def _reconciled_user(
    *, provider: ExternalJWTProvider, subject: str, claims: dict[str, Any], now: datetime
) -> User:
    link = (
        IdentityProviderLink.objects.select_related("user").filter(provider=provider, subject=subject).first()
    )
    if link is not None:
        IdentityProviderLink.objects.filter(pk=link.pk).update(last_login_at=now)
        return link.user
    user = User.objects.filter(tenant=provider.tenant, email_key=login_id_key(subject)).first()
    if user is not None and IdentityProviderLink.objects.filter(provider=provider, user=user).exists():
        # The account is linked under another subject (e.g. the same email in other case): one
        # account, one link per provider; never a second link or a unique violation (500).
        raise ValidationFailed.on_field(
            "token", "duplicate", "The user is already linked to this identity provider under another value."
        )
    if user is None:
        mapped: dict[str, Any] = {
            field: str(claims[claim])[:150]
            for claim, field in provider.claim_map.items()
            if field in MAPPABLE_USER_FIELDS and isinstance(claims.get(claim), str | int)
        }
        user = user_create(tenant=provider.tenant, email=subject, password=None, verified=True, **mapped)
    link = IdentityProviderLink.objects.create(
        provider=provider, user=user, subject=subject, last_login_at=now
    )
    # A new account link is a change (its deletion is audited too); the user and registration a
    # first reconcile creates are recorded by their own services.
    audit_record(
        action="identity_provider_link.create",
        object_type="identityproviderlink",
        object_id=link.pk,
        tenant_id=provider.tenant_id,
    )
    return user

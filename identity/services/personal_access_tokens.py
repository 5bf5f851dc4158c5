"""Personal access tokens (issue 12, seed 000): long-lived, scoped, revocable credentials of users and
bots, and their exchange for short-lived access tokens.

A PAT is a JWT of its own kind (`tkn: pat` in the signed header), signed with the key that signs the
tenant's (or its application's) access tokens, whose `jti` is the PersonalAccessToken row's id. The
value is returned once and never stored. Everything a verifier needs is in the signed claims
(subject, scopes, the IP allowlist), so checking a PAT costs no SQL: revocation goes through the
revoked-jti set every verifier already consults (identity.revocations), the allowlist is compared
with the caller's address, and `last_used_at` is written at most once a minute per token and process,
by a background thread, never by the request.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from identity.exceptions import NotAuthenticated, TokenInvalid, ValidationFailed
from identity.key_store import key_store_invalidate
from identity.models import Application, PersonalAccessToken, Registration, SigningKey, TokenExpiry, User
from identity.revocations import token_revoked
from identity.services.access_tokens import (
    AccessToken,
    AuthenticationType,
    VerifiedToken,
    access_token_issue,
    access_token_signing_key,
    access_token_verify,
)
from identity.services.audit import audit_record
from identity.services.revocations import token_revoke
from identity.signing import LoadedKey, TokenKind, sign, unverified_header
from identity.validators import personal_access_token_validate

logger = logging.getLogger(__name__)

EXPIRY_LIFETIMES: dict[str, timedelta | None] = {
    TokenExpiry.ONE_HOUR: timedelta(hours=1),
    TokenExpiry.ONE_DAY: timedelta(days=1),
    TokenExpiry.SEVEN_DAYS: timedelta(days=7),
    TokenExpiry.THIRTY_DAYS: timedelta(days=30),
    TokenExpiry.SIXTY_DAYS: timedelta(days=60),
    TokenExpiry.NINETY_DAYS: timedelta(days=90),
    TokenExpiry.UNLIMITED: None,
}
EXCHANGE_TTL_SECONDS = 300
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 (a URN)
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)
USAGE_STAMP_INTERVAL_SECONDS = 60.0
REVOKED_BY_SYSTEM = "user deactivated or deleted"


@dataclass(frozen=True)
class CreatedToken:
    token: PersonalAccessToken
    value: str
    """The JWT, shown to the caller once; it exists nowhere else."""


def _held_roles(*, user: User, application: Application | None) -> set[str]:
    registrations = Registration.objects.filter(user=user)
    if application is not None:
        registrations = registrations.filter(application=application)
    return {role for registration in registrations for role in registration.roles if isinstance(role, str)}


def _unique_in_order(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def pat_create_check(
    *,
    user: User,
    name: Any,
    expiry: Any,
    scopes: Any = None,
    application_id: uuid.UUID | None = None,
    allowed_ips: Any = None,
) -> Application | None:
    """Every rule of `pat_create`, without writing: what the admin's form checks before its one
    service call, so it refuses what the API refuses, with the same words. Returns the application
    the token is for. Raises ValidationFailed keyed by model field."""
    application = None
    if application_id is not None:
        application = Application.objects.filter(pk=application_id, tenant_id=user.tenant_id).first()
        if (
            application is None
            or not Registration.objects.filter(user=user, application=application).exists()
        ):
            raise ValidationFailed.on_field("application", "invalid", "The user is not registered for it.")
    if not user.is_active:
        raise ValidationFailed.on_field("user", "inactive", "The user is deactivated.")
    name_text = name.strip() if isinstance(name, str) else name
    personal_access_token_validate(
        values={
            "name": name,
            "expiry": expiry,
            "scopes": [] if scopes is None else scopes,
            "allowed_ips": [] if allowed_ips is None else allowed_ips,
        },
        held_roles=_held_roles(user=user, application=application),
        name_taken=isinstance(name_text, str)
        and name_text.isprintable()
        and PersonalAccessToken.objects.filter(user=user, name=name_text, revoked_at__isnull=True).exists(),
    )
    return application


@transaction.atomic
def pat_create(
    *,
    user: User,
    name: Any,
    expiry: Any,
    scopes: Any = None,
    application_id: uuid.UUID | None = None,
    allowed_ips: Any = None,
    now: datetime | None = None,
) -> CreatedToken:
    """Create a personal access token for a user or bot and return its value once.

    The scopes must be roles the user's registrations grant (those of `application_id` when one is
    given, for which the user must be registered); a deactivated user gets none. The name is unique
    among the user's live tokens (the database's partial unique index backs the check)."""
    now = now or timezone.now()
    application = pat_create_check(
        user=user,
        name=name,
        expiry=expiry,
        scopes=scopes,
        application_id=application_id,
        allowed_ips=allowed_ips,
    )
    scopes = [] if scopes is None else scopes
    allowed_ips = [] if allowed_ips is None else allowed_ips
    name_text = name.strip()
    lifetime = EXPIRY_LIFETIMES[expiry]
    key = access_token_signing_key(tenant=user.tenant, application=application, now=now)
    token = PersonalAccessToken(
        tenant_id=user.tenant_id,
        signing_key_id=key.id,
        user=user,
        name=name_text,
        expiry=expiry,
        # Whole seconds: the record says exactly what the token's `exp` says.
        expires_at=(now + lifetime).replace(microsecond=0) if lifetime is not None else None,
        scopes=_unique_in_order(scopes),
        application=application,
        allowed_ips=_unique_in_order(
            str(ipaddress.ip_network(ip.strip(), strict=False)) for ip in allowed_ips
        ),
    )
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError as exc:  # a concurrent twin with the same name won the race
        raise ValidationFailed.on_field(
            "name", "duplicate", "The user already has a live token with this name."
        ) from exc
    audit_record(action="pat.create", obj=token)
    return CreatedToken(token=token, value=_sign(token=token, user=user, key=key, now=now))


def _sign(*, token: PersonalAccessToken, user: User, key: LoadedKey, now: datetime) -> str:
    tenant, application = user.tenant, token.application
    claims: dict[str, Any] = {
        "aud": str(application.pk) if application is not None else str(tenant.pk),
        "iat": int(now.timestamp()),
        "iss": tenant.issuer,
        "sub": str(user.pk),
        "jti": str(token.pk),
        "tid": str(tenant.pk),
        "authenticationType": AuthenticationType.PERSONAL_ACCESS_TOKEN.value,
        "email": user.email,
    }
    if token.scopes:  # RFC 6749 §3.3: a scope is one name or more, never an empty string
        claims["scope"] = " ".join(token.scopes)
    if token.expires_at is not None:
        claims["exp"] = int(token.expires_at.timestamp())
    if application is not None:
        claims["applicationId"] = str(application.pk)
        claims["roles"] = list(token.scopes)
    if token.allowed_ips:
        claims["ips"] = list(token.allowed_ips)
    if user.is_bot:
        claims["bot"] = True
    return sign(claims=claims, key=key, kind=TokenKind.PAT, now=now)


def _revoke_rows(tokens: Iterable[PersonalAccessToken], *, by: str, now: datetime) -> int:
    count = 0
    signers: set[uuid.UUID] = set()
    for token in tokens:
        if not PersonalAccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=by[:100]
        ):
            continue  # revoked meanwhile: the first revocation stands
        token_revoke(
            jti=str(token.pk), tenant=token.tenant, expires_at=token.expires_at, kind="pat", audited=False
        )
        token.revoked_at, token.revoked_by = now, by[:100]
        if token.signing_key_id is not None:
            signers.add(token.signing_key_id)
        count += 1
    if SigningKey.objects.filter(pk__in=signers, expires_at__isnull=False).exists():
        # A retired key may have been kept verifying for these tokens only (identity.key_store
        # `_pat_holds`): every process recomputes how long it stays trusted.
        key_store_invalidate()
    return count


@transaction.atomic
def pat_revoke(*, token: PersonalAccessToken, by: str, now: datetime | None = None) -> PersonalAccessToken:
    """Revoke one token: refused by every verifier of every worker within a second, and for good
    (the revoked jti is kept until the token's own expiry, forever for Unlimited). `by` says who
    (an API key, the user themself, the admin). Revoking twice keeps the first revocation."""
    if _revoke_rows([token], by=by, now=now or timezone.now()):
        audit_record(action="pat.revoke", obj=token, diff={"revoked_by": by})
    return token


@transaction.atomic
def pat_revoke_by_id(*, token_id: Any, by: str, now: datetime | None = None) -> PersonalAccessToken | None:
    """Revoke the token whose id (`jti`) a verified PAT carries, as pat_revoke does. None when no
    record has that id (nothing is revoked)."""
    token = PersonalAccessToken.objects.select_related("tenant").filter(pk=str(token_id)).first()
    return None if token is None else pat_revoke(token=token, by=by, now=now)


@transaction.atomic
def pats_revoke_for_user(*, user: User, by: str = REVOKED_BY_SYSTEM, now: datetime | None = None) -> int:
    """End every live token of a user or bot (deactivation, deletion). Returns how many."""
    return _revoke_all(Q(user=user), object_id=user.pk, tenant_id=user.tenant_id, by=by, now=now)


@transaction.atomic
def pats_revoke_for_application(
    *, application: Application, by: str = REVOKED_BY_SYSTEM, now: datetime | None = None
) -> int:
    """End every live token bound to an application that is being deleted: its rows go with it, so
    a token left live could then be neither listed nor revoked. Returns how many."""
    return _revoke_all(
        Q(application=application), object_id=application.pk, tenant_id=application.tenant_id, by=by, now=now
    )


@transaction.atomic
def pats_revoke_for_key(*, key: SigningKey, by: str, now: datetime | None = None) -> int:
    """End every live token a signing key signed (the key is being deleted). Returns how many; one
    audit entry with the count (its object id: the key's) when there were any."""
    now = now or timezone.now()
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    return _revoke_all(
        unexpired & Q(signing_key=key), object_id=key.pk, tenant_id=key.tenant_id, by=by, now=now
    )


def _revoke_all(which: Q, *, object_id: Any, tenant_id: Any, by: str, now: datetime | None) -> int:
    """Revoke the live tokens `which` selects, with one audit entry counting them (its object id
    names whose tokens they were) when there were any."""
    now = now or timezone.now()
    live = PersonalAccessToken.objects.select_related("tenant").filter(which, revoked_at__isnull=True)
    count = _revoke_rows(list(live), by=by, now=now)
    if count:
        audit_record(
            action="pat.revoke_all",
            object_type="personalaccesstoken",
            object_id=object_id,
            tenant_id=tenant_id,
            diff={"revoked_by": by},
            count=count,
        )
    return count


# --- Verification: no SQL on this path ------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allowed)


def address_allowed(*, address: str | None, allowed: Any) -> bool:
    """An empty (or absent) allowlist allows everyone; otherwise the caller's address must fall in
    one of the networks. An unknown or unreadable address is refused."""
    if not allowed:
        return True
    if not isinstance(allowed, list) or not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
        networks = _networks(tuple(str(item) for item in allowed))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in networks)


def pat_check(*, verified: VerifiedToken, address: str | None, now: datetime) -> None:
    """What a PAT adds to a verified token's checks: its own revocation (already refused by
    access_token_verify's revoked-jti check; repeated so no caller can skip it) and the IP
    allowlist. Records the use (off the request path). Raises TokenInvalid."""
    jti = verified.claims.get("jti")
    if not isinstance(jti, str) or token_revoked(jti):
        raise TokenInvalid()
    if not address_allowed(address=address, allowed=verified.claims.get("ips")):
        raise TokenInvalid()
    pat_note_use(jti=jti, now=now)


def pat_verify(*, token: str, address: str | None, now: datetime) -> VerifiedToken:
    """Verify a PAT as the bearer of a request presents it (signature, tenant trust, kind,
    revocation, allowlist). No SQL."""
    verified = access_token_verify(token=token, now=now, kinds=(TokenKind.PAT,))
    pat_check(verified=verified, address=address, now=now)
    return verified


# --- Last use, off the hot path -------------------------------------------------------------------

_last_noted: dict[str, float] = {}
_usage_queue: queue.SimpleQueue[tuple[str, datetime]] = queue.SimpleQueue()
_usage_thread: threading.Thread | None = None
_usage_lock = threading.Lock()
MAX_NOTED = 100_000


@transaction.atomic
def pat_usage_record(*, uses: dict[str, datetime]) -> int:
    """Write `last_used_at` for tokens used, each at most once a minute (also across processes:
    the UPDATE only moves a stamp older than the interval). Rows are updated in id order, so two
    processes stamping the same tokens at once wait for each other instead of deadlocking."""
    written = 0
    for jti, when in sorted(uses.items()):
        fresh_enough = when - timedelta(seconds=USAGE_STAMP_INTERVAL_SECONDS)
        written += PersonalAccessToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=fresh_enough), pk=jti
        ).update(last_used_at=when)
    return written


def _usage_worker() -> None:
    while True:
        jti, when = _usage_queue.get()
        uses = {jti: when}
        while True:
            try:
                jti, when = _usage_queue.get_nowait()
            except queue.Empty:
                break
            uses[jti] = max(when, uses.get(jti, when))
        try:
            close_old_connections()
            pat_usage_record(uses=uses)
        except Exception:  # a lost stamp is not worth a crash; the next use writes it
            logger.warning(
                "could not record the last use of %d personal access tokens", len(uses), exc_info=True
            )
        finally:
            connection.close()


def _stamp_in_background(jti: str, now: datetime) -> None:
    global _usage_thread
    if _usage_thread is None or not _usage_thread.is_alive():
        with _usage_lock:
            if _usage_thread is None or not _usage_thread.is_alive():
                _usage_thread = threading.Thread(target=_usage_worker, name="pat-last-used", daemon=True)
                _usage_thread.start()
    _usage_queue.put((jti, now))


usage_stamper: Callable[[str, datetime], None] = _stamp_in_background
"""How a due stamp is written; tests replace it to write inline or to record."""


def pat_note_use(*, jti: str, now: datetime) -> None:
    """Remember a use; at most once a minute per token and process, hand it to the stamper."""
    moment = time.monotonic()
    last = _last_noted.get(jti)
    if last is not None and moment - last < USAGE_STAMP_INTERVAL_SECONDS:
        return
    if len(_last_noted) >= MAX_NOTED:
        _last_noted.clear()
    _last_noted[jti] = moment
    usage_stamper(jti, now)


# --- Exchange (RFC 8693) ----------------------------------------------------------------------------


def pat_exchange(
    *,
    subject_token: Any,
    subject_token_type: Any,
    address: str | None,
    now: datetime | None = None,
    tenant_id: uuid.UUID | None = None,
    scopes: Sequence[str] | None = None,
) -> AccessToken:
    """Exchange a PAT for a short-lived access token (RFC 8693 token exchange): 5 minutes at most,
    never beyond the PAT's own expiry, carrying the PAT's scopes still granted by the user's
    registrations (only those of `scopes` when given: a narrower token, never a wider one),
    `pat` = the PAT's id and `act` naming it as the actor. The user must still be active; an
    exchanged token dies with its PAT (verifiers check the `pat` claim's revocation)."""
    now = now or timezone.now()
    if subject_token_type != JWT_TOKEN_TYPE:
        raise ValidationFailed.on_field(
            "subject_token_type", "invalid", f"Only {JWT_TOKEN_TYPE} tokens can be exchanged."
        )
    if not isinstance(subject_token, str) or not subject_token:
        raise ValidationFailed.on_field("subject_token", "blank", "A subject_token is required.")
    if unverified_header(subject_token).get("tkn") != TokenKind.PAT:
        raise TokenInvalid()
    verified = pat_verify(token=subject_token, address=address, now=now)
    if tenant_id is not None and verified.tenant_id != tenant_id:
        raise TokenInvalid()
    token = (
        PersonalAccessToken.objects.select_related("user__tenant", "application")
        .filter(pk=verified.claims["jti"], revoked_at__isnull=True)
        .first()
    )
    if token is None or token.is_expired(now) or not token.user.is_active or token.user.is_locked(now):
        raise NotAuthenticated()
    user, application = token.user, token.application
    if scopes is not None and not set(scopes) <= set(token.scopes):
        raise ValidationFailed.on_field("scope", "invalid", "The token does not carry every scope asked for.")
    granted = _held_roles(user=user, application=application)
    if scopes is not None:
        granted &= set(scopes)
    carried = [scope for scope in token.scopes if scope in granted]
    expires_at = now + timedelta(seconds=EXCHANGE_TTL_SECONDS)
    if token.expires_at is not None:
        expires_at = min(expires_at, token.expires_at)
    return access_token_issue(
        user=user,
        tenant=user.tenant,
        application=application,
        roles=carried if application is not None else None,
        authentication_type=AuthenticationType.PERSONAL_ACCESS_TOKEN,
        now=now,
        expires_at=expires_at,
        extra_claims={
            **({"scope": " ".join(carried)} if carried else {}),
            "pat": str(token.pk),
            "act": {"sub": f"pat:{token.pk}"},
        },
    )

"""The refresh-token lifecycle: creation, exchange (rotation, grace, reuse detection), revocation.

Values are never stored. A value is base64url(hint ‖ token id ‖ generation ‖ secret ‖ tag): the
secret is random at creation and each rotation derives the next one from the presented value's by
HMAC-SHA256 under a key derived from the server secret (Django's SECRET_KEY); the tag, an HMAC
under another such key, covers the rest. Only the SHA-256 digest of the current value is kept. So
a database dump yields no usable token (not even with the server key: the random secret is not
stored), the next value is known before the database is read (one statement per refresh), the
holder of the previous value can be given the current one again (the one-time-use grace period),
and a replayed older generation is recognised as reuse from the value alone (its tag), without a
table of rotated digests. The hint says what a use of the value will write (refresh_grant).
Values minted before migration 0014 (70 characters, the MAC over id, generation and a per-token
salt) are still accepted and rotate into this format.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from django.db import connection, models, transaction
from django.utils import timezone

from identity.caller import Caller
from identity.exceptions import NotFound, RefreshTokenUnusable, ValidationFailed
from identity.hashing import keyed_mac, secret_digest
from identity.models import (
    Application,
    AuditEntry,
    ExpirationPolicy,
    RefreshToken,
    UsagePolicy,
    User,
)
from identity.selectors import JWTConfiguration, jwt_configuration_for, refresh_token_get
from identity.services.access_tokens import AccessToken, AuthenticationType, access_token_issue
from identity.services.audit import audit_entry_build, audit_record
from identity.services.login_sql import user_sessions_lock
from identity.services.refresh_token_sql import (
    PURGE_KEYS,
    RefreshTokenContext,
    refresh_token_consume,
    refresh_token_consume_supported,
    refresh_token_context,
    refresh_token_purge_batch,
    refresh_token_write,
)
from identity.services.webhooks import refresh_emit, refresh_tokens_revoked_emit


class RevokeReason(StrEnum):
    ADMIN = "admin"
    API = "api"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a password)
    LOGIN_PREVENTED = "login_prevented"
    USER_DEACTIVATED = "user_deactivated"
    REUSE_DETECTED = "reuse_detected"
    SESSION_LIMIT = "session_limit"


@transaction.atomic
def refresh_tokens_revoke(
    *,
    user: User | None = None,
    application: Application | None = None,
    token_ids: list[str] | None = None,
    reason: RevokeReason,
    now: datetime | None = None,
) -> int:
    """Revoke every live token matching all the given filters and return how many were revoked.

    Revoked rows are kept (with the instant and reason) until the purge removes them, so a revoked
    value presented again is recognised and refused rather than looking unknown. At least one
    filter is required: revoking every token of every tenant is never an accident this allows.
    """
    if user is None and application is None and token_ids is None:
        raise ValueError("refresh_tokens_revoke needs a user, an application or token ids.")
    tokens = RefreshToken.objects.filter(revoked_at__isnull=True)
    if user is not None:
        tokens = tokens.filter(user=user)
    if application is not None:
        tokens = tokens.filter(application=application)
    if token_ids is not None:
        tokens = tokens.filter(pk__in=token_ids)
    affected = list(tokens.values_list("tenant_id", "application_id", "user_id").distinct())
    count = tokens.update(revoked_at=now or timezone.now(), revoke_reason=reason.value)
    if count:
        action = "refresh_token.revoke" if token_ids is not None else "refresh_token.revoke_all"
        target = user or application
        audit_record(
            action=action,
            object_type="refreshtoken",
            object_id=target.pk if target else "",
            tenant_id=affected[0][0],
            diff={"revoke_reason": reason.value},
            count=count,
        )
        refresh_tokens_revoked_emit(affected=affected, user=user, application=application)
    return count


@dataclass(frozen=True)
class DeviceInfo:
    name: str = ""
    description: str = ""
    type: str = ""
    address: str = ""


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: RefreshToken
    value: str
    """The refresh-token value: returned to the client, never stored."""


VALUE_LENGTH = 71
"""base64url of hint 1 + token id 16 + generation 4 + secret 16 + tag 16 bytes."""
V1_LENGTH = 70
"""A value minted before migration 0014: base64url of token id 16 + generation 4 + MAC 32 bytes."""

ROTATE, KEEP, READ = b"R", b"K", b"S"
"""A value's hint: what a use of it writes if the configuration it was minted under still holds
(refresh_grant's one-statement use): rotate it (OneTimeUse, Fixed expiry), keep it (Reusable,
Fixed), or nothing known in advance (a sliding expiry): read first."""


@dataclass(frozen=True)
class _Claim:
    """What a presented value says of itself, not yet checked against its token."""

    token_id: uuid.UUID
    generation: int
    secret: bytes
    """The input of the next generation's value: the random or derived part (the MAC of a v1
    value)."""
    hint: bytes
    """ROTATE, KEEP or READ; empty for a v1 value."""
    tag: bytes


def _hint(config: JWTConfiguration) -> bytes:
    if config.refresh_token_expiration_policy != ExpirationPolicy.FIXED:
        return READ
    return ROTATE if config.refresh_token_usage_policy == UsagePolicy.ONE_TIME_USE else KEEP


def _tag(body: bytes) -> bytes:
    """The tag of a value's body (hint, id, generation, secret) under a key derived from the server's."""
    return keyed_mac("identity.refresh-token.tag", body)[:16]


def _v1_mac(token_id: uuid.UUID, generation: int, salt: str) -> bytes:
    return keyed_mac("identity.refresh-token", f"{token_id}:{generation}:{salt}")


def _body(hint: bytes, token_id: uuid.UUID, generation: int, secret: bytes) -> bytes:
    """A value's bytes before its tag."""
    return hint + token_id.bytes + generation.to_bytes(4, "big") + secret


def _value(*, hint: bytes, token_id: uuid.UUID, generation: int, secret: bytes) -> str:
    body = _body(hint, token_id, generation, secret)
    return base64.urlsafe_b64encode(body + _tag(body)).rstrip(b"=").decode("ascii")


def _next_value(claim: _Claim, *, hint: bytes) -> str:
    """The value of the generation after the claimed one: derived from the claimed value's secret
    under the server key, so it is known before the database is read (refresh_grant writes it in
    the statement that consumes the claimed one) and can be given again in the grace period."""
    position = claim.token_id.bytes + (claim.generation + 1).to_bytes(4, "big")
    secret = keyed_mac("identity.refresh-token.next", position + claim.secret)[:16]
    return _value(hint=hint, token_id=claim.token_id, generation=claim.generation + 1, secret=secret)


def _claimed(value: str) -> _Claim | None:
    """What a value claims; None when it is not shaped like one we hand out (either format)."""
    if len(value) not in (VALUE_LENGTH, V1_LENGTH):
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "==")
    except (ValueError, binascii.Error):
        return None
    if len(value) == V1_LENGTH:
        return _Claim(uuid.UUID(bytes=raw[:16]), int.from_bytes(raw[16:20], "big"), raw[20:], b"", b"")
    hint = raw[:1]
    if hint not in (ROTATE, KEEP, READ):
        return None
    return _Claim(uuid.UUID(bytes=raw[1:17]), int.from_bytes(raw[17:21], "big"), raw[21:37], hint, raw[37:])


def _minted(claim: _Claim, token: RefreshToken) -> bool:
    """Whether the claimed value was handed out for this token (at some generation): its tag, or
    a v1 value's MAC over the token's salt, checks under the server key."""
    if not claim.hint:
        return hmac.compare_digest(claim.secret, _v1_mac(token.pk, claim.generation, token.value_salt))
    body = _body(claim.hint, claim.token_id, claim.generation, claim.secret)
    return hmac.compare_digest(claim.tag, _tag(body))


def refresh_token_expiry(*, config: JWTConfiguration, started_at: datetime, used_at: datetime) -> datetime:
    """When a token expires under the expiration policy: a fixed TTL from the start, a TTL from the
    last use (sliding), or a sliding TTL that never passes the start plus the maximum lifetime."""
    ttl = timedelta(minutes=config.refresh_token_ttl_minutes)
    if config.refresh_token_expiration_policy == ExpirationPolicy.FIXED:
        return started_at + ttl
    sliding = used_at + ttl
    if config.refresh_token_expiration_policy == ExpirationPolicy.SLIDING_WINDOW_WITH_MAXIMUM_LIFETIME:
        return min(sliding, started_at + timedelta(minutes=config.refresh_token_max_ttl_minutes))
    return sliding


def refresh_token_build(
    *,
    user: User,
    application: Application,
    device: DeviceInfo | None = None,
    scopes: list[str] | None = None,
    started_at: datetime | None = None,
    family_id: uuid.UUID | None = None,
    now: datetime,
) -> IssuedRefreshToken:
    """A new refresh-token row and its value, not yet saved: what refresh_token_create inserts, and
    what the login's one-statement record (identity.services.login_sql) inserts on its own."""
    started = started_at or now
    device = device or DeviceInfo()
    token_id = uuid.uuid4()
    config = jwt_configuration_for(application=application)
    value = _value(hint=_hint(config), token_id=token_id, generation=0, secret=secrets.token_bytes(16))
    token = RefreshToken(
        id=token_id,
        family_id=family_id or token_id,
        tenant_id=application.tenant_id,
        application=application,
        user=user,
        token_digest=secret_digest(value),
        started_at=started,
        created_at=now,
        last_used_at=now,
        expires_at=refresh_token_expiry(config=config, started_at=started, used_at=now),
        device_name=device.name[:255],
        device_description=device.description[:255],
        device_type=device.type[:64],
        last_accessed_address=device.address[:64],
        scopes=scopes or [],
    )
    return IssuedRefreshToken(token=token, value=value)


@transaction.atomic
def refresh_token_create(
    *,
    user: User,
    application: Application,
    device: DeviceInfo | None = None,
    scopes: list[str] | None = None,
    started_at: datetime | None = None,
    family_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> IssuedRefreshToken:
    """Start a refresh-token session for a user of an application and return its value once.

    `started_at` and `family_id` let a token issued for another application keep the original
    session's start (the base of its expiry) and family (revoked together on reuse). The user's
    live tokens stay within the tenant's `refresh_token_limit_per_user` (_session_limit_enforce)."""
    now = now or timezone.now()
    _session_limit_enforce(user=user, family_id=family_id, now=now)
    issued = refresh_token_build(
        user=user,
        application=application,
        device=device,
        scopes=scopes,
        started_at=started_at,
        family_id=family_id,
        now=now,
    )
    issued.token.save(force_insert=True)
    return issued


def _session_limit_enforce(*, user: User, family_id: uuid.UUID | None, now: datetime) -> None:
    """Make room for one more live token of `user` within the tenant's limit: the oldest live
    sessions beyond it are evicted, their whole families revoked (reason `session_limit`), in the
    transaction that creates the new one. The new token's own family is never the one evicted.

    Concurrency: the user's row is locked first, so two logins of one user at the limit run this
    one after the other, and the second counts the first's token (under READ COMMITTED each later
    statement sees what committed before it). A login has already locked the row with its UPDATE;
    the lock is then free. On PostgreSQL the lock is an UPDATE that writes a new row version
    (user_sessions_lock), which is what tells the login's one-statement record
    (identity.services.login_sql) that sessions changed under it. Costs two statements (lock, the
    read of the families past the limit); the UPDATE, the audit entry and the revoke event only
    when something is evicted."""
    if connection.vendor == "postgresql":
        limit = user_sessions_lock(user_id=user.pk)
    else:
        # The user's id is selected too: without one of its columns Django drops `OF`, and the
        # tenant's row would be locked as well, serialising every login of the tenant.
        locked = list(
            User.objects.select_for_update(of=("self",))
            .filter(pk=user.pk)
            .order_by()
            .values_list("pk", "tenant__refresh_token_limit_per_user")
        )
        limit = locked[0][1] if locked else None
    if limit is None:
        return  # the user is gone: the INSERT that follows fails on its foreign key
    live = RefreshToken.objects.filter(user_id=user.pk, revoked_at__isnull=True, expires_at__gt=now)
    keep = limit - 1
    others = live
    if family_id is not None:
        keep -= live.filter(family_id=family_id).count()
        others = live.exclude(family_id=family_id)
    # Newest first; the families of everything after the first `keep` are evicted. Read first, not
    # as a subquery of the UPDATE: PostgreSQL ran that subquery again for each live token.
    evicted = list(others.order_by("-created_at", "-id").values_list("family_id", flat=True)[max(keep, 0) :])
    if not evicted:
        return
    count = RefreshToken.objects.filter(
        user_id=user.pk, revoked_at__isnull=True, family_id__in=set(evicted)
    ).update(revoked_at=now, revoke_reason=RevokeReason.SESSION_LIMIT.value)
    if not count:
        return
    affected = list(
        RefreshToken.objects.filter(
            user_id=user.pk, revoked_at=now, revoke_reason=RevokeReason.SESSION_LIMIT.value
        )
        .values_list("tenant_id", "application_id", "user_id")
        .distinct()
    )
    entry = session_limit_audit_entry(user=user, tenant_id=affected[0][0])
    entry.count = count
    entry.save(force_insert=True)
    refresh_tokens_revoked_emit(affected=affected, user=user)


def session_limit_audit_entry(*, user: User, tenant_id: Any) -> AuditEntry:
    """The audit entry of sessions evicted beyond the per-user limit (its `count` set by whoever
    writes it: _session_limit_enforce, or the login's one statement)."""
    return audit_entry_build(
        action="refresh_token.revoke_session_limit",
        object_type="refreshtoken",
        object_id=user.pk,
        tenant_id=tenant_id,
        diff={"revoke_reason": RevokeReason.SESSION_LIMIT.value},
    )


@dataclass(frozen=True)
class TokenPair:
    """What a refresh answers: a new access token and the refresh token's (maybe rotated) value."""

    access_token: AccessToken
    """Signed before the use was committed: a use that cannot be answered is never consumed."""
    refresh_token: RefreshToken
    refresh_token_value: str
    roles: list[str]
    rotated: bool


def _access_token(context: RefreshTokenContext, ttl_seconds: int | None, now: datetime) -> AccessToken:
    return access_token_issue(
        user=context.user,
        tenant=context.tenant,
        application=context.application,
        roles=context.roles or [],
        authentication_type=AuthenticationType.REFRESH_TOKEN,
        now=now,
        session_id=context.token.pk,
        auth_time=context.token.started_at,
        ttl_seconds=ttl_seconds,
        config=context.config,
    )


def refresh_grant(
    *,
    value: str,
    ttl_seconds: int | None = None,
    address: str = "",
    tenant_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """The refresh-token grant (`POST /api/jwt/refresh`): check the value, apply the expiration
    and usage policies, and answer with a new access token. A use that cannot be answered (e.g.
    for want of a signing key) leaves the value unconsumed, so the client's retry is not a replay.
    With `tenant_id` (the caller named a tenant), a token of any other tenant is refused like an
    unknown one. Token, user, application, tenant, roles and the effective configuration are read
    once, by the token id the value carries, and carried to the signer.

    A use is consumed with a conditional UPDATE (`WHERE token_digest = <presented> AND revoked_at
    IS NULL`), so of any number of concurrent uses of one value exactly one rotates it (FusionAuth
    #1840); the others find the value already rotated and are judged as replays. A later use of a
    rotated value is reuse: inside the grace period the immediately previous generation gets the
    current value back, unrotated; anything older, or later, is refused and, with the tenant's
    onOneTimeTokenReuse policy, the whole token family is revoked (RFC 9700 §4.14.2; FusionAuth
    revokes only the replayed token).

    Deliberately not one transaction, and on PostgreSQL usually one statement
    (_use_in_one_statement): the value's hint says what its use will write, so the write and the
    read of the context go together, and the rules then judge the use already made (undoing it
    when they refuse). Otherwise, or when that statement wrote nothing, the context is read first
    and the use written after: one SELECT and one UPDATE, each its own autocommit statement (no
    BEGIN/COMMIT round trips, no row lock held across Python code). The family revocation on
    reuse must stand although the request then fails.
    """
    claim = _claimed(value)
    if claim is None:  # not shaped like any value we hand out
        raise RefreshTokenUnusable()
    presented = _Presented(
        claim=claim,
        value=value,
        digest=secret_digest(value),
        ttl_seconds=ttl_seconds,
        address=address,
        tenant_id=tenant_id,
        now=now or timezone.now(),
    )
    return _use_in_one_statement(presented) or _use_after_reading(presented)


@dataclass(frozen=True)
class _Presented:
    """A refresh as asked for: the value, what it claims and its digest, and the request's TTL,
    address, tenant and instant."""

    claim: _Claim
    value: str
    digest: str
    ttl_seconds: int | None
    address: str
    tenant_id: uuid.UUID | None
    now: datetime

    def touched(self) -> dict[str, Any]:
        """What every accepted use writes."""
        changes: dict[str, Any] = {"last_used_at": self.now}
        if self.address:
            changes["last_accessed_address"] = self.address[:64]
        return changes

    def foreign(self, context: RefreshTokenContext) -> bool:
        """Whether the token is of another tenant than the one the caller named."""
        return self.tenant_id is not None and context.token.tenant_id != self.tenant_id


def _use(
    context: RefreshTokenContext, presented: _Presented, rotation: tuple[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """The rules of a use of the token's current value (the presented one): refused
    (RefreshTokenUnusable) unless the session may be refreshed now with this TTL; else the changes
    it writes and the value it answers with (the next generation's under OneTimeUse). `rotation`:
    the next value with the ROTATE hint and its digest, when the caller has them already."""
    now = presented.now
    if not context.refreshable(now):
        raise RefreshTokenUnusable()
    token, config = context.token, context.config
    _check_ttl(config, presented.ttl_seconds)
    changes = presented.touched()
    changes["expires_at"] = refresh_token_expiry(config=config, started_at=token.started_at, used_at=now)
    if config.refresh_token_usage_policy != UsagePolicy.ONE_TIME_USE:
        return changes, presented.value
    hint = _hint(config)
    rotated, digest = (
        rotation if rotation is not None and hint == ROTATE else _rotation(presented.claim, hint)
    )
    changes.update(token_digest=digest, generation=token.generation + 1, rotated_at=now)
    return changes, rotated


def _rotation(claim: _Claim, hint: bytes) -> tuple[str, str]:
    """The next generation's value and its digest."""
    rotated = _next_value(claim, hint=hint)
    return rotated, secret_digest(rotated)


def _consumed(
    context: RefreshTokenContext, changes: dict[str, Any], value: str, access: AccessToken
) -> TokenPair:
    """The answer to a use that was written (the `jwt.refresh` event emitted; a grace-period answer
    writes nothing and emits none)."""
    token = context.token
    for name, new in changes.items():
        setattr(token, name, new)
    refresh_emit(token=token)
    return TokenPair(
        access_token=access,
        refresh_token=token,
        refresh_token_value=value,
        roles=context.roles or [],
        rotated="token_digest" in changes,
    )


def _use_in_one_statement(presented: _Presented) -> TokenPair | None:
    """The use of a value whose hint says what it will write, written together with the read of
    its context (refresh_token_consume), then judged by the same rules as any use (_use). None
    when it cannot be done this way, when the value was not the current one (nothing written), or
    when the configuration changed since the value was minted (the write undone): the read path
    then decides. A use the rules refuse, or that cannot be signed, is undone before the error
    propagates, so it changes nothing."""
    claim, now = presented.claim, presented.now
    if claim.hint not in (ROTATE, KEEP) or not refresh_token_consume_supported():
        return None
    speculated, answer, rotation = presented.touched(), presented.value, None
    if claim.hint == ROTATE:
        answer, digest_next = rotation = _rotation(claim, ROTATE)
        speculated.update(token_digest=digest_next, generation=claim.generation + 1, rotated_at=now)
    context = refresh_token_consume(
        token_id=claim.token_id, expected_digest=presented.digest, changes=speculated
    )
    if context is None:
        return None
    written = speculated.get("token_digest", presented.digest)
    try:
        if presented.foreign(context):
            raise RefreshTokenUnusable()
        changes, value_out = _use(context, presented, rotation)
        hinted = value_out == answer and all(changes.get(name) == new for name, new in speculated.items())
        access = _access_token(context, presented.ttl_seconds, now) if hinted else None
    except Exception:
        _undo(context, speculated, written)
        raise
    if access is None:  # the configuration changed since the value was minted
        _undo(context, speculated, written)
        return None
    rest = {
        name: new
        for name, new in changes.items()
        if name not in speculated and getattr(context.token, name) != new
    }
    if rest:  # e.g. a Fixed expiry recomputed after the tenant changed its TTL
        refresh_token_write(token=context.token, changes=rest, expected_digest=written)
    return _consumed(context, changes, value_out, access)


def _undo(context: RefreshTokenContext, speculated: dict[str, Any], written: str) -> None:
    """Put back what _use_in_one_statement wrote (the context's token holds the values before it)."""
    previous = {name: getattr(context.token, name) for name in speculated}
    refresh_token_write(token=context.token, changes=previous, expected_digest=written)


def _use_after_reading(presented: _Presented) -> TokenPair:
    """The use decided on the context read first (one SELECT), then written with a conditional
    UPDATE; a value that is not its token's current one is judged as a replay."""
    token_id, now = presented.claim.token_id, presented.now
    context = refresh_token_context(token_id=token_id)
    if context is None or presented.foreign(context):
        raise RefreshTokenUnusable()
    if hmac.compare_digest(context.token.token_digest, presented.digest):  # the token's current value
        changes, value_out = _use(context, presented)
        # Sign first: if no access token can be issued, the value stays unused and a retry works.
        access = _access_token(context, presented.ttl_seconds, now)
        if refresh_token_write(token=context.token, changes=changes, expected_digest=presented.digest):
            return _consumed(context, changes, value_out, access)
        # Another request rotated or revoked it between our SELECT and UPDATE: read it again, and
        # judge the value as a replay.
        context = refresh_token_context(token_id=token_id)
        if context is None:
            raise RefreshTokenUnusable()
    pair = _replayed(context, presented)
    if pair is False:
        raise RefreshTokenUnusable()
    if pair is not None:
        return pair
    if context.tenant.revoke_on_one_time_token_reuse:
        refresh_tokens_revoke_family(
            family_id=context.token.family_id, reason=RevokeReason.REUSE_DETECTED, now=now
        )
    raise RefreshTokenUnusable()


def _current_value(claim: _Claim, *, token: RefreshToken, config: JWTConfiguration) -> str | None:
    """The token's current value, from the value of the generation before it: its hint is the one
    the configuration gave at that rotation, which may have changed since, so each is tried."""
    for hint in dict.fromkeys((_hint(config), ROTATE, KEEP, READ)):
        candidate = _next_value(claim, hint=hint)
        if hmac.compare_digest(secret_digest(candidate), token.token_digest):
            return candidate
    return None


def _check_ttl(config: JWTConfiguration, ttl_seconds: int | None) -> None:
    if ttl_seconds is not None and ttl_seconds > config.access_token_ttl_seconds:
        raise RefreshTokenUnusable()


def _replayed(context: RefreshTokenContext, presented: _Presented) -> TokenPair | Literal[False] | None:
    """A value that is not the current one of its token: False when it was never ours (a
    generation the token has not reached, or a tag or MAC that does not check), else the
    grace-period answer when there is one (None: reuse)."""
    claim, ttl_seconds, now = presented.claim, presented.ttl_seconds, presented.now
    token, config = context.token, context.config
    if claim.generation >= token.generation or not _minted(claim, token):
        return False
    grace = timedelta(seconds=config.refresh_token_grace_period_seconds)
    # `now` was taken before the race was lost, so it may precede the rotation that won it:
    # with no grace period configured that is still reuse.
    in_grace = (
        grace > timedelta(0)
        and claim.generation == token.generation - 1
        and token.rotated_at is not None
        and now - token.rotated_at < grace
    )
    if not in_grace or not context.refreshable(now):
        return None
    current = _current_value(claim, token=token, config=config)
    if current is None:
        return None
    _check_ttl(config, ttl_seconds)
    return TokenPair(
        access_token=_access_token(context, ttl_seconds, now),
        refresh_token=token,
        refresh_token_value=current,
        roles=context.roles or [],
        rotated=False,
    )


@transaction.atomic
def refresh_tokens_revoke_family(
    *, family_id: uuid.UUID, reason: RevokeReason, now: datetime | None = None
) -> int:
    """Revoke a token and every token derived from it (rotation keeps one row; tokens issued for
    other applications from it share its family)."""
    tokens = RefreshToken.objects.filter(family_id=family_id, revoked_at__isnull=True)
    affected = list(tokens.values_list("tenant_id", "application_id", "user_id").distinct())
    count = tokens.update(revoked_at=now or timezone.now(), revoke_reason=reason.value)
    if count:
        audit_record(
            action="refresh_token.revoke_family",
            object_type="refreshtoken",
            object_id=family_id,
            tenant_id=affected[0][0],
            diff={"revoke_reason": reason.value},
            count=count,
        )
        refresh_tokens_revoked_emit(affected=affected, reuse=reason == RevokeReason.REUSE_DETECTED)
    return count


def refresh_token_find(*, value: str) -> RefreshToken | None:
    """The live or revoked token whose current value this is (None for unknown or rotated values):
    the token the value names, if the value is its current one."""
    claim = _claimed(value)
    if claim is None:
        return None
    token = RefreshToken.objects.select_related("user", "application").filter(pk=claim.token_id).first()
    if token is None or not hmac.compare_digest(token.token_digest, secret_digest(value)):
        return None
    return token


@transaction.atomic
def refresh_token_revoke(*, caller: Caller, token_id: uuid.UUID, now: datetime | None = None) -> None:
    """`DELETE /api/jwt/refresh/{tokenId}`: revoke one session the caller may address (with an API
    key, any of its tenant scope; with a user's access token, only that user's own)."""
    token = refresh_token_get(caller=caller, token_id=token_id)
    refresh_tokens_revoke(token_ids=[str(token.pk)], reason=RevokeReason.API, now=now)


@transaction.atomic
def refresh_tokens_revoke_requested(
    *,
    caller: Caller,
    value: str | None = None,
    user_id: uuid.UUID | None = None,
    application_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> None:
    """`DELETE /api/jwt/refresh`: revoke the session a token value names (its whole family, as reuse
    would; the token's owner may do this with their own access token), or with an API key every
    session of a user, of an application, or of a user in an application. An unknown or revoked
    value is NotFound; bulk revocation without a key is 401, without a filter 400."""
    if value is not None:
        found = refresh_token_find(value=value)
        if found is None or found.revoked_at is not None:
            raise NotFound()
        token = refresh_token_get(caller=caller, token_id=found.pk)
        refresh_tokens_revoke_family(family_id=token.family_id, reason=RevokeReason.API, now=now)
        return
    caller.key()  # an end user may revoke their own token, not in bulk
    if user_id is None and application_id is None:
        raise ValidationFailed.on_field("token", "missing", "Send a token, a userId or an applicationId.")
    user = caller.visible(User.objects.filter(pk=user_id).first()) if user_id is not None else None
    application = (
        caller.visible(Application.objects.filter(pk=application_id).first())
        if application_id is not None
        else None
    )
    refresh_tokens_revoke(user=user, application=application, reason=RevokeReason.API, now=now)


def refresh_tokens_purge(
    *, retention: timedelta, now: datetime | None = None, batch_size: int = 5000
) -> Iterator[int]:
    """Delete tokens that expired or were revoked more than `retention` ago, yielding how many each
    batch removed. Revoked rows are kept for the retention so a replayed value is still recognised
    (and its family still revoked) for a while.

    Two passes, expired then revoked, each walking its (instant, id) index in key order: one
    DELETE of at most `batch_size` rows per batch, each its own short autocommit statement (locks
    held for one batch only, nothing held between batches), memory bounded by one batch, and no
    batch rescans what earlier ones deleted, so a million rows cost a million index steps, not a
    million squared. Safe to stop at any point and run again."""
    cutoff = (now or timezone.now()) - retention
    for column in PURGE_KEYS:
        after = None
        while True:
            with transaction.atomic():  # the batch and its record: a stopped purge leaves both
                count, after = refresh_token_purge_batch(
                    column=column, cutoff=cutoff, after=after, size=batch_size
                )
                if count:
                    audit_record(action="refresh_token.purge", object_type="refreshtoken", count=count)
            if after is None:
                break
            yield count


def refresh_tokens_purgeable(*, retention: timedelta, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - retention
    return RefreshToken.objects.filter(
        models.Q(expires_at__lt=cutoff) | models.Q(revoked_at__lt=cutoff)
    ).count()

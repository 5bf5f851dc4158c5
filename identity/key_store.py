"""In-memory state every worker of every node must agree on, and the keys it is used for first.

`Coherent` is the one invalidation path for such state. A value (here: which keys each tenant and
application trusts) is built from the database and kept in the process; a shared version, named
per channel, says when it changed. Every process reads that version at most once per
`CHECK_INTERVAL_SECONDS`, so a request costs no SQL and no cache round trip on the hot path, and a
removal (key deleted, no longer trusted, tenant or application changed) reaches every process
within that interval:

- with `REDIS_URL` (settings `IDENTITY_COHERENCE_CACHE`), the version is a counter in Django's cache,
  incremented once the changing transaction commits;
- always, a row of `identity_coherence_version` is incremented inside the changing transaction, so
  the change and its version commit together. Without Redis (or while it is unreachable) that row
  is what processes read: one indexed single-row SELECT per process per interval.

A miss is not staleness to be waited out: a caller that needs something the snapshot lacks (a
signer it does not hold) asks for `reload()` and gets a fresh build at once; a caller that saw
something unknown from outside (a token's `kid`) asks for `reload_on_miss()`, which rebuilds at
most once per `MISS_RELOAD_INTERVAL_SECONDS` per process and in between only reads the version
(at most every `MISS_CHECK_INTERVAL_SECONDS`), so garbage input cannot turn into database load.

Revoked personal access tokens and revoked access-token `jti`s are meant to be further `Coherent`
channels with their own builders (`Coherent("revoked-jtis", build)`, `invalidate()` where they
change): one invalidation path, not one per feature.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from identity.models import Application, ExternalJWTProvider, PersonalAccessToken, SigningKey, Tenant
from identity.shared_cache import BREAKER
from identity.signing import LoadedKey, load_key

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0
MISS_RELOAD_INTERVAL_SECONDS = 1.0
MISS_CHECK_INTERVAL_SECONDS = 0.05
# A safety net for rows changed behind the services' back (raw SQL, a shell): rebuilt at least this often.
MAX_AGE_SECONDS = 300.0
VERSION_TABLE = "identity_coherence_version"
CACHE_KEY_PREFIX = "identity:coherence:"

T = TypeVar("T")


def _cache_shared() -> bool:
    return bool(getattr(settings, "IDENTITY_COHERENCE_CACHE", False))


def _database_version(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version FROM {VERSION_TABLE} WHERE name = %s", [name])  # noqa: S608
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def channel_version(name: str) -> int:
    """The shared version of a channel: the cache's counter when one is shared, else (or when the
    cache cannot answer, or failed a moment ago: identity.shared_cache) the database row's. A bump
    this process could not make in the cache is made first (`_pending`)."""
    if _cache_shared() and BREAKER.available():
        try:
            _bump_pending()
            value = cache.get(CACHE_KEY_PREFIX + name)
            if value is None:
                # A random start, so a flushed cache never brings back a version a process has seen.
                cache.add(CACHE_KEY_PREFIX + name, secrets.randbits(62), timeout=None)
                value = cache.get(CACHE_KEY_PREFIX + name)
            if value is not None:
                return int(value)
        except Exception as exc:  # the cache is down or hung: the database row is always current too
            BREAKER.failed(exc, fallback="coherence versions are read from the database")
    return -1 - _database_version(name)  # never equal to a cache value (those are >= 0)


_pending: set[str] = set()
"""Channels whose cache counter this process failed to move after a commit: moved on its next
successful use of the cache. Without this, a process that read the counter before and after an
outage would see it unchanged and keep stale state until MAX_AGE_SECONDS (the row did move)."""
_pending_lock = threading.Lock()


def _cache_bump(name: str) -> None:
    try:
        cache.incr(CACHE_KEY_PREFIX + name)
    except ValueError:  # no counter (a flushed cache): a new random one is a move too
        cache.add(CACHE_KEY_PREFIX + name, secrets.randbits(62), timeout=None)


def _bump_pending() -> None:
    """Make the bumps that failed earlier (raises when the cache fails again; they stay pending)."""
    if not _pending:
        return
    with _pending_lock:
        for name in sorted(_pending):
            _cache_bump(name)
            _pending.discard(name)


def channel_bump(name: str) -> None:
    """Tell every process that the channel's data changed: the row inside the current transaction,
    the cache once it commits (or, when it cannot be reached then, on this process's next use of it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {VERSION_TABLE} (name, version) VALUES (%s, 1) "  # noqa: S608
            f"ON CONFLICT (name) DO UPDATE SET version = {VERSION_TABLE}.version + 1",
            [name],
        )
    if _cache_shared():

        def bump_cache() -> None:
            with _pending_lock:
                _pending.add(name)
            if not BREAKER.available():
                return
            try:
                _bump_pending()
            except Exception as exc:
                BREAKER.failed(exc, fallback=f"the {name} version moved in the database only, for now")

        transaction.on_commit(bump_cache)


class Coherent(Generic[T]):
    """A value built from the database that every process keeps coherent through one channel."""

    def __init__(self, name: str, build: Callable[[], T]) -> None:
        self.name = name
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None
        self._version: int | None = None
        self._checked_at = float("-inf")
        self._built_at = float("-inf")
        self._miss_reload_at = float("-inf")
        self._uncommitted = False
        """This process changed the data in a transaction not yet known to have committed."""
        self.rebuilds = 0
        """Builds so far in this process (what tests and operators count)."""

    def get(self) -> T:
        """The current value; the shared version is read at most once per check interval."""
        value = self._value
        if value is not None and time.monotonic() - self._checked_at < CHECK_INTERVAL_SECONDS:
            return value
        return self._sync(mode="get", reason="version check")

    def reload(self, *, reason: str) -> T:
        """A fresh build now: the caller knows the value lacks something that must exist."""
        return self._sync(mode="build", reason=reason)

    def reload_on_miss(self, *, reason: str) -> T | None:
        """A newer value for something unknown seen in untrusted input, or None when there is none
        to be had. At most one unconditional rebuild per second per process; in between, the shared
        version is read (at most every `MISS_CHECK_INTERVAL_SECONDS`) and the value rebuilt only if
        it moved, so a key added a moment ago on another node is usable at once while a flood of
        garbage costs at most one rebuild a second and a few single-row reads."""
        with self._lock:
            now = time.monotonic()
            if now - self._miss_reload_at >= MISS_RELOAD_INTERVAL_SECONDS:
                self._miss_reload_at = now
                mode = "build"
            elif now - self._checked_at >= MISS_CHECK_INTERVAL_SECONDS:
                mode = "check"
            else:
                return None
            before = self._value
        value = self._sync(mode=mode, reason=reason)
        return value if value is not before else None

    def invalidate(self) -> None:
        """The data changed in this process's transaction: bump the channel, and rebuild here on the
        next use (this process must see its own change at once)."""
        channel_bump(self.name)
        self._value, self._uncommitted = None, True

        def forget() -> None:
            self._value, self._uncommitted = None, False

        transaction.on_commit(forget)

    def reset(self) -> None:
        """Drop the value; the next use rebuilds. For a process whose transactions were rolled
        back without a version to say so (a test run), never needed in serving."""
        with self._lock:
            self._value, self._uncommitted = None, False

    def _sync(self, *, mode: str, reason: str) -> T:
        """`get`: read the version if the interval passed; `check`: read it now; `build`: rebuild.
        A moved version (or no value yet, or old age) rebuilds."""
        with self._lock:
            now = time.monotonic()
            value = self._value
            if mode == "get" and value is not None and now - self._checked_at < CHECK_INTERVAL_SECONDS:
                return value
            # Read the version before building: a change committed meanwhile moves it again.
            version: int | None = channel_version(self.name)
            self._checked_at = now
            if (
                mode == "build"
                or value is None
                or version != self._version
                or now - self._built_at >= MAX_AGE_SECONDS
            ):
                if mode != "build":
                    reason = f"{reason}, version moved"
                value = self._value = self._build()
                if self._uncommitted and connection.in_atomic_block:
                    # Built from this process's own uncommitted change: if it rolls back, no
                    # version moves to say so, so trust this build for one interval only.
                    version = None
                else:
                    self._uncommitted = False
                self._version, self._built_at = version, now
                self.rebuilds += 1
                logger.info("%s store rebuilt (%s) in process %s", self.name, reason, os.getpid())
            return value


@dataclass(frozen=True)
class KeySnapshot:
    keys: dict[uuid.UUID, LoadedKey]
    """Every key record by id: signers are looked up here."""
    by_kid: dict[str, LoadedKey]
    """Unexpired keys some tenant or application trusts for its own tokens; never a key imported
    for an external identity provider. A retired key that signed live personal access tokens counts
    as unexpired (and trusted by their tenants) until the last of them ends (`_pat_holds`)."""
    tenant_trust: dict[uuid.UUID, dict[str, LoadedKey]]
    issuers: dict[uuid.UUID, str] = field(default_factory=dict)
    validate_state: dict[uuid.UUID, bool] = field(default_factory=dict)
    """Tenants whose /api/jwt/validate also checks user, application and session state."""
    application_trust: dict[uuid.UUID, tuple[uuid.UUID, dict[str, LoadedKey]]] = field(default_factory=dict)
    """Applications with keys of their own: application id → (its tenant id, trusted keys)."""
    vend_by_kid: dict[str, LoadedKey] = field(default_factory=dict)
    """Unexpired keys that can sign (any tenant's or global): what a vended token may be signed with.
    Which tenant may use which of them is the caller's check (`LoadedKey.tenant_id`)."""
    rows: dict[Hashable, tuple[Any, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Raw rows of API keys, applications and tenants read by their unique key since this snapshot
    was built (identity.selectors.rows.row_by_unique_key with `remember`): the same channel says
    when any of them changes, so they are dropped with the snapshot, in every process, within the
    check interval."""

    def trusted(
        self, *, tenant_id: uuid.UUID, application_id: uuid.UUID | None = None
    ) -> dict[str, LoadedKey]:
        """Keys an application of the tenant trusts (its own override keys plus its tenant's), or the
        tenant's. An application of another tenant never widens the set."""
        own = self.application_trust.get(application_id) if application_id is not None else None
        if own is not None and own[0] == tenant_id:
            return own[1]
        return self.tenant_trust.get(tenant_id, {})


@dataclass
class _Hold:
    """What the live personal access tokens signed by one key need of it."""

    until: datetime | None
    """The latest expiry among them; None while one of them is Unlimited."""
    tenants: set[uuid.UUID] = field(default_factory=set)


def _pat_holds(now: datetime) -> dict[uuid.UUID, _Hold]:
    """Keys that signed personal access tokens still live (neither revoked nor expired), one
    aggregate query: a retired key keeps verifying them, and only them need it, until the last
    one ends (identity.services.signing_keys.signers_retire)."""
    live = PersonalAccessToken.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
        revoked_at__isnull=True,
        signing_key__isnull=False,
    )
    rows = live.values("signing_key_id", "tenant_id").annotate(
        latest=Max("expires_at"), unlimited=Count("pk", filter=Q(expires_at__isnull=True))
    )
    holds: dict[uuid.UUID, _Hold] = {}
    for row in rows:
        until = None if row["unlimited"] else row["latest"]
        hold = holds.setdefault(row["signing_key_id"], _Hold(until=until))
        if hold.until is not None and (until is None or until > hold.until):
            hold.until = until
        hold.tenants.add(row["tenant_id"])
    return holds


def _held(key: LoadedKey, record: SigningKey, hold: _Hold | None) -> LoadedKey:
    """The key as verifiers see it: its own expiry (retirement) pushed back to the end of the live
    personal access tokens it signed. A certificate's end of validity is never pushed back."""
    if hold is None or key.expires_at is None or record.certificate:
        return key
    if hold.until is not None and hold.until <= key.expires_at:
        return key
    return replace(key, expires_at=hold.until)


def _build() -> KeySnapshot:
    now = timezone.now()
    records = list(SigningKey.objects.all())
    keys = {record.pk: load_key(record) for record in records}
    holds = _pat_holds(now)
    verifying = {record.pk: _held(keys[record.pk], record, holds.get(record.pk)) for record in records}
    # Keys imported to check an external identity provider's tokens speak for that provider only.
    providers = ExternalJWTProvider.verification_keys.through.objects
    foreign = set(providers.values_list("signingkey_id", flat=True))
    usable = {
        key_id: key for key_id, key in verifying.items() if not key.expired(now) and key_id not in foreign
    }

    def pick(ids: Sequence[uuid.UUID | None]) -> dict[str, LoadedKey]:
        return {usable[i].kid: usable[i] for i in ids if i is not None and i in usable}

    tenant_verifiers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, key_id in Tenant.verification_keys.through.objects.values_list(
        "tenant_id", "signingkey_id"
    ):
        tenant_verifiers.setdefault(tenant_id, []).append(key_id)
    tenant_rows = list(
        Tenant.objects.values_list(
            "id", "issuer", "access_token_signing_key_id", "id_token_signing_key_id", "validate_checks_state"
        )
    )
    for key_id, hold in holds.items():
        for tenant_id in hold.tenants:
            tenant_verifiers.setdefault(tenant_id, []).append(key_id)
    tenant_trust = {
        tenant_id: pick([access_key, id_key, *tenant_verifiers.get(tenant_id, [])])
        for tenant_id, _, access_key, id_key, _ in tenant_rows
    }
    app_verifiers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for app_id, key_id in Application.verification_keys.through.objects.values_list(
        "application_id", "signingkey_id"
    ):
        app_verifiers.setdefault(app_id, []).append(key_id)
    application_trust: dict[uuid.UUID, tuple[uuid.UUID, dict[str, LoadedKey]]] = {}
    for app_id, tenant_id, enabled, access_key, id_key in Application.objects.values_list(
        "id", "tenant_id", "jwt_enabled", "access_token_signing_key_id", "id_token_signing_key_id"
    ):
        own = (
            [access_key, id_key, *app_verifiers.get(app_id, [])] if enabled else app_verifiers.get(app_id, [])
        )
        if any(own):
            application_trust[app_id] = (tenant_id, {**tenant_trust.get(tenant_id, {}), **pick(own)})
    published: dict[str, LoadedKey] = {}
    for trust in tenant_trust.values():
        published.update(trust)
    for _, trust in application_trust.values():
        published.update(trust)
    return KeySnapshot(
        keys=keys,
        by_kid=published,
        tenant_trust=tenant_trust,
        issuers={tenant_id: issuer for tenant_id, issuer, _, _, _ in tenant_rows},
        validate_state={tenant_id: checks for tenant_id, _, _, _, checks in tenant_rows},
        application_trust=application_trust,
        vend_by_kid={
            key.kid: key
            for key_id, key in keys.items()
            if key.can_sign and not key.expired(now) and key_id not in foreign
        },
    )


KEYS: Coherent[KeySnapshot] = Coherent("keys", _build)


def key_snapshot() -> KeySnapshot:
    """The current key snapshot (no SQL unless the check interval has passed)."""
    return KEYS.get()


def key_store_invalidate() -> None:
    """Keys, tenants, applications or API keys changed in the current transaction: every process
    rebuilds (this one on its next use, the others within the check interval) and forgets the rows
    it remembered (KeySnapshot.rows)."""
    KEYS.invalidate()

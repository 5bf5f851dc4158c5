"""Signing keys: generation with `cryptography`, private material encrypted before it is stored."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

from identity import app_settings
from identity.exceptions import ValidationFailed, errors_keyed
from identity.key_encryption import decrypt_secret, encrypt_secret, encrypted_under_current_key
from identity.key_store import key_store_invalidate
from identity.models import Application, KeyAlgorithm, KeyUse, PersonalAccessToken, SigningKey, Tenant
from identity.services.audit import audit_record, audit_snapshot
from identity.signing import (
    KID_PATTERN,
    PrivateKey,
    PublicKey,
    b64url,
    certificate_read,
    jwk_thumbprint,
    private_key_generate,
    private_key_read,
    private_pem,
    public_key_facts,
    public_key_read,
    public_pem,
)
from identity.validators import HMAC_SECRET_BYTES, signing_key_validate

# The API's error paths for the validators' model fields (identity.validators).
KEY_ERROR_PATHS = {"name": "key.name", "algorithm": "key.algorithm", "length": "key.length"}
EC_CURVES = {
    KeyAlgorithm.ES256: "secp256r1",
    KeyAlgorithm.ES384: "secp384r1",
    KeyAlgorithm.ES512: "secp521r1",
}


@dataclass(frozen=True)
class GeneratedKey:
    key: SigningKey
    hmac_secret: str | None
    """URL-safe base64 of the HMAC secret, to be shown once; None for asymmetric keys."""


def _new_private_key(algorithm: KeyAlgorithm, length: int | None) -> tuple[PrivateKey, int | None]:
    if algorithm.startswith("RS"):
        bits = length or 2048
        return private_key_generate(kty="RSA", bits=bits), bits
    if algorithm in EC_CURVES:
        private_key = private_key_generate(kty="EC", curve=EC_CURVES[algorithm])
        return private_key, public_key_facts(private_key.public_key()).bits
    return private_key_generate(kty="OKP"), None


def _new_key_id(requested: uuid.UUID | None) -> uuid.UUID:
    if requested is None:
        return uuid.uuid4()
    if SigningKey.objects.filter(pk=requested).exists():
        raise ValidationFailed.on_field("keyId", "duplicate", "A key with this id already exists.")
    return requested


@transaction.atomic
def signing_key_generate(
    *,
    tenant: Tenant | None,
    algorithm: str,
    name: str,
    length: int | None = None,
    issuer: str = "",
    key_id: uuid.UUID | None = None,
) -> GeneratedKey:
    """Generate a key pair or HMAC secret. The private part is encrypted (bound to the row id) before
    it reaches the database; an HMAC secret is at least as long as its hash output (RFC 7518 §3.2).
    The kid is the RFC 7638 thumbprint for asymmetric keys and random for HMAC keys."""
    with errors_keyed(KEY_ERROR_PATHS):
        signing_key_validate(values={"name": name, "algorithm": algorithm, "length": length})
    name, alg = name.strip(), KeyAlgorithm(algorithm)
    key_id = _new_key_id(key_id)
    aad = str(key_id).encode("ascii")
    if alg in HMAC_SECRET_BYTES:
        size = length or HMAC_SECRET_BYTES[alg]
        secret = os.urandom(size)
        key = SigningKey(
            id=key_id,
            tenant=tenant,
            name=name,
            algorithm=alg,
            kid=b64url(os.urandom(20)),
            length=size,
            issuer=issuer,
            encrypted_secret=encrypt_secret(secret, associated_data=aad),
        )
        key.save()
        audit_record(action="signing_key.generate", obj=key, diff=audit_snapshot(key))
        key_store_invalidate()
        return GeneratedKey(key=key, hmac_secret=b64url(secret))
    private_key, bits = _new_private_key(alg, length)
    public_key = private_key.public_key()
    key = SigningKey(
        id=key_id,
        tenant=tenant,
        name=name,
        algorithm=alg,
        kid=jwk_thumbprint(public_key),
        length=bits,
        issuer=issuer,
        public_key=public_pem(public_key),
        encrypted_secret=encrypt_secret(private_pem(private_key), associated_data=aad),
        use=KeyUse.SIGN_AND_VERIFY,
    )
    key.save()
    audit_record(action="signing_key.generate", obj=key, diff=audit_snapshot(key))
    key_store_invalidate()
    return GeneratedKey(key=key, hmac_secret=None)


@transaction.atomic
def tenant_signing_key_set(
    *, tenant: Tenant, key: SigningKey, verify_until: datetime | None = None
) -> Tenant:
    """Make `key` the tenant's access-token and id-token signer (validated like any tenant change);
    the previous signers stay trusted until `verify_until` (see `signers_retire`)."""
    from identity.services.tenants import tenant_update

    return tenant_update(
        tenant=tenant, access_token_signing_key=key, id_token_signing_key=key, verify_until=verify_until
    )


# Past the longest token lifetime, allow for clock skew and tokens minted as the change commits.


def signer_retirement_deadline(*, tenant: Tenant, now: datetime) -> datetime:
    """Long enough for every token a retired signer made to expire: the longest access-token
    lifetime of the tenant and of its applications that override it, plus a margin."""
    longest_app = tenant.applications.filter(jwt_enabled=True).aggregate(m=Max("access_token_ttl_seconds"))[
        "m"
    ]
    longest = max(tenant.access_token_ttl_seconds, longest_app or 0)
    return now + timedelta(seconds=longest + app_settings.key_rotation_margin_seconds())


def _signs_anywhere(key_id: uuid.UUID) -> bool:
    signs = models.Q(access_token_signing_key_id=key_id) | models.Q(id_token_signing_key_id=key_id)
    return Tenant.objects.filter(signs).exists() or Application.objects.filter(signs).exists()


def signers_retire(
    *,
    owner: Tenant | Application,
    tenant: Tenant,
    before: Iterable[uuid.UUID | None],
    verify_until: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """The one rule for every change of signer (rotation, `--make-default`, the admin, the APIs):
    signers the owner no longer uses stay trusted, and published, as its verification keys until
    `verify_until` (by default the tenant's longest access-token lifetime from now), so no token in
    flight stops validating; a key of this tenant that nothing signs with any more gets that instant
    as its expiry (a global key keeps its own). Personal access tokens live for months or for good:
    the key store keeps a retired key verifying past that expiry for as long as a live token it
    signed exists (identity.key_store `_pat_holds`), so the expiry set here is the retirement that
    applies once the last of them is revoked or expires. A key that was retired this way and is
    made a signer again is taken back into service."""
    now = now or timezone.now()
    until = verify_until or signer_retirement_deadline(tenant=tenant, now=now)
    if until <= now:
        raise ValidationFailed.on_field(
            "verifyUntil", "invalid", "The old key must stay trusted into the future."
        )
    current = {k for k in (owner.access_token_signing_key_id, owner.id_token_signing_key_id) if k}
    retired = {k for k in before if k is not None} - current
    verifiers = set(owner.verification_keys.values_list("pk", flat=True))
    for key in SigningKey.objects.filter(pk__in=current & verifiers):
        owner.verification_keys.remove(key)
        if key.tenant_id == tenant.pk and not key.certificate and key.expires_at is not None:
            key.expires_at = None
            key.save(update_fields=["expires_at", "updated_at"])
    for old in SigningKey.objects.filter(pk__in=retired):
        owner.verification_keys.add(old)
        if (
            old.tenant_id == tenant.pk
            and (old.expires_at is None or old.expires_at > until)
            and not _signs_anywhere(old.pk)
        ):
            old.expires_at = until
            old.save(update_fields=["expires_at", "updated_at"])
    key_store_invalidate()


def signers_check(
    *,
    current: Mapping[str, Any],
    changes: Mapping[str, Any],
    tenant: Tenant | None,
    tenant_locked: bool,
) -> None:
    """The signers a change sets (not the ones it keeps) must be usable now and within the caller's
    reach: no expired key, and for a caller locked to the tenant no global key another tenant
    signs with. Errors are keyed by model field, like identity.validators, which checks the rest
    of a JWT configuration."""
    errors = ValidationFailed()
    for name in ("access_token_signing_key", "id_token_signing_key"):
        key = changes.get(name)
        if not isinstance(key, SigningKey) or (name in current and current[name] == key):
            continue
        if key.is_expired(timezone.now()):
            errors.add(name, "invalid", "The key has expired.")
        elif tenant is not None and not signing_key_within_reach(
            key=key, tenant=tenant, tenant_locked=tenant_locked
        ):
            errors.add(name, "invalid", "The key belongs to another tenant.")
    if errors:
        raise errors


def signing_key_signer_tenants(*, key: SigningKey) -> set[uuid.UUID]:
    """Tenants that sign tokens with the key (themselves or through one of their applications)."""
    signs = models.Q(access_token_signing_key=key) | models.Q(id_token_signing_key=key)
    tenants = set(Tenant.objects.filter(signs).values_list("pk", flat=True))
    return tenants | set(Application.objects.filter(signs).values_list("tenant_id", flat=True))


def signing_key_within_reach(*, key: SigningKey, tenant: Tenant, tenant_locked: bool) -> bool:
    """Whether a caller acting in `tenant` may sign with the key: a key of that tenant, or a global
    key; a caller locked to the tenant never reaches a global key another tenant signs with."""
    if key.tenant_id is not None:
        return key.tenant_id == tenant.pk
    return not tenant_locked or signing_key_signer_tenants(key=key) <= {tenant.pk}


def _infer_algorithm(public_key: PublicKey) -> KeyAlgorithm:
    facts = public_key_facts(public_key)
    if facts.kty == "RSA":
        return KeyAlgorithm.RS256
    if facts.kty == "EC":
        by_curve = {curve: alg for alg, curve in EC_CURVES.items()}
        if facts.curve in by_curve:
            return by_curve[facts.curve]
    elif facts.kty == "OKP":
        return KeyAlgorithm.EDDSA
    raise ValidationFailed.on_field("key.publicKey", "invalid", "Unsupported key type.")


def _check_key_fits(public_key: PublicKey, algorithm: KeyAlgorithm, *, verify_only: bool) -> int | None:
    """The key type must match the algorithm exactly (RS*: RSA of at least 2048 bits, or 1024 for
    a verify-only key as FusionAuth allows; ES*: its own curve; EdDSA: Ed25519)."""
    facts = public_key_facts(public_key)
    if algorithm.startswith("RS") and facts.kty == "RSA" and facts.bits is not None:
        minimum = 1024 if verify_only else 2048
        if facts.bits < minimum:
            raise ValidationFailed.on_field(
                "key.length", "invalid", f"RSA keys need at least {minimum} bits."
            )
        return facts.bits
    if algorithm in EC_CURVES and facts.kty == "EC":
        if facts.curve != EC_CURVES[algorithm]:
            raise ValidationFailed.on_field(
                "key.algorithm", "mismatch", f"{algorithm} needs a different curve."
            )
        return facts.bits
    if algorithm == KeyAlgorithm.EDDSA and facts.kty == "OKP":
        return None
    raise ValidationFailed.on_field("key.algorithm", "mismatch", f"The key is not a {algorithm} key.")


def _clean_kid(kid: str | None, default: str) -> str:
    value = (kid or "").strip() or default
    if not KID_PATTERN.fullmatch(value):
        raise ValidationFailed.on_field(
            "key.kid", "invalid", "A kid is 1 to 64 characters of A-Z a-z 0-9 _ -."
        )
    if SigningKey.objects.filter(kid=value).exists():
        raise ValidationFailed.on_field("key.kid", "duplicate", "Another key already has this kid.")
    return value


def _pem_bytes(value: str, path: str) -> bytes:
    if not value.strip().startswith("-----BEGIN"):
        raise ValidationFailed.on_field(path, "invalid", "Expected a PEM block.")
    return value.strip().encode("ascii", errors="strict") + b"\n"


@transaction.atomic
def signing_key_import(
    *,
    tenant: Tenant | None,
    name: str,
    algorithm: str | None = None,
    public_key: str = "",
    private_key: str = "",
    certificate: str = "",
    secret: str = "",
    kid: str | None = None,
    issuer: str = "",
    key_id: uuid.UUID | None = None,
) -> SigningKey:
    """Import key material someone else generated: an HMAC secret, a PEM private key (sign and
    verify), or a PEM public key or certificate alone (verify only). The material is fully
    validated here, once, and the algorithm must fit the key's type and size; a certificate's
    end of validity becomes the key's expiry, so an expired certificate can neither sign nor verify."""
    with errors_keyed(KEY_ERROR_PATHS):
        signing_key_validate(values={"name": name, **({"algorithm": algorithm} if algorithm else {})})
    name = name.strip()
    key_id = _new_key_id(key_id)
    aad = str(key_id).encode("ascii")
    if secret:
        alg = KeyAlgorithm(algorithm or KeyAlgorithm.HS256)
        if alg not in HMAC_SECRET_BYTES:
            raise ValidationFailed.on_field(
                "key.algorithm", "mismatch", "A secret is for HS256, HS384 or HS512."
            )
        raw = secret.encode("utf-8")
        if len(raw) < HMAC_SECRET_BYTES[alg]:
            raise ValidationFailed.on_field(
                "key.secret", "tooShort", f"{alg} secrets need at least {HMAC_SECRET_BYTES[alg]} bytes."
            )
        key = SigningKey(
            id=key_id,
            tenant=tenant,
            name=name,
            algorithm=alg,
            kid=_clean_kid(kid, b64url(os.urandom(20))),
            length=len(raw),
            issuer=issuer,
            encrypted_secret=encrypt_secret(raw, associated_data=aad),
        )
        key.save()
        audit_record(action="signing_key.import", obj=key, diff=audit_snapshot(key))
        key_store_invalidate()
        return key
    private: PrivateKey | None = None
    public: PublicKey | None = None
    expires_at = None
    cert_pem = ""
    try:
        if private_key:
            loaded = private_key_read(_pem_bytes(private_key, "key.privateKey"))
            if loaded is None:
                raise ValidationFailed.on_field("key.privateKey", "invalid", "Unsupported private key type.")
            private = loaded
            public = loaded.public_key()
        if certificate:
            cert = certificate_read(_pem_bytes(certificate, "key.certificate"))
            cert_public = cert.public_key
            if cert_public is None:
                raise ValidationFailed.on_field(
                    "key.certificate", "invalid", "Unsupported certificate key type."
                )
            if public is not None and jwk_thumbprint(public) != jwk_thumbprint(cert_public):
                raise ValidationFailed.on_field(
                    "key.certificate", "mismatch", "Certificate and private key differ."
                )
            public = cert_public
            expires_at = cert.not_valid_after
            cert_pem = cert.pem
        if public_key:
            given = public_key_read(_pem_bytes(public_key, "key.publicKey"))
            if given is None:
                raise ValidationFailed.on_field("key.publicKey", "invalid", "Unsupported public key type.")
            if public is not None and jwk_thumbprint(public) != jwk_thumbprint(given):
                raise ValidationFailed.on_field("key.publicKey", "mismatch", "The public key does not match.")
            public = given
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ValidationFailed.general("[invalid]key", "The key material could not be read as PEM.") from exc
    if public is None:
        raise ValidationFailed.general(
            "[missing]key", "Send a secret, a private key, a public key or a certificate to import."
        )
    alg = KeyAlgorithm(algorithm) if algorithm else _infer_algorithm(public)
    length = _check_key_fits(public, alg, verify_only=private is None)
    key = SigningKey(
        id=key_id,
        tenant=tenant,
        name=name,
        algorithm=alg,
        kid=_clean_kid(kid, jwk_thumbprint(public)),
        use=KeyUse.SIGN_AND_VERIFY if private is not None else KeyUse.VERIFY_ONLY,
        length=length,
        issuer=issuer,
        public_key=public_pem(public),
        certificate=cert_pem,
        expires_at=expires_at,
        encrypted_secret=encrypt_secret(private_pem(private), associated_data=aad)
        if private is not None
        else "",
    )
    key.save()
    audit_record(action="signing_key.import", obj=key, diff=audit_snapshot(key))
    key_store_invalidate()
    return key


@transaction.atomic
def signing_key_rename(*, key: SigningKey, name: str) -> SigningKey:
    """Only the name of a key may change (FusionAuth's rule): new material means a new key."""
    with errors_keyed(KEY_ERROR_PATHS):
        signing_key_validate(values={"name": name})
    audit_record(action="signing_key.update", obj=key, diff={"name": [key.name, name.strip()]})
    key.name = name.strip()
    key.save(update_fields=["name", "updated_at"])
    key_store_invalidate()
    return key


def signing_key_usages(*, key: SigningKey, now: datetime | None = None) -> list[str]:
    """Where a key is in use, as readable labels (empty when it may be deleted). A retired key
    stops counting as trusted by its former owners once it has expired (the tokens it made have),
    but counts while it verifies live personal access tokens (`signing_key_live_tokens`)."""
    uses = models.Q(access_token_signing_key=key) | models.Q(id_token_signing_key=key)
    if not key.is_expired(now or timezone.now()):
        uses |= models.Q(verification_keys=key)
    usages = [f"tenant {t.name}" for t in Tenant.objects.filter(uses).distinct()]
    usages += [f"application {a.name}" for a in Application.objects.filter(uses).distinct()]
    return usages


def signing_key_live_tokens(*, key: SigningKey, now: datetime | None = None) -> int:
    """How many live (neither revoked nor expired) personal access tokens the key signed: it keeps
    verifying them after its retirement, and deleting it would make them stop working."""
    now = now or timezone.now()
    return PersonalAccessToken.objects.filter(
        models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now),
        signing_key=key,
        revoked_at__isnull=True,
    ).count()


def signing_key_delete_refusal(
    *, key: SigningKey, revoke_personal_access_tokens: bool = False, now: datetime | None = None
) -> ValidationFailed | None:
    """Why the key may not be deleted, or None. Signing, or trusted by a tenant or application
    (tokens in flight): refused outright. Verifying live personal access tokens: refused unless the
    caller says they are to be revoked (they stop working)."""
    usages = signing_key_usages(key=key, now=now)
    if usages:
        return ValidationFailed.general("[KeyInUse]", f"The key is in use by {', '.join(usages)}.")
    live = signing_key_live_tokens(key=key, now=now)
    if live and not revoke_personal_access_tokens:
        return ValidationFailed.general(
            "[KeyVerifiesPersonalAccessTokens]",
            f"The key verifies {live} live personal access token(s): deleting it makes them stop "
            "working. Revoke them first, or delete it asking for them to be revoked.",
        )
    return None


@transaction.atomic
def signing_key_delete(*, key: SigningKey, revoke_personal_access_tokens: bool = False) -> int:
    """Delete a key nobody uses. A key still signing or trusted by a tenant or application is
    refused: deleting it would log everyone out or break verification. A key that verifies live
    personal access tokens is refused too, unless `revoke_personal_access_tokens` says to end them
    (revoked, so their listing says so, rather than failing without a reason). Returns how many
    tokens were revoked."""
    from identity.services.personal_access_tokens import pats_revoke_for_key

    refusal = signing_key_delete_refusal(key=key, revoke_personal_access_tokens=revoke_personal_access_tokens)
    if refusal is not None:
        raise refusal
    revoked = pats_revoke_for_key(key=key, by="signing key deleted")
    audit_record(action="signing_key.delete", obj=key, diff=audit_snapshot(key))
    key.delete()
    key_store_invalidate()
    return revoked


@transaction.atomic
def signing_key_rotate(
    *,
    tenant: Tenant,
    algorithm: str,
    name: str,
    verify_until: datetime | None = None,
    length: int | None = None,
    now: datetime | None = None,
) -> GeneratedKey:
    """Make a new key the tenant's signer without logging anyone out: the previous signing keys stay
    trusted for verification (and published in the JWKS) until `verify_until`, by default the
    longest access-token lifetime from now plus a margin (`signers_retire`)."""
    now = now or timezone.now()
    verify_until = verify_until or signer_retirement_deadline(tenant=tenant, now=now)
    if verify_until <= now:
        raise ValidationFailed.on_field(
            "verifyUntil", "invalid", "The old key must stay trusted into the future."
        )
    generated = signing_key_generate(tenant=tenant, algorithm=algorithm, name=name, length=length)
    tenant_signing_key_set(tenant=tenant, key=generated.key, verify_until=verify_until)
    audit_record(
        action="signing_key.rotate", obj=generated.key, diff={"verify_until": verify_until.isoformat()}
    )
    return generated


def signing_keys_reencrypt(*, batch_size: int = 200) -> Iterator[SigningKey]:
    """Re-encrypt every key not yet under the current key-encryption key, yielding each one done.

    Each key is its own transaction under a row lock, so an interrupted run loses nothing and a
    second run only finishes what is left; decryption accepts the old keys listed in
    IDENTITY_KEY_ENCRYPTION_KEYS_OLD until the run is complete. Each re-encryption is one audit
    entry (no diff: the material is secret)."""
    pending = SigningKey.objects.exclude(encrypted_secret="").values_list("pk", flat=True)
    for key_id in list(pending.iterator(chunk_size=batch_size)):
        with transaction.atomic():
            key = SigningKey.objects.select_for_update().get(pk=key_id)
            if encrypted_under_current_key(key.encrypted_secret):
                continue
            aad = str(key.pk).encode("ascii")
            key.encrypted_secret = encrypt_secret(
                decrypt_secret(key.encrypted_secret, associated_data=aad), associated_data=aad
            )
            key.save(update_fields=["encrypted_secret", "updated_at"])
            audit_record(action="signing_key.reencrypt", obj=key, diff={})
            key_store_invalidate()
        yield key

"""Signing keys: generation with `cryptography`, private material encrypted before it is stored."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.db import transaction

from identity.exceptions import ValidationFailed
from identity.key_encryption import encrypt_secret
from identity.models import KeyAlgorithm, KeyUse, SigningKey, Tenant

HMAC_SECRET_BYTES = {KeyAlgorithm.HS256: 32, KeyAlgorithm.HS384: 48, KeyAlgorithm.HS512: 64}
RSA_LENGTHS = (2048, 3072, 4096)
EC_CURVES: dict[str, ec.EllipticCurve] = {
    KeyAlgorithm.ES256: ec.SECP256R1(),
    KeyAlgorithm.ES384: ec.SECP384R1(),
    KeyAlgorithm.ES512: ec.SECP521R1(),
}
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class GeneratedKey:
    key: SigningKey
    hmac_secret: str | None
    """URL-safe base64 of the HMAC secret, to be shown once; None for asymmetric keys."""


def _b64url_int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk_members(public_key: PublicKey) -> dict[str, str]:
    """The required public members of a key's JWK (RFC 7517/7518/8037)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        point = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[public_key.curve.name]
        return {
            "kty": "EC",
            "crv": crv,
            "x": _b64url(point.x.to_bytes(size, "big")),
            "y": _b64url(point.y.to_bytes(size, "big")),
        }
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def jwk_thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no spaces."""
    canonical = json.dumps(public_jwk_members(public_key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _new_private_key(algorithm: KeyAlgorithm, length: int | None) -> tuple[PrivateKey, int | None]:
    if algorithm.startswith("RS"):
        bits = length or 2048
        if bits not in RSA_LENGTHS:
            raise ValidationFailed.on_field("key.length", "invalid", "RSA keys are 2048, 3072 or 4096 bits.")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits), bits
    if algorithm in EC_CURVES:
        curve = EC_CURVES[algorithm]
        return ec.generate_private_key(curve), curve.key_size
    return ed25519.Ed25519PrivateKey.generate(), None


@transaction.atomic
def signing_key_generate(
    *, tenant: Tenant | None, algorithm: str, name: str, length: int | None = None, issuer: str = ""
) -> GeneratedKey:
    """Generate a key pair or HMAC secret. The private part is encrypted (bound to the row id) before
    it reaches the database; an HMAC secret is at least as long as its hash output (RFC 7518 §3.2).
    The kid is the RFC 7638 thumbprint for asymmetric keys and random for HMAC keys."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.on_field("key.name", "blank", "A name is required.")
    if algorithm not in KeyAlgorithm.values:
        raise ValidationFailed.on_field(
            "key.algorithm", "invalid", f"Supported algorithms: {', '.join(KeyAlgorithm.values)}."
        )
    alg = KeyAlgorithm(algorithm)
    key_id = uuid.uuid4()
    aad = str(key_id).encode("ascii")
    if alg in HMAC_SECRET_BYTES:
        minimum = HMAC_SECRET_BYTES[alg]
        size = length or minimum
        if size < minimum or size > 512:
            raise ValidationFailed.on_field(
                "key.length", "invalid", f"{alg} secrets are {minimum} to 512 bytes long."
            )
        secret = os.urandom(size)
        key = SigningKey(
            id=key_id,
            tenant=tenant,
            name=name,
            algorithm=alg,
            kid=_b64url(os.urandom(20)),
            length=size,
            issuer=issuer,
            encrypted_secret=encrypt_secret(secret, associated_data=aad),
        )
        key.save()
        return GeneratedKey(key=key, hmac_secret=_b64url(secret))
    private_key, bits = _new_private_key(alg, length)
    public_key = private_key.public_key()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = SigningKey(
        id=key_id,
        tenant=tenant,
        name=name,
        algorithm=alg,
        kid=jwk_thumbprint(public_key),
        length=bits,
        issuer=issuer,
        public_key=public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii"),
        encrypted_secret=encrypt_secret(private_pem, associated_data=aad),
        use=KeyUse.SIGN_AND_VERIFY,
    )
    key.save()
    return GeneratedKey(key=key, hmac_secret=None)


@transaction.atomic
def tenant_signing_key_set(*, tenant: Tenant, key: SigningKey) -> Tenant:
    """Make `key` the tenant's access-token and id-token signer (validated like any tenant change)."""
    from identity.services.tenants import tenant_update

    return tenant_update(tenant=tenant, access_token_signing_key=key, id_token_signing_key=key)

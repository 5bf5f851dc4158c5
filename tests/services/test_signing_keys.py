from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from identity.exceptions import ValidationFailed
from identity.key_encryption import decrypt_secret
from identity.models import SigningKey
from identity.services.signing_keys import signing_key_generate

pytestmark = pytest.mark.django_db

ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"]


def _rfc7638(jwk: dict) -> str:
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[
        jwk["kty"]
    ]
    canonical = json.dumps({k: jwk[k] for k in required}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_asymmetric_keys_are_encrypted_and_kid_is_the_thumbprint(algorithm):
    generated = signing_key_generate(tenant=None, algorithm=algorithm, name=algorithm)
    key = SigningKey.objects.get(pk=generated.key.pk)
    assert generated.hmac_secret is None
    assert "PRIVATE KEY" not in key.encrypted_secret
    private_pem = decrypt_secret(key.encrypted_secret, associated_data=str(key.pk).encode())
    private_key = load_pem_private_key(private_pem, password=None)
    public_key = load_pem_public_key(key.public_key.encode())
    spki = (Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert private_key.public_key().public_bytes(*spki) == public_key.public_bytes(*spki)
    # Independent check of the kid with PyJWT's own JWK export.
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(public_key))
    assert key.kid == _rfc7638(jwk)


@pytest.mark.parametrize(("algorithm", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_secret_is_at_least_the_hash_length_and_encrypted(algorithm, size):
    generated = signing_key_generate(tenant=None, algorithm=algorithm, name="h")
    secret = base64.urlsafe_b64decode(generated.hmac_secret + "==")
    assert len(secret) == size == generated.key.length
    stored = SigningKey.objects.get(pk=generated.key.pk).encrypted_secret
    assert generated.hmac_secret not in stored
    assert decrypt_secret(stored, associated_data=str(generated.key.pk).encode()) == secret
    assert generated.key.public_key == ""


@pytest.mark.parametrize(
    ("algorithm", "length"),
    [("HS256", 16), ("HS512", 32), ("RS256", 1024), ("RS256", 2049), ("XX256", None), ("none", None)],
)
def test_bad_generation_requests_are_refused(algorithm, length):
    with pytest.raises(ValidationFailed):
        signing_key_generate(tenant=None, algorithm=algorithm, name="k", length=length)
    assert not SigningKey.objects.exists()


@pytest.mark.parametrize("bits", [2048, 3072])
def test_rsa_lengths(bits):
    assert signing_key_generate(tenant=None, algorithm="RS256", name="r", length=bits).key.length == bits

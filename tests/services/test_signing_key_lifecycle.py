"""Import, rename, delete, rotation and re-encryption of signing keys, and the in-memory key store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from django.utils import timezone

from identity.exceptions import ValidationFailed
from identity.key_encryption import encrypted_under_current_key, generate_kek
from identity.key_store import key_snapshot
from identity.models import KeyUse, SigningKey
from identity.services.signing_keys import (
    jwk_thumbprint,
    signing_key_delete,
    signing_key_generate,
    signing_key_import,
    signing_key_rename,
    signing_key_rotate,
    signing_keys_reencrypt,
    tenant_signing_key_set,
)
from identity.signing import TokenInvalid, TokenKind, load_key, sign, verify
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _pem_private(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_public(key) -> str:
    key = key.public_key() if hasattr(key, "public_key") else key
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _certificate(private_key, days: int = 30) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "identity test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("private_key", "algorithm"),
    [
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
    ],
)
def test_import_private_key_signs_and_public_key_only_verifies(private_key, algorithm):
    signer = signing_key_import(tenant=None, name="imported", private_key=_pem_private(private_key))
    assert (signer.algorithm, signer.use, signer.kid) == (
        algorithm,
        KeyUse.SIGN_AND_VERIFY,
        jwk_thumbprint(private_key.public_key()),
    )
    assert "PRIVATE" not in signer.encrypted_secret
    verifier = signing_key_import(
        tenant=None, name="public", public_key=_pem_public(private_key), kid="partner-key-1"
    )
    assert (verifier.use, verifier.kid, verifier.has_private_key) == (
        KeyUse.VERIFY_ONLY,
        "partner-key-1",
        False,
    )
    now = timezone.now()
    token = sign(
        claims={"sub": "s", "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 60},
        key=load_key(signer),
        kind=TokenKind.ACCESS,
        now=now,
    )
    assert verify(token=token, trusted={signer.kid: load_key(signer)}, kinds=[TokenKind.ACCESS], now=now)
    loaded_verifier = load_key(verifier)
    assert not loaded_verifier.can_sign
    with pytest.raises(ValueError):
        sign(claims={"sub": "s"}, key=loaded_verifier, kind=TokenKind.ACCESS, now=now)
    assert _pem_public(loaded_verifier.verifier) == _pem_public(private_key)


def test_import_certificate_sets_expiry_and_refuses_mismatched_private_key():
    private_key = ec.generate_private_key(ec.SECP256R1())
    key = signing_key_import(tenant=None, name="cert", certificate=_certificate(private_key, days=10))
    assert key.use == KeyUse.VERIFY_ONLY and key.certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert key.expires_at is not None and key.expires_at < timezone.now() + timedelta(days=11)
    with pytest.raises(ValidationFailed):
        signing_key_import(
            tenant=None,
            name="bad",
            certificate=_certificate(private_key),
            private_key=_pem_private(ec.generate_private_key(ec.SECP256R1())),
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": "short", "algorithm": "HS256"},
        {"secret": "x" * 40, "algorithm": "HS512"},  # shorter than the 64-byte hash
        {"secret": "x" * 64, "algorithm": "RS256"},
        {"public_key": "not a pem"},
        {"public_key": "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----"},
        {"private_key": _pem_private(ec.generate_private_key(ec.SECP256R1())), "algorithm": "ES384"},
        {"private_key": _pem_private(ec.generate_private_key(ec.SECP256R1())), "algorithm": "RS256"},
        {"private_key": _pem_private(rsa.generate_private_key(public_exponent=65537, key_size=1024))},
        {"public_key": _pem_public(ec.generate_private_key(ec.SECP256K1()))},  # unsupported curve
        {},
        {"secret": "x" * 32, "kid": "../../etc/passwd"},
        {"secret": "x" * 32, "kid": "k" * 65},
        {"secret": "x" * 32, "algorithm": "none"},
    ],
)
def test_bad_imports_are_refused_and_nothing_is_stored(kwargs):
    with pytest.raises(ValidationFailed):
        signing_key_import(tenant=None, name="k", **kwargs)
    assert not SigningKey.objects.exists()


def test_verify_only_rsa_may_be_1024_bits():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert signing_key_import(tenant=None, name="legacy", public_key=_pem_public(small)).length == 1024


def test_duplicate_kid_is_refused():
    signing_key_import(tenant=None, name="a", secret="s" * 32, kid="shared")
    with pytest.raises(ValidationFailed) as info:
        signing_key_import(tenant=None, name="b", secret="t" * 32, kid="shared")
    assert info.value.field_errors["key.kid"][0].code == "[duplicate]key.kid"


def test_rename_only_and_delete_refused_while_in_use():
    tenant = TenantFactory()
    key = signing_key_generate(tenant=tenant, algorithm="ES256", name="k").key
    signing_key_rename(key=key, name="renamed")
    assert SigningKey.objects.get(pk=key.pk).name == "renamed"
    tenant_signing_key_set(tenant=tenant, key=key)
    with pytest.raises(ValidationFailed) as info:
        signing_key_delete(key=key)
    assert info.value.general_errors[0].code == "[KeyInUse]"
    spare = signing_key_generate(tenant=tenant, algorithm="ES256", name="spare").key
    signing_key_delete(key=spare)
    assert not SigningKey.objects.filter(pk=spare.pk).exists()


def test_rotation_keeps_old_tokens_valid_until_the_window_ends():
    tenant = TenantFactory()
    old = signing_key_generate(tenant=tenant, algorithm="RS256", name="old").key
    tenant_signing_key_set(tenant=tenant, key=old)
    now = timezone.now()
    claims = {"sub": "u", "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 600}
    old_token = sign(claims=claims, key=load_key(old), kind=TokenKind.ACCESS, now=now)

    new = signing_key_rotate(
        tenant=tenant, algorithm="ES256", name="new", verify_until=now + timedelta(hours=1)
    ).key
    tenant.refresh_from_db()
    assert tenant.access_token_signing_key_id == new.pk
    trusted = key_snapshot().trusted(tenant_id=tenant.pk)
    assert {old.kid, new.kid} <= set(trusted)
    assert verify(token=old_token, trusted=trusted, kinds=[TokenKind.ACCESS], now=now)[0]["sub"] == "u"
    # Once the window has passed the old key is no longer trusted.
    later = now + timedelta(hours=2)
    with pytest.raises(TokenInvalid):
        verify(token=old_token, trusted=trusted, kinds=[TokenKind.ACCESS], now=later)
    with pytest.raises(ValidationFailed):
        signing_key_rotate(
            tenant=tenant, algorithm="ES256", name="x", verify_until=now - timedelta(seconds=1)
        )


def test_tenants_never_trust_each_others_keys():
    a, b = TenantFactory(), TenantFactory()
    key_a = signing_key_generate(tenant=a, algorithm="ES256", name="a").key
    tenant_signing_key_set(tenant=a, key=key_a)
    tenant_signing_key_set(tenant=b, key=signing_key_generate(tenant=b, algorithm="ES256", name="b").key)
    now = timezone.now()
    token = sign(
        claims={"sub": "u", "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 60},
        key=load_key(key_a),
        kind=TokenKind.ACCESS,
        now=now,
    )
    snapshot = key_snapshot()
    assert verify(token=token, trusted=snapshot.trusted(tenant_id=a.pk), kinds=[TokenKind.ACCESS], now=now)
    with pytest.raises(TokenInvalid):
        verify(token=token, trusted=snapshot.trusted(tenant_id=b.pk), kinds=[TokenKind.ACCESS], now=now)


def test_key_store_snapshot_is_reused_until_something_changes(django_assert_num_queries):
    tenant = TenantFactory()
    tenant_signing_key_set(
        tenant=tenant, key=signing_key_generate(tenant=tenant, algorithm="HS256", name="h").key
    )
    first = key_snapshot()
    with django_assert_num_queries(0):
        assert key_snapshot() is first
    signing_key_generate(tenant=tenant, algorithm="ES256", name="e")
    assert key_snapshot() is not first


def test_reencryption_under_a_new_key_encryption_key(settings):
    keys = [
        signing_key_generate(tenant=None, algorithm=alg, name=alg).key for alg in ("HS256", "ES256", "RS256")
    ]
    signing_key_import(
        tenant=None, name="public only", public_key=_pem_public(ec.generate_private_key(ec.SECP256R1()))
    )
    before = {k.pk: load_key(k).signer for k in keys}
    settings.IDENTITY_KEY_ENCRYPTION_KEYS_OLD = [settings.IDENTITY_KEY_ENCRYPTION_KEY]
    settings.IDENTITY_KEY_ENCRYPTION_KEY = generate_kek()
    done = list(signing_keys_reencrypt())
    assert {k.pk for k in done} == set(before)
    assert list(signing_keys_reencrypt()) == []  # a second run has nothing left to do
    settings.IDENTITY_KEY_ENCRYPTION_KEYS_OLD = []
    for key in SigningKey.objects.exclude(encrypted_secret=""):
        assert encrypted_under_current_key(key.encrypted_secret)
        signer = load_key(key).signer
        if isinstance(signer, bytes):
            assert signer == before[key.pk]
        else:
            assert jwk_thumbprint(signer.public_key()) == jwk_thumbprint(before[key.pk].public_key())

"""The one door for token and key cryptography: the only module that imports PyJWT, and with
identity.key_encryption the only one that imports `cryptography` (import-linter enforces both).

Signing takes the algorithm and key from a SigningKey record. Verification looks the `kid` up among
the keys the caller trusts and takes the algorithm from that key record, never from the token
header (RFC 8725 §3.1). Key material is decrypted and parsed once per key version and kept as
`cryptography` objects: parsing an RSA private PEM costs ~35 ms, signing with the parsed key ~0.3 ms.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import math
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from identity import app_settings
from identity.exceptions import TokenExpired, TokenInvalid
from identity.key_encryption import decrypt_secret

if TYPE_CHECKING:
    from identity.models import SigningKey

MAX_TOKEN_BYTES = 16 * 1024
MAX_HEADER_SEGMENT = 1024
HEADER_CACHE_SIZE = 512
"""Parsed header segments kept per process (one per signing key and token kind in use)."""
KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Header parameters we never issue. A token carrying one was not made by us, and several of them
# (jku, x5u, jwk, x5c) exist to make a verifier trust a key the attacker chose.
FORBIDDEN_HEADER_PARAMETERS = frozenset(
    {"jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "enc", "p2c", "p2s"}
)
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z; beyond it a "date" is an attack, not a date


class TokenKind(StrEnum):
    """Carried in the signed `tkn` header so one kind of token cannot pass for another."""

    ACCESS = "access"
    ID = "id"
    VENDED = "vend"
    CLIENT = "client"
    PAT = "pat"
    """A personal access token: long-lived, revocable, accepted only where PATs are."""


@dataclass(frozen=True)
class LoadedKey:
    """A signing key ready to use: parsed `cryptography` objects, never PEM strings or raw JSON."""

    id: uuid.UUID
    version: datetime
    kid: str
    algorithm: str
    tenant_id: uuid.UUID | None
    can_sign: bool
    expires_at: datetime | None
    signer: Any
    verifier: Any

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


_cache: dict[uuid.UUID, LoadedKey] = {}
_cache_lock = threading.Lock()


def _parse(record: SigningKey) -> LoadedKey:
    # Imported here, not at the top: verification (`verify`, `hmac_key`, `jwks_keys`) must stay
    # importable in a project without the identity models (identity.middleware on a resource server).
    from identity.models import KeyUse

    secret = (
        decrypt_secret(record.encrypted_secret, associated_data=str(record.pk).encode("ascii"))
        if record.encrypted_secret
        else None
    )
    signer: Any = None
    verifier: Any
    if record.algorithm.startswith("HS"):
        if secret is None:
            raise ValueError(f"HMAC key {record.pk} has no secret")
        signer = verifier = secret
    else:
        if secret is not None:
            # The private PEM was validated when it was generated or imported, and AES-GCM proves it
            # is unchanged since; the 35 ms RSA consistency check need not run again on every load.
            signer = load_pem_private_key(secret, password=None, unsafe_skip_rsa_key_validation=True)
        verifier = load_pem_public_key(record.public_key.encode("ascii"))
    can_sign = signer is not None and record.use == KeyUse.SIGN_AND_VERIFY
    return LoadedKey(
        id=record.pk,
        version=record.updated_at,
        kid=record.kid,
        algorithm=record.algorithm,
        tenant_id=record.tenant_id,
        can_sign=can_sign,
        expires_at=record.expires_at,
        signer=signer if can_sign else None,
        verifier=verifier,
    )


def load_key(record: SigningKey) -> LoadedKey:
    """The parsed form of a key record, cached per key and re-parsed only when the row changed."""
    cached = _cache.get(record.pk)
    if cached is not None and cached.version == record.updated_at:
        return cached
    loaded = _parse(record)
    with _cache_lock:
        _cache[record.pk] = loaded
    return loaded


def forget_key(key_id: uuid.UUID) -> None:
    """Drop a key from this process's cache (after it was changed or deleted)."""
    with _cache_lock:
        _cache.pop(key_id, None)


def sign(
    *, claims: Mapping[str, Any], key: LoadedKey, kind: TokenKind, now: datetime, typ: str = "JWT"
) -> str:
    """Sign claims with a key that may sign and has not expired (FusionAuth #580 lets an expired
    certificate keep signing; we refuse). `typ` is the header's media type (`at+jwt` for OAuth
    access tokens, RFC 9068)."""
    if not key.can_sign:
        raise ValueError(f"Key {key.kid} cannot sign.")
    if key.expired(now):
        raise ValueError(f"Key {key.kid} has expired and may no longer sign.")
    # What jwt.encode does, with the header segment (the same for every token of one key and
    # kind) made once: the compact JWS of RFC 7515 §7.1, signed by PyJWT's own algorithm object.
    # (Key lengths are checked where keys are made: signing_key_validate.)
    algorithm = _ALGORITHMS[key.algorithm]
    payload = json.dumps(dict(claims), separators=(",", ":")).encode("utf-8")
    signing_input = _header_segment(key.algorithm, key.kid, typ, kind.value) + b"." + _b64url(payload)
    signature = algorithm.sign(signing_input, algorithm.prepare_key(key.signer))
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


def _b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


_ALGORITHMS = jwt.algorithms.get_default_algorithms()


@functools.lru_cache(maxsize=HEADER_CACHE_SIZE)
def _header_segment(algorithm: str, kid: str, typ: str, kind: str) -> bytes:
    """The base64url header of the tokens one key signs as one kind (jwt.encode's JSON: compact,
    keys sorted)."""
    header = {"alg": algorithm, "typ": typ, "tkn": kind, **({"kid": kid} if kid else {})}
    return _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def unverified_header(token: str, *, require_kid: bool = True) -> dict[str, Any]:
    """The header of a compact JWS, parsed only after size and shape checks.

    Refuses tokens over 16 KB, anything that is not exactly three base64url segments (JWE, padded
    or whitespace variants), oversized headers (bounding JSON nesting), duplicate header members
    (parsers disagree on which one wins), kids that are not short `[A-Za-z0-9_-]` strings, and a
    token kind (`tkn`) that is not a string, all before any key lookup happens. Every token one key
    signs carries the same header segment, so a good header's parse is kept (`_parsed_header`);
    the caller gets its own copy."""
    last = _last_checked.__dict__
    if last.get("token") is token:  # this very string passed every check a moment ago
        return dict(_parsed_header(last["segment"], require_kid))
    if len(token) > MAX_TOKEN_BYTES or not COMPACT_JWS.fullmatch(token):
        raise TokenInvalid()
    segment = token[: token.index(".")]
    header = dict(_parsed_header(segment, require_kid))
    last["token"], last["segment"] = token, segment
    return header


_last_checked = threading.local()
"""Per thread, the last token whose size and shape `unverified_header` checked, and its header
segment. A validation asks for the header three times on its way down (the kind, the key, the
signature check), each time the same `str` object, and the shape check scans the whole token:
an identity test (`is`, on an immutable string) answers the two repeats."""


@functools.lru_cache(maxsize=HEADER_CACHE_SIZE)
def _parsed_header(segment: str, require_kid: bool) -> Mapping[str, Any]:
    """The checks of `unverified_header` on one header segment: a pure function of its arguments,
    so a process may keep the answers (bounded; a refusal raises and is never kept)."""
    if len(segment) > MAX_HEADER_SEGMENT:
        raise TokenInvalid()
    try:
        header = json.loads(_b64decode(segment), object_pairs_hook=_refuse_duplicates)
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise TokenInvalid() from exc
    if not isinstance(header, dict):
        raise TokenInvalid()
    kid = header.get("kid")
    if (kid is not None or require_kid) and (not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid)):
        raise TokenInvalid()
    if not isinstance(header.get("alg"), str) or FORBIDDEN_HEADER_PARAMETERS.intersection(header):
        raise TokenInvalid()
    if not isinstance(header.get("tkn", ""), str):  # a kind is a string; a list or object would
        raise TokenInvalid()  # reach `in set(kinds)` unhashable (a 500 before this check)
    return MappingProxyType(header)


def verify(
    *,
    token: str,
    trusted: Mapping[str, LoadedKey],
    kinds: Iterable[TokenKind] | None,
    now: datetime,
    issuer: str | None = None,
    audience: str | Sequence[str] | None = None,
    require: Sequence[str] = ("exp", "iat"),
    leeway_seconds: int | None = None,
) -> tuple[dict[str, Any], LoadedKey]:
    """Verify a token against the keys the caller trusts (kid → key) and return its claims and key.

    The kid picks the key; the key record fixes the only accepted algorithm. Time claims must be
    JSON numbers (no strings, no infinities). Every failure is the same TokenInvalid, so callers
    cannot leak which check failed. `kinds=None` is for foreign tokens (an external identity
    provider's), which carry no kind header and may omit the kid when exactly one key is trusted."""
    header = unverified_header(token, require_kid=kinds is not None)
    if leeway_seconds is None:
        leeway_seconds = app_settings.jwt_leeway_seconds()
    kid = header.get("kid")
    key = (
        trusted.get(kid) if kid is not None else (next(iter(trusted.values())) if len(trusted) == 1 else None)
    )
    if key is None or header["alg"] != key.algorithm or key.expired(now):
        raise TokenInvalid()
    if kinds is not None and header.get("tkn") not in set(kinds):
        raise TokenInvalid()
    try:
        claims = _verified_claims(token, key, issuer=issuer, audience=audience, require=require)
    except (jwt.InvalidTokenError, ValueError, TypeError, RecursionError) as exc:
        raise TokenInvalid() from exc
    for name in TIME_CLAIMS:
        if name in claims and not numeric_date(claims[name]):  # a null one included
            raise TokenInvalid()
    current = now.timestamp()
    if "exp" in claims and claims["exp"] + leeway_seconds <= current:
        raise TokenExpired()  # the signature, issuer and audience were good: only time ran out
    if any(name in claims and claims[name] - leeway_seconds > current for name in ("nbf", "iat")):
        raise TokenInvalid()
    return claims, key


def numeric_date(value: Any) -> bool:
    """Whether a time claim's value is what verify accepts: a JSON number (not a boolean, not
    null), finite, from 0 to MAX_NUMERIC_DATE (RFC 7519 §2 NumericDate)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and 0 <= value <= MAX_NUMERIC_DATE
    )


def _segment(segment: str) -> bytes:
    """The bytes of a base64url segment of a token that matched COMPACT_JWS (only the alphabet, no
    padding): as PyJWT's decode, only the canonical encoding (no length of 1 mod 4, no stray bits in
    the last character), checked by C-speed re-encoding rather than a loop over the characters."""
    if len(segment) % 4 == 1:
        raise TokenInvalid()
    raw = _b64decode(segment)
    if _b64url(raw) != segment.encode("ascii"):
        raise TokenInvalid()
    return raw


def _verified_claims(
    token: str,
    key: LoadedKey,
    *,
    issuer: str | None,
    audience: str | Sequence[str] | None,
    require: Sequence[str],
) -> dict[str, Any]:
    """What `jwt.decode(token, key.verifier, algorithms=[key.algorithm], issuer=..., audience=...,
    options={"require": ..., "verify_aud": audience is not None, "verify_iss": issuer is not None,
    time checks off, "enforce_minimum_key_length": True})` checks and returns, for a token whose
    header `unverified_header` already checked: PyJWT's own algorithm object verifies the signature
    with the key record's algorithm; the segments are decoded without PyJWT 2.15's per-character
    Python loop, which cost a validation more than the ES256 signature check itself
    (tests/test_signing_verify.py compares both on valid and hostile tokens)."""
    signing_input, _, signature_segment = token.rpartition(".")
    payload = _segment(signing_input[signing_input.index(".") + 1 :])
    signature = _segment(signature_segment)
    algorithm = _ALGORITHMS[key.algorithm]
    prepared = algorithm.prepare_key(key.verifier)
    if algorithm.check_key_length(prepared) or not algorithm.verify(
        signing_input.encode("ascii"), prepared, signature
    ):
        raise TokenInvalid()
    claims = json.loads(payload)
    if not isinstance(claims, dict) or any(claims.get(name) is None for name in require):
        raise TokenInvalid()
    for name in ("sub", "jti"):  # PyJWT's verify_sub and verify_jti
        if name in claims and not isinstance(claims[name], str):
            raise TokenInvalid()
    if issuer is not None and (not isinstance(claims.get("iss"), str) or claims["iss"] != issuer):
        raise TokenInvalid()
    if audience is not None and not _audience_matches(claims.get("aud"), audience):
        raise TokenInvalid()
    return claims


def _audience_matches(claim: Any, audience: str | Sequence[str]) -> bool:
    """PyJWT's non-strict audience check: the claim is a non-empty string or list of strings, and
    one of the wanted audiences is among them."""
    if not claim:
        return False
    claimed = [claim] if isinstance(claim, str) else claim
    if not isinstance(claimed, list) or any(not isinstance(c, str) for c in claimed):
        return False
    wanted = [audience] if isinstance(audience, str) else audience
    return any(a in claimed for a in wanted)


_JWK_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_EPOCH = datetime.fromtimestamp(0).astimezone()


def jwk_verifier(jwk: Mapping[str, Any]) -> LoadedKey:
    """A verify-only key from a public JWK (RFC 7517) registered by someone else (an OAuth client's
    inline JWKS). The JWK must name its `alg` (an asymmetric one) and a `kid`; secrets, private
    members and RSA keys under 2048 bits are refused. ValueError for anything unusable."""
    alg, kid = jwk.get("alg"), jwk.get("kid")
    if not isinstance(alg, str) or alg not in _ASYMMETRIC or not isinstance(kid, str):
        raise ValueError("A JWK needs an asymmetric alg and a kid.")
    if not KID_PATTERN.fullmatch(kid) or _JWK_PRIVATE_MEMBERS.intersection(jwk):
        raise ValueError("A JWK kid must be short and plain, and the key public.")
    try:
        public = jwt.PyJWK(dict(jwk), algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        raise ValueError("The JWK is not a usable key.") from exc
    if not isinstance(public, PublicKey) or (isinstance(public, rsa.RSAPublicKey) and public.key_size < 2048):
        raise ValueError("The JWK is not a supported public key.")
    return LoadedKey(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"jwk:{kid}"),
        version=_EPOCH,
        kid=kid,
        algorithm=alg,
        tenant_id=None,
        can_sign=False,
        expires_at=None,
        signer=None,
        verifier=public,
    )


# --- Keys held outside the key store: a shared HMAC secret, a remote JWKS ---------------------------
# For identity.middleware on a resource server, which has no identity database.

HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
"""RFC 7518 §3.2: an HMAC key at least as long as the hash output."""
JWKS_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def hmac_key(*, secret: bytes, algorithm: str, kid: str = "") -> LoadedKey:
    """A shared HMAC secret as a key that signs and verifies (`kid` "" when tokens carry none)."""
    if algorithm not in HMAC_MIN_BYTES or len(secret) < HMAC_MIN_BYTES[algorithm]:
        raise ValueError(f"{algorithm} needs a secret of at least {HMAC_MIN_BYTES.get(algorithm, 32)} bytes.")
    return LoadedKey(
        id=uuid.uuid5(uuid.NAMESPACE_OID, "hmac:" + kid),
        version=_EPOCH,
        kid=kid,
        algorithm=algorithm,
        tenant_id=None,
        can_sign=True,
        expires_at=None,
        signer=secret,
        verifier=secret,
    )


def jwks_keys(document: Any) -> dict[str, LoadedKey]:
    """The verify-only keys of a JWKS document, by kid. A key counts only with a kid, an asymmetric
    `alg` it fits, and no `use` other than `sig`: symmetric (`oct`) keys and keys without `alg` are
    skipped, so a published key can never be turned into an HMAC secret (algorithm confusion)."""
    keys: dict[str, LoadedKey] = {}
    members = document.get("keys") if isinstance(document, dict) else None
    for jwk in members if isinstance(members, list) else []:
        if not isinstance(jwk, dict):
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        if (
            not isinstance(kid, str)
            or not KID_PATTERN.fullmatch(kid)
            or alg not in JWKS_ALGORITHMS
            or jwk.get("kty") not in ("RSA", "EC", "OKP")
            or jwk.get("use", "sig") != "sig"
            or kid in keys
        ):
            continue
        try:
            verifier = jwt.PyJWK(jwk, algorithm=alg).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        if not isinstance(verifier, PublicKey):
            continue  # a private JWK published by mistake: never hold it
        keys[kid] = LoadedKey(
            id=uuid.uuid5(uuid.NAMESPACE_OID, "jwks:" + kid),
            version=_EPOCH,
            kid=kid,
            algorithm=alg,
            tenant_id=None,
            can_sign=False,
            expires_at=None,
            signer=None,
            verifier=verifier,
        )
    return keys


# --- Key material: generation, PEM reading and writing, JWK members ------------------------------
# Kept behind this door with the rest of the cryptography (import-linter enforces it): the key
# services decide the rules (which sizes, which algorithm fits) from the plain facts returned here.

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"})
_EC_CURVES: dict[str, ec.EllipticCurve] = {
    curve.name: curve for curve in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1())
}


@dataclass(frozen=True)
class PublicKeyFacts:
    """What the key services need to know about a public key: `RSA` with its size, `EC` with its
    curve (`secp256r1`…) and size, or `OKP` (Ed25519); anything else is not supported."""

    kty: str
    bits: int | None
    curve: str | None


def public_key_facts(public_key: PublicKey) -> PublicKeyFacts:
    if isinstance(public_key, rsa.RSAPublicKey):
        return PublicKeyFacts("RSA", public_key.key_size, None)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return PublicKeyFacts("EC", public_key.curve.key_size, public_key.curve.name)
    return PublicKeyFacts("OKP", None, "Ed25519")


def private_key_generate(*, kty: str, bits: int | None = None, curve: str | None = None) -> PrivateKey:
    """A new RSA (of `bits`), EC (on `curve`) or Ed25519 private key."""
    if kty == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits or 2048)
    if kty == "EC":
        return ec.generate_private_key(_EC_CURVES[curve or "secp256r1"])
    return ed25519.Ed25519PrivateKey.generate()


def private_pem(private_key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the caller encrypts it (identity.key_encryption) before storing it."""
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(public_key: PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def private_key_read(pem: bytes) -> PrivateKey | None:
    """A PEM private key; None for a readable key of an unsupported type. Unreadable PEM raises
    ValueError (or TypeError for an encrypted one)."""
    loaded = serialization.load_pem_private_key(pem, password=None)
    return loaded if isinstance(loaded, PrivateKey) else None


def public_key_read(pem: bytes) -> PublicKey | None:
    """A PEM public key; None for a supported-format key of an unsupported type."""
    loaded = serialization.load_pem_public_key(pem)
    return loaded if isinstance(loaded, PublicKey) else None


@dataclass(frozen=True)
class Certificate:
    public_key: PublicKey | None
    """None when the certificate's key is of an unsupported type."""
    not_valid_after: datetime
    pem: str


def certificate_read(pem: bytes) -> Certificate:
    cert = x509.load_pem_x509_certificate(pem)
    public = cert.public_key()
    return Certificate(
        public_key=public if isinstance(public, PublicKey) else None,
        not_valid_after=cert.not_valid_after_utc,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def b64url(raw: bytes) -> str:
    return _b64url(raw).decode("ascii")


def _b64url_int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


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
            "x": b64url(point.x.to_bytes(size, "big")),
            "y": b64url(point.y.to_bytes(size, "big")),
        }
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def jwk_thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no spaces."""
    canonical = json.dumps(public_jwk_members(public_key), sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())

"""signing.verify decodes and checks a token itself (PyJWT's algorithm objects still verify the
signature): on every valid and hostile token here it must accept and refuse exactly what
`jwt.decode` with the same key, algorithm and options accepts and refuses, and return the same
claims."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from identity.exceptions import TokenExpired, TokenInvalid
from identity.signing import LoadedKey, verify

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://issuer.example"


def _key(algorithm: str, *, hmac_bytes: int = 64) -> tuple[LoadedKey, object]:
    if algorithm.startswith("HS"):
        secret = secrets.token_bytes(hmac_bytes)
        signer: object = secret
        verifier: object = secret
    elif algorithm.startswith("RS"):
        signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        verifier = signer.public_key()  # type: ignore[attr-defined]
    elif algorithm == "EdDSA":
        signer = ed25519.Ed25519PrivateKey.generate()
        verifier = signer.public_key()  # type: ignore[attr-defined]
    else:
        signer = ec.generate_private_key(ec.SECP256R1())
        verifier = signer.public_key()  # type: ignore[attr-defined]
    loaded = LoadedKey(
        id=uuid.uuid4(),
        version=NOW,
        kid="k1",
        algorithm=algorithm,
        tenant_id=None,
        can_sign=True,
        expires_at=None,
        signer=signer,
        verifier=verifier,
    )
    return loaded, signer


def _claims(**more: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISSUER,
        "aud": "app",
        "sub": "user-1",
        "jti": "j-1",
        "iat": int(NOW.timestamp()) - 10,
        "exp": int(NOW.timestamp()) + 600,
    }
    base.update(more)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def _encode(claims: object, signer: object, algorithm: str) -> str:
    header = {"alg": algorithm, "kid": "k1", "tkn": "access", "typ": "JWT"}
    segments = [
        base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"="),
        base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"="),
    ]
    signing_input = b".".join(segments)
    algorithm_object = jwt.algorithms.get_default_algorithms()[algorithm]
    signature = algorithm_object.sign(signing_input, algorithm_object.prepare_key(signer))
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def _with_segment(token: str, index: int, change) -> str:  # type: ignore[no-untyped-def]
    parts = token.split(".")
    parts[index] = change(parts[index])
    return ".".join(parts)


def _stray_bits(segment: str) -> str:
    """The same bytes with a non-canonical last character (unused low bits set), when it has any."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 4, 3: 2}.get(len(segment) % 4, 0)
    if not unused:
        return segment
    last = alphabet.index(segment[-1])
    return segment[:-1] + alphabet[last | 1]


def _pyjwt(token: str, key: LoadedKey, audience: object, issuer: object) -> dict | None:
    try:
        return jwt.decode(
            token,
            key.verifier,
            algorithms=[key.algorithm],
            issuer=issuer,
            audience=audience,
            options={
                "require": ["exp", "iat"],
                "verify_aud": audience is not None,
                "verify_iss": issuer is not None,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "enforce_minimum_key_length": True,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError):  # a short key is InvalidKeyError, not a token error
        return None


def _ours(token: str, key: LoadedKey, audience: object, issuer: object) -> dict | None:
    try:
        return verify(
            token=token,
            trusted={"k1": key},
            kinds=None,
            now=NOW,
            issuer=issuer,  # type: ignore[arg-type]
            audience=audience,  # type: ignore[arg-type]
        )[0]
    except (TokenInvalid, TokenExpired):
        return None


CASES = {
    "valid": lambda s, a: _encode(_claims(), s, a),
    "aud-list": lambda s, a: _encode(_claims(aud=["other", "app"]), s, a),
    "aud-other": lambda s, a: _encode(_claims(aud="other"), s, a),
    "aud-missing": lambda s, a: _encode(_claims(aud=_DROP), s, a),
    "aud-empty-list": lambda s, a: _encode(_claims(aud=[]), s, a),
    "aud-number": lambda s, a: _encode(_claims(aud=7), s, a),
    "aud-list-of-numbers": lambda s, a: _encode(_claims(aud=["app", 7]), s, a),
    "aud-object": lambda s, a: _encode(_claims(aud={"app": 1}), s, a),
    "iss-other": lambda s, a: _encode(_claims(iss="https://evil.example"), s, a),
    "iss-missing": lambda s, a: _encode(_claims(iss=_DROP), s, a),
    "iss-list": lambda s, a: _encode(_claims(iss=[ISSUER]), s, a),
    "sub-number": lambda s, a: _encode(_claims(sub=12), s, a),
    "jti-list": lambda s, a: _encode(_claims(jti=["j"]), s, a),
    "exp-null": lambda s, a: _encode(_claims(exp=None), s, a),
    "iat-missing": lambda s, a: _encode(_claims(iat=_DROP), s, a),
    "payload-array": lambda s, a: _encode([1, 2], s, a),
    "payload-string": lambda s, a: _encode("claims", s, a),
    "payload-tampered": lambda s, a: _with_segment(
        _encode(_claims(), s, a), 1, lambda p: p[:-2] + ("AA" if p[-2:] != "AA" else "BB")
    ),
    "payload-stray-bits": lambda s, a: _with_segment(_encode(_claims(), s, a), 1, _stray_bits),
    "payload-not-json": lambda s, a: _with_segment(
        _encode(_claims(), s, a), 1, lambda p: base64.urlsafe_b64encode(b"{not json").rstrip(b"=").decode()
    ),
    "payload-length-1-mod-4": lambda s, a: _with_segment(
        _encode(_claims(), s, a), 1, lambda p: p + "A" * ((1 - len(p)) % 4 or 4)
    ),
    "signature-flipped": lambda s, a: _with_segment(
        _encode(_claims(), s, a), 2, lambda p: ("B" if p[0] == "A" else "A") + p[1:]
    ),
    "signature-stray-bits": lambda s, a: _with_segment(_encode(_claims(), s, a), 2, _stray_bits),
    "signature-truncated": lambda s, a: _with_segment(_encode(_claims(), s, a), 2, lambda p: p[:-4]),
    "signature-doubled": lambda s, a: _with_segment(_encode(_claims(), s, a), 2, lambda p: p + p),
    "signed-by-another-key": lambda s, a: _encode(_claims(), _key(a)[1], a),
}


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "ES256", "EdDSA"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    ("audience", "issuer"),
    [("app", ISSUER), (None, None), (["x", "app"], None)],
    ids=["aud-and-iss", "neither", "aud-list-wanted"],
)
def test_ours_accepts_and_refuses_what_pyjwt_does(algorithm, case, audience, issuer):
    key, signer = _key(algorithm)
    token = CASES[case](signer, algorithm)
    expected = _pyjwt(token, key, audience, issuer)
    assert _ours(token, key, audience, issuer) == expected
    if case == "valid":
        assert expected is not None  # the comparison is not vacuous


def test_a_short_hmac_key_is_refused_like_pyjwt_refuses_it():
    key, signer = _key("HS256", hmac_bytes=16)
    token = _encode(_claims(), signer, "HS256")
    assert _pyjwt(token, key, None, None) is None
    assert _ours(token, key, None, None) is None

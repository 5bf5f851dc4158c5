"""The crypto door: hostile tokens (checklist §1.7 cases 1-12) are refused by `signing.verify`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.models import SigningKey
from identity.services.signing_keys import signing_key_generate
from identity.signing import (
    MAX_TOKEN_BYTES,
    TokenInvalid,
    TokenKind,
    forget_key,
    load_key,
    sign,
    unverified_header,
    verify,
)

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)
ISSUER = "https://issuer.example.com"


def _b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(**overrides):
    now = int(NOW.timestamp())
    base = {"sub": "user-1", "iss": ISSUER, "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture(params=["HS256", "RS256", "ES256", "EdDSA"])
def key(request):
    return load_key(signing_key_generate(tenant=None, algorithm=request.param, name=request.param).key)


@pytest.fixture
def es_key():
    return load_key(signing_key_generate(tenant=None, algorithm="ES256", name="es").key)


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    """An HS256 token built by hand, so headers and claims PyJWT would refuse to encode can be sent."""
    signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}"
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _verify(token, key, kinds=(TokenKind.ACCESS,), **kwargs):
    return verify(token=token, trusted={key.kid: key}, kinds=kinds, now=NOW, issuer=ISSUER, **kwargs)


def test_round_trip_for_every_algorithm_family(key):
    token = sign(claims=_claims(), key=key, kind=TokenKind.ACCESS, now=NOW)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": key.algorithm, "kid": key.kid, "typ": "JWT", "tkn": "access"}
    claims, used = _verify(token, key)
    assert claims["sub"] == "user-1" and used is key


@pytest.mark.parametrize("kind", [TokenKind.ACCESS, TokenKind.CLIENT], ids=["access", "client"])
@pytest.mark.parametrize("typ", ["JWT", "at+jwt"])
def test_tokens_are_what_jwt_encode_makes(key, kind, typ):
    """`sign` builds the compact JWS itself (its header segment kept per key and kind); the token is
    the one PyJWT's jwt.encode makes of the same claims and headers: byte for byte where the
    signature is deterministic (HMAC, RSA PKCS#1 v1.5, Ed25519), the same signed part and a valid
    signature for ECDSA's randomised one."""
    claims = _claims(roles=["admin", "ünïcode"], email="a@example.com", nested={"a": [1, 2.5, None, True]})
    ours = sign(claims=claims, key=key, kind=kind, now=NOW, typ=typ)
    headers = {"kid": key.kid, "typ": typ, "tkn": kind.value}
    pyjwts = jwt.encode(claims, key.signer, algorithm=key.algorithm, headers=headers)
    if key.algorithm == "ES256":
        assert ours.rsplit(".", 1)[0] == pyjwts.rsplit(".", 1)[0]
        assert jwt.decode(ours, key.verifier, algorithms=["ES256"], options={"verify_exp": False}) == claims
    else:
        assert ours == pyjwts
    again = sign(claims=claims, key=key, kind=kind, now=NOW, typ=typ)
    assert again.rsplit(".", 1)[0] == ours.rsplit(".", 1)[0]


def test_keys_are_parsed_once_and_reloaded_when_the_row_changes():
    record = signing_key_generate(tenant=None, algorithm="RS256", name="r").key
    first = load_key(record)
    assert load_key(SigningKey.objects.get(pk=record.pk)) is first
    record.name = "renamed"
    record.save()
    second = load_key(record)
    assert second is not first
    forget_key(record.pk)
    assert load_key(record) is not second


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d.e",  # JWE-shaped
        "a.b.c.d",
        "Bearer",
        "..",
        "a..c",
    ],
)
def test_malformed_tokens(es_key, token):
    with pytest.raises(TokenInvalid):
        _verify(token, es_key)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none(es_key, alg):
    header = _b64(json.dumps({"alg": alg, "kid": es_key.kid, "typ": "JWT", "tkn": "access"}))
    for token in (f"{header}.{_b64(json.dumps(_claims()))}.", f"{header}.{_b64(json.dumps(_claims()))}.x"):
        with pytest.raises(TokenInvalid):
            _verify(token, es_key)


def test_signature_stripped_truncated_flipped_or_payload_changed(key):
    token = sign(claims=_claims(), key=key, kind=TokenKind.ACCESS, now=NOW)
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    forged_payload = _b64(json.dumps(_claims(sub="admin")))
    for bad in (
        f"{head}.{payload}.",
        f"{head}.{payload}.{signature[:-4]}",
        f"{head}.{payload}.{flipped}",
        f"{head}.{forged_payload}.{signature}",
        token + "=",
        token + " ",
    ):
        with pytest.raises(TokenInvalid):
            _verify(bad, key)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_public_key_used_as_hmac_secret(algorithm):
    """Algorithm confusion: an HS256 token HMAC'd with the published public key in every form."""
    record = signing_key_generate(tenant=None, algorithm=algorithm, name="a").key
    key = load_key(record)
    public = key.verifier
    pem = record.public_key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk = jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(public)
    secrets = [pem, pem.rstrip("\n"), pem.replace("\n", "\r\n"), base64.b64encode(der).decode(), der, jwk]
    header = {"alg": "HS256", "kid": key.kid, "typ": "JWT", "tkn": "access"}
    signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(_claims()))}"

    for secret in secrets:
        raw = secret if isinstance(secret, bytes) else secret.encode()
        sig = _b64(hmac.new(raw, signing_input.encode(), hashlib.sha256).digest())
        with pytest.raises(TokenInvalid):
            _verify(f"{signing_input}.{sig}", key)


def test_token_of_an_untrusted_key_is_refused(es_key):
    other = load_key(signing_key_generate(tenant=None, algorithm="ES256", name="other").key)
    token = sign(claims=_claims(), key=other, kind=TokenKind.ACCESS, now=NOW)
    with pytest.raises(TokenInvalid):
        _verify(token, es_key)
    # Even claiming the trusted key's kid does not help.
    forged_header = _b64(json.dumps({"alg": "ES256", "kid": es_key.kid, "typ": "JWT", "tkn": "access"}))
    _, payload, signature = token.split(".")
    with pytest.raises(TokenInvalid):
        _verify(f"{forged_header}.{payload}.{signature}", es_key)


@pytest.mark.parametrize(
    "kid",
    ["unknown", "../../dev/null", "x' UNION SELECT '1';--", "k" * 10_000, 7, {"a": 1}, None, ""],
)
def test_hostile_kids(es_key, kid):
    header = {"alg": "HS256", "typ": "JWT", "tkn": "access", "kid": kid}
    for secret in (b"", b"1", b"\x00", b"x" * 32):
        token = _hs256(header, _claims(), secret)
        with pytest.raises(TokenInvalid):
            _verify(token, es_key)


@pytest.fixture
def canary():
    """A loopback HTTP server counting requests: a verifier that follows jku/x5u would hit it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_embedded_and_remote_keys_are_never_trusted(es_key, canary):
    url, hits = canary
    attacker = ec.generate_private_key(ec.SECP256R1())
    attacker_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    for extra in (
        {"jwk": attacker_jwk},
        {"jku": f"{url}/jwks"},
        {"x5u": f"{url}/cert"},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"]},
        {"b64": False},
    ):
        for signer in (attacker, es_key.signer):  # forged, and even signed by the trusted key
            token = jwt.encode(
                _claims(), signer, algorithm="ES256", headers={"kid": es_key.kid, "tkn": "access", **extra}
            )
            with pytest.raises(TokenInvalid):
                _verify(token, es_key)
    assert hits == []


def test_kind_separation(es_key):
    vended = sign(claims=_claims(), key=es_key, kind=TokenKind.VENDED, now=NOW)
    with pytest.raises(TokenInvalid):
        _verify(vended, es_key, kinds=(TokenKind.ACCESS,))
    assert _verify(vended, es_key, kinds=(TokenKind.VENDED,))[0]["sub"] == "user-1"
    untyped = jwt.encode(_claims(), es_key.signer, algorithm="ES256", headers={"kid": es_key.kid})
    with pytest.raises(TokenInvalid):
        _verify(untyped, es_key)


@pytest.mark.parametrize("kind", [["access"], {"access": 1}, 1, None, True], ids=repr)
def test_a_kind_that_is_not_a_string_is_refused_before_any_key_lookup(es_key, kind):
    """A list or object as `tkn` was unhashable where the kinds are compared: a 500 at
    /api/jwt/validate (found by tests/security, checklist row 8). It is refused as any bad header."""
    token = jwt.encode(_claims(), es_key.signer, algorithm="ES256", headers={"kid": es_key.kid, "tkn": kind})
    with pytest.raises(TokenInvalid):
        unverified_header(token)
    with pytest.raises(TokenInvalid):
        _verify(token, es_key)


@pytest.mark.parametrize(
    "claims",
    [
        _claims(exp=int(NOW.timestamp()) - 3600),  # expired beyond leeway
        _claims(nbf=int(NOW.timestamp()) + 3600),
        _claims(iat=int(NOW.timestamp()) + 3600),
        _claims(exp=None),
        _claims(iat=None),
        _claims(exp=str(int(NOW.timestamp()) + 600)),
        _claims(exp=-1),
        _claims(exp=1e300),
        _claims(exp=True),
        _claims(iss="https://issuer.example"),  # prefix of the real issuer
        _claims(iss="https://issuer.example.com.evil"),
        _claims(iss=[ISSUER]),
        {**_claims(), "nbf": None},  # a null time claim (a TypeError, a 500 at validate, before)
        {**_claims(), "iat": None},
        {**_claims(), "auth_time": None},
        _claims(nbf="0"),
    ],
)
def test_bad_claims(claims):
    key = load_key(signing_key_generate(tenant=None, algorithm="HS256", name="h").key)
    token = _hs256({"alg": "HS256", "kid": key.kid, "typ": "JWT", "tkn": "access"}, claims, key.signer)
    with pytest.raises(TokenInvalid):
        _verify(token, key)
    good = _hs256({"alg": "HS256", "kid": key.kid, "typ": "JWT", "tkn": "access"}, _claims(), key.signer)
    assert _verify(good, key)[0]["sub"] == "user-1"  # the hand-built token itself is sound


def test_audience_checked_when_given(es_key):
    token = sign(claims=_claims(aud="app-1"), key=es_key, kind=TokenKind.ACCESS, now=NOW)
    assert _verify(token, es_key, audience="app-1")[0]["aud"] == "app-1"
    with pytest.raises(TokenInvalid):
        _verify(token, es_key, audience="app-2")


def test_leeway_is_small_and_configurable(es_key, settings):
    now = int(NOW.timestamp())
    token = sign(claims=_claims(iat=now - 60, exp=now - 2), key=es_key, kind=TokenKind.ACCESS, now=NOW)
    assert _verify(token, es_key)  # within the default 5 s leeway
    with pytest.raises(TokenInvalid):
        _verify(token, es_key, leeway_seconds=0)
    settings.IDENTITY_JWT_LEEWAY_SECONDS = 1
    with pytest.raises(TokenInvalid):
        _verify(token, es_key)


def test_times_are_judged_by_the_callers_clock(es_key):
    now = int(NOW.timestamp())
    token = sign(claims=_claims(iat=now, exp=now + 60), key=es_key, kind=TokenKind.ACCESS, now=NOW)
    assert _verify(token, es_key)
    with pytest.raises(TokenInvalid):
        verify(
            token=token,
            trusted={es_key.kid: es_key},
            kinds=[TokenKind.ACCESS],
            now=NOW + timedelta(seconds=70),
        )
    with pytest.raises(TokenInvalid):  # issued in the caller's future
        verify(
            token=token,
            trusted={es_key.kid: es_key},
            kinds=[TokenKind.ACCESS],
            now=NOW - timedelta(seconds=70),
        )


@pytest.mark.parametrize("where", ["header", "payload"])
def test_deep_nesting_and_duplicate_keys(es_key, where):
    deep = "[" * 100_000 + "]" * 100_000
    header = _b64(json.dumps({"alg": "ES256", "kid": es_key.kid, "tkn": "access"}))
    payload = _b64(json.dumps(_claims()))
    token = f"{_b64(deep)}.{payload}.sig" if where == "header" else f"{header}.{_b64(deep)}.sig"
    started = time.perf_counter()
    with pytest.raises(TokenInvalid):
        _verify(token, es_key)
    assert time.perf_counter() - started < 0.5


def test_duplicate_header_members_are_refused():
    key = load_key(signing_key_generate(tenant=None, algorithm="HS256", name="h").key)
    header = _b64('{"alg":"none","alg":"HS256","kid":"' + key.kid + '","tkn":"access"}')
    signing_input = f"{header}.{_b64(json.dumps(_claims()))}"
    signature = _b64(hmac.new(key.signer, signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(TokenInvalid):
        _verify(f"{signing_input}.{signature}", key)


def test_non_utf8_header(es_key):
    with pytest.raises(TokenInvalid):
        _verify(_b64(b"\xff\xfe") + "." + _b64(json.dumps(_claims())) + ".sig", es_key)


def test_oversized_tokens_are_refused_before_parsing(es_key):
    big = "a" * (MAX_TOKEN_BYTES + 1)
    for token in (big, f"{big}.{big}.{big}", "a." * 600_000):
        started = time.perf_counter()
        with pytest.raises(TokenInvalid):
            _verify(token, es_key)
        assert time.perf_counter() - started < 0.005


def test_expired_or_verify_only_keys_neither_sign_nor_verify():
    record = signing_key_generate(tenant=None, algorithm="ES256", name="old").key
    key = load_key(record)
    token = sign(claims=_claims(), key=key, kind=TokenKind.ACCESS, now=NOW)
    record.expires_at = NOW - timedelta(seconds=1)
    record.save()
    expired = load_key(record)
    with pytest.raises(ValueError):
        sign(claims=_claims(), key=expired, kind=TokenKind.ACCESS, now=NOW)
    with pytest.raises(TokenInvalid):
        _verify(token, expired)
    record.expires_at = None
    record.use = "VerifyOnly"
    record.save()
    verify_only = load_key(record)
    assert _verify(token, verify_only)[0]["sub"] == "user-1"
    with pytest.raises(ValueError):
        sign(claims=_claims(), key=verify_only, kind=TokenKind.ACCESS, now=NOW)


def test_a_repeated_header_read_still_applies_the_callers_rule():
    """unverified_header answers a repeat of the same string from its last check, but the header's
    own rule (`require_kid`) is applied on every call, and any other string is checked afresh."""

    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    no_kid = f"{segment({'alg': 'HS256', 'typ': 'JWT'})}.{segment({'sub': 'x'})}.c2ln"
    assert unverified_header(no_kid, require_kid=False)["alg"] == "HS256"
    with pytest.raises(TokenInvalid):
        unverified_header(no_kid)  # the same object: its kid is still required here
    with pytest.raises(TokenInvalid):
        unverified_header(no_kid + "!")  # another string: shape checked again
    first = unverified_header(no_kid, require_kid=False)
    first["alg"] = "none"
    assert unverified_header(no_kid, require_kid=False)["alg"] == "HS256"  # each caller its own copy

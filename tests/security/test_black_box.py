"""The §1.7 black-box checklist (../shared/reference/security-and-performance.md), row by row, against
a live gunicorn server: hostile tokens at validate and issue (alg confusion, forged and hostile
headers, bad claims, nesting, oversize), hostile refresh, vend and login bodies, key publication,
oversized bodies and injected headers. Each case: the documented status and body, nothing leaked,
the canary uncalled, the database unchanged (tests/security/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.services.applications import application_create
from identity.services.registrations import registration_create
from identity.signing import TokenKind, sign
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.security.conftest import Side, Target, assert_clean, committed, db_digest

# `django_db`: the test process reads inside a transaction it rolls back; the server's own writes
# (none, if the case holds) are committed and seen by the digest.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unchanged")]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def seg(value: Any) -> str:
    return b64(json.dumps(value).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def hs256(header: dict[str, Any] | str, payload: dict[str, Any] | str, secret: bytes) -> str:
    head = header if isinstance(header, str) else seg(header)
    body = payload if isinstance(payload, str) else seg(payload)
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def resign(side: Side, claims: dict[str, Any], **headers: Any) -> str:
    """The side's own key signing what an attacker chose (as a leaked or confused signer would),
    under the header our access tokens carry (`typ`, and the signed kind `tkn`), so that what a
    case changes is the only thing wrong with the token (test_a_resigned_token_is_a_fair_baseline)."""
    header = {"kid": side.key.kid, "typ": "JWT", "tkn": TokenKind.ACCESS.value, **headers}
    return jwt.encode(claims, side.key.signer, algorithm=side.key.algorithm, headers=header)


def validate(target: Target, token: str | None = None, *, cookie: str | None = None, **headers: str):
    sent = dict(headers)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        sent["Cookie"] = f"access_token={cookie}"
    return target.request("GET", "/api/jwt/validate", headers=sent)


def refused(answer, status: int = 401) -> None:
    assert_clean(answer)
    assert answer.status == status, (answer.status, answer.body[:200])
    if status in (401, 404):
        assert answer.body == b""


def test_the_target_is_sound(target: Target) -> None:
    """The baseline the attacks are measured against: the real tokens validate."""
    for side in (target.a, target.b):
        answer = validate(target, side.access_token)
        assert answer.status == 200 and answer.json()["jwt"]["sub"] == side.user_id


def test_a_resigned_token_is_a_fair_baseline(target: Target) -> None:
    """Cases that re-sign a token with the tenant's own key change one thing; unchanged, the
    re-signed token validates, so their 401 is due to that one thing."""
    for side in (target.a, target.b):
        answer = validate(target, resign(side, parts(side.access_token)[1]))
        assert answer.status == 200 and answer.json()["jwt"]["sub"] == side.user_id


# --- Rows 1-3: no token, garbage, alg none, broken signatures ---------------------------------------

MALFORMED: dict[str, Callable[[Target], dict[str, str]]] = {
    "no token": lambda t: {},
    "bare Bearer": lambda t: {"Authorization": "Bearer"},
    "empty Bearer": lambda t: {"Authorization": "Bearer "},
    "garbage": lambda t: {"Authorization": "Bearer garbage"},
    "two segments": lambda t: {"Authorization": "Bearer " + ".".join(t.a.access_token.split(".")[:2])},
    "five segments (JWE shape)": lambda t: {"Authorization": "Bearer a.b.c.d.e"},
    "stripped signature": lambda t: {"Authorization": "Bearer " + t.a.access_token.rsplit(".", 1)[0] + "."},
    "truncated signature": lambda t: {"Authorization": "Bearer " + t.a.access_token[:-6]},
    "bit flipped": lambda t: {"Authorization": "Bearer " + flip(t.a.access_token)},
    "payload changed": lambda t: {"Authorization": "Bearer " + swap_payload(t.a, {"roles": ["admin"]})},
    "other user under old signature": lambda t: {
        "Authorization": "Bearer " + swap_payload(t.a, {"sub": t.b.user_id})
    },
}


def flip(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64(bytes(raw))}"


def swap_payload(side: Side, changes: dict[str, Any]) -> str:
    head, _, signature = side.access_token.split(".")
    return f"{head}.{seg({**parts(side.access_token)[1], **changes})}.{signature}"


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_and_tampered_tokens(target: Target, case: str) -> None:
    refused(target.request("GET", "/api/jwt/validate", headers=MALFORMED[case](target)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none(target: Target, alg: str) -> None:
    header, payload, _ = parts(target.a.access_token)
    for signature in ("", "e30"):
        refused(validate(target, f"{seg({**header, 'alg': alg})}.{seg(payload)}.{signature}"))


# --- Row 4: the public key as an HMAC secret, in every published form ------------------------------


def _published_forms(target: Target, side: Side) -> dict[str, bytes]:
    pem = target.request("GET", f"/api/jwt/public-key?kid={side.key.kid}").json()["publicKey"]
    [jwk] = [
        k for k in target.request("GET", "/.well-known/jwks.json").json()["keys"] if k["kid"] == side.key.kid
    ]
    der = serialization.load_pem_public_key(pem.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "pem as served": pem.encode(),
        "pem without trailing newline": pem.rstrip("\n").encode(),
        "pem with CRLF": pem.replace("\n", "\r\n").encode(),
        "der": der,
        "der base64": base64.b64encode(der),
        "jwk json": json.dumps(jwk).encode(),
        "jwk json sorted": json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode(),
    }


@pytest.mark.parametrize("side_name", ["a", "b"])
def test_public_key_as_hmac_secret(target: Target, side_name: str) -> None:
    side: Side = getattr(target, side_name)
    header, payload, _ = parts(side.access_token)
    for form, secret in _published_forms(target, side).items():
        forged = hs256({**header, "alg": "HS256"}, payload, secret)
        answer = validate(target, forged)
        assert answer.status == 401, form
        refused(answer)


# --- Row 5: cross-tenant claims; a key of another tenant -------------------------------------------


def test_a_token_of_tenant_a_claiming_tenant_b(target: Target) -> None:
    _, payload, _ = parts(target.a.access_token)
    forged = resign(target.a, {**payload, "iss": target.b.issuer, "tid": target.b.tenant_id})
    refused(validate(target, forged))
    refused(validate(target, forged, **{"X-FusionAuth-TenantId": target.b.tenant_id}))
    refused(validate(target, target.a.access_token, **{"X-FusionAuth-TenantId": target.b.tenant_id}))


def test_a_key_nobody_trusts(target: Target) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    _, payload, _ = parts(target.a.access_token)
    forged = jwt.encode(payload, stranger, algorithm="ES256", headers={"kid": target.a.key.kid})
    refused(validate(target, forged))


# --- Row 6: hostile kids ---------------------------------------------------------------------------

HOSTILE_KIDS: list[Any] = [
    "unknown-kid",
    "../../dev/null",
    "x' UNION SELECT '1';--",
    "k" * 10_240,
    "\x00",
    12345,
    {"kid": "nested"},
    None,
    ["a"],
]


@pytest.mark.parametrize("kid", HOSTILE_KIDS, ids=lambda k: repr(k)[:24])
def test_hostile_kids(target: Target, kid: Any) -> None:
    _, payload, _ = parts(target.a.access_token)
    for secret in (b"", b"1", b"\x00"):
        started = time.monotonic()
        answer = validate(target, hs256({"alg": "HS256", "typ": "JWT", "kid": kid}, payload, secret))
        # A 10 KB kid makes a header line longer than gunicorn reads (431, before the application).
        refused(answer, 431 if isinstance(kid, str) and len(kid) > 8000 else 401)
        assert time.monotonic() - started < 2.0  # the same latency class as any bad token


# --- Row 7: keys named or embedded in the token (the canary must stay silent) -----------------------


def test_remote_and_embedded_keys_are_never_fetched_or_trusted(target: Target) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    numbers = attacker.public_key().public_numbers()
    embedded = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
    }
    _, payload, _ = parts(target.a.access_token)
    for headers in (
        {"jku": target.canary.url},
        {"x5u": target.canary.url},
        {"jku": target.canary.url, "kid": "attacker"},
        {"jwk": embedded},
        {"jwk": embedded, "kid": target.a.key.kid},
        {"x5c": [base64.b64encode(b"self-signed certificate").decode()]},
    ):
        forged = jwt.encode(payload, attacker, algorithm="ES256", headers={"kid": "attacker", **headers})
        refused(validate(target, forged))
    assert target.canary.hits == []


# --- Row 8: crit, b64, another token kind -----------------------------------------------------------


def test_unknown_crit_and_unencoded_payload(target: Target) -> None:
    _, payload, _ = parts(target.a.access_token)
    refused(validate(target, resign(target.a, payload, crit=["exp-ext"], **{"exp-ext": 1})))
    refused(validate(target, resign(target.a, payload, b64=False, crit=["b64"])))


def test_another_kind_of_token_is_refused_where_it_is_not_accepted(target: Target) -> None:
    """Row 29: a vended token, or a refresh token string, authenticates no issue."""
    now = datetime.now(tz=UTC)
    _, payload, _ = parts(target.a.access_token)
    vended = sign(claims=payload, key=target.a.key, kind=TokenKind.VENDED, now=now)
    for credential in (vended, target.a.refresh_token):
        answer = target.request(
            "GET",
            f"/api/jwt/issue?applicationId={target.a.application_id}",
            headers={"Authorization": f"Bearer {credential}"},
        )
        refused(answer)


# --- Rows 9-10: claims ------------------------------------------------------------------------------

CLAIM_CHANGES: dict[str, Callable[[dict[str, Any], Target], dict[str, Any]]] = {
    "exp past": lambda c, t: {**c, "exp": int(time.time()) - 3600},
    "nbf future": lambda c, t: {**c, "nbf": int(time.time()) + 3600},
    "iat far future": lambda c, t: {**c, "iat": int(time.time()) + 10 * 365 * 86400},
    "exp missing": lambda c, t: {k: v for k, v in c.items() if k != "exp"},
    "exp string": lambda c, t: {**c, "exp": str(c["exp"])},
    "exp negative": lambda c, t: {**c, "exp": -1},
    "exp 1e300": lambda c, t: {**c, "exp": 1e300},
    "exp bool": lambda c, t: {**c, "exp": True},
    "iss prefix": lambda c, t: {**c, "iss": c["iss"][:-3]},
    "iss superstring": lambda c, t: {**c, "iss": c["iss"] + ".evil"},
    "iss of the other tenant": lambda c, t: {**c, "iss": t.b.issuer},
}


@pytest.mark.parametrize("case", CLAIM_CHANGES)
def test_bad_claims_under_a_valid_signature(target: Target, case: str) -> None:
    _, payload, _ = parts(target.a.access_token)
    refused(validate(target, resign(target.a, CLAIM_CHANGES[case](payload, target))))


# --- Rows 11-12: nesting, duplicates, encoding, size -------------------------------------------------


def _raw(header: str, payload: str) -> str:
    return f"{b64(header.encode('utf-8', 'surrogateescape'))}.{b64(payload.encode())}.c2ln"


DEEP = "[" * 100_000 + "]" * 100_000
# As deep as still fits a header line (8 KB): deeper than Python's recursion limit.
DEEP_IN_A_HEADER = "[" * 2_400 + "]" * 2_400
NON_UTF8_HEADER = b64(b"\xff\xfe{}") + "." + b64(b"{}") + ".c2ln"
NON_UTF8_PAYLOAD = seg({"alg": "ES256"}) + "." + b64(b"\xc3\x28") + ".c2ln"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            lambda t: _raw('{"alg":"ES256","x":' + DEEP_IN_A_HEADER + "}", "{}"), id="header nested"
        ),
        pytest.param(
            lambda t: _raw('{"alg":"ES256"}', '{"x":' + DEEP_IN_A_HEADER + "}"), id="payload nested"
        ),
        pytest.param(
            lambda t: _raw(f'{{"alg":"none","alg":"ES256","kid":"{t.a.key.kid}"}}', '{"sub":"x"}'),
            id="alg twice",
        ),
        pytest.param(
            lambda t: (
                seg(parts(t.a.access_token)[0])
                + "."
                + b64(json.dumps(parts(t.a.access_token)[1])[:-1].encode() + b',"sub":"evil"}')
                + "."
                + t.a.access_token.split(".")[2]
            ),
            id="sub twice",
        ),
        pytest.param(lambda t: NON_UTF8_HEADER, id="non-utf8 header"),
        pytest.param(lambda t: NON_UTF8_PAYLOAD, id="non-utf8 payload"),
    ],
)
def test_hostile_json_in_tokens(target: Target, token: Callable[[Target], str]) -> None:
    started = time.monotonic()
    refused(validate(target, token(target)))
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("where", ["header", "payload"])
def test_tokens_nested_100k_deep_never_reach_a_parser(target: Target, where: str) -> None:
    token = _raw('{"alg":"ES256","x":' + DEEP + "}", "{}") if where == "header" else _raw("{}", DEEP)
    for answer in (validate(target, token), validate(target, cookie=token)):
        refused(answer, 431)


@pytest.mark.parametrize("size", [100 * 1024, 1024 * 1024])
@pytest.mark.parametrize("where", ["header", "cookie"])
def test_huge_tokens_are_refused_early(target: Target, size: int, where: str) -> None:
    token = "a" * (size // 2) + "." + "b" * (size // 2 - 2) + ".c"
    try:
        answer = validate(target, token) if where == "header" else validate(target, cookie=token)
    except (ConnectionError, OSError):
        return  # the server closed the connection on the oversized header: also refused early
    assert_clean(answer)
    assert answer.status in (400, 401, 413, 431), answer.status


# --- Rows 14-15, 22: refresh --------------------------------------------------------------------------

NOT_FOUND_VALUES = [
    "random-unknown-token-value",
    "' OR 1=1--",
    "токен\u202e",
    "a" * 512,
]


def refresh(target: Target, body: Any = None, raw: bytes | None = None, **headers: str):
    if raw is not None:
        return target.request(
            "POST", "/api/jwt/refresh", body=raw, headers={"Content-Type": "application/json", **headers}
        )
    return target.request("POST", "/api/jwt/refresh", json_body=body, headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"refreshToken": 12345},
        {"refreshToken": {"$ne": None}},
        {"refreshToken": ["a"]},
        {"refreshToken": "a" * 100_000},
        {"refreshToken": "x\x00y"},
        [],
        "a string",
    ],
    ids=lambda b: repr(b)[:30],
)
def test_refresh_bodies_of_the_wrong_shape(target: Target, body: Any) -> None:
    answer = refresh(target, body)
    refused(answer, 400)
    assert "generalErrors" in answer.json() or "fieldErrors" in answer.json()


def test_refresh_with_a_body_that_is_not_json(target: Target) -> None:
    refused(refresh(target, raw=b"{not json"), 400)
    refused(refresh(target, raw=b"\xff\xfe\x00"), 400)


def test_every_not_found_refresh_answers_the_same(target: Target) -> None:
    answers = [refresh(target, {"refreshToken": value}) for value in NOT_FOUND_VALUES]
    answers.append(
        refresh(
            target, {"refreshToken": target.b.refresh_token}, **{"X-FusionAuth-TenantId": target.a.tenant_id}
        )
    )
    for answer in answers:
        refused(answer, 400)
    assert len({a.body for a in answers}) == 1, [a.body for a in answers]


@pytest.mark.parametrize("ttl", [0, -1, "soon", 10**12, 1.5, None, True])
def test_refresh_with_a_bad_lifetime_consumes_nothing(target: Target, ttl: Any) -> None:
    answer = refresh(target, {"refreshToken": target.a.refresh_token, "timeToLiveInSeconds": ttl})
    refused(answer, 400)


@pytest.mark.writes
def test_refresh_derives_nothing_from_a_forged_token_field(target: Target) -> None:
    """Row 23: the `token` field carries a forged JWT (another subject, admin roles); the new access
    token comes from the stored grant only (a real refresh: it writes the session's last use)."""
    forged = swap_payload(target.a, {"sub": target.b.user_id, "roles": ["admin"]})
    answer = refresh(target, {"refreshToken": target.a.refresh_token, "token": forged})
    assert_clean(answer)
    if answer.status == 200:
        claims = parts(answer.json()["token"])[1]
        assert claims["sub"] == target.a.user_id and "admin" not in claims.get("roles", [])
    else:
        assert answer.status == 400


# --- Rows 25, 30-32: issue and vend without the right credential, oversized claims ---------------------


@pytest.mark.parametrize("case", ["no token", "garbage", "stripped signature", "payload changed"])
def test_issue_refuses_forged_credentials(target: Target, case: str) -> None:
    headers = MALFORMED[case](target)
    refused(target.request("GET", f"/api/jwt/issue?applicationId={target.a.application_id}", headers=headers))


def vend(target: Target, body: Any, key: str | None = None, raw: bytes | None = None):
    headers = {"Authorization": key} if key is not None else {}
    if raw is not None:
        return target.request(
            "POST", "/api/jwt/vend", body=raw, headers={"Content-Type": "application/json", **headers}
        )
    return target.request("POST", "/api/jwt/vend", json_body=body, headers=headers)


def test_vend_needs_an_api_key(target: Target) -> None:
    refused(vend(target, {"claims": {"sub": "x"}}))
    refused(vend(target, {"claims": {"sub": "x"}}, key="not-a-key"))
    refused(vend(target, {"claims": {"sub": "x"}}, key=target.a.access_token))


def test_vend_refuses_oversized_and_deep_claims_quickly(target: Target) -> None:
    started = time.monotonic()
    huge = vend(target, {"claims": {"blob": "x" * (1024 * 1024)}}, key=target.api_key)
    assert_clean(huge)
    assert huge.status in (400, 413)
    deep = vend(target, None, key=target.api_key, raw=b'{"claims":{"x":' + DEEP.encode() + b"}}")
    refused(deep, 400)
    assert time.monotonic() - started < 5.0


# --- Rows 33, 35: login -------------------------------------------------------------------------------


def login(target: Target, body: Any, key: str | None = None):
    headers = {"Authorization": key} if key is not None else {}
    return target.request("POST", "/api/login", json_body=body, headers=headers)


def test_an_unknown_login_id_answers_like_a_wrong_password(target: Target, django_db_blocker: Any) -> None:
    """Row 33: both 404 with an empty body, in the same latency class (the unknown id pays a dummy
    hash). The wrong password moves its account's failure counter by one, the one change
    /api/login may make; it is put back so the case leaves the database as it found it."""
    from identity.models import User
    from identity.services.login import failed_logins_clear

    body = {"password": "a wrong password 1", "applicationId": target.a.application_id}
    timings = []
    answers = []
    for login_id in ("nobody@example.com", target.a.email):
        started = time.monotonic()
        answers.append(login(target, {**body, "loginId": login_id}, target.api_key))
        timings.append(time.monotonic() - started)
    for answer in answers:
        refused(answer, 404)
    assert max(timings) < 2.0
    with django_db_blocker.unblock():
        user = User.objects.get(pk=target.a.user_id)
        assert user.failed_login_count == 1
        failed_logins_clear(user=user)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("requireAuthentication without a key", 401),
        ("requireAuthentication with a wrong key", 401),
        ("empty password", 400),
        ("password over the bound", 400),
        ("NUL in the login id", 400),
        ("NUL in the password", 400),
        ("login id an object", 400),
    ],
)
def test_hostile_login_bodies(target: Target, case: str, status: int) -> None:
    base = {
        "loginId": target.a.email,
        "password": "a wrong password",
        "applicationId": target.a.application_id,
    }
    locked = {**base, "applicationId": target.locked_application_id, "loginId": "nobody@example.com"}
    bodies: dict[str, tuple[dict[str, Any], str | None]] = {
        "requireAuthentication without a key": (locked, None),
        "requireAuthentication with a wrong key": (locked, "a-wrong-key"),
        "empty password": ({**base, "password": ""}, None),
        "password over the bound": ({**base, "password": "p" * 4096}, None),
        "NUL in the login id": ({**base, "loginId": "ann\x00@example.com"}, None),
        "NUL in the password": (
            {**base, "loginId": "nobody@example.com", "password": "pass\x00word 123"},
            None,
        ),
        "login id an object": ({**base, "loginId": {"$gt": ""}}, None),
    }
    body, key = bodies[case]
    started = time.monotonic()
    refused(login(target, body, key), status)
    assert time.monotonic() - started < 2.0  # bounded: the hash cost is per attempt, not per byte


# --- Row 36: key publication ----------------------------------------------------------------------------

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def test_published_keys_carry_public_members_only(target: Target) -> None:
    jwks = target.request("GET", "/.well-known/jwks.json")
    assert_clean(jwks)
    kids = {k["kid"] for k in jwks.json()["keys"]}
    assert {target.a.key.kid, target.b.key.kid} <= kids
    for key in jwks.json()["keys"]:
        assert not PRIVATE_MEMBERS & set(key) and key["kty"] in ("RSA", "EC", "OKP"), key
    listed = target.request("GET", "/api/jwt/public-key")
    assert_clean(listed)
    assert all("PUBLIC KEY" in pem for pem in listed.json()["publicKeys"].values())
    refused(target.request("GET", "/api/jwt/public-key?kid=unknown-kid"), 404)
    refused(target.request("GET", "/api/jwt/public-key?kid=%27%20OR%201%3D1--"), 404)


# --- Transport: oversized bodies, hosts and injected headers --------------------------------------------


@pytest.mark.parametrize("path", ["/api/login", "/api/jwt/refresh", "/api/jwt/vend", "/api/user"])
def test_bodies_over_the_limit_are_413(target: Target, path: str) -> None:
    body = json.dumps({"loginId": "x", "password": "p" * (2 * 1024 * 1024)}).encode()
    answer = target.request(
        "POST", path, body=body, headers={"Content-Type": "application/json", "Authorization": target.api_key}
    )
    refused(answer, 413)
    assert answer.json()["generalErrors"][0]["code"] == "[tooLarge]"


def test_a_foreign_host_header_is_refused_and_not_reflected(target: Target) -> None:
    answer = target.request("GET", "/api/jwt/validate", headers={"Host": "evil.example"})
    assert_clean(answer)
    assert answer.status == 400 and b"evil" not in answer.body + json.dumps(answer.headers).encode()


def test_crlf_in_parameters_never_reaches_a_response_header(target: Target) -> None:
    injected = "%0d%0aSet-Cookie:%20evil=1%0d%0aX-Injected:%201"
    for method, path in (
        ("POST", f"/api/logout?refreshToken={injected}"),
        ("GET", f"/api/jwt/public-key?kid={injected}"),
        ("GET", f"/.well-known/jwks.json?tenantId={injected}"),
    ):
        answer = target.request(method, path)
        assert_clean(answer)
        assert not any(
            name.lower() == "x-injected" or "evil" in value for name, value in answer.headers.items()
        ), answer.headers


def test_a_raw_header_with_a_bare_line_feed_is_refused(target: Target) -> None:
    """A request smuggling a second header line through a bare LF never reaches the application as
    two headers (gunicorn refuses it, or the value stays one opaque header)."""
    request = (
        "GET /api/jwt/validate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {target.a.access_token}\nX-FusionAuth-TenantId: {target.b.tenant_id}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", target.server.port), timeout=10) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0]
    assert b" 5" not in status_line[8:11] and b"Traceback" not in reply, reply[:300]
    assert b" 200 " not in status_line or target.b.tenant_id.encode() not in reply


# --- Rows 24, 26, 31, 34: the stored form, issue targets, vend inputs, guessing --------------------------


def test_a_dumped_refresh_token_table_holds_nothing_replayable(target: Target) -> None:
    """Row 24: the table keeps digests only; a digest presented as a token is not found."""
    from identity.models import RefreshToken

    stored = list(RefreshToken.objects.values_list("token_digest", "value_salt"))
    dump = repr(stored)
    for side in (target.a, target.b):
        assert side.refresh_token not in dump
    for digest, salt in stored:
        for value in (digest, salt, f"{salt}{digest}"):
            if value:
                refused(refresh(target, {"refreshToken": value[:512]}), 400)


@pytest.mark.parametrize("application", ["other tenant", "unknown", "malformed", "empty"])
def test_issue_never_mints_for_another_tenant_or_an_unknown_application(
    target: Target, application: str
) -> None:
    """Row 26."""
    target_id = {
        "other tenant": target.b.application_id,
        "unknown": "6a0d3c5e-0000-4000-8000-000000000000",
        "malformed": "not-a-uuid' OR '1'='1",
        "empty": "",
    }[application]
    answer = target.request(
        "GET",
        f"/api/jwt/issue?applicationId={quote(target_id)}",
        headers={"Authorization": f"Bearer {target.a.access_token}"},
    )
    assert_clean(answer)
    assert answer.status in (400, 401, 404), answer.status
    assert b"token" not in answer.body.lower() or b"fieldErrors" in answer.body


def vend_as_a(target: Target, body: Any):
    return target.request(
        "POST",
        "/api/jwt/vend",
        json_body=body,
        headers={"Authorization": target.api_key, "X-FusionAuth-TenantId": target.a.tenant_id},
    )


def test_vend_ignores_the_callers_exp_and_iat(target: Target) -> None:
    """Row 31: reserved claims are ours; the token lives the lifetime asked, from now."""
    now = int(time.time())
    answer = vend_as_a(
        target, {"claims": {"exp": now + 10**8, "iat": now - 10**6, "sub": "svc"}, "timeToLiveInSeconds": 60}
    )
    assert answer.status == 200, answer.body
    claims = parts(answer.json()["token"])[1]
    assert now - 5 <= claims["iat"] <= now + 5 and claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize("ttl", [0, -1, "soon", 10**12, 1.5])
def test_vend_refuses_bad_lifetimes(target: Target, ttl: Any) -> None:
    refused(vend_as_a(target, {"claims": {"sub": "svc"}, "timeToLiveInSeconds": ttl}), 400)


@pytest.mark.parametrize("key", ["other tenant", "unknown", "malformed"])
def test_vend_never_signs_with_a_key_outside_the_tenant(target: Target, key: str) -> None:
    key_id = {
        "other tenant": str(target.b.key.id),
        "unknown": "6a0d3c5e-0000-4000-8000-000000000001",
        "malformed": "../../keys",
    }[key]
    answer = vend_as_a(target, {"claims": {"sub": "svc"}, "keyId": key_id})
    assert_clean(answer)
    assert answer.status in (400, 404) and b'"token"' not in answer.body


@pytest.mark.writes
def test_fifty_wrong_passwords_lock_the_account_whatever_address_they_claim(target: Target) -> None:
    """Row 34: the lockout counts per account; neither X-Forwarded-For (no trusted proxy here) nor
    the body's ipAddress gives a guesser a fresh budget; the right password is then refused too."""
    from identity.models import User

    body = {"loginId": target.victim_email, "applicationId": target.locked_application_id}
    statuses = set()
    for n in range(50):
        answer = target.request(
            "POST",
            "/api/login",
            json_body={**body, "password": f"guess number {n}", "ipAddress": f"198.51.100.{n}"},
            headers={"Authorization": target.api_key, "X-Forwarded-For": f"203.0.113.{n}"},
        )
        assert_clean(answer)
        statuses.add(answer.status)
    assert statuses == {404, 409}
    right = target.request(
        "POST",
        "/api/login",
        json_body={**body, "password": DEFAULT_PASSWORD},
        headers={"Authorization": target.api_key, "X-Forwarded-For": "192.0.2.1"},
    )
    refused(right, 409)
    victim = User.objects.get(email=target.victim_email)
    assert victim.locked_until is not None and victim.last_login is None


# --- Rows 16-18, 20, 27-28: sessions (each case makes its own, through the API: it writes) -------------


def _api(target: Target, method: str, path: str, body: Any = None) -> Any:
    answer = target.request(
        method,
        path,
        json_body=body,
        headers={"Authorization": target.api_key, "X-FusionAuth-TenantId": target.a.tenant_id},
    )
    assert answer.status == 200, (method, path, answer.status, answer.body[:300])
    return answer.json() if answer.body else None


def _application(target: Target, policy: str) -> str:
    created = _api(
        target,
        "POST",
        "/api/application",
        {
            "application": {
                "name": f"{policy} app {time.monotonic_ns()}",
                "jwtConfiguration": {"enabled": True, "refreshTokenUsagePolicy": policy},
                "loginConfiguration": {"generateRefreshTokens": True, "allowTokenRefresh": True},
            }
        },
    )
    application_id = created["application"]["id"]
    _api(
        target,
        "POST",
        f"/api/user/registration/{target.a.user_id}",
        {"registration": {"applicationId": application_id}},
    )
    return application_id


def _session(target: Target, application_id: str) -> dict[str, Any]:
    return _api(
        target,
        "POST",
        "/api/login",
        {"loginId": target.a.email, "password": DEFAULT_PASSWORD, "applicationId": application_id},
    )


@pytest.mark.writes
def test_one_time_tokens_twenty_parallel_uses_give_one_success(target: Target) -> None:
    """Rows 17-18 (FusionAuth #1840): exactly one 200 and one successor; the replayed token is
    refused, and (onOneTimeTokenReuse, on by default) its successor dies with the family."""
    from concurrent.futures import ThreadPoolExecutor

    from identity.models import RefreshToken

    application_id = _application(target, "OneTimeUse")
    value = _session(target, application_id)["refreshToken"]
    rows = RefreshToken.objects.filter(application_id=application_id)
    before = sorted(rows.values_list("id", "generation"))
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: refresh(target, {"refreshToken": value}), range(20)))
    for answer in answers:
        assert_clean(answer)
    winners = [a for a in answers if a.status == 200]
    assert len(winners) == 1, sorted(a.status for a in answers)
    assert {a.status for a in answers} == {200, 400}
    successor = winners[0].json()["refreshToken"]
    assert successor != value
    # One successor: the session's row moved on exactly one generation (rotation is in place).
    [(session_id, generation)] = before
    assert sorted(rows.values_list("id", "generation")) == [(session_id, generation + 1)]
    refused(refresh(target, {"refreshToken": value}), 400)
    refused(refresh(target, {"refreshToken": successor}), 400)


@pytest.mark.writes
def test_reusable_tokens_answer_the_same_token_each_time(target: Target) -> None:
    """Row 20."""
    application_id = _application(target, "Reusable")
    session = _session(target, application_id)
    answers = [refresh(target, {"refreshToken": session["refreshToken"]}) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 200]
    assert {a.json()["refreshToken"] for a in answers} == {session["refreshToken"]}
    assert len({a.json()["refreshTokenId"] for a in answers}) == 1


@pytest.mark.writes
@pytest.mark.parametrize("form", ["by token", "by id", "by user", "by application"])
def test_every_revocation_form_ends_the_session(target: Target, form: str) -> None:
    """Row 16."""
    application_id = _application(target, "Reusable")
    session = _session(target, application_id)
    token_id = refresh(target, {"refreshToken": session["refreshToken"]}).json()["refreshTokenId"]
    path = {
        "by token": f"/api/jwt/refresh?token={quote(session['refreshToken'])}",
        "by id": f"/api/jwt/refresh/{token_id}",
        "by user": f"/api/jwt/refresh?userId={target.a.user_id}&applicationId={application_id}",
        "by application": f"/api/jwt/refresh?applicationId={application_id}",
    }[form]
    _api(target, "DELETE", path)
    refused(refresh(target, {"refreshToken": session["refreshToken"]}), 400)


@pytest.mark.writes
def test_issue_chains_never_extend_the_expiry_nor_hand_out_anothers_refresh_token(target: Target) -> None:
    """Rows 27-28: issue → issue → issue keeps the first `exp`; a refresh token of another user,
    or of an application with another policy, brings no refresh token back."""
    first = _application(target, "Reusable")
    second = _application(target, "Reusable")
    session = _session(target, first)
    token, expiry = session["token"], parts(session["token"])[1]["exp"]
    for application_id in (second, first, second):
        answer = target.request(
            "GET",
            f"/api/jwt/issue?applicationId={application_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status == 200, answer.body
        token = answer.json()["token"]
        assert parts(token)[1]["exp"] <= expiry
    foreign = target.request(
        "GET",
        f"/api/jwt/issue?applicationId={second}&refreshToken={quote(target.b.refresh_token)}",
        headers={"Authorization": f"Bearer {session['token']}"},
    )
    assert foreign.status == 200 and "refreshToken" not in foreign.json()


@pytest.mark.writes
@pytest.mark.parametrize("change", ["deactivated", "password changed", "locked out"])
def test_a_session_ends_with_its_users_standing(target: Target, change: str) -> None:
    """Row 21: after issuance the user is deactivated, changes password (onPasswordChanged, on by
    default) or is locked out (onLoginPrevented, on by default): the refresh token is refused."""
    application_id = _application(target, "Reusable")
    email = f"row21-{time.monotonic_ns()}@example.com"
    user = _api(target, "POST", "/api/user", {"user": {"email": email, "password": DEFAULT_PASSWORD}})["user"]
    _api(
        target,
        "POST",
        f"/api/user/registration/{user['id']}",
        {"registration": {"applicationId": application_id}},
    )
    session = _api(
        target,
        "POST",
        "/api/login",
        {"loginId": email, "password": DEFAULT_PASSWORD, "applicationId": application_id},
    )
    assert refresh(target, {"refreshToken": session["refreshToken"]}).status == 200
    if change == "deactivated":
        _api(target, "DELETE", f"/api/user/{user['id']}")
    elif change == "password changed":
        _api(target, "PATCH", f"/api/user/{user['id']}", {"user": {"password": "a brand new passphrase 9"}})
    else:
        for n in range(10):
            target.request(
                "POST",
                "/api/login",
                json_body={"loginId": email, "password": f"wrong {n} guess", "applicationId": application_id},
                headers={"Authorization": target.api_key},
            )
    refused(refresh(target, {"refreshToken": session["refreshToken"]}), 400)


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _refused_within(target: Target, token: str, seconds: float = 1.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if validate(target, token).status == 401:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.writes
def test_a_revoked_token_stays_refused_in_every_spelling(target: Target) -> None:
    """Row 13: revocation keys on `jti`, not on the token's text: `=` appended and the ECDSA twin
    signature (r, n - s), which the library itself accepts, are refused once the token is revoked."""
    from urllib.parse import urlencode

    created = _api(
        target,
        "POST",
        "/api/application",
        {
            "application": {
                "name": f"client {time.monotonic_ns()}",
                "oauthConfiguration": {"scopes": ["read"]},
            }
        },
    )["application"]
    client = {"client_id": created["id"], "client_secret": created["oauthConfiguration"]["clientSecret"]}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    granted = target.request(
        "POST", "/oauth2/token", body=urlencode({"grant_type": "client_credentials", **client}), headers=form
    )
    assert granted.status == 200, granted.body
    token = granted.json()["access_token"]
    head, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    twin = f"{head}.{payload}.{b64(r.to_bytes(32, 'big') + (P256_ORDER - s).to_bytes(32, 'big'))}"
    assert validate(target, twin).status == 200  # a second valid signature of the same token
    revoked = target.request(
        "POST", "/oauth2/revoke", body=urlencode({"token": token, **client}), headers=form
    )
    assert revoked.status == 200
    revoked_at = time.monotonic()
    assert _refused_within(target, token)
    # Every worker has the revocation one second after it (the first refusal may come from one of
    # them only); then each spelling is refused, asked often enough to meet both workers.
    time.sleep(max(0.0, revoked_at + 1.5 - time.monotonic()))
    for spelling in (twin, token + "=", token + "==", twin + "="):
        for _ in range(4):
            refused(validate(target, spelling))


@pytest.mark.writes
def test_the_grace_period_covers_only_the_previous_token_and_only_for_its_length(target: Target) -> None:
    """Row 19: within the grace period the token just rotated away answers the current one; a
    token two generations old never does; after the period the previous one is refused too."""
    created = _api(
        target,
        "POST",
        "/api/application",
        {
            "application": {
                "name": f"grace {time.monotonic_ns()}",
                "jwtConfiguration": {
                    "enabled": True,
                    "refreshTokenUsagePolicy": "OneTimeUse",
                    "refreshTokenOneTimeUseConfiguration": {"gracePeriodInSeconds": 2},
                },
                "loginConfiguration": {"generateRefreshTokens": True, "allowTokenRefresh": True},
            }
        },
    )["application"]
    _api(
        target,
        "POST",
        f"/api/user/registration/{target.a.user_id}",
        {"registration": {"applicationId": created["id"]}},
    )
    first = _session(target, created["id"])["refreshToken"]
    second = refresh(target, {"refreshToken": first}).json()["refreshToken"]
    third = refresh(target, {"refreshToken": second}).json()["refreshToken"]
    again = refresh(target, {"refreshToken": second})  # within the grace period: the current one
    assert again.status == 200 and again.json()["refreshToken"] == third
    refused(refresh(target, {"refreshToken": first}), 400)  # two generations old
    time.sleep(2.5)
    refused(refresh(target, {"refreshToken": second}), 400)


# --- Checklist rows the cases above did not reach -------------------------------------------------------


@pytest.mark.parametrize("kind", ["id", "refresh", "Access", "unknown", None, 1, ["access"]], ids=repr)
def test_a_token_of_another_kind_is_refused_at_validate(target: Target, kind: Any) -> None:
    """Row 8: the kind is signed into the header (`tkn`); the user's own claims under the tenant's
    own key, labelled as an id token, a kind we never issue, or not labelled, never validate."""
    _, payload, _ = parts(target.a.access_token)
    refused(validate(target, resign(target.a, payload, tkn=kind)))


def test_an_id_token_authenticates_no_issue(target: Target) -> None:
    """Row 29: an id token (our kind `id`, signed by the tenant's key) is not an access token."""
    _, payload, _ = parts(target.a.access_token)
    id_token = sign(claims=payload, key=target.a.key, kind=TokenKind.ID, now=datetime.now(tz=UTC))
    answer = target.request(
        "GET",
        f"/api/jwt/issue?applicationId={target.a.application_id}",
        headers={"Authorization": f"Bearer {id_token}"},
    )
    refused(answer)


ISSUE_FORGERIES = [case for case in MALFORMED if case != "no token"]


@pytest.mark.parametrize("case", ISSUE_FORGERIES)
def test_issue_refuses_every_malformed_or_tampered_credential(target: Target, case: str) -> None:
    """Row 25, rows 1-3 at issue."""
    refused(
        target.request(
            "GET", f"/api/jwt/issue?applicationId={target.a.application_id}", headers=MALFORMED[case](target)
        )
    )


@pytest.mark.parametrize("case", CLAIM_CHANGES)
def test_issue_refuses_bad_claims_under_a_valid_signature(target: Target, case: str) -> None:
    """Row 25, rows 9-10 at issue (expired, not yet valid, foreign issuer...)."""
    _, payload, _ = parts(target.a.access_token)
    forged = resign(target.a, CLAIM_CHANGES[case](payload, target))
    answer = target.request(
        "GET",
        f"/api/jwt/issue?applicationId={target.a.application_id}",
        headers={"Authorization": f"Bearer {forged}"},
    )
    refused(answer)


def test_issue_refuses_alg_none_and_the_public_key_as_hmac_secret(target: Target) -> None:
    """Row 25, rows 2 and 4 at issue."""
    header, payload, _ = parts(target.a.access_token)
    forgeries = [f"{seg({**header, 'alg': 'none'})}.{seg(payload)}."]
    forgeries += [
        hs256({**header, "alg": "HS256"}, payload, secret)
        for secret in _published_forms(target, target.a).values()
    ]
    for forged in forgeries:
        answer = target.request(
            "GET",
            f"/api/jwt/issue?applicationId={target.a.application_id}",
            headers={"Authorization": f"Bearer {forged}"},
        )
        refused(answer)


def test_issue_for_an_application_the_user_is_not_registered_for_carries_no_roles(target: Target) -> None:
    """Row 26: for an application of the same tenant that the user has no registration for, a
    token without roles and without a refresh token, answered 202 (the documented "not
    registered" status, as /api/login's), and nothing is written."""
    answer = target.request(
        "GET",
        f"/api/jwt/issue?applicationId={target.locked_application_id}"
        f"&refreshToken={quote(target.a.refresh_token)}",
        headers={"Authorization": f"Bearer {target.a.access_token}"},
    )
    assert_clean(answer)
    assert answer.status == 202, answer.body
    assert "refreshToken" not in answer.json()
    claims = parts(answer.json()["token"])[1]
    assert claims["sub"] == target.a.user_id and claims["aud"] == target.locked_application_id
    assert not claims.get("roles")


@pytest.mark.writes
def test_issue_hands_out_no_refresh_token_across_expiration_policies(target: Target) -> None:
    """Row 28: a refresh token of the user, presented for an application whose refresh tokens
    expire under another policy, brings no refresh token back (it would outlive its own rule)."""
    from identity.models import RefreshToken

    created = _api(
        target,
        "POST",
        "/api/application",
        {
            "application": {
                "name": f"sliding {time.monotonic_ns()}",
                "jwtConfiguration": {"enabled": True, "refreshTokenExpirationPolicy": "SlidingWindow"},
                "loginConfiguration": {"generateRefreshTokens": True, "allowTokenRefresh": True},
            }
        },
    )["application"]
    _api(
        target,
        "POST",
        f"/api/user/registration/{target.a.user_id}",
        {"registration": {"applicationId": created["id"]}},
    )
    sessions = RefreshToken.objects.filter(application_id=created["id"]).count()
    answer = target.request(
        "GET",
        f"/api/jwt/issue?applicationId={created['id']}&refreshToken={quote(target.a.refresh_token)}",
        headers={"Authorization": f"Bearer {target.a.access_token}"},
    )
    assert answer.status == 200 and "refreshToken" not in answer.json(), answer.body
    assert RefreshToken.objects.filter(application_id=created["id"]).count() == sessions == 0


def test_vend_with_the_key_of_another_tenant_or_without_the_permission_mints_nothing(target: Target) -> None:
    """Row 30: an API key locked to tenant B naming tenant A, and a key allowed other endpoints only."""
    body = {"claims": {"sub": "svc"}}
    for headers in (
        {"Authorization": target.b_api_key, "X-FusionAuth-TenantId": target.a.tenant_id},
        {"Authorization": target.limited_api_key},
        {"Authorization": target.limited_api_key, "X-FusionAuth-TenantId": target.a.tenant_id},
    ):
        answer = target.request("POST", "/api/jwt/vend", json_body=body, headers=headers)
        assert_clean(answer)
        assert answer.status in (400, 401), (headers, answer.status)
        assert b'"token"' not in answer.body
        if answer.status == 401:
            assert answer.body == b""
    # Tenant B's key vends in B only: naming A's key is refused as any key outside its tenant.
    answer = target.request(
        "POST",
        "/api/jwt/vend",
        json_body={**body, "keyId": str(target.a.key.id)},
        headers={"Authorization": target.b_api_key},
    )
    refused(answer, 400)


def test_vend_never_signs_with_a_verification_only_key(target: Target) -> None:
    """Row 31: a public key imported into the tenant verifies, it cannot sign."""
    answer = vend_as_a(target, {"claims": {"sub": "svc"}, "keyId": target.verify_only_key_id})
    refused(answer, 400)
    assert "keyId" in answer.json()["fieldErrors"]


@pytest.mark.parametrize("aud", ["b application", "b tenant", "one of them in a list"])
def test_vend_refuses_an_audience_of_another_tenant(target: Target, aud: str) -> None:
    """Row 10 (`aud`, where it is checked): a vended token cannot name another tenant or one of
    its applications as its audience. /api/jwt/validate takes no application (as FusionAuth's),
    so it checks `aud` only to pick the keys that application trusts, never widening them."""
    value: Any = {
        "b application": target.b.application_id,
        "b tenant": target.b.tenant_id,
        "one of them in a list": ["orders", target.b.application_id],
    }[aud]
    refused(vend_as_a(target, {"claims": {"sub": "svc", "aud": value}}), 400)


def test_an_audience_of_another_tenants_application_widens_no_trust(target: Target) -> None:
    """Row 10 at validate: tenant A's claims naming tenant B's application as `aud`, signed by
    tenant B's key, are refused (B's key is trusted for B's tokens only, whatever the aud)."""
    _, payload, _ = parts(target.a.access_token)
    refused(validate(target, resign(target.b, {**payload, "aud": target.b.application_id})))


def test_no_secret_is_published_for_an_hmac_keyed_application(target: Target) -> None:
    """Row 36: an application signing with an HMAC secret of its own. Its public-key answer lists
    only the public keys its tokens may also be verified with (its tenant's), never its secret
    nor its kid; the JWKS carries no symmetric key; an unknown application is 404, a malformed id 400."""
    from identity.models import Application

    hmac_kid = Application.objects.get(pk=target.hmac_application_id).access_token_signing_key.kid
    answer = target.request("GET", f"/api/jwt/public-key?applicationId={target.hmac_application_id}")
    assert_clean(answer)
    assert answer.status == 200
    published = answer.json()["publicKeys"]
    assert hmac_kid not in published and target.a.key.kid in published
    assert all(pem.startswith("-----BEGIN PUBLIC KEY-----") for pem in published.values())
    for path in (
        "/.well-known/jwks.json",
        f"/.well-known/jwks.json?tenantId={target.a.tenant_id}",
        "/api/jwt/public-key",
    ):
        listed = target.request("GET", path)
        assert_clean(listed)
        assert hmac_kid.encode() not in listed.body and b'"oct"' not in listed.body
    refused(
        target.request("GET", "/api/jwt/public-key?applicationId=6a0d3c5e-0000-4000-8000-000000000002"), 404
    )
    malformed = target.request("GET", "/api/jwt/public-key?applicationId=not-a-uuid")
    refused(malformed, 400)
    assert "applicationId" in malformed.json()["fieldErrors"]


@pytest.mark.writes
def test_a_smaller_lifetime_is_honoured_and_a_larger_one_refused(target: Target) -> None:
    """Row 22: `timeToLiveInSeconds` below the configured lifetime gives a token that lives that
    long; one above it is 400 and consumes nothing."""
    from identity.models import Tenant

    configured = Tenant.objects.get(pk=target.a.tenant_id).access_token_ttl_seconds
    before = db_digest()
    refused(
        refresh(target, {"refreshToken": target.a.refresh_token, "timeToLiveInSeconds": configured + 1}), 400
    )
    assert db_digest() == before
    answer = refresh(target, {"refreshToken": target.a.refresh_token, "timeToLiveInSeconds": 60})
    assert answer.status == 200, answer.body
    claims = parts(answer.json()["token"])[1]
    assert claims["exp"] - claims["iat"] == 60


def _expired_session(policy: str) -> tuple[str, str]:
    """(application id, refresh token) of a session of a fresh user whose refresh token expired
    under `policy`: Fixed, issued a day ago with a one-hour lifetime; sliding with a maximum
    lifetime, used a minute ago (a one-day window) but started two days ago under a one-day
    maximum. Made by the services with a clock set back (committed, so the server sees it)."""
    from datetime import timedelta

    from identity.models import Tenant
    from identity.services.refresh_tokens import refresh_token_create

    def make() -> tuple[str, str]:
        now = datetime.now(tz=UTC)
        tenant = Tenant.objects.get(issuer="https://a.example.com")
        application = application_create(
            tenant=tenant,
            name=f"{policy} {time.monotonic_ns()}",
            jwt_enabled=True,
            refresh_token_expiration_policy=policy,
            refresh_token_ttl_minutes=60 if policy == "Fixed" else 24 * 60,
            refresh_token_max_ttl_minutes=24 * 60,
            generate_refresh_tokens=True,
            allow_token_refresh=True,
        )
        user = UserFactory(tenant=tenant, email=f"row16-{time.monotonic_ns()}@example.com")
        registration_create(user=user, application=application)
        if policy == "Fixed":
            issued = refresh_token_create(user=user, application=application, now=now - timedelta(days=1))
        else:
            issued = refresh_token_create(
                user=user,
                application=application,
                started_at=now - timedelta(days=2),
                now=now - timedelta(minutes=1),
            )
        return str(application.pk), issued.value

    return committed(make)


@pytest.mark.writes
@pytest.mark.parametrize("policy", ["Fixed", "SlidingWindowWithMaximumLifetime"])
def test_an_expired_session_is_refused_and_stays_untouched(target: Target, policy: str) -> None:
    """Row 16: expired under Fixed; beyond the maximum lifetime of a sliding window."""
    _, value = _expired_session(policy)
    before = db_digest()
    answers = [refresh(target, {"refreshToken": value}) for _ in range(2)]
    for answer in answers:
        refused(answer, 400)
    unknown = refresh(target, {"refreshToken": "random-unknown-token-value"})
    assert {a.body for a in answers} == {unknown.body}  # the same answer as a token never issued
    assert db_digest() == before


@pytest.mark.writes
def test_tokens_of_a_rotated_out_then_deleted_key_are_refused(target: Target) -> None:
    """Row 5: tenant C signs with key K1, rotates to K2 keeping K1 trusted for one second; after
    that second, K1's token is refused on every worker, and still after K1 is deleted."""
    from datetime import timedelta

    from identity.models import SigningKey
    from identity.services.login import password_login
    from identity.services.signing_keys import (
        signing_key_delete,
        signing_key_generate,
        signing_key_rotate,
        tenant_signing_key_set,
    )
    from identity.services.tenants import tenant_create

    suffix = time.monotonic_ns()

    def start() -> tuple[Any, str, str]:
        tenant = tenant_create(name=f"Tenant C {suffix}", issuer=f"https://c{suffix}.example.com")
        old = signing_key_generate(tenant=tenant, algorithm="ES256", name="C first").key
        tenant_signing_key_set(tenant=tenant, key=old)
        application = application_create(tenant=tenant, name="Portal C")
        user = UserFactory(tenant=tenant, email="c@example.com")
        registration_create(user=user, application=application)
        login = password_login(
            tenant=tenant, application=application, login_id=user.email, password=DEFAULT_PASSWORD
        )
        assert login.access_token is not None
        return tenant, str(old.pk), login.access_token.value

    tenant, old_id, token = committed(start)
    deadline = time.monotonic() + 10
    while validate(target, token).status != 200:  # every worker learns the new tenant's key
        assert time.monotonic() < deadline
        time.sleep(0.05)
    committed(
        lambda: signing_key_rotate(
            tenant=tenant,
            algorithm="ES256",
            name="C second",
            verify_until=datetime.now(tz=UTC) + timedelta(seconds=1),
        )
    )
    time.sleep(2.5)  # past the overlap, and past the one-second bound of every worker's key store
    for _ in range(4):
        refused(validate(target, token))
    committed(lambda: signing_key_delete(key=SigningKey.objects.get(pk=old_id)))
    time.sleep(1.5)
    for _ in range(4):
        refused(validate(target, token))

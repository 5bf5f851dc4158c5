"""Micro-benchmark: our sign/verify per algorithm next to raw PyJWT with a preloaded key.

    .venv/bin/python bench/sign_verify.py [--seconds 0.3] [--rounds 7]

Both sides get the same claims and the same parsed `cryptography` key objects; "raw" is what a
hand-tuned caller of PyJWT would do (jwt.encode / jwt.decode with one pinned algorithm and the
required claims). "ours" is identity.signing: size and shape checks, header parse, kid lookup,
token-kind check, then the same PyJWT call, then our time-claim checks. Median of the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")  # keys are generated in memory only

import django

django.setup()

import jwt
from django.utils import timezone

from identity.models import SigningKey
from identity.services.signing_keys import signing_key_generate
from identity.signing import TokenKind, load_key, sign, verify

ALGORITHMS = ["HS256", "HS512", "RS256", "ES256", "ES384", "EdDSA"]


def per_call_us(fn: Callable[[], object], seconds: float, rounds: int) -> float:
    """Median over `rounds` of the mean time per call in a batch of about `seconds`."""
    calls = 1
    while True:  # size the batch
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start > seconds / 10:
            break
        calls *= 2
    calls = max(1, int(calls * 10))
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(results)


def in_memory_key(algorithm: str) -> SigningKey:
    """A generated key record without touching a database (generation saves, so we fake the save)."""
    original_save = SigningKey.save
    SigningKey.save = lambda self, *a, **k: None  # type: ignore[method-assign]
    try:
        record = signing_key_generate(tenant=None, algorithm=algorithm, name=algorithm).key
    finally:
        SigningKey.save = original_save  # type: ignore[method-assign]
    record.updated_at = timezone.now()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one measured batch")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    now = timezone.now()
    ts = int(now.timestamp())
    claims = {
        "aud": str(uuid.uuid4()), "exp": ts + 3600, "iat": ts, "iss": "https://issuer.example.com",
        "sub": str(uuid.uuid4()), "jti": str(uuid.uuid4()), "authenticationType": "PASSWORD",
        "email": "user@example.com", "email_verified": True, "applicationId": str(uuid.uuid4()),
        "roles": ["admin", "user"], "sid": str(uuid.uuid4()), "tid": str(uuid.uuid4()), "auth_time": ts,
    }  # fmt: skip
    print(f"PyJWT {jwt.__version__}; {args.rounds} rounds of ~{args.seconds}s; µs per call (median)")
    columns = ("sign raw", "sign ours", "ratio", "verify raw", "verify ours", "ratio")
    print(f"{'alg':<7}" + "".join(f"{c:>12}" for c in columns))
    worst = 0.0
    for algorithm in ALGORITHMS:
        key = load_key(in_memory_key(algorithm))
        headers = {"kid": key.kid, "typ": "JWT", "tkn": "access"}
        token = sign(claims=claims, key=key, kind=TokenKind.ACCESS, now=now)
        trusted = {key.kid: key}
        kinds = (TokenKind.ACCESS,)

        def raw_sign(key=key, headers=headers) -> object:
            return jwt.encode(claims, key.signer, algorithm=key.algorithm, headers=headers)

        def our_sign(key=key) -> object:
            return sign(claims=claims, key=key, kind=TokenKind.ACCESS, now=now)

        def raw_verify(key=key, token=token) -> object:
            return jwt.decode(
                token, key.verifier, algorithms=[key.algorithm], issuer=claims["iss"],
                options={"require": ["exp", "iat"], "verify_aud": False},
            )  # fmt: skip

        def our_verify(token=token, trusted=trusted, kinds=kinds) -> object:
            return verify(token=token, trusted=trusted, kinds=kinds, now=now, issuer=claims["iss"])

        s_raw, s_ours = (
            per_call_us(raw_sign, args.seconds, args.rounds),
            per_call_us(our_sign, args.seconds, args.rounds),
        )
        v_raw, v_ours = (
            per_call_us(raw_verify, args.seconds, args.rounds),
            per_call_us(our_verify, args.seconds, args.rounds),
        )
        worst = max(worst, s_ours / s_raw, v_ours / v_raw)
        cells = (f"{s_raw:.1f}", f"{s_ours:.1f}", f"{s_ours / s_raw:.2f}x", f"{v_raw:.1f}", f"{v_ours:.1f}")
        print(f"{algorithm:<7}" + "".join(f"{c:>12}" for c in (*cells, f"{v_ours / v_raw:.2f}x")))
    print(f"worst ratio ours/raw: {worst:.2f}x (target <= 1.30x)")


if __name__ == "__main__":
    main()

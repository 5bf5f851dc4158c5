"""Signature checks with warm and with evicted caches: why an ES256 validation costs more in a
serving worker than ceiling (a)'s hot loop says (bench/README.md, "Stop 27").

    .venv/bin/python bench/verify_cold.py [--checks 400] [--evict-mib 4]

For ES256 and EdDSA (and HS256 and RS256 for scale), PyJWT's algorithm object verifies one token's
signature `--checks` times: once back to back ("hot", as ceiling (a) measures it), once with
`--evict-mib` of memory written between two checks (twice the per-core L2 of the bench hosts, as a
request's Python code and data would between two validations). Prints the median µs per check of
each. The eviction itself is not timed.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def _keys() -> list[tuple[str, Any, Any]]:
    """(algorithm, signing key, verifying key) of each algorithm measured."""
    hmac_key = secrets.token_bytes(64)
    es = ec.generate_private_key(ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return [
        ("HS256", hmac_key, hmac_key),
        ("RS256", rs, rs.public_key()),
        ("ES256", es, es.public_key()),
        ("EdDSA", ed, ed.public_key()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=400)
    parser.add_argument("--evict-mib", type=int, default=4)
    args = parser.parse_args()
    buffer = bytearray(args.evict_mib * 1024 * 1024)

    def evict() -> None:
        for offset in range(0, len(buffer), 64):  # one write per cache line
            buffer[offset] ^= 1

    print(f"median µs per signature check of {args.checks}; cold: {args.evict_mib} MiB written between two")
    print(f"{'alg':<6} {'hot':>8} {'cold':>8} {'cold-hot':>9}")
    for algorithm, signer, verifier in _keys():
        implementation = jwt.algorithms.get_default_algorithms()[algorithm]
        token = jwt.encode({"sub": "x" * 36, "exp": 2_000_000_000}, signer, algorithm=algorithm)
        signing_input, _, signature = token.rpartition(".")
        message, raw = signing_input.encode(), jwt.utils.base64url_decode(signature)
        prepared = implementation.prepare_key(verifier)
        medians = {}
        for mode in ("hot", "cold"):
            times = []
            for _ in range(args.checks):
                if mode == "cold":
                    evict()
                start = time.perf_counter()
                if not implementation.verify(message, prepared, raw):
                    raise SystemExit(f"{algorithm}: the signature did not verify")
                times.append(time.perf_counter() - start)
            medians[mode] = statistics.median(times) * 1e6
        hot, cold = medians["hot"], medians["cold"]
        print(f"{algorithm:<6} {hot:8.1f} {cold:8.1f} {cold - hot:+9.1f}")


if __name__ == "__main__":
    main()

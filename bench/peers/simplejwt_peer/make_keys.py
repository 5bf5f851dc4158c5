"""Write a fresh signing key pair for the simplejwt peer: `make_keys.py RS256|ES256 DIR` creates
DIR/private.pem and DIR/public.pem (RSA 2048, P-256 or Ed25519, as the identity service generates)."""

import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def main() -> None:
    algorithm, directory = sys.argv[1], Path(sys.argv[2])
    if algorithm == "RS256":
        private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise SystemExit(f"make_keys.py: no key pair for {algorithm}")
    (directory / "private.pem").write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (directory / "public.pem").write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


if __name__ == "__main__":
    main()

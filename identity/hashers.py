"""Password hashers: Argon2id for every password we set, and verify-only hashers for the hashes a
migration brings in (FusionAuth's import schemes, Django's own encodings).

An imported hash is stored as it came, in a Django `algorithm$…` string, and is checked by Django's
`check_password` on the user's next login. Because none of these hashers is first in
PASSWORD_HASHERS, a right password makes Django call the model's setter, which re-hashes it with
Argon2id and saves it: the legacy hash is gone after one successful login.

Encodings (FusionAuth's Import Users API fields `password`, `salt`, `factor`, `encryptionScheme`,
converted once by `imported_password` at import time):

- `salted-pbkdf2-hmac-sha256` (and `-512`): PBKDF2-HMAC-SHA256 over the password with the
  base64-decoded salt, `factor` iterations, 256 (512) bits, base64 →
  `fusionauth-pbkdf2-sha256$<factor>$<salt>$<hash>`; the key length is the decoded hash's.
- `salted-sha256`: SHA-256 applied `factor` times (20,000 when the import leaves it out, as
  FusionAuth's encryptor defaults) to the password's UTF-8 bytes followed by the base64-decoded
  salt, base64 (FusionAuth's salted-digest construction) →
  `fusionauth-salted-sha256$<factor>$<salt>$<hash>`.
- `bcrypt`: FusionAuth splits a bcrypt hash into `factor` (cost), `salt` (22 characters) and
  `password` (the 31-character checksum); a whole `$2a$…`/`$2b$…`/`$2y$…` hash is accepted too →
  Django's `bcrypt$$2b$…`.
- Django's `pbkdf2_sha256$…`, `pbkdf2_sha1$…`, `argon2$…`, `bcrypt_sha256$…`, `bcrypt$…`,
  `scrypt$…` are taken as they are (no `encryptionScheme`).

Equal cost: a wrong password against an imported hash also pays one hash with the preferred
(Argon2id) hasher, so it costs at least what an unknown login id costs (login's dummy work). A
slow legacy scheme (high PBKDF2 factor, bcrypt cost) still costs more until the user's first login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any

from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    BasePasswordHasher,
    BCryptPasswordHasher,
    BCryptSHA256PasswordHasher,
    identify_hasher,
    make_password,
    mask_hash,
)
from django.utils.translation import gettext_noop as _

from identity import app_settings


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """Argon2id at OWASP's recommended floor by default (m=19 MiB, t=2, p=1): ~18-35 ms per login on
    one core, against ~104 ms wall and 174 ms CPU for Django's default (m=100 MiB, t=2, p=8), which
    would cap a 2-core server near 11 logins/s. Tunable with IDENTITY_ARGON2_* settings. It keeps
    Django's algorithm name, so existing hashes verify and are re-hashed when parameters change."""

    def __init__(self) -> None:
        self.time_cost = app_settings.argon2_time_cost()
        self.memory_cost = app_settings.argon2_memory_kib()
        self.parallelism = app_settings.argon2_parallelism()


class _ImportedHasher(BasePasswordHasher):
    """Verify only, always re-hashed after a right password; a wrong one pays the preferred cost."""

    def verify(self, password: str, encoded: str) -> bool:
        try:
            right = self._verify(password, encoded)
        except (ValueError, TypeError, binascii.Error):
            right = False  # a damaged stored hash, or a password bcrypt cannot take (> 72 bytes)
        if not right:
            make_password(password)  # the unknown-login-id cost, so the two cannot be told apart
        return right

    def _verify(self, password: str, encoded: str) -> bool:
        return bool(super().verify(password, encoded))

    def must_update(self, encoded: str) -> bool:
        return True

    def harden_runtime(self, password: str, encoded: str) -> None:
        return None


def _b64(value: str) -> bytes:
    return base64.b64decode(value.encode("ascii"), validate=True)


class _SaltedFactorHasher(_ImportedHasher):
    """`<algorithm>$<factor>$<base64 salt>$<base64 hash>`."""

    def _digest(self, password: bytes, salt: bytes, factor: int, length: int) -> bytes:
        raise NotImplementedError

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, factor, salt, hash_ = encoded.split("$", 3)
        if algorithm != self.algorithm:
            raise ValueError("not this hasher's encoding")
        return {"algorithm": algorithm, "iterations": int(factor), "salt": salt, "hash": hash_}

    def encode(self, password: str, salt: str, iterations: int | None = None, length: int = 32) -> str:
        """For tests and tools: the encoding FusionAuth would have produced."""
        factor = iterations or 1
        digest = self._digest(password.encode("utf-8"), _b64(salt), factor, length)
        return f"{self.algorithm}${factor}${salt}${base64.b64encode(digest).decode('ascii')}"

    def _verify(self, password: str, encoded: str) -> bool:
        decoded = self.decode(encoded)
        expected = _b64(decoded["hash"])
        if decoded["iterations"] < 1 or not expected:
            return False
        actual = self._digest(password.encode("utf-8"), _b64(decoded["salt"]), decoded["iterations"],
                              len(expected))  # fmt: skip
        return hmac.compare_digest(actual, expected)

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("iterations"): decoded["iterations"],
            _("salt"): mask_hash(decoded["salt"]),
            _("hash"): mask_hash(decoded["hash"]),
        }


class FusionAuthPBKDF2SHA256Hasher(_SaltedFactorHasher):
    """FusionAuth's `salted-pbkdf2-hmac-sha256` and `salted-pbkdf2-hmac-sha256-512`."""

    algorithm = "fusionauth-pbkdf2-sha256"

    def _digest(self, password: bytes, salt: bytes, factor: int, length: int) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", password, salt, factor, dklen=length)


class FusionAuthSaltedSHA256Hasher(_SaltedFactorHasher):
    """FusionAuth's `salted-sha256`: SHA-256 iterated `factor` times over password ‖ salt."""

    algorithm = "fusionauth-salted-sha256"

    def _digest(self, password: bytes, salt: bytes, factor: int, length: int) -> bytes:
        digest = password + salt
        for _round in range(factor):
            digest = hashlib.sha256(digest).digest()
        return digest


class ImportedBCryptHasher(_ImportedHasher, BCryptPasswordHasher):
    """Plain bcrypt (`bcrypt$$2b$…`), as FusionAuth and Django's BCryptPasswordHasher store it."""


class ImportedBCryptSHA256Hasher(_ImportedHasher, BCryptSHA256PasswordHasher):
    """Django's default bcrypt variant (`bcrypt_sha256$…`)."""


class UnsupportedHash(ValueError):
    """The hash, salt, factor or scheme of an imported user cannot be stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


FUSIONAUTH_SCHEMES = frozenset(
    {"salted-pbkdf2-hmac-sha256", "salted-pbkdf2-hmac-sha256-512", "salted-sha256", "bcrypt"}
)
# FusionAuth's default scheme and factor when an import names none, and its salted-sha256 encryptor's
# default factor (FusionAuth applies the scheme's own default when `factor` is left out).
DEFAULT_SCHEME, DEFAULT_FACTOR = "salted-pbkdf2-hmac-sha256", 24_000
SALTED_SHA256_DEFAULT_FACTOR = 20_000
# Django encodings an import may carry as they are (each has a hasher in PASSWORD_HASHERS).
DJANGO_ALGORITHMS = frozenset({"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"})
MAX_FACTOR = {"salted-sha256": 1_000_000, "bcrypt": 16}  # PBKDF2: 10,000,000 (below)
_BCRYPT_SALT = re.compile(r"[./A-Za-z0-9]{22}")
_BCRYPT_CHECKSUM = re.compile(r"[./A-Za-z0-9]{31}")
_BCRYPT_WHOLE = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")


# Ceilings on a Django encoding's cost, so an imported hash cannot make one login take seconds or
# a gigabyte (Django 5.2's defaults: PBKDF2 1,000,000; Argon2 100 MiB, t=2, p=8; scrypt 16 MiB).
MAX_PBKDF2_ITERATIONS = 10_000_000
MAX_ARGON2 = {"memory_cost": 262_144, "time_cost": 20, "parallelism": 16}  # KiB, passes, lanes
MAX_SCRYPT_BYTES, MAX_SCRYPT_PARALLELISM = 256 * 1024 * 1024, 16


def _django_encoding(password: str) -> str | None:
    """The hash as it came when it is one of Django's encodings (None: not one), after checking it
    parses and costs no more than the ceilings above, since it is verified on the user's next login."""
    try:
        hasher = identify_hasher(password)
    except ValueError:
        return None
    if hasher.algorithm not in DJANGO_ALGORITHMS:
        return None
    try:
        decoded = hasher.decode(password)
        usable = _django_cost_ok(hasher.algorithm, decoded)
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:  # argon2's errors are ValueErrors
        raise UnsupportedHash("password", f"This {hasher.algorithm} hash is malformed.") from exc
    if not usable:
        raise UnsupportedHash("password", f"This {hasher.algorithm} hash costs more than a login may.")
    return password


def _django_cost_ok(algorithm: str, decoded: dict[str, Any]) -> bool:
    """Whether a decoded Django hash is complete and within the cost ceilings; raises ValueError
    for a part that does not parse."""
    if not decoded.get("hash", decoded.get("checksum")) or not decoded.get("salt"):
        raise ValueError("an empty part")
    if algorithm.startswith("pbkdf2"):
        _b64(decoded["hash"])
        return 1 <= int(decoded["iterations"]) <= MAX_PBKDF2_ITERATIONS
    if algorithm == "argon2":
        return all(1 <= int(decoded[name]) <= ceiling for name, ceiling in MAX_ARGON2.items())
    if algorithm.startswith("bcrypt"):
        return 4 <= int(decoded["work_factor"]) <= MAX_FACTOR["bcrypt"]
    n, r, p = (int(decoded[name]) for name in ("work_factor", "block_size", "parallelism"))  # scrypt
    _b64(decoded["hash"])
    power_of_two = n > 1 and n & (n - 1) == 0
    return power_of_two and r >= 1 and 1 <= p <= MAX_SCRYPT_PARALLELISM and 128 * n * r <= MAX_SCRYPT_BYTES


def _factor(scheme: str, factor: int | None) -> int:
    if factor is None:
        if scheme == "salted-sha256":
            return SALTED_SHA256_DEFAULT_FACTOR
        if scheme == "bcrypt":
            raise UnsupportedHash("factor", "bcrypt needs its cost as the factor.")
        return DEFAULT_FACTOR
    if not 1 <= factor <= MAX_FACTOR.get(scheme, 10_000_000):
        raise UnsupportedHash("factor", f"The factor is out of range for {scheme}.")
    return factor


def _base64_field(value: str | None, field: str) -> str:
    try:
        if value and _b64(value):
            return value
    except (ValueError, binascii.Error):
        pass
    raise UnsupportedHash(field, f"The {field} must be standard base64.")


def _salted(algorithm: str, hash_: str, salt: str | None, factor: int) -> str:
    salt = _base64_field(salt, "salt")
    return f"{algorithm}${factor}${salt}${_base64_field(hash_, 'password')}"


def _bcrypt(hash_: str, salt: str | None, factor: int | None) -> str:
    whole = _BCRYPT_WHOLE.fullmatch(hash_)
    if whole:
        return "bcrypt$" + hash_
    if salt is None or not _BCRYPT_SALT.fullmatch(salt):
        raise UnsupportedHash("salt", "A bcrypt salt is 22 characters of bcrypt's base64.")
    if not _BCRYPT_CHECKSUM.fullmatch(hash_):
        raise UnsupportedHash("password", "A bcrypt hash is 31 characters of bcrypt's base64.")
    cost = _factor("bcrypt", factor)
    if cost < 4:
        raise UnsupportedHash("factor", "The bcrypt cost is 4 to 16.")
    return f"bcrypt$$2b${cost:02d}${salt}{hash_}"


def imported_password(
    *, password: str | None, salt: str | None, scheme: str | None, factor: int | None
) -> str:
    """The stored form of an imported hash (see the module docstring), or Django's unusable
    password when none was sent. Raises UnsupportedHash naming the field at fault."""
    if not password:
        return make_password(None)
    if scheme is None:
        django = _django_encoding(password)
        if django is not None:
            return django
        scheme = DEFAULT_SCHEME
    if scheme not in FUSIONAUTH_SCHEMES:
        raise UnsupportedHash(
            "encryptionScheme", f"Supported schemes: {', '.join(sorted(FUSIONAUTH_SCHEMES))}."
        )
    if scheme == "bcrypt":
        return _bcrypt(password, salt, factor)
    algorithm = (
        FusionAuthSaltedSHA256Hasher.algorithm
        if scheme == "salted-sha256"
        else FusionAuthPBKDF2SHA256Hasher.algorithm
    )
    return _salted(algorithm, password, salt, _factor(scheme, factor))

"""Argon2id with the identity service's parameters (m=19456 KiB, t=2, p=1), so a login costs the
peer the same password work. Django's Argon2PasswordHasher already uses the argon2id variant."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19_456
    parallelism = 1

"""The database never holds a plaintext API key, refresh token, private key, HMAC secret or password."""

from __future__ import annotations

import base64

import pytest
from django.db import connection

from identity.key_encryption import decrypt_secret
from identity.services.api_keys import api_key_create
from identity.services.refresh_tokens import refresh_token_create
from identity.services.signing_keys import signing_key_generate
from tests.factories import RegistrationFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a very secret passphrase 42"


def _dump_database() -> str:
    """Every row of every table, rendered as text (bytes both as hex and decoded)."""
    parts: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names from introspection
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        parts += [raw.hex(), raw.decode("latin-1")]
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def test_no_secret_reaches_the_database(admin_client):
    registration = RegistrationFactory(user__password=PASSWORD)
    _, api_key = api_key_create(tenant=None, name="dump")
    refresh = refresh_token_create(user=registration.user, application=registration.application)
    hmac_key = signing_key_generate(tenant=None, algorithm="HS256", name="h")
    rsa_key = signing_key_generate(tenant=None, algorithm="RS256", name="r").key
    private_pem = decrypt_secret(rsa_key.encrypted_secret, associated_data=str(rsa_key.pk).encode()).decode()
    private_body = "".join(line for line in private_pem.splitlines() if "-----" not in line)
    hmac_raw = base64.urlsafe_b64decode(hmac_key.hmac_secret + "==")

    dump = _dump_database()

    assert registration.user.email in dump  # the dump does see the data
    secrets = {
        "api key": api_key,
        "refresh token": refresh.value,
        "hmac secret (b64)": hmac_key.hmac_secret,
        "hmac secret (hex)": hmac_raw.hex(),
        "hmac secret (std b64)": base64.b64encode(hmac_raw).decode(),
        "private key body": private_body[:64],
        "private key marker": "PRIVATE KEY",
        "password": PASSWORD,
    }
    leaked = [name for name, secret in secrets.items() if secret in dump]
    assert leaked == []

"""The black-box checklist (../shared/reference/security-and-performance.md §1.7) against one real
gunicorn server (two workers, DEBUG off) per module.

The module's data is committed once (tenant A with an ES256 signer, tenant B with an RS256 signer,
a user of each with a live session, API keys, an application that requires authentication), the
server is started once, and every case asserts what the checklist asks of every row: no 5xx, no
stack trace or key material in the answer, the documented body, a loopback canary that nobody
calls, and no database change (exact row counts and a digest of the token and user tables). The
tables are flushed when the module ends and what the data migrations wrote is put back, as a
transactional test with `serialized_rollback` would leave them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.apps import apps
from django.core.management import call_command
from django.db import connection, connections

from identity.models import PersonalAccessToken, RefreshToken, RevokedToken, SigningKey, Tenant, User
from identity.services.api_keys import api_key_create
from identity.services.applications import RoleSpec, application_create
from identity.services.login import password_login
from identity.services.registrations import registration_create
from identity.services.signing_keys import signing_key_generate, signing_key_import, tenant_signing_key_set
from identity.services.tenants import tenant_create
from identity.signing import LoadedKey, load_key
from tests import live
from tests.factories import DEFAULT_PASSWORD, UserFactory

# What must never appear in an answer: stack traces, exception and SQL text, private key material.
LEAKS = (
    b"Traceback",
    b'File "',
    b'.py", line',
    b"django.",
    b"psycopg",
    b"SELECT ",
    b"PRIVATE KEY",
    b'"d":',
    b'"p":',
    b'"q":',
    b'"k":',
)


@dataclass
class Canary:
    """A loopback URL that counts every request it gets (a token's jku/x5u may point at it)."""

    server: ThreadingHTTPServer
    hits: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/keys"


def _canary() -> Canary:
    canary: Canary

    class Handler(BaseHTTPRequestHandler):
        def _count(self) -> None:
            canary.hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST = do_HEAD = _count

        def log_message(self, format: str, *args: Any) -> None:
            pass

    canary = Canary(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    threading.Thread(target=canary.server.serve_forever, daemon=True).start()
    return canary


@dataclass
class Side:
    """One tenant as the attacks see it."""

    tenant_id: str
    issuer: str
    application_id: str
    user_id: str
    email: str
    access_token: str
    refresh_token: str
    key: LoadedKey


@dataclass
class Target:
    server: live.LiveServer
    canary: Canary
    api_key: str
    a: Side
    b: Side
    locked_application_id: str
    """An application of tenant A that requires an API key at login."""
    victim_email: str
    """A user of tenant A whom a guessing case locks out (nobody else's state depends on it)."""
    b_api_key: str
    """An API key locked to tenant B."""
    limited_api_key: str
    """A global API key allowed GET /api/user only."""
    verify_only_key_id: str
    """A public key imported into tenant A: it may verify, never sign."""
    hmac_application_id: str
    """An application of tenant A whose tokens are signed with an HMAC secret of its own."""

    def request(self, method: str, path: str, **kwargs: Any) -> live.Response:
        return self.server.request(method, path, **kwargs)


def _side(name: str, algorithm: str) -> Side:
    tenant = tenant_create(name=f"Tenant {name}", issuer=f"https://{name.lower()}.example.com")
    key = signing_key_generate(tenant=tenant, algorithm=algorithm, name=f"{name} signer").key
    tenant_signing_key_set(tenant=tenant, key=key)
    application = application_create(
        tenant=tenant,
        name=f"Portal {name}",
        roles=[RoleSpec("user", is_default=True)],
        generate_refresh_tokens=True,
        allow_token_refresh=True,
    )
    email = f"{name.lower()}@example.com"
    user = UserFactory(tenant=tenant, email=email)
    registration_create(user=user, application=application)
    result = password_login(tenant=tenant, application=application, login_id=email, password=DEFAULT_PASSWORD)
    assert result.access_token is not None and result.refresh_token_value is not None
    return Side(
        tenant_id=str(tenant.pk),
        issuer=tenant.issuer,
        application_id=str(application.pk),
        user_id=str(user.pk),
        email=email,
        access_token=result.access_token.value,
        refresh_token=result.refresh_token_value,
        key=load_key(SigningKey.objects.get(pk=key.pk)),
    )


def db_digest() -> dict[str, Any]:
    """Exact row counts of every identity table, and a digest of the token and user tables."""
    counts = {m.__name__: m.objects.count() for m in apps.get_app_config("identity").get_models()}
    rows = {
        "refresh": list(
            RefreshToken.objects.order_by("id").values_list(
                "id", "token_digest", "generation", "rotated_at", "last_used_at", "revoked_at", "expires_at"
            )
        ),
        "users": list(
            User.objects.order_by("id").values_list(
                "id", "password", "failed_login_count", "locked_until", "last_login", "is_active"
            )
        ),
        "pats": list(
            PersonalAccessToken.objects.order_by("id").values_list("id", "revoked_at", "last_used_at")
        ),
        "revoked": list(RevokedToken.objects.order_by("jti").values_list("jti")),
        "keys": list(SigningKey.objects.order_by("id").values_list("id", "updated_at")),
    }
    digest = hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()
    return {"counts": counts, "digest": digest}


@pytest.fixture(scope="module")
def target(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn servers share the database only on PostgreSQL (.ci/run uses it)")
    with django_db_blocker.unblock():
        # What the data migrations left (the default tenant, …), put back when the module ends.
        snapshot = connection.creation.serialize_db_to_string()
        a, b = _side("A", "ES256"), _side("B", "RS256")
        locked = application_create(
            tenant=Tenant.objects.get(pk=a.tenant_id), name="Locked", require_authentication=True
        )
        _, api_key = api_key_create(tenant=None, name="security")
        victim = UserFactory(tenant=Tenant.objects.get(pk=a.tenant_id), email="victim@example.com")
        registration_create(user=victim, application=locked)
        _, b_api_key = api_key_create(tenant=Tenant.objects.get(pk=b.tenant_id), name="tenant B")
        _, limited_api_key = api_key_create(tenant=None, name="users", permissions={"/api/user": ["GET"]})
        public_pem = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        verify_only = signing_key_import(
            tenant=Tenant.objects.get(pk=a.tenant_id), name="A verify only", public_key=public_pem
        )
        secret = signing_key_generate(
            tenant=Tenant.objects.get(pk=a.tenant_id), algorithm="HS256", name="A hmac"
        ).key
        hmac_application = application_create(
            tenant=Tenant.objects.get(pk=a.tenant_id),
            name="HMAC portal",
            jwt_enabled=True,
            access_token_signing_key=secret,
            id_token_signing_key=secret,
        )
    canary = _canary()
    server = live.start(workers=2, log_dir=tmp_path_factory.mktemp("security"))
    try:
        yield Target(
            server=server,
            canary=canary,
            api_key=api_key,
            a=a,
            b=b,
            locked_application_id=str(locked.pk),
            victim_email=victim.email,
            b_api_key=b_api_key,
            limited_api_key=limited_api_key,
            verify_only_key_id=str(verify_only.pk),
            hmac_application_id=str(hmac_application.pk),
        )
    finally:
        server.stop()
        canary.server.shutdown()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
            connection.creation.deserialize_db_from_string(snapshot)


@pytest.fixture
def unchanged(target: Target, request: pytest.FixtureRequest) -> Iterator[None]:
    """The case must leave the database as it found it (unless marked `writes`: a legitimate
    request among the attacks), and the canary uncalled."""
    before = db_digest()
    hits = len(target.canary.hits)
    yield
    if request.node.get_closest_marker("writes") is None:
        assert db_digest() == before
    assert len(target.canary.hits) == hits, target.canary.hits


def assert_clean(answer: live.Response) -> None:
    """No 5xx; nothing in the body or headers that a server must keep to itself."""
    assert answer.status < 500, (answer.status, answer.body[:300])
    exposed = answer.body + json.dumps(answer.headers).encode()
    for leak in LEAKS:
        assert leak not in exposed, (leak, answer.body[:300])


T = TypeVar("T")


def committed(work: Callable[[], T]) -> T:
    """Run `work` on a database connection of its own, in autocommit, so the server sees what it
    writes (the test's own connection stays inside the transaction it rolls back). For cases that
    need state the API cannot make quickly: a session started long ago, a key rotated out."""

    def run() -> T:
        try:
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()

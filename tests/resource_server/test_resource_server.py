"""Issue 13 part 2 end to end: a second Django project (this directory) that installs only
identity.middleware, in front of a live identity server (gunicorn), in JWKS mode and HMAC mode."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from identity.services.access_tokens import AuthenticationType, access_token_issue
from identity.services.applications import application_create
from identity.services.signing_keys import signing_key_import, tenant_signing_key_set
from tests.conftest import World
from tests.factories import TenantFactory, UserFactory
from tests.live import ROOT, LiveServer, world_login
from tests.resource_server.server import resource_env

pytestmark = pytest.mark.django_db(transaction=True)
HMAC_SECRET = "a shared secret of at least thirty-two bytes!"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _get(server: LiveServer, token: str | None, path: str = "/api/items/1") -> Any:
    return server.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})


def _refused(answer: Any) -> str:
    assert answer.status == 401, answer.body
    return str(answer.json()["errorMessage"])


def _jwks_config(identity: LiveServer, world: World, **extra: Any) -> dict[str, Any]:
    return {
        "protected_paths": ["/api/**"],
        "key_source": "jwks",
        "jwks_url": f"{identity.url}/.well-known/jwks.json",
        "jwks_refetch_interval_seconds": 1,
        "issuer": world.tenant.issuer,
        "audience": str(world.application.pk),
        "invalid_token_json": '{"status": 401, "errorMessage": "${errorMessage}"}',
        **extra,
    }


def _login_token(identity: LiveServer, world: World) -> str:
    answer = world_login(identity, world)
    assert answer.status == 200, identity.log_tail()
    return str(answer.json()["token"])


def _issued(world: World, *, application: Any = None, age: timedelta = timedelta(0), ttl: int = 600) -> str:
    now = datetime.now(UTC) - age
    return access_token_issue(
        user=world.user,
        tenant=world.tenant,
        application=application or world.application,
        roles=[],
        authentication_type=AuthenticationType.PASSWORD,
        now=now,
        expires_at=now + timedelta(seconds=ttl),
    ).value


def test_jwks_mode_accepts_our_tokens_and_refuses_the_rest(gunicorn, resource_server, world: World) -> None:
    identity = gunicorn(workers=1)
    rs = resource_server(config=_jwks_config(identity, world))
    token = _login_token(identity, world)

    ok = _get(rs, token)
    assert ok.status == 200, rs.log_tail()
    assert ok.json()["sub"] == str(world.user.pk) and ok.json()["aud"] == str(world.application.pk)
    assert ok.json()["identity_models_loaded"] is False  # a resource server has no identity database
    assert "Authorization" not in ok.headers  # JWKS mode holds no signing key: never refreshes

    assert _refused(_get(rs, None)) == "No token was sent."
    assert _get(rs, None, "/health").status == 200  # outside the protected patterns

    # Expired (signed by the tenant's real key).
    assert _refused(_get(rs, _issued(world, age=timedelta(hours=1), ttl=60))) == "The token has expired."

    # Tampered: another subject, same signature.
    head, payload, signature = token.split(".")
    claims = _unb64(payload)
    forged = f"{head}.{_b64(json.dumps({**claims, 'sub': 'someone-else'}).encode())}.{signature}"
    assert "not signed by a trusted key" in _refused(_get(rs, forged))

    # Wrong audience: a token of another application of the same tenant, same key.
    other_app = application_create(tenant=world.tenant, name="Other app")
    assert "not signed by a trusted key" in _refused(_get(rs, _issued(world, application=other_app)))

    # Wrong issuer: another tenant's token, signed by a key the same JWKS publishes.
    tenant_b = TenantFactory()
    app_b = application_create(tenant=tenant_b, name="B")
    user_b = UserFactory(tenant=tenant_b, email="bob@example.com")
    now = datetime.now(UTC)
    token_b = access_token_issue(
        user=user_b, tenant=tenant_b, application=app_b, roles=[],
        authentication_type=AuthenticationType.PASSWORD, now=now,
    ).value  # fmt: skip
    time.sleep(1.1)  # the identity server's workers learn of tenant B's key within a second
    assert _get(resource_server(config={**_jwks_config(identity, world), "issuer": tenant_b.issuer,
                                        "audience": str(app_b.pk)}), token_b).status == 200  # fmt: skip
    assert _refused(_get(rs, token_b))

    # Algorithm confusion: HS256 over the tenant's published public key, with its kid.
    jwks = identity.request("GET", "/.well-known/jwks.json").json()["keys"]
    kid = _unb64(head)["kid"]
    public = next(k for k in jwks if k["kid"] == kid)
    for secret in (
        json.dumps(public).encode(),
        identity.request("GET", f"/api/jwt/public-key?kid={kid}").body,
    ):
        confused_head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid, "tkn": "access"}).encode())
        signing_input = f"{confused_head}.{payload}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert _refused(_get(rs, f"{signing_input}.{_b64(mac)}"))
    # alg "none".
    none_head = _b64(json.dumps({"alg": "none", "kid": kid, "tkn": "access"}).encode())
    assert _refused(_get(rs, f"{none_head}.{payload}."))


RAW_PATH_SPELLINGS = [
    "/api/items/1/", "//api/items/1", "/api//items/1", "/API/ITEMS/1", "/api%2Fitems%2F1", "/Api/Items/1//",
    "/health/../api/items/1", "/api/./items/1", "/api/items/1?x=1", "/api/items/1;x=1", "/api/items/%31",
]  # fmt: skip


def test_no_raw_path_spelling_gets_through(gunicorn, resource_server, world: World) -> None:
    """Every spelling against one pair of servers (the requests share nothing but the servers, which
    a spelling cannot change); each one that gets through is listed."""
    identity = gunicorn(workers=1)
    rs = resource_server(config=_jwks_config(identity, world))
    through = []
    for path in RAW_PATH_SPELLINGS:
        answer = _get(rs, None, path)
        body = answer.body.decode()
        if answer.status not in (401, 404) or (answer.status == 404 and "errorMessage" in body):
            through.append((path, answer.status, body[:200]))
    assert through == []


def test_unknown_kids_refetch_at_most_once_per_interval(gunicorn, resource_server, world: World) -> None:
    identity = gunicorn(workers=1)
    rs = resource_server(config=_jwks_config(identity, world, jwks_refetch_interval_seconds=60))
    token = _login_token(identity, world)
    assert _get(rs, token).json()["jwks_fetches"] == 1
    head, payload, signature = token.split(".")
    for n in range(30):
        garbage = _b64(json.dumps({**_unb64(head), "kid": f"unknown{n}"}).encode())
        _refused(_get(rs, f"{garbage}.{payload}.{signature}"))
    # The keys were fetched less than 60 s ago: no unknown kid, however many, fetches again.
    assert _get(rs, token).json()["jwks_fetches"] == 1


def test_a_key_published_later_is_fetched_on_its_first_token(gunicorn, resource_server, world: World) -> None:
    from identity.services.signing_keys import signing_key_generate

    identity = gunicorn(workers=1)
    rs = resource_server(config=_jwks_config(identity, world))
    assert _get(rs, _login_token(identity, world)).status == 200
    tenant_signing_key_set(
        tenant=world.tenant, key=signing_key_generate(tenant=world.tenant, algorithm="ES256", name="next").key
    )
    time.sleep(1.2)  # the identity server's key store check interval and the refetch interval
    assert _get(rs, _login_token(identity, world)).status == 200, rs.log_tail()


def test_hmac_mode_accepts_an_hmac_tenant_and_refreshes(gunicorn, resource_server, world: World) -> None:
    key = signing_key_import(tenant=world.tenant, name="shared", algorithm="HS256", secret=HMAC_SECRET)
    tenant_signing_key_set(tenant=world.tenant, key=key)
    identity = gunicorn(workers=1)
    config = {
        "protected_paths": ["/api/**"],
        "key_source": "hmac",
        "hmac_secret": HMAC_SECRET,
        "issuer": world.tenant.issuer,
        "audience": str(world.application.pk),
        "refresh_interval_ms": 5000,  # long enough for a busy machine to log in and call once
        "expiration_ms": 600_000,
    }
    rs = resource_server(config=config)
    token = _login_token(identity, world)
    assert _unb64(token.split(".")[0])["alg"] == "HS256"
    fresh = _get(rs, token)
    assert fresh.status == 200, rs.log_tail()
    assert "Authorization" not in fresh.headers

    time.sleep(5.5)
    old = _get(rs, token)
    assert old.status == 200
    scheme, refreshed = old.headers["Authorization"].split(" ")
    assert scheme == "Bearer" and refreshed != token
    assert _unb64(refreshed.split(".")[0])["kid"] == key.kid
    # The refreshed token is an ordinary token of the tenant: the identity server validates it.
    validated = identity.request("GET", "/api/jwt/validate", headers={"Authorization": f"Bearer {refreshed}"})
    assert validated.status == 200, validated.body
    assert _get(rs, refreshed).status == 200
    # A login backend's token of the HMAC tenant passes too.
    from identity.services.login_backends import login_backend_create

    login_backend_create(application=world.application, name="jwt", lifetime_seconds=300)
    form = f"username={world.user.email}&password={world.password.replace(' ', '+')}"
    backend = identity.request(
        "POST", "/auth/jwt/login", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert backend.status == 200, backend.body
    assert _unb64(backend.json()["access_token"].split(".")[0])["alg"] == "HS256"
    assert _get(rs, backend.json()["access_token"]).json()["sub"] == str(world.user.pk)
    # And an /oauth2/token client-credentials token (HMAC mode takes any kind unless told).
    from urllib.parse import urlencode

    from identity.services.oauth_clients import oauth_client_configure

    secret = oauth_client_configure(application=world.application, scopes=["reports"]).client_secret
    grant = {"grant_type": "client_credentials", "client_id": str(world.application.pk),
             "client_secret": secret}  # fmt: skip
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    issued = identity.request("POST", "/oauth2/token", body=urlencode(grant), headers=form_type)
    assert issued.status == 200, issued.body
    client_token = issued.json()["access_token"]
    assert _unb64(client_token.split(".")[0])["alg"] == "HS256"
    assert _get(rs, client_token).json()["sub"] == str(world.application.pk)

    # The same project with the wrong secret, and an asymmetric token in HMAC mode: refused.
    wrong = resource_server(config={**config, "hmac_secret": "another secret of at least thirty-two bytes"})
    assert _refused(_get(wrong, token))
    tenant_b = TenantFactory()
    user_b = UserFactory(tenant=tenant_b, email="bob@example.com")
    es256 = access_token_issue(
        user=user_b, tenant=tenant_b, application=None, roles=None,
        authentication_type=AuthenticationType.PASSWORD, now=datetime.now(UTC),
    ).value  # fmt: skip
    assert _refused(_get(resource_server(config={"key_source": "hmac", "hmac_secret": HMAC_SECRET}), es256))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"key_source": "hmac", "hmac_secret": "short"}, "needs at least 32"),
        ({"key_source": "jwks"}, "needs jwks_url"),
        ({"token_location": "body", "key_source": "hmac", "hmac_secret": HMAC_SECRET}, "token_location"),
        ({"protected_paths": ["/api/**x"], "key_source": "hmac", "hmac_secret": HMAC_SECRET}, "malformed"),
        ({"protected_paths": ["/**"]}, "key_source is required"),
        ({"key_source": "key_store"}, "identity app"),
        (None, "missing"),  # the middleware listed, its setting absent: it would protect nothing
    ],
)
@pytest.mark.django_db(transaction=False)
def test_the_resource_server_refuses_to_start_misconfigured(config: Any, message: str) -> None:
    env = resource_env(config or {})
    if config is None:
        del env["RS_TOKEN_AUTHORIZATION"]
    command = [sys.executable, "-m", "django", "check"]
    check = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603
    assert check.returncode != 0 and "identity.E010" in check.stderr and message in check.stderr, check.stderr


def test_jwks_mode_accepts_login_backend_tokens(gunicorn, resource_server, world: World) -> None:
    from identity.services.login_backends import login_backend_create

    login_backend_create(application=world.application, name="jwt", lifetime_seconds=300)
    identity = gunicorn(workers=1)
    rs = resource_server(config=_jwks_config(identity, world))
    form = f"username={world.user.email}&password={world.password.replace(' ', '+')}"
    answer = identity.request(
        "POST", "/auth/jwt/login", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status == 200, answer.body
    ok = _get(rs, answer.json()["access_token"])
    assert ok.status == 200 and ok.json()["sub"] == str(world.user.pk)


def test_jwks_mode_accepts_client_credentials_tokens_where_no_user_is_required(
    gunicorn, resource_server, world: World
) -> None:
    """A token from /oauth2/token (client_credentials) passes where the resource server accepts the
    client kind, and is refused (403, the template) where a path rule needs a user or a role it
    cannot hold; a user's token without the role or scope is refused the same way."""
    from urllib.parse import urlencode

    from identity.services.oauth_clients import oauth_client_configure

    secret = oauth_client_configure(application=world.application, scopes=["reports"]).client_secret
    identity = gunicorn(workers=1)
    form = {"grant_type": "client_credentials", "client_id": str(world.application.pk),
            "client_secret": secret, "scope": "reports"}  # fmt: skip
    answer = identity.request(
        "POST",
        "/oauth2/token",
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 200, answer.body
    client_token = answer.json()["access_token"]
    user_token = _login_token(identity, world)  # roles ["user"], no scope

    # By default a resource server takes users' access tokens only.
    users_only = resource_server(config=_jwks_config(identity, world))
    assert "not signed by a trusted key" in _refused(_get(users_only, client_token))
    rs = resource_server(
        config=_jwks_config(
            identity, world, token_kinds=["access", "client"],
            path_requirements=[
                {"paths": ["/api/items/mine"], "user": True},
                {"paths": ["/api/items/admin"], "roles": ["admin"]},
                {"paths": ["/api/items/reports"], "scopes": ["reports"]},
            ],
        )
    )  # fmt: skip

    def status(token: str, path: str) -> tuple[int, str]:
        got = _get(rs, token, path)
        return got.status, got.json().get("errorMessage", "") if got.status != 200 else got.json()["sub"]

    client_id, user_id = str(world.application.pk), str(world.user.pk)
    assert status(client_token, "/api/items/1") == (200, client_id)
    assert status(client_token, "/api/items/reports") == (200, client_id)
    assert status(client_token, "/api/items/mine") == (403, "This path needs a user's token, not a client's.")
    assert status(client_token, "/api/items/admin") == (
        403,
        "This path needs a user's token, not a client's.",
    )
    assert status(client_token, "/API/Items/MINE/")[0] == 403  # no spelling lifts a rule
    assert status(user_token, "/api/items/mine") == (200, user_id)
    assert status(user_token, "/api/items/admin") == (403, "This path needs one of the roles: admin.")
    assert status(user_token, "/api/items/reports") == (403, "This path needs the scopes: reports.")
    forbidden = _get(rs, client_token, "/api/items/mine")
    assert forbidden.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')

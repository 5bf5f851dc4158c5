"""RFC 8693 token exchange at `/oauth2/token` and `/connect/token`: a personal access token
exchanged by an OAuth client for a short-lived access token (the exchange of `/api/jwt/exchange`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from identity.models import PersonalAccessToken, Registration, RevokedToken, User
from identity.services import personal_access_tokens as pats
from identity.services.applications import application_create
from identity.services.login import password_login
from identity.services.oauth_clients import oauth_client_configure
from identity.services.personal_access_tokens import pat_create, pat_revoke
from identity.services.registrations import registration_create, registration_update
from identity.services.users import user_update
from tests.api.test_oauth_api import TOKEN_PATHS, assert_no_store, basic, form_post, full_state
from tests.factories import TenantFactory, UserFactory

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"


@pytest.fixture(autouse=True)
def stamps(monkeypatch):  # type: ignore[no-untyped-def]
    """Last-use stamps are recorded, not written by a background thread."""
    recorded: list[str] = []
    monkeypatch.setattr(pats, "usage_stamper", lambda jti, now: recorded.append(jti))
    monkeypatch.setattr(pats, "_last_noted", {})
    return recorded


@pytest.fixture
def exchanger(world) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    configured = oauth_client_configure(
        application=world.application, enabled_grants=["client_credentials", EXCHANGE]
    )
    assert configured.client_secret is not None
    return world.application, configured.client_secret


@pytest.fixture
def pat(world) -> str:  # type: ignore[no-untyped-def]
    """A PAT of the world's application carrying both of its roles."""
    registration = Registration.objects.get(user=world.user, application=world.application)
    registration_update(registration=registration, roles=["admin", "user"])
    return pat_create(
        user=world.user,
        name="ci",
        expiry="30",
        scopes=["admin", "user"],
        application_id=world.application.pk,
    ).value


def exchange_form(subject: str, **extra: str) -> dict[str, str]:
    return {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": JWT_TYPE, **extra}


def exchange(api_client, exchanger, body: dict[str, str], path: str = "/oauth2/token"):  # type: ignore[no-untyped-def]
    """POST a token-exchange form as the exchanging client (HTTP Basic)."""
    application, secret = exchanger
    return form_post(api_client, path, body, HTTP_AUTHORIZATION=basic(str(application.pk), secret))


def state() -> dict[str, Any]:
    return {
        **full_state(),
        "pats": sorted(PersonalAccessToken.objects.values_list("id", "revoked_at", "last_used_at")),
        "revoked": sorted(RevokedToken.objects.values_list("jti", flat=True)),
    }


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_a_pat_is_exchanged_for_a_short_lived_access_token(api_client, world, exchanger, pat, path) -> None:
    response = exchange(api_client, exchanger, exchange_form(pat), path)
    assert response.status_code == 200, response.content
    assert_no_store(response)
    body = response.json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
    assert body["issued_token_type"] == ACCESS_TYPE and body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 300
    assert body["scope"] == "admin user"
    validated = api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert validated.status_code == 200
    claims = validated.json()["jwt"]
    assert claims["sub"] == str(world.user.pk) and claims["roles"] == ["admin", "user"]
    assert claims["act"]["sub"].startswith("pat:")


def test_scope_narrows_the_exchanged_token(api_client, exchanger, pat) -> None:
    application, secret = exchanger
    body = exchange_form(pat, scope="user", client_id=str(application.pk), client_secret=secret)
    response = form_post(api_client, "/connect/token", body)
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "user"
    token = response.json()["access_token"]
    claims = api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {token}").json()["jwt"]
    assert claims["roles"] == ["user"] and claims["scope"] == "user"


def test_the_exchanged_token_dies_with_its_pat(api_client, world, exchanger) -> None:
    created = pat_create(user=world.user, name="short", expiry="30")
    response = exchange(api_client, exchanger, exchange_form(created.value))
    assert response.status_code == 200, response.content
    assert "scope" not in response.json()  # a tenant-wide PAT without scopes
    pat_revoke(token=created.token, by="test")
    token = response.json()["access_token"]
    assert api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def _other_tenant_pat() -> str:
    tenant = TenantFactory()
    user = UserFactory(tenant=tenant, email="bob@example.com")
    return pat_create(user=user, name="elsewhere", expiry="30").value


def _other_application_pat(world) -> str:  # type: ignore[no-untyped-def]
    other = application_create(tenant=world.tenant, name="Other app")
    registration_create(user=world.user, application=other)
    return pat_create(user=world.user, name="other app", expiry="30", application_id=other.pk).value


def _revoked_pat(world) -> str:  # type: ignore[no-untyped-def]
    created = pat_create(user=world.user, name="revoked", expiry="30")
    pat_revoke(token=created.token, by="test")
    return created.value


def _expired_pat(world) -> str:  # type: ignore[no-untyped-def]
    return pat_create(
        user=world.user, name="old", expiry="OneHour", now=timezone.now() - timedelta(hours=2)
    ).value


def _user_access_token(world) -> str:  # type: ignore[no-untyped-def]
    login = password_login(
        tenant=world.tenant, application=world.application, login_id=world.user.email, password=world.password
    )
    assert login.access_token is not None
    return login.access_token.value


def _deactivated_users_pat(world) -> str:  # type: ignore[no-untyped-def]
    value = pat_create(user=world.user, name="gone", expiry="30").value
    # Deactivation revokes the user's PATs; reactivating does not bring them back.
    user_update(user=world.user, is_active=False)
    return value


def _locked_users_pat(world) -> str:  # type: ignore[no-untyped-def]
    value = pat_create(user=world.user, name="locked", expiry="30").value
    User.objects.filter(pk=world.user.pk).update(locked_until=timezone.now() + timedelta(hours=1))
    return value


def _allowlisted_elsewhere(world) -> str:  # type: ignore[no-untyped-def]
    return pat_create(user=world.user, name="ips", expiry="30", allowed_ips=["10.9.9.0/24"]).value


# (case, how the form is built from (pat, world), status, error)
HOSTILE: list[tuple[str, Any, int, str]] = [
    (
        "no subject_token",
        lambda p, w: {"grant_type": EXCHANGE, "subject_token_type": JWT_TYPE},
        400,
        "invalid_request",
    ),
    (
        "no subject_token_type",
        lambda p, w: {"grant_type": EXCHANGE, "subject_token": p},
        400,
        "invalid_request",
    ),
    (
        "refresh token type",
        lambda p, w: exchange_form(p, subject_token_type=REFRESH_TYPE),
        400,
        "invalid_request",
    ),
    (
        "access token type",
        lambda p, w: exchange_form(p, subject_token_type=ACCESS_TYPE),
        400,
        "invalid_request",
    ),
    ("garbage subject", lambda p, w: exchange_form("a.b.c"), 400, "invalid_request"),
    ("not a jws", lambda p, w: exchange_form("' OR 1=1--"), 400, "invalid_request"),
    (
        "tampered pat",
        lambda p, w: exchange_form(p[:-4] + ("AAAA" if not p.endswith("AAAA") else "BBBB")),
        400,
        "invalid_request",
    ),
    ("user access token", lambda p, w: exchange_form(_user_access_token(w)), 400, "invalid_request"),
    ("revoked pat", lambda p, w: exchange_form(_revoked_pat(w)), 400, "invalid_request"),
    ("expired pat", lambda p, w: exchange_form(_expired_pat(w)), 400, "invalid_request"),
    ("deactivated user", lambda p, w: exchange_form(_deactivated_users_pat(w)), 400, "invalid_request"),
    ("locked user", lambda p, w: exchange_form(_locked_users_pat(w)), 400, "invalid_request"),
    ("address not allowed", lambda p, w: exchange_form(_allowlisted_elsewhere(w)), 400, "invalid_request"),
    ("pat of another tenant", lambda p, w: exchange_form(_other_tenant_pat()), 400, "invalid_request"),
    (
        "pat of another application",
        lambda p, w: exchange_form(_other_application_pat(w)),
        400,
        "invalid_request",
    ),
    (
        "actor token",
        lambda p, w: exchange_form(p, actor_token=p, actor_token_type=JWT_TYPE),
        400,
        "invalid_request",
    ),
    ("audience", lambda p, w: exchange_form(p, audience="https://api.example.com"), 400, "invalid_target"),
    ("resource", lambda p, w: exchange_form(p, resource="https://api.example.com/"), 400, "invalid_target"),
    (
        "refresh token requested",
        lambda p, w: exchange_form(p, requested_token_type=REFRESH_TYPE),
        400,
        "invalid_request",
    ),
    ("scope not carried", lambda p, w: exchange_form(p, scope="superuser"), 400, "invalid_scope"),
    ("malformed scope", lambda p, w: exchange_form(p, scope='us"er'), 400, "invalid_scope"),
    ("oversized subject", lambda p, w: exchange_form("x" * 20_000), 400, "invalid_request"),
    ("NUL in subject", lambda p, w: exchange_form(p + "\x00"), 400, "invalid_request"),
]


@pytest.mark.parametrize(("case", "build", "status", "error"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_exchanges_are_refused_in_rfc_shape_and_change_nothing(
    api_client, world, exchanger, pat, case, build, status, error
) -> None:
    body = build(pat, world)
    before = state()
    response = exchange(api_client, exchanger, body)
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "error_description"}
    assert b"Traceback" not in response.content
    assert_no_store(response)
    assert state() == before


def test_only_clients_with_the_grant_enabled_may_exchange(api_client, world, pat) -> None:
    secret = oauth_client_configure(application=world.application).client_secret  # client_credentials only
    assert secret is not None
    before = state()
    response = form_post(
        api_client,
        "/oauth2/token",
        exchange_form(pat),
        HTTP_AUTHORIZATION=basic(str(world.application.pk), secret),
    )
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    assert state() == before


def test_an_unauthenticated_client_may_not_exchange_whatever_its_policy(api_client, world, pat) -> None:
    oauth_client_configure(
        application=world.application, enabled_grants=[EXCHANGE], client_authentication_policy="NotRequired"
    )
    before = state()
    response = form_post(api_client, "/oauth2/token", exchange_form(pat, client_id=str(world.application.pk)))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    wrong = form_post(
        api_client,
        "/oauth2/token",
        exchange_form(pat),
        HTTP_AUTHORIZATION=basic(str(world.application.pk), "nope"),
    )
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Basic realm=")
    assert state() == before


def test_every_unusable_subject_token_gets_the_same_answer(api_client, world, exchanger, pat) -> None:
    """RFC 8693 §2.2.2 (`invalid_request`), one description whatever the reason, so the answer does
    not tell a revoked PAT from a foreign one or a locked user's."""
    subjects = ["a.b.c", _revoked_pat(world), _other_tenant_pat(), _locked_users_pat(world)]
    answers = {exchange(api_client, exchanger, exchange_form(subject)).content for subject in subjects}
    assert len(answers) == 1, answers
    assert b'"invalid_request"' in answers.pop()


def test_a_pat_without_scopes_gives_a_token_without_a_scope(api_client, world, exchanger) -> None:
    """RFC 6749 §3.3: a scope is one name or more; none is no `scope` at all, not an empty one."""
    created = pat_create(user=world.user, name="bare", expiry="30")
    assert "scope" not in _claims(api_client, created.value)
    response = exchange(api_client, exchanger, exchange_form(created.value))
    assert response.status_code == 200, response.content
    assert "scope" not in response.json()
    assert "scope" not in _claims(api_client, response.json()["access_token"])
    exchanged = api_client.post(
        "/api/jwt/exchange",
        {"subject_token": created.value, "subject_token_type": JWT_TYPE},
        format="json",
    )
    assert exchanged.status_code == 200, exchanged.content
    assert "scope" not in exchanged.json()


def _claims(api_client, token: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    validated = api_client.get("/api/jwt/validate", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert validated.status_code == 200, validated.content
    return dict(validated.json()["jwt"])

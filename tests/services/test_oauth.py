"""OAuth clients and grants, through the services."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from identity.exceptions import (
    OAuthInvalidClient,
    OAuthInvalidGrant,
    OAuthInvalidRequest,
    OAuthInvalidScope,
    OAuthTooManyRequests,
    OAuthUnauthorizedClient,
    OAuthUnsupportedGrantType,
    ValidationFailed,
)
from identity.models import OAuthConfiguration
from identity.services.applications import application_update
from identity.services.jwt import jwt_validate
from identity.services.oauth import oauth_token_grant
from identity.services.oauth_clients import (
    ClientCredentials,
    client_secret_digest,
    oauth_client_authenticate,
    oauth_client_configure,
    oauth_client_secret_rotate,
)
from identity.services.tenants import tenant_update
from identity.signing import TokenKind
from tests.factories import ApplicationFactory, TenantFactory

AUD = ["http://testserver/oauth2/token"]


@pytest.fixture
def client_app(db):  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    application = ApplicationFactory(tenant=tenant, name="Backend")
    configured = oauth_client_configure(application=application, scopes=["read", "write"])
    return application, configured.client_secret


def post(application, secret: str) -> ClientCredentials:  # type: ignore[no-untyped-def]
    return ClientCredentials(client_id=str(application.pk), client_secret=secret)


def header(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def test_configure_returns_the_secret_once_and_stores_only_its_digest(client_app) -> None:
    application, secret = client_app
    assert secret and len(secret) >= 43
    stored = OAuthConfiguration.objects.get(pk=application.pk)
    assert stored.client_secret_digest == client_secret_digest(secret)
    assert secret not in str(OAuthConfiguration.objects.filter(pk=application.pk).values().first())
    again = oauth_client_configure(application=application, scopes=["read"])
    assert again.client_secret is None
    assert (
        OAuthConfiguration.objects.get(pk=application.pk).client_secret_digest == stored.client_secret_digest
    )


@pytest.mark.parametrize(
    "values",
    [
        {"enabled_grants": ["password"]},
        {"enabled_grants": ["client_credentials", "client_credentials"]},
        {"client_authentication_methods": ["none"]},
        {"client_authentication_policy": "Sometimes"},
        {"scopes": ["has space"]},
        {"scopes": ['quo"te']},
        {"scopes": "read"},
        {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "k"}]}},
        {"jwks": []},
        {"token_requests_per_minute": -1},
        {"token_requests_per_minute": True},
    ],
)
def test_configure_refuses_bad_values_and_changes_nothing(client_app, values) -> None:
    application, _ = client_app
    before = OAuthConfiguration.objects.filter(pk=application.pk).values().first()
    with pytest.raises(ValidationFailed):
        oauth_client_configure(application=application, **values)
    assert OAuthConfiguration.objects.filter(pk=application.pk).values().first() == before


def test_client_credentials_token_is_typed_and_validates(client_app) -> None:
    application, secret = client_app
    now = timezone.now()
    answer = oauth_token_grant(
        credentials=post(application, secret),
        params={"grant_type": "client_credentials"},
        audiences=AUD,
        now=now,
    )
    assert answer.refresh_token is None
    assert answer.scope == "read write"
    assert header(answer.access_token)["typ"] == "at+jwt"
    validated = jwt_validate(token=answer.access_token, now=now)
    assert validated.kind == TokenKind.CLIENT
    claims = validated.claims
    assert claims["sub"] == claims["client_id"] == claims["aud"] == str(application.pk)
    assert claims["tid"] == str(application.tenant_id)
    assert claims["iss"] == application.tenant.issuer
    assert claims["exp"] - claims["iat"] == answer.expires_in == 86_400  # seed 002's day
    assert {"jti", "scope"} <= set(claims)


def test_client_token_lifetime_is_the_applications_own_else_one_day(client_app) -> None:
    """The tenant's access-token lifetime is for users' tokens; a client's token lives its
    application's configured lifetime, or one day (seed 002) when the application has none."""
    application, secret = client_app
    tenant_update(tenant=application.tenant, access_token_ttl_seconds=600)

    def lifetime() -> int:
        return oauth_token_grant(
            credentials=post(application, secret),
            params={"grant_type": "client_credentials"},
            audiences=AUD,
            now=timezone.now(),
        ).expires_in

    assert lifetime() == 86_400
    application_update(application=application, jwt_enabled=True, access_token_ttl_seconds=120)
    assert lifetime() == 120


def test_requested_scope_must_be_allowed(client_app) -> None:
    application, secret = client_app
    now = timezone.now()
    ok = oauth_token_grant(
        credentials=post(application, secret),
        params={"grant_type": "client_credentials", "scope": "read"},
        audiences=AUD,
        now=now,
    )
    assert ok.scope == "read"
    with pytest.raises(OAuthInvalidScope):
        oauth_token_grant(
            credentials=post(application, secret),
            params={"grant_type": "client_credentials", "scope": "read admin"},
            audiences=AUD,
            now=now,
        )


@pytest.mark.parametrize(
    ("credentials", "params", "error"),
    [
        (lambda a, s: post(a, s), {}, OAuthInvalidRequest),
        (lambda a, s: post(a, s), {"grant_type": "password"}, OAuthUnsupportedGrantType),
        (lambda a, s: post(a, "wrong"), {"grant_type": "client_credentials"}, OAuthInvalidClient),
        (lambda a, s: post(a, "x" * 10_000), {"grant_type": "client_credentials"}, OAuthInvalidClient),
        (
            lambda a, s: ClientCredentials(client_id="nope", client_secret=s),
            {"grant_type": "client_credentials"},
            OAuthInvalidClient,
        ),
        (
            lambda a, s: ClientCredentials(client_id=str(a.pk)),
            {"grant_type": "client_credentials"},
            OAuthInvalidClient,
        ),
        (
            lambda a, s: ClientCredentials(basic=(str(a.pk), s), client_secret=s),
            {"grant_type": "client_credentials"},
            OAuthInvalidRequest,
        ),
        (
            lambda a, s: ClientCredentials(client_id=str(a.pk), client_secret=s, assertion="a.b.c"),
            {"grant_type": "client_credentials"},
            OAuthInvalidRequest,
        ),
        (
            lambda a, s: post(a, s),
            {"grant_type": "refresh_token", "refresh_token": "x"},
            OAuthUnauthorizedClient,
        ),
    ],
)
def test_refusals(client_app, credentials, params, error) -> None:
    application, secret = client_app
    with pytest.raises(error):
        oauth_token_grant(
            credentials=credentials(application, secret), params=params, audiences=AUD, now=timezone.now()
        )


def test_basic_failure_carries_the_challenge(client_app) -> None:
    application, _ = client_app
    with pytest.raises(OAuthInvalidClient) as caught:
        oauth_client_authenticate(
            credentials=ClientCredentials(basic=(str(application.pk), "wrong")),
            audiences=AUD,
            now=timezone.now(),
        )
    assert caught.value.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_inactive_application_cannot_authenticate(client_app) -> None:
    from identity.services.applications import application_set_active

    application, secret = client_app
    application_set_active(application=application, active=False)
    with pytest.raises(OAuthInvalidClient):
        oauth_client_authenticate(credentials=post(application, secret), audiences=AUD, now=timezone.now())


def test_method_must_be_allowed(client_app) -> None:
    application, secret = client_app
    oauth_client_configure(application=application, client_authentication_methods=["client_secret_basic"])
    with pytest.raises(OAuthInvalidClient):
        oauth_client_authenticate(credentials=post(application, secret), audiences=AUD, now=timezone.now())
    assert (
        oauth_client_authenticate(
            credentials=ClientCredentials(basic=(str(application.pk), secret)),
            audiences=AUD,
            now=timezone.now(),
        ).method
        == "client_secret_basic"
    )


def test_rotation_with_overlap_keeps_the_previous_secret_until_it_ends(client_app) -> None:
    application, old = client_app
    now = timezone.now()
    new = oauth_client_secret_rotate(application=application, overlap_seconds=60, now=now)
    assert new != old
    for secret in (old, new):
        oauth_client_authenticate(credentials=post(application, secret), audiences=AUD, now=now)
    with pytest.raises(OAuthInvalidClient):
        oauth_client_authenticate(
            credentials=post(application, old), audiences=AUD, now=now + timedelta(seconds=61)
        )
    newest = oauth_client_secret_rotate(application=application, now=now)
    for secret in (old, new):
        with pytest.raises(OAuthInvalidClient):
            oauth_client_authenticate(credentials=post(application, secret), audiences=AUD, now=now)
    oauth_client_authenticate(credentials=post(application, newest), audiences=AUD, now=now)


def test_throttle_per_client(client_app, settings) -> None:
    application, secret = client_app
    oauth_client_configure(application=application, token_requests_per_minute=3)
    now = timezone.now().replace(second=1)
    grant = {"grant_type": "client_credentials"}
    for _ in range(3):
        oauth_token_grant(credentials=post(application, secret), params=grant, audiences=AUD, now=now)
    with pytest.raises(OAuthTooManyRequests) as caught:
        oauth_token_grant(credentials=post(application, secret), params=grant, audiences=AUD, now=now)
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 60
    other = ApplicationFactory(tenant=application.tenant, name="Other")
    other_secret = oauth_client_configure(application=other).client_secret
    assert other_secret is not None
    oauth_token_grant(credentials=post(other, other_secret), params=grant, audiences=AUD, now=now)


def test_refresh_grant_uses_the_refresh_exchange_and_checks_the_client(world) -> None:
    from identity.services.refresh_tokens import refresh_token_create

    configured = oauth_client_configure(application=world.application, enabled_grants=["refresh_token"])
    issued = refresh_token_create(user=world.user, application=world.application)
    now = timezone.now()
    answer = oauth_token_grant(
        credentials=post(world.application, configured.client_secret),
        params={"grant_type": "refresh_token", "refresh_token": issued.value},
        audiences=AUD,
        now=now,
    )
    assert answer.refresh_token == issued.value  # Reusable policy
    assert jwt_validate(token=answer.access_token, now=now).claims["sub"] == str(world.user.pk)
    other = ApplicationFactory(tenant=world.tenant, name="Other")
    other_secret = oauth_client_configure(application=other, enabled_grants=["refresh_token"]).client_secret
    with pytest.raises(OAuthInvalidGrant):
        oauth_token_grant(
            credentials=post(other, other_secret),
            params={"grant_type": "refresh_token", "refresh_token": issued.value},
            audiences=AUD,
            now=now,
        )
    with pytest.raises(OAuthInvalidGrant):
        oauth_token_grant(
            credentials=post(world.application, configured.client_secret),
            params={"grant_type": "refresh_token", "refresh_token": "garbage"},
            audiences=AUD,
            now=now,
        )


def test_refresh_grant_keeps_one_time_use_reuse_detection(world) -> None:
    from identity.models import RefreshToken, UsagePolicy
    from identity.services.applications import application_update
    from identity.services.refresh_tokens import refresh_token_create

    application_update(
        application=world.application, jwt_enabled=True, refresh_token_usage_policy=UsagePolicy.ONE_TIME_USE
    )
    secret = oauth_client_configure(
        application=world.application, enabled_grants=["refresh_token"]
    ).client_secret
    issued = refresh_token_create(user=world.user, application=world.application)
    grant = {"grant_type": "refresh_token", "refresh_token": issued.value}
    now = timezone.now()
    rotated = oauth_token_grant(
        credentials=post(world.application, secret), params=grant, audiences=AUD, now=now
    )
    assert rotated.refresh_token != issued.value
    with pytest.raises(OAuthInvalidGrant):  # the old value again: reuse
        oauth_token_grant(credentials=post(world.application, secret), params=grant, audiences=AUD, now=now)
    assert RefreshToken.objects.get(pk=issued.token.pk).revoked_at is not None  # the family is gone
    with pytest.raises(OAuthInvalidGrant):
        oauth_token_grant(
            credentials=post(world.application, secret),
            params={"grant_type": "refresh_token", "refresh_token": rotated.refresh_token},
            audiences=AUD,
            now=now,
        )


def test_public_client_may_refresh_with_its_id_alone_but_never_use_client_credentials(world) -> None:
    from identity.services.refresh_tokens import refresh_token_create

    oauth_client_configure(
        application=world.application,
        enabled_grants=["refresh_token", "client_credentials"],
        client_authentication_policy="NotRequired",
    )
    issued = refresh_token_create(user=world.user, application=world.application)
    public = ClientCredentials(client_id=str(world.application.pk))
    answer = oauth_token_grant(
        credentials=public,
        params={"grant_type": "refresh_token", "refresh_token": issued.value},
        audiences=AUD,
        now=timezone.now(),
    )
    assert answer.access_token
    with pytest.raises(OAuthInvalidClient):
        oauth_token_grant(
            credentials=public, params={"grant_type": "client_credentials"}, audiences=AUD, now=timezone.now()
        )


def test_refresh_grant_scope_may_narrow_never_widen(world) -> None:
    from identity.services.refresh_tokens import refresh_token_create

    secret = oauth_client_configure(
        application=world.application, enabled_grants=["refresh_token"]
    ).client_secret
    issued = refresh_token_create(user=world.user, application=world.application, scopes=["a", "b"])
    params = {"grant_type": "refresh_token", "refresh_token": issued.value, "scope": "a c"}
    with pytest.raises(OAuthInvalidScope):
        oauth_token_grant(
            credentials=post(world.application, secret), params=params, audiences=AUD, now=timezone.now()
        )


def test_application_with_a_refused_oauth_configuration_is_not_created(db) -> None:
    from identity.models import Application
    from identity.services.oauth_clients import oauth_application_create

    tenant = TenantFactory()
    with pytest.raises(ValidationFailed):
        oauth_application_create(tenant=tenant, name="Half", oauth={"scopes": ["bad scope"]})
    assert not Application.objects.filter(tenant=tenant).exists()
    application, configured = oauth_application_create(tenant=tenant, name="Whole", oauth={})
    assert configured is not None and configured.client_secret
    assert OAuthConfiguration.objects.filter(pk=application.pk).exists()


def test_no_client_secret_reaches_the_database(client_app) -> None:
    from tests.test_secrets_at_rest import _dump_database

    application, first = client_app
    second = oauth_client_secret_rotate(application=application, overlap_seconds=60)
    dump = _dump_database()
    assert str(application.pk) in dump
    assert [s for s in (first, second) if s in dump] == []

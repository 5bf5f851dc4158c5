"""Hostile members on every provisioning write (create, PUT, PATCH) answer FusionAuth's field
error, on the member's wire path, and change nothing at all: every row of every provisioning
table, not just the counts, is as it was."""

from __future__ import annotations

import pytest

from identity.models import APIKey, Application, ApplicationRole, Registration, SigningKey, Tenant, User
from tests.factories import make_api_key, make_signing_key

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase"


def _rows() -> dict[str, dict[str, dict]]:
    """Every row of every provisioning table, by id."""
    return {
        model.__name__: {str(row["id"]): row for row in model.objects.values()}
        for model in (Tenant, Application, ApplicationRole, User, Registration, APIKey, SigningKey)
    }


@pytest.fixture
def manager(world) -> str:
    return make_api_key(name="manager", key_manager=True)[1]


def _paths(world) -> dict[str, str]:
    role = world.application.roles.get(name="user")
    return {
        "tenants": "/api/tenant",
        "tenant": f"/api/tenant/{world.tenant.pk}",
        "applications": "/api/application",
        "application": f"/api/application/{world.application.pk}",
        "roles": f"/api/application/{world.application.pk}/role",
        "role": f"/api/application/{world.application.pk}/role/{role.pk}",
        "users": "/api/user",
        "user": f"/api/user/{world.user.pk}",
        "registrations": "/api/user/registration",
        "registration": f"/api/user/registration/{world.user.pk}/{world.application.pk}",
        "user-registrations": f"/api/user/registration/{world.user.pk}",
        "api-keys": "/api/api-key",
        "api-key": f"/api/api-key/{make_api_key(name='target', tenant=world.tenant)[0].pk}",
    }


NEW_USER = {"email": "new@example.com", "password": PASSWORD}

CASES = [
    # tenants
    ("post", "tenants", {"tenant": {"name": "n", "jwtConfiguration": {"timeToLiveInSeconds": "60"}}},
     "[invalid]tenant.jwtConfiguration.timeToLiveInSeconds"),
    ("patch", "tenant", {"tenant": {"jwtConfiguration": {"timeToLiveInSeconds": 0}}},
     "[invalid]tenant.jwtConfiguration.timeToLiveInSeconds"),
    ("put", "tenant", {"tenant": {"failedAuthenticationConfiguration": {"tooManyAttempts": 1001}}},
     "[invalid]tenant.failedAuthenticationConfiguration.tooManyAttempts"),
    ("patch", "tenant", {"tenant": {"failedAuthenticationConfiguration": {"actionDuration": 1,
                                                                          "actionDurationUnit": "YEARS"}}},
     "[invalid]tenant.failedAuthenticationConfiguration.actionDuration"),
    ("patch", "tenant", {"tenant": {"jwtConfiguration": {"refreshTokenOneTimeUseConfiguration":
                                                         {"gracePeriodInSeconds": 86_400}}}},
     "[invalid]tenant.jwtConfiguration.refreshTokenOneTimeUseConfiguration.gracePeriodInSeconds"),
    ("patch", "tenant", {"tenant": {"jwtConfiguration": {
        "refreshTokenTimeToLiveInMinutes": 100,
        "refreshTokenSlidingWindowConfiguration": {"maximumTimeToLiveInMinutes": 99}}}},
     "[invalid]tenant.jwtConfiguration.refreshTokenSlidingWindowConfiguration.maximumTimeToLiveInMinutes"),
    ("patch", "tenant", {"tenant": {"jwtConfiguration": {"accessTokenKeyId": "nope"}}},
     "[couldNotConvert]tenant.jwtConfiguration.accessTokenKeyId"),
    ("patch", "tenant", {"tenant": {"jwtConfiguration": {"refreshTokenRevocationPolicy":
                                                         {"onPasswordChanged": None}}}},
     "[invalid]tenant.jwtConfiguration.refreshTokenRevocationPolicy.onPasswordChanged"),
    *[
        ("patch", "tenant", {"tenant": {"jwtConfiguration": {"refreshTokenLimitPerUser": bad}}},
         "[invalid]tenant.jwtConfiguration.refreshTokenLimitPerUser")
        for bad in (0, -1, 100_001, 2**63, "5", 5.0, True, None, [], {})
    ],
    ("post", "tenants", {"tenant": {"name": "n", "jwtConfiguration": {"refreshTokenLimitPerUser": 0}}},
     "[invalid]tenant.jwtConfiguration.refreshTokenLimitPerUser"),
    ("patch", "tenant", {"tenant": {"name": "Default"}}, "[duplicate]tenant.name"),
    ("patch", "tenant", {"tenant": {"name": "  "}}, "[blank]tenant.name"),
    ("patch", "tenant", {"tenant": {"issuer": "i" * 256}}, "[invalid]tenant.issuer"),
    ("patch", "tenant", {"tenant": {"jwtConfiguration": []}}, "[invalid]tenant.jwtConfiguration"),
    ("patch", "tenant", {"tenant": []}, "[invalid]tenant"),
    ("put", "tenant", {}, "[missing]tenant"),
    # applications and roles
    ("post", "applications", {"application": {"name": "n", "roles": [{"name": "a"}, {"name": 5}]}},
     "[invalid]application.roles[1].name"),
    ("post", "applications", {"application": {"name": "n", "roles": [{"name": "a"}, {"name": "A"}]}},
     "[duplicate]role.name"),
    ("post", "applications", {"application": {"name": "Portal"}}, "[duplicate]application.name"),
    ("patch", "application", {"application": {"loginConfiguration": {"allowTokenRefresh": "yes"}}},
     "[invalid]application.loginConfiguration.allowTokenRefresh"),
    ("put", "application", {"application": {"jwtConfiguration": {"refreshTokenUsagePolicy": "Never"}}},
     "[invalid]application.jwtConfiguration.refreshTokenUsagePolicy"),
    ("patch", "application", {"application": {"jwtConfiguration": {"enabled": True,
                                                                   "timeToLiveInSeconds": -1}}},
     "[invalid]application.jwtConfiguration.timeToLiveInSeconds"),
    ("post", "roles", {"role": {"name": "ADMIN"}}, "[duplicate]role.name"),
    ("post", "roles", {"role": {"name": "x", "isDefault": "yes"}}, "[invalid]role.isDefault"),
    ("put", "role", {"role": {"name": ""}}, "[blank]role.name"),
    ("put", "role", {"role": {"isDefault": "yes"}}, "[invalid]role.isDefault"),
    ("patch", "role", {"role": {"name": "admin"}}, "[duplicate]role.name"),
    ("patch", "role", {"role": {"description": "d" * 256}}, "[invalid]role.description"),
    # users
    ("post", "users", {"user": {"email": "new@example.com", "data": "x"}}, "[invalid]user.data"),
    ("post", "users", {"user": {"email": "new@example.com", "username": ["ann"]}}, "[invalid]user.username"),
    ("post", "users", {"user": {"email": "new@example.com", "password": ""}}, "[blank]user.password"),
    ("patch", "user", {"user": {"email": "ANN@example.com ", "firstName": None}}, "[invalid]user.firstName"),
    ("patch", "user", {"user": {"lastName": "Z", "password": "short"}}, "[invalid]user.password"),
    ("put", "user", {"user": {"expiry": "never"}}, "[invalid]user.expiry"),
    ("put", "user", {"user": {"active": 0}}, "[invalid]user.active"),
    # registrations
    ("post", "user-registrations", {"registration": {"applicationId": "nope"}},
     "[couldNotConvert]registration.applicationId"),
    ("post", "registrations", {"registration": {}, "user": NEW_USER},
     "[couldNotConvert]registration.applicationId"),
    ("post", "registrations", {"registration": {"applicationId": "{app}", "roles": ["admin", 1]},
                               "user": NEW_USER}, "[invalid]registration.roles"),
    ("post", "registrations", {"registration": {"applicationId": "{app}", "roles": ["nope"]},
                               "user": NEW_USER}, "[invalid]registration.roles"),
    ("post", "registrations", {"registration": {"applicationId": "{app}"},
                               "user": {**NEW_USER, "email": "ann@example.com"}}, "[duplicate]user.email"),
    ("post", "registrations", {"registration": {"applicationId": "{app}"}}, "[missing]user"),
    ("patch", "registration", {"registration": {"roles": None}}, "[invalid]registration.roles"),
    ("patch", "registration", {"registration": {"data": []}}, "[invalid]registration.data"),
    ("put", "user-registrations", {"registration": {"applicationId": "{foreign}", "roles": []}},
     "[invalid]registration.applicationId"),
    # API keys
    ("post", "api-keys", {"apiKey": {"permissions": {"endpoints": {"/api/user": "GET"}}}},
     "[invalid]apiKey.permissions.endpoints"),
    ("post", "api-keys", {"apiKey": {"metaData": {"attributes": {"description": 7}}}},
     "[invalid]apiKey.metaData.attributes.description"),
    ("post", "api-keys", {"apiKey": {"tenantId": "nope"}}, "[couldNotConvert]apiKey.tenantId"),
    ("post", "api-keys", {"apiKey": {"key": "k" * 31}}, "[tooShort]apiKey.key"),
    ("post", "api-keys", {"apiKey": {"keyManager": None}}, "[invalid]apiKey.keyManager"),
    ("patch", "api-key", {"apiKey": {"expirationInstant": 1}}, "[invalid]apiKey.expirationInstant"),
    ("put", "api-key", {"apiKey": {"permissions": 5}}, "[invalid]apiKey.permissions.endpoints"),
    # permissions without the endpoints wrapper, or misspelt: never read as "no endpoints" (a super key)
    ("post", "api-keys", {"apiKey": {"permissions": {"/api/user": ["GET"]}}}, "[invalid]apiKey.permissions"),
    ("post", "api-keys", {"apiKey": {"permissions": {"endpoint": {"/api/user": ["GET"]}}}},
     "[invalid]apiKey.permissions"),
    ("patch", "api-key", {"apiKey": {"permissions": {"endpoints": {"/api/user": ["GET"]}, "x": 1}}},
     "[invalid]apiKey.permissions"),
    ("put", "api-key", {"apiKey": {"permissions": {"/api/user": ["GET"]}}}, "[invalid]apiKey.permissions"),
    ("put", "api-key", {"apiKey": {"name": "n" * 192}}, "[invalid]apiKey.name"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "target", "body", "code"), CASES)
def test_hostile_members_are_field_errors_and_change_nothing(
    api_client, world, manager, method, target, body, code
):
    foreign = Application.objects.create(tenant=Tenant.objects.create(name="Other", issuer="o"), name="F")
    make_signing_key(tenant=world.tenant)
    body = _fill(body, app=str(world.application.pk), foreign=str(foreign.pk))
    path = _paths(world)[target]
    before = _rows()
    response = getattr(api_client, method)(
        path,
        body,
        format="json",
        HTTP_AUTHORIZATION=manager,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert response.status_code == 400, response.content
    field = code.split("]", 1)[1]
    assert [e["code"] for e in response.json()["fieldErrors"][field]] == [code], response.json()
    assert _rows() == before


def _fill(value, **ids):
    if isinstance(value, dict):
        return {k: _fill(v, **ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, **ids) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


def test_a_combined_registration_names_every_field_error_at_once(api_client, world, manager):
    """FusionAuth lists the user's and the registration's errors together, not one half per try."""
    before = _rows()
    response = api_client.post(
        "/api/user/registration",
        {
            "user": {"email": "new@example.com", "username": ["x"], "password": PASSWORD},
            "registration": {"applicationId": "x"},
        },
        format="json",
        HTTP_AUTHORIZATION=manager,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert response.status_code == 400, response.content
    assert {"user.username", "registration.applicationId"} <= set(response.json()["fieldErrors"])
    assert _rows() == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/tenant/search", {"search": {"name": "*"}}),
        ("/api/application/search", {"search": {"name": "*"}}),
        ("/api/user/not-an-id", {"user": {}}),
        ("/api/api-key/not-an-id", {}),
        ("/api/key/generate/not-an-id", {}),
        ("/api/key/import/not-an-id", {}),
        ("/api/user/registration/not-an-id", {"registration": {}}),
        ("/api/user/registration/not-an-id", {"registration": {}, "user": {}}),
        ("/api/application/{app}/role/not-an-id", {}),
        ("/api/application/{app}/login-backend/not-an-id", {}),
    ],
)
def test_a_path_that_names_no_id_is_404_whatever_the_body(api_client, world, manager, path, body):
    """A path we do not serve (FusionAuth's search endpoints) must not answer a misleading 400
    about the body: the id in the path is read first."""
    before = _rows()
    response = api_client.post(
        path.replace("{app}", str(world.application.pk)),
        body,
        format="json",
        HTTP_AUTHORIZATION=manager,
        HTTP_X_FUSIONAUTH_TENANTID=str(world.tenant.pk),
    )
    assert (response.status_code, response.content) == (404, b"")
    assert _rows() == before

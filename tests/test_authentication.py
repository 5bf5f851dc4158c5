"""API-key authentication, tenant scoping and the error shapes every API shares."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import APIKey
from tests.factories import TenantFactory, make_api_key

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.probe_urls")]


def _get(api_client, path="/api/probe", key=None, **headers):
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = key
    return api_client.get(path, **headers)


def test_valid_super_key_is_accepted(api_client, default_tenant):
    key, raw = make_api_key()
    response = _get(api_client, key=raw)
    assert response.status_code == 200
    assert response.json() == {"tenantId": str(default_tenant.pk), "keyId": str(key.pk)}


@pytest.mark.parametrize(
    "header",
    [
        None,  # missing
        "",  # empty header: the SDK's anonymous client sends this
        "   ",
        "not-a-key",
        "x" * 5000,
        "Bearer abc.def.ghi",  # a JWT is not an API key
        "Basic Zm9vOmJhcg==",
        "\u00e9t\u00e9-key",
        "' OR 1=1 --",
    ],
)
def test_missing_or_wrong_key_is_401_with_empty_body(api_client, default_tenant, header):
    make_api_key()
    response = _get(api_client, key=header)
    assert response.status_code == 401
    assert response.content == b""


def test_key_with_trailing_garbage_is_refused(api_client, default_tenant):
    _, raw = make_api_key()
    assert _get(api_client, key=raw + "x").status_code == 401
    assert _get(api_client, key=raw[:-1]).status_code == 401


def test_expired_key_is_401(api_client, default_tenant):
    key, raw = make_api_key()
    APIKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _get(api_client, key=raw)
    assert response.status_code == 401
    assert response.content == b""


def test_key_expiring_later_still_works(api_client, default_tenant):
    _, raw = make_api_key(expires_at=timezone.now() + timedelta(hours=1))
    assert _get(api_client, key=raw).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("get", "/api/probe", 200),
        ("get", "/api/probe/123", 200),  # sub-paths of a permitted endpoint
        ("delete", "/api/probe/123", 200),
        ("post", "/api/probe", 401),  # method not permitted
        ("get", "/api/other", 401),  # endpoint not permitted
        ("get", "/api/probes", 401),  # a longer name is not a sub-path
        ("get", "/api/probe/sub/123", 401),  # an endpoint of its own below the permitted one
    ],
)
def test_endpoint_permissions(api_client, default_tenant, method, path, expected):
    _, raw = make_api_key(permissions={"/api/probe": ["GET", "DELETE"]})
    response = getattr(api_client, method)(path, {"name": "n"}, format="json", HTTP_AUTHORIZATION=raw)
    assert response.status_code == expected
    if expected == 401:
        assert response.content == b""


def test_tenant_locked_key_scopes_the_request(api_client, default_tenant):
    tenant = TenantFactory()
    _, raw = make_api_key(tenant=tenant)
    assert _get(api_client, key=raw).json()["tenantId"] == str(tenant.pk)
    # Naming its own tenant is fine, naming another is refused.
    assert _get(api_client, key=raw, HTTP_X_FUSIONAUTH_TENANTID=str(tenant.pk)).status_code == 200
    response = _get(api_client, key=raw, HTTP_X_FUSIONAUTH_TENANTID=str(default_tenant.pk))
    assert response.status_code == 401
    assert response.content == b""


def test_tenant_header_selects_tenant_for_global_key(api_client, default_tenant):
    tenant = TenantFactory()
    _, raw = make_api_key()
    assert _get(api_client, key=raw, HTTP_X_FUSIONAUTH_TENANTID=str(tenant.pk)).json()["tenantId"] == str(
        tenant.pk
    )


def test_ambiguous_tenant_is_400_tenant_id_required(api_client, default_tenant):
    TenantFactory()
    _, raw = make_api_key()
    response = _get(api_client, key=raw)
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["generalErrors"]] == ["[TenantIdRequired]"]


@pytest.mark.parametrize("value", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "' OR 1=1"])
def test_bad_tenant_header_is_a_field_error(api_client, default_tenant, value):
    _, raw = make_api_key()
    response = _get(api_client, key=raw, HTTP_X_FUSIONAUTH_TENANTID=value)
    assert response.status_code == 400
    assert response.json()["fieldErrors"]["tenantId"][0]["code"] == "[invalid]tenantId"


def test_key_manager_permission(api_client, default_tenant):
    _, plain = make_api_key()
    _, manager = make_api_key(key_manager=True)
    assert _get(api_client, "/api/manager", key=plain).status_code == 401
    assert _get(api_client, "/api/manager", key=manager).status_code == 200


def test_sdk_length_header_is_ignored(api_client, default_tenant):
    _, raw = make_api_key()
    response = api_client.post(
        "/api/probe", {"name": "x"}, format="json", HTTP_AUTHORIZATION=raw, HTTP_LENGTH="12"
    )
    assert response.status_code == 200
    assert response.json() == {"echo": "x"}


def test_invalid_json_is_400_with_errors_body(api_client, default_tenant):
    _, raw = make_api_key()
    response = api_client.post(
        "/api/probe", "{not json", content_type="application/json", HTTP_AUTHORIZATION=raw
    )
    assert response.status_code == 400
    assert response.json()["generalErrors"][0]["code"] == "[invalid]"


def test_service_validation_error_has_fusionauth_shape(api_client, default_tenant):
    _, raw = make_api_key()
    response = api_client.post("/api/probe", {}, format="json", HTTP_AUTHORIZATION=raw)
    assert response.status_code == 400
    assert response.json() == {
        "fieldErrors": {"probe.name": [{"code": "[blank]probe.name", "message": "A name is required."}]}
    }


def test_unknown_method_is_405_without_body(api_client, default_tenant):
    _, raw = make_api_key()
    response = api_client.put("/api/probe", {}, format="json", HTTP_AUTHORIZATION=raw)
    assert response.status_code == 405


def test_only_the_authentication_module_reads_request_auth():
    """`request.auth` is always a Caller (identity/caller.py); code elsewhere asks `caller_of(request)`,
    so a leftover `isinstance(request.auth, APIKey)` (always False now) cannot silently drop a rule."""
    from pathlib import Path

    import identity

    root = Path(identity.__file__).parent
    readers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "request.auth" in path.read_text() and path.name != "authentication.py"
    )
    assert readers == []

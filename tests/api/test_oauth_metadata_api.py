"""RFC 8414 metadata and the OpenID discovery document advertise exactly what is served."""

from __future__ import annotations

import uuid

import pytest

from identity.selectors import tenant_get_default
from identity.services.tenants import tenant_update


def served(api_client, url: str) -> bool:  # type: ignore[no-untyped-def]
    path = url.removeprefix("http://testserver")
    return api_client.post(path, "", content_type="application/x-www-form-urlencoded").status_code != 404


@pytest.mark.parametrize("per_tenant", [False, True])
def test_authorization_server_metadata(api_client, world, per_tenant) -> None:
    tenant = world.tenant if per_tenant else tenant_get_default()
    prefix = f"/{tenant.pk}" if per_tenant else ""
    response = api_client.get(f"{prefix}/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == tenant.issuer
    assert body["response_types_supported"] == []
    assert body["grant_types_supported"] == [
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    assert set(body["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }
    assert "HS256" not in body["token_endpoint_auth_signing_alg_values_supported"]
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert served(api_client, body[name]), name
    assert api_client.get(body["jwks_uri"].removeprefix("http://testserver")).status_code == 200


def test_unknown_tenant_metadata_is_404(api_client, db) -> None:
    assert api_client.get(f"/{uuid.uuid4()}/.well-known/oauth-authorization-server").status_code == 404


def test_openid_configuration_lists_the_oauth_endpoints(api_client, world) -> None:
    body = api_client.get(f"/{world.tenant.pk}/.well-known/openid-configuration").json()
    assert body["token_endpoint"].endswith("/oauth2/token")
    assert body["introspection_endpoint"].endswith("/oauth2/introspect")
    assert body["revocation_endpoint"].endswith("/oauth2/revoke")
    assert body["grant_types_supported"] == [
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]


@pytest.mark.parametrize("path", ["tenants/acme", "tenants/acme/", "TENANTS/Acme"])
def test_an_issuer_with_a_path_finds_its_document_where_rfc_8414_puts_it(api_client, world, path) -> None:
    """§3.1: `https://host/tenants/acme` → `https://host/.well-known/oauth-authorization-server/tenants/acme`,
    whose `issuer` is then exactly the URL it was fetched for (§3.3)."""
    tenant_update(tenant=world.tenant, issuer="http://testserver/tenants/acme")
    response = api_client.get(f"/.well-known/oauth-authorization-server/{path}")
    assert response.status_code == 200, response.content
    assert response.json()["issuer"] == "http://testserver/tenants/acme"


@pytest.mark.parametrize("path", ["tenants/nobody", "tenants/acme/extra", "..%2Fadmin"])
def test_a_path_no_issuer_has_is_404(api_client, world, path) -> None:
    tenant_update(tenant=world.tenant, issuer="http://testserver/tenants/acme")
    assert api_client.get(f"/.well-known/oauth-authorization-server/{path}").status_code == 404

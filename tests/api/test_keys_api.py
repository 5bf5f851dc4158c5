"""Key API, public keys, JWKS and discovery over HTTP (checklist case 36 included)."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.models import SigningKey, Tenant
from identity.services.applications import application_update
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
from tests.factories import UNKNOWN_ID, ApplicationFactory, TenantFactory, make_api_key

pytestmark = pytest.mark.django_db(transaction=True)

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


@pytest.fixture
def key_client(api_client):
    _, raw = make_api_key(name="keys")
    api_client.credentials(HTTP_AUTHORIZATION=raw)
    return api_client


def test_generate_retrieve_rename_delete(key_client):
    response = key_client.post(
        "/api/key/generate", {"key": {"algorithm": "ES256", "name": "k1"}}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()["key"]
    assert body["algorithm"] == "ES256" and body["type"] == "EC" and body["hasPrivateKey"] is True
    assert body["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "privateKey" not in body and "secret" not in body
    key_id = body["id"]
    assert key_client.get(f"/api/key/{key_id}").json()["key"]["kid"] == body["kid"]
    renamed = key_client.put(f"/api/key/{key_id}", {"key": {"name": "k1-renamed"}}, format="json")
    assert renamed.json()["key"]["name"] == "k1-renamed"
    assert key_client.delete(f"/api/key/{key_id}").status_code == 200
    response = key_client.get(f"/api/key/{key_id}")
    assert response.status_code == 404 and response.content == b""


def test_hmac_secret_is_returned_once(key_client):
    body = key_client.post(
        "/api/key/generate", {"key": {"algorithm": "HS256", "name": "h"}}, format="json"
    ).json()
    assert len(body["key"]["secret"]) >= 43
    again = key_client.get(f"/api/key/{body['key']['id']}").json()["key"]
    assert "secret" not in again and "publicKey" not in again


def test_generate_with_chosen_id_and_duplicate(key_client):
    chosen = str(uuid.uuid4())
    assert (
        key_client.post(
            f"/api/key/generate/{chosen}", {"key": {"algorithm": "EdDSA", "name": "e"}}, format="json"
        ).json()["key"]["id"]
        == chosen
    )
    again = key_client.post(
        f"/api/key/generate/{chosen}", {"key": {"algorithm": "EdDSA", "name": "e"}}, format="json"
    )
    assert again.status_code == 400
    assert "keyId" in again.json()["fieldErrors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "key"),
        ({"key": {"name": "x"}}, "key.algorithm"),
        ({"key": {"name": "x", "algorithm": "none"}}, "key.algorithm"),
        ({"key": {"algorithm": "RS256"}}, "key.name"),
        ({"key": {"name": "x", "algorithm": "RS256", "length": 1024}}, "key.length"),
        ({"key": {"name": "x", "algorithm": "HS512", "length": 16}}, "key.length"),
        ({"key": "nope"}, "key"),
    ],
)
def test_bad_generate_requests(key_client, body, field):
    response = key_client.post("/api/key/generate", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fieldErrors"]
    assert not SigningKey.objects.exists()


def test_import_public_key_is_verify_only(key_client):
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    body = key_client.post(
        "/api/key/import", {"key": {"name": "partner", "publicKey": pem, "kid": "partner-1"}}, format="json"
    ).json()["key"]
    assert (body["kid"], body["hasPrivateKey"], body["use"]) == ("partner-1", False, "VerifyOnly")


def test_key_in_use_cannot_be_deleted(key_client, default_tenant):
    key = signing_key_generate(tenant=None, algorithm="ES256", name="in use").key
    tenant_signing_key_set(tenant=default_tenant, key=key)
    response = key_client.delete(f"/api/key/{key.pk}")
    assert response.status_code == 400
    assert response.json()["generalErrors"][0]["code"] == "[KeyInUse]"


def test_search(key_client):
    for name, alg in [("alpha", "ES256"), ("beta", "RS256"), ("alphabet", "HS256")]:
        signing_key_generate(tenant=None, algorithm=alg, name=name)
    found = key_client.post("/api/key/search", {"search": {"name": "alpha*"}}, format="json").json()
    assert {k["name"] for k in found["keys"]} == {"alpha", "alphabet"} and found["total"] == 2
    assert key_client.get("/api/key/search", {"type": "RSA"}).json()["total"] == 1
    page = key_client.post(
        "/api/key/search", {"search": {"numberOfResults": 1, "startRow": 1}}, format="json"
    )
    assert len(page.json()["keys"]) == 1 and page.json()["total"] == 3


def test_key_api_requires_a_global_key(api_client):
    _, locked = make_api_key(tenant=TenantFactory())
    assert api_client.get("/api/key", HTTP_AUTHORIZATION=locked).status_code == 401
    assert api_client.get("/api/key").status_code == 401
    _, no_permission = make_api_key(permissions={"/api/jwt/refresh": ["GET"]})
    assert api_client.get("/api/key", HTTP_AUTHORIZATION=no_permission).status_code == 401


@pytest.mark.parametrize("path", ["/api/key/not-a-uuid", f"/api/key/{UNKNOWN_ID}"])
def test_unknown_keys_are_404(key_client, path):
    response = key_client.get(path)
    assert response.status_code == 404 and response.content == b""


@pytest.fixture
def published(default_tenant):
    keys = {
        alg: signing_key_generate(tenant=None, algorithm=alg, name=alg).key
        for alg in ("RS256", "ES256", "EdDSA", "HS256")
    }
    # Only keys in use are published: the default tenant signed with RS256 and EdDSA before ES256,
    # so those stay trusted (and published) as retired signers; HS256 is never published.
    for alg in ("RS256", "EdDSA", "ES256"):
        tenant_signing_key_set(tenant=default_tenant, key=keys[alg])
    return keys


def test_jwks_publishes_only_public_members_of_asymmetric_keys(api_client, published):
    response = api_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks = response.json()["keys"]
    assert {k["kid"] for k in jwks} == {published[a].kid for a in ("RS256", "ES256", "EdDSA")}
    for jwk in jwks:
        assert not PRIVATE_MEMBERS & set(jwk)
        assert jwk["use"] == "sig"
    assert published["HS256"].kid not in response.content.decode()


def test_tenant_jwks_holds_only_the_tenants_keys(api_client, published, default_tenant):
    other = TenantFactory()
    own = signing_key_generate(tenant=other, algorithm="ES256", name="other").key
    tenant_signing_key_set(tenant=other, key=own)
    mine = api_client.get(f"/{default_tenant.pk}/.well-known/jwks.json").json()["keys"]
    theirs = api_client.get("/.well-known/jwks.json", {"tenantId": str(other.pk)}).json()["keys"]
    assert sorted(k["kid"] for k in mine) == sorted(published[a].kid for a in ("RS256", "ES256", "EdDSA"))
    # The other tenant's own keys only: its signer and the key it was created with (retired).
    assert own.kid in {k["kid"] for k in theirs}
    assert not {k["kid"] for k in theirs} & {k.kid for k in published.values()}
    assert api_client.get(f"/{uuid.uuid4()}/.well-known/jwks.json").status_code == 404


def test_public_keys(api_client, published, default_tenant):
    everything = api_client.get("/api/jwt/public-key").json()["publicKeys"]
    assert set(everything) == {published[a].kid for a in ("RS256", "ES256", "EdDSA")}
    one = api_client.get("/api/jwt/public-key", {"kid": published["RS256"].kid}).json()
    assert one == {"publicKey": published["RS256"].public_key}
    for kid in ("unknown", published["HS256"].kid, "../../etc/passwd"):
        response = api_client.get("/api/jwt/public-key", {"kid": kid})
        assert response.status_code == 404 and response.content == b""
    app = ApplicationFactory(tenant=default_tenant)
    by_app = api_client.get("/api/jwt/public-key", {"applicationId": str(app.pk)}).json()["publicKeys"]
    assert set(by_app) == {published[a].kid for a in ("RS256", "ES256", "EdDSA")}


def test_public_key_of_an_hmac_application_is_404(api_client, published):
    tenant = Tenant.objects.create(name="HMAC only", issuer="https://hmac.example.com")
    app = ApplicationFactory(tenant=tenant)
    application_update(
        application=app,
        jwt_enabled=True,
        access_token_signing_key=published["HS256"],
        id_token_signing_key=published["HS256"],
    )
    tenant_signing_key_set(tenant=tenant, key=published["HS256"])
    response = api_client.get("/api/jwt/public-key", {"applicationId": str(app.pk)})
    assert response.status_code == 404
    assert published["HS256"].kid not in json.dumps(api_client.get("/api/jwt/public-key").json())


def test_openid_configuration(api_client, published, default_tenant):
    body = api_client.get("/.well-known/openid-configuration").json()
    assert body["issuer"] == default_tenant.issuer
    assert body["jwks_uri"].endswith(f"/{default_tenant.pk}/.well-known/jwks.json")
    assert body["id_token_signing_alg_values_supported"] == ["ES256", "EdDSA", "RS256"]
    other = TenantFactory()
    assert api_client.get(f"/{other.pk}/.well-known/openid-configuration").json()["issuer"] == other.issuer

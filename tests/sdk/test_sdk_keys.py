"""The official FusionAuth Python SDK against a live server: keys, public keys and the JWKS."""

from __future__ import annotations

import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone
from fusionauth.fusionauth_client import FusionAuthClient

from identity.models import SigningKey
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
from identity.signing import TokenKind, load_key, sign
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(live_server) -> FusionAuthClient:
    _, raw = make_api_key(name="sdk")
    return FusionAuthClient(raw, live_server.url)


@pytest.fixture
def anonymous(live_server) -> FusionAuthClient:
    return FusionAuthClient("", live_server.url)  # the SDK's own tests send an empty Authorization


def test_generate_retrieve_update_delete(sdk):
    response = sdk.generate_key({"key": {"algorithm": "RS256", "name": "sdk-rsa", "length": 2048}})
    assert response.status == 200, response.error_response
    key = response.success_response["key"]
    assert (key["algorithm"], key["type"], key["length"], key["hasPrivateKey"]) == (
        "RS256",
        "RSA",
        2048,
        True,
    )
    assert "privateKey" not in key

    assert sdk.retrieve_key(key["id"]).success_response["key"]["kid"] == key["kid"]
    assert key["id"] in {k["id"] for k in sdk.retrieve_keys().success_response["keys"]}
    updated = sdk.update_key(key["id"], {"key": {"name": "sdk-rsa-2"}})
    assert updated.status == 200 and updated.success_response["key"]["name"] == "sdk-rsa-2"

    deleted = sdk.delete_key(key["id"])
    assert deleted.status == 200 and deleted.success_response is None
    missing = sdk.retrieve_key(key["id"])
    assert missing.status == 404 and missing.error_response is None


def test_generate_and_import_with_chosen_ids(sdk):
    chosen = str(uuid.uuid4())
    response = sdk.generate_key({"key": {"algorithm": "ES256", "name": "sdk-ec"}}, chosen)
    assert response.status == 200 and response.success_response["key"]["id"] == chosen
    pem = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    imported_id = str(uuid.uuid4())
    response = sdk.import_key(
        {"key": {"name": "partner", "publicKey": pem, "kid": "partner-384"}}, imported_id
    )
    assert response.status == 200, response.error_response
    body = response.success_response["key"]
    assert (body["id"], body["algorithm"], body["kid"], body["hasPrivateKey"]) == (
        imported_id,
        "ES384",
        "partner-384",
        False,
    )


def test_sdk_sees_400_errors_as_json(sdk):
    response = sdk.generate_key({"key": {"algorithm": "RS256", "name": "tiny", "length": 512}})
    assert response.status == 400
    assert response.error_response["fieldErrors"]["key.length"][0]["code"] == "[invalid]key.length"
    response = sdk.search_keys({"search": {"numberOfResults": 0}})
    assert response.status == 400 and "search.numberOfResults" in response.error_response["fieldErrors"]


def test_search(sdk):
    for name in ("alpha", "alphabet", "beta"):
        signing_key_generate(tenant=None, algorithm="ES256", name=name)
    found = sdk.search_keys({"search": {"name": "alpha*"}}).success_response
    assert found["total"] == 2 and {k["name"] for k in found["keys"]} == {"alpha", "alphabet"}
    by_parameters = sdk.search_keys_by_parameters(name="beta").success_response
    assert [k["name"] for k in by_parameters["keys"]] == ["beta"]


def test_wrong_or_locked_keys_are_401(live_server, default_tenant):
    assert FusionAuthClient("wrong", live_server.url).retrieve_keys().status == 401
    assert FusionAuthClient("", live_server.url).retrieve_keys().status == 401
    _, locked = make_api_key(tenant=default_tenant)
    assert FusionAuthClient(locked, live_server.url).retrieve_keys().status == 401


def test_public_keys_and_jwks(anonymous, default_tenant):
    keys = {
        alg: signing_key_generate(tenant=None, algorithm=alg, name=alg).key
        for alg in ("RS256", "ES256", "HS256")
    }
    # Published: keys a tenant signs or verifies with (RS256 stays trusted as the retired signer).
    tenant_signing_key_set(tenant=default_tenant, key=keys["RS256"])
    tenant_signing_key_set(tenant=default_tenant, key=keys["ES256"])

    everything = anonymous.retrieve_jwt_public_keys()
    assert everything.status == 200
    assert set(everything.success_response["publicKeys"]) == {keys["RS256"].kid, keys["ES256"].kid}
    one = anonymous.retrieve_jwt_public_key(keys["RS256"].kid)
    assert one.success_response == {"publicKey": keys["RS256"].public_key}
    assert anonymous.retrieve_jwt_public_key("no-such-kid").status == 404
    assert anonymous.retrieve_jwt_public_key(keys["HS256"].kid).status == 404

    jwks = anonymous.retrieve_json_web_key_set()
    assert jwks.status == 200
    assert {k["kid"] for k in jwks.success_response["keys"]} == {keys["RS256"].kid, keys["ES256"].kid}
    assert all(not {"d", "p", "q", "k"} & set(k) for k in jwks.success_response["keys"])


def test_tenant_header_on_anonymous_calls_is_accepted(anonymous, default_tenant):
    signing_key_generate(tenant=None, algorithm="ES256", name="e")
    anonymous.set_tenant_id(str(default_tenant.pk))
    assert anonymous.retrieve_json_web_key_set().status == 200
    assert anonymous.retrieve_jwt_public_keys().status == 200


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_pyjwkclient_verifies_our_tokens(live_server, default_tenant, algorithm):
    record = signing_key_generate(tenant=default_tenant, algorithm=algorithm, name=algorithm).key
    tenant_signing_key_set(tenant=default_tenant, key=record)
    now = timezone.now()
    claims = {
        "sub": "u",
        "iss": default_tenant.issuer,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 60,
    }
    token = sign(
        claims=claims, key=load_key(SigningKey.objects.get(pk=record.pk)), kind=TokenKind.ACCESS, now=now
    )
    client = jwt.PyJWKClient(f"{live_server.url}/.well-known/jwks.json")
    signing_key = client.get_signing_key_from_jwt(token)
    decoded = jwt.decode(token, signing_key.key, algorithms=[algorithm], issuer=default_tenant.issuer)
    assert decoded["sub"] == "u"
    per_tenant = jwt.PyJWKClient(f"{live_server.url}/{default_tenant.pk}/.well-known/jwks.json")
    assert per_tenant.get_signing_key_from_jwt(token).key_id == record.kid

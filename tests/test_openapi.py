"""The OpenAPI document: generated without a single warning or error, every API route described by
identity/openapi.py's table, served as YAML or JSON, and browsable with assets from this server."""

from __future__ import annotations

import io
import json
import re
import runpy
from pathlib import Path
from urllib.parse import urlencode

import jsonschema
import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

from identity.openapi import COMPONENTS, OPERATIONS, REQUEST_LINE_LIMIT
from identity.services.oauth_clients import oauth_client_configure

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict:
    out = io.StringIO()
    # --fail-on-warn raises on any warning or error drf-spectacular reports; --validate checks the
    # result against the OpenAPI 3 JSON schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--format=openapi-json", stdout=out)
    return json.loads(out.getvalue())


def _routes(patterns: list, prefix: str = "") -> list[str]:
    routes: list[str] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            routes += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            routes.append(prefix + str(pattern.pattern))
    return routes


def _openapi_path(route: str) -> str:
    # drf-spectacular names a `pk` parameter `id` (SCHEMA_COERCE_PATH_PK).
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).replace("{pk}", "{id}")


def test_every_api_route_is_in_the_document(document: dict) -> None:
    ours = {
        _openapi_path(route)
        for route in _routes(get_resolver().url_patterns)
        # re_path routes (`^…`) only answer 404 for FusionAuth paths not served here.
        if not route.startswith(("admin/", "api/schema/", "api/docs/", "^"))
    }
    assert ours == set(document["paths"])


def test_every_operation_comes_from_the_table_and_the_table_has_no_stale_rows(document: dict) -> None:
    generated = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    assert generated == set(OPERATIONS)
    ids = [op["operationId"] for item in document["paths"].values() for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids))


def test_errors_and_security_schemes_are_described(document: dict) -> None:
    assert set(COMPONENTS) <= set(document["components"]["schemas"])
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schemes["ApiKeyAuth"]["description"],
    }
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    assert set(schemes) == {"ApiKeyAuth", "BearerAuth", "ClientBasicAuth", "OAuth2ClientCredentials"}
    login = document["paths"]["/api/login"]["post"]
    assert login["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Errors"
    }
    assert "content" not in login["responses"]["404"]  # empty body, as FusionAuth
    assert {"ApiKeyAuth": []} in login["security"] and {} in login["security"]
    assert document["paths"]["/api/key"]["get"]["security"] == [{"ApiKeyAuth": []}]
    assert document["paths"]["/api/status"]["get"]["security"] == [{}]


def _requirements(document: dict) -> dict[tuple[str, str], list[dict]]:
    return {
        (method.upper(), path): op["security"]
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_every_security_requirement_names_a_described_scheme(document: dict) -> None:
    schemes = set(document["components"]["securitySchemes"])
    used = {name for security in _requirements(document).values() for req in security for name in req}
    assert used == schemes  # nothing undefined is required, and no scheme is described for nothing
    assert all(security for security in _requirements(document).values())  # `{}` stands for "none"


def test_the_oauth2_client_credentials_flow_points_at_the_token_endpoint(document: dict) -> None:
    scheme = document["components"]["securitySchemes"]["OAuth2ClientCredentials"]
    assert scheme["type"] == "oauth2" and set(scheme["flows"]) == {"clientCredentials"}
    token_url = scheme["flows"]["clientCredentials"]["tokenUrl"]
    token = document["paths"][token_url]["post"]
    assert (
        "client_credentials"
        in (document["components"]["schemas"]["OAuthTokenRequest"]["properties"]["grant_type"]["enum"])
    )
    assert {"ClientBasicAuth": []} in token["security"]
    accepting = {
        op for op, security in _requirements(document).items() if {"OAuth2ClientCredentials": []} in security
    }
    assert accepting == {("GET", "/api/jwt/validate")}


@pytest.mark.django_db
def test_a_client_credentials_token_is_accepted_where_the_document_says(api_client, world, document) -> None:
    """Follow the document: get a token at the scheme's tokenUrl with the client's own credentials,
    then call each operation that lists the scheme (and one that does not, which refuses it)."""
    configured = oauth_client_configure(
        application=world.application, scopes=["read"], enabled_grants=["client_credentials"]
    )
    scheme = document["components"]["securitySchemes"]["OAuth2ClientCredentials"]
    form = {
        "grant_type": "client_credentials",
        "client_id": str(world.application.pk),
        "client_secret": configured.client_secret,
    }
    issued = api_client.generic(
        "POST",
        scheme["flows"]["clientCredentials"]["tokenUrl"],
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
    )
    assert issued.status_code == 200, issued.content
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issued.json()['access_token']}"}
    validated = api_client.get("/api/jwt/validate", **bearer)
    assert validated.status_code == 200
    assert validated.json()["jwt"]["client_id"] == str(world.application.pk)
    assert {"OAuth2ClientCredentials": []} not in document["paths"]["/api/jwt/issue"]["get"]["security"]
    refused = api_client.get(f"/api/jwt/issue?applicationId={world.application.pk}", **bearer)
    assert refused.status_code == 401


def test_a_long_query_string_is_documented_as_gunicorns_414(document: dict) -> None:
    conf = runpy.run_path(str(Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"))
    assert conf["limit_request_line"] == REQUEST_LINE_LIMIT
    for (method, path), op in OPERATIONS.items():
        documented = document["paths"][path][method.lower()]
        reads_query = any(p["in"] == "query" for p in documented.get("parameters", []))
        assert ("414" in documented["responses"]) == reads_query, (method, path)
        assert bool(op.query) == reads_query, (method, path)


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "LOGIN_BAD_CREDENTIALS"},
        {"fieldErrors": {"username": [{"code": "[blank]username", "message": "Required."}]}},
    ],
    ids=["fastapi-users", "field-errors"],
)
def test_a_backend_login_refusal_matches_its_documented_400(document: dict, body: dict) -> None:
    """Either shape must validate: with `oneOf`, `{"detail": ...}` matched both (Errors requires no
    member) and schemathesis rightly failed it."""
    schema = {
        **document["paths"]["/auth/{name}/login"]["post"]["responses"]["400"]["content"]["application/json"][
            "schema"
        ],
        "components": document["components"],
    }
    jsonschema.Draft4Validator(schema).validate(body)


@pytest.mark.parametrize(
    ("query", "headers", "content_type"),
    [
        ("", {}, "application/vnd.oai.openapi"),
        ("?format=json", {}, "application/vnd.oai.openapi+json"),
        ("", {"HTTP_ACCEPT": "application/vnd.oai.openapi+json"}, "application/vnd.oai.openapi+json"),
        ("", {"HTTP_ACCEPT": "application/json"}, "application/json"),
    ],
)
def test_schema_is_served_anonymously_as_yaml_or_json(
    client, query: str, headers: dict, content_type: str
) -> None:
    answer = client.get("/api/schema/" + query, **headers)
    assert answer.status_code == 200
    assert answer["Content-Type"].split(";")[0] == content_type
    loaded = json.loads(answer.content) if "json" in content_type else yaml.safe_load(answer.content)
    assert loaded["openapi"].startswith("3.")
    assert "/api/login" in loaded["paths"]


def test_swagger_ui_uses_only_this_servers_assets(client) -> None:
    answer = client.get("/api/docs/")
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "/api/schema/" in page
    external = re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+""", page)
    assert external == []
    assert "cdn" not in page.lower()

"""The admin console's OAuth clients: the application's OAuth configuration inline (written through
oauth_client_configure, checked by the API's validator), the client secret shown once after a create
or a rotation, and the "rotate client secret" action with its overlap window."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from identity import admin as identity_admin
from identity.models import Application, OAuthConfiguration
from identity.services.oauth_clients import client_secret_digest, oauth_client_configure
from tests.api.helpers import client_secret_works
from tests.factories import ApplicationFactory, TenantFactory, make_signing_key
from tests.test_admin import Rows, counting, dump_database, form_data, messages_of, rows, url

pytestmark = pytest.mark.django_db
__all__ = ["rows"]  # the fixture, imported for these tests

INLINE = "oauth_configuration-0-"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def inline(**values: Any) -> dict[str, Any]:
    return {f"{INLINE}{name}": value for name, value in values.items()}


def oauth_state() -> list[Any]:
    return [
        sorted(Application.objects.values_list("id", "name")),
        sorted(
            OAuthConfiguration.objects.values_list(
                "pk",
                "client_secret_digest",
                "previous_secret_digest",
                "enabled_grants",
                "scopes",
                "updated_at",
            )
        ),
    ]


def shown_secret(response: Any) -> str:
    shown = dict(response.context["shown_once"])
    return str(shown["Client secret"])


def test_an_application_created_as_a_client_shows_its_secret_once(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting(monkeypatch, identity_admin, "oauth_client_configure")
    add = admin_client.get(url(Application, "add"))
    data = form_data(
        add,
        tenant=str(rows.tenant.pk),
        name="Reports",
        **inline(
            is_client="on",
            scopes="reports.read reports.write",
            enabled_grants=["client_credentials", EXCHANGE],
        ),
    )
    response = admin_client.post(url(Application, "add"), data)
    assert response.status_code == 200, response.content[:2000]
    application = Application.objects.get(name="Reports")
    secret = shown_secret(response)
    assert dict(response.context["shown_once"])["Client id"] == str(application.pk)
    assert len(calls) == 1
    content = response.content.decode()
    assert content.count(secret) == 1 and "only time the client secret is shown" in content
    assert "no-store" in response["Cache-Control"]
    assert messages_of(response) == []
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert secret not in dump_database()
    configuration = OAuthConfiguration.objects.get(application=application)
    assert configuration.client_secret_digest == client_secret_digest(secret)
    assert configuration.scopes == ["reports.read", "reports.write"]
    assert configuration.enabled_grants == ["client_credentials", EXCHANGE]
    assert client_secret_works(application, secret)
    change = admin_client.get(url(Application, "change", application.pk)).content.decode()
    assert secret not in change and configuration.client_secret_digest not in change


def test_an_application_not_ticked_as_a_client_is_no_client(admin_client: Client, rows: Rows) -> None:
    add = admin_client.get(url(Application, "add"))
    response = admin_client.post(
        url(Application, "add"), form_data(add, tenant=str(rows.tenant.pk), name="Shop")
    )
    assert response.status_code == 302
    assert not OAuthConfiguration.objects.filter(application__name="Shop").exists()


def _foreign_key_id() -> str:
    return str(make_signing_key("ES256", tenant=TenantFactory(name="Elsewhere"), name="theirs").pk)


BAD_VALUES: list[tuple[str, Any, str]] = [
    ("scope with a quote", lambda: inline(scopes='re"ad'), "scope tokens"),
    ("throttle out of bounds", lambda: inline(token_requests_per_minute="99999999"), "whole number"),
    ("jwks not a key set", lambda: inline(jwks='{"keys": "nope"}'), "JWKS"),
    ("jwks not json", lambda: inline(jwks="{nope"), "JSON"),
    ("unknown grant", lambda: inline(enabled_grants=["password"]), "valid choice"),
    ("another tenant's key", lambda: inline(assertion_keys=[_foreign_key_id()]), "valid choice"),
]


@pytest.mark.parametrize(("case", "values", "message"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_oauth_values_are_form_errors_and_write_nothing(
    admin_client: Client, rows: Rows, case: str, values: Any, message: str
) -> None:
    add = admin_client.get(url(Application, "add"))
    data = form_data(add, tenant=str(rows.tenant.pk), name="Reports", **inline(is_client="on"))
    data.update(values())
    before = oauth_state()
    response = admin_client.post(url(Application, "add"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "shown_once" not in response.context
    assert oauth_state() == before


def test_a_jwks_only_the_service_can_refuse_rolls_the_whole_save_back(
    admin_client: Client, rows: Rows
) -> None:
    """A JWKS member is parsed by the service (the signing door): its refusal undoes the
    application too and is shown on the page."""
    add = admin_client.get(url(Application, "add"))
    data = form_data(
        add,
        tenant=str(rows.tenant.pk),
        name="Reports",
        **inline(is_client="on", jwks='{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}'),
    )
    before = oauth_state()
    response = admin_client.post(url(Application, "add"), data)
    assert response.status_code == 200
    assert "jwks:" in response.content.decode()
    assert oauth_state() == before


def test_an_existing_application_becomes_a_client_on_its_page(admin_client: Client, rows: Rows) -> None:
    change = url(Application, "change", rows.application.pk)
    page = admin_client.get(change)
    response = admin_client.post(change, form_data(page, **inline(is_client="on", scopes="read")))
    assert response.status_code == 200
    assert client_secret_works(rows.application, shown_secret(response))


def test_changing_a_client_keeps_its_secret_and_shows_none(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = oauth_client_configure(application=rows.application, scopes=["read"]).client_secret
    assert secret is not None
    calls = counting(monkeypatch, identity_admin, "oauth_client_configure")
    change = url(Application, "change", rows.application.pk)
    page = admin_client.get(change)
    assert page.context["inline_admin_formsets"][1].formset.forms[0]["is_client"].value() is True
    response = admin_client.post(
        change, form_data(page, **inline(scopes="read write", token_requests_per_minute="60"))
    )
    assert response.status_code == 302
    assert len(calls) == 1
    configuration = OAuthConfiguration.objects.get(application=rows.application)
    assert configuration.scopes == ["read", "write"] and configuration.token_requests_per_minute == 60
    assert client_secret_works(rows.application, secret)
    unchanged = admin_client.post(change, form_data(admin_client.get(change)))
    assert unchanged.status_code == 302 and len(calls) == 1  # nothing changed: no service call


def test_assertion_keys_are_picked_among_the_tenants_public_keys(admin_client: Client, rows: Rows) -> None:
    ours = make_signing_key("ES256", tenant=rows.tenant, name="client assertion key")
    hmac = make_signing_key("HS256", tenant=rows.tenant, name="hmac")
    change = url(Application, "change", rows.application.pk)
    page = admin_client.get(change)
    picker = page.context["inline_admin_formsets"][1].formset.forms[0].fields["assertion_keys"]
    offered = set(picker.queryset)
    assert ours in offered and hmac not in offered
    response = admin_client.post(
        change,
        form_data(
            page,
            **inline(
                is_client="on",
                client_authentication_methods=["private_key_jwt"],
                assertion_keys=[str(ours.pk)],
            ),
        ),
    )
    assert response.status_code == 302  # no secret method: no secret to show
    configuration = OAuthConfiguration.objects.get(application=rows.application)
    assert list(configuration.assertion_keys.all()) == [ours] and configuration.client_secret_digest == ""


# --- the rotate action ------------------------------------------------------------------------------


def _action(admin_client: Client, applications: list[Application], **extra: str) -> Any:
    return admin_client.post(
        url(Application, "changelist"),
        {"action": "rotate_client_secret", "_selected_action": [str(a.pk) for a in applications], **extra},
    )


def test_rotation_asks_for_the_overlap_then_shows_the_new_secrets_once(
    admin_client: Client, rows: Rows
) -> None:
    old = oauth_client_configure(application=rows.application).client_secret
    other = ApplicationFactory(tenant=rows.tenant, name="Billing")
    other_old = oauth_client_configure(application=other).client_secret
    assert old is not None and other_old is not None
    not_a_client = ApplicationFactory(tenant=rows.tenant, name="Site")
    before = oauth_state()
    question = _action(admin_client, [rows.application, other, not_a_client])
    assert question.status_code == 200
    assert "Overlap" in question.content.decode() and "not OAuth clients" in question.content.decode()
    assert oauth_state() == before
    response = _action(
        admin_client, [rows.application, other, not_a_client], apply="yes", overlap_seconds="3600"
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and messages_of(response) == []
    secrets = [value for _label, value in response.context["shown_once"]]
    assert len(secrets) == 2
    for secret in secrets:
        assert response.content.decode().count(secret) == 1 and secret not in dump_database()
    new = {label.split(" (")[0]: value for label, value in response.context["shown_once"]}
    portal, billing = new[f"{rows.tenant.name} / Portal"], new[f"{rows.tenant.name} / Billing"]
    assert client_secret_works(rows.application, portal) and client_secret_works(rows.application, old)
    assert client_secret_works(other, billing) and client_secret_works(other, other_old)
    assert not OAuthConfiguration.objects.filter(application=not_a_client).exists()


def test_rotation_without_overlap_ends_the_old_secret(admin_client: Client, rows: Rows) -> None:
    old = oauth_client_configure(application=rows.application).client_secret
    assert old is not None
    response = _action(admin_client, [rows.application], apply="yes", overlap_seconds="0")
    assert response.status_code == 200
    assert client_secret_works(rows.application, shown_secret_of_rotation(response))
    assert not client_secret_works(rows.application, old)


def shown_secret_of_rotation(response: Any) -> str:
    [(_label, secret)] = response.context["shown_once"]
    return str(secret)


@pytest.mark.parametrize("overlap", ["-1", "2592001", "soon", ""])
def test_a_bad_overlap_is_asked_again_and_rotates_nothing(
    admin_client: Client, rows: Rows, overlap: str
) -> None:
    oauth_client_configure(application=rows.application)
    before = oauth_state()
    response = _action(admin_client, [rows.application], apply="yes", overlap_seconds=overlap)
    assert response.status_code == 200
    assert "shown_once" not in response.context
    assert response.context["form"].errors
    assert oauth_state() == before


def test_rotating_no_client_only_warns(admin_client: Client, rows: Rows) -> None:
    before = oauth_state()
    response = _action(admin_client, [rows.application], apply="yes", overlap_seconds="0")
    assert response.status_code == 302
    assert oauth_state() == before


def test_the_application_list_shows_which_are_clients_without_a_query_per_row(
    admin_client: Client, rows: Rows, django_assert_max_num_queries: Any
) -> None:
    oauth_client_configure(application=rows.application)
    admin_client.get(url(Application, "changelist"))  # sessions and permissions cached
    for number in range(5):
        oauth_client_configure(application=ApplicationFactory(tenant=rows.tenant, name=f"App {number}"))
    with django_assert_max_num_queries(12):
        response = admin_client.get(url(Application, "changelist"))
    assert response.status_code == 200
    assert response.content.decode().count('alt="True"') >= 6

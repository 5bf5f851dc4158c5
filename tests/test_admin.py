"""The admin console: every page renders, writes go through the services, secrets are never shown."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django import forms
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models import Model
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from identity import admin as identity_admin
from identity.exceptions import ValidationFailed
from identity.forms import TenantForm
from identity.key_store import key_snapshot
from identity.models import (
    APIKey,
    Application,
    ApplicationRole,
    IdentityProviderLink,
    RefreshToken,
    Registration,
    SigningKey,
    Tenant,
    User,
)
from identity.selectors import tenant_get_default
from identity.services.applications import RoleSpec, application_role_create
from identity.services.identity_providers import external_jwt_provider_create
from identity.services.tenants import tenant_update
from tests.api.helpers import db_state
from tests.conftest import World
from tests.factories import (
    DEFAULT_PASSWORD,
    ApplicationFactory,
    RegistrationFactory,
    TenantFactory,
    UserFactory,
    make_api_key,
    make_signing_key,
)
from tests.plans import plan_nodes

pytestmark = pytest.mark.django_db

MODELS: list[type[Model]] = [Tenant, Application, User, Registration, RefreshToken, SigningKey, APIKey]
NEW_PASSWORD = "a brand new passphrase 77"


def url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:identity_{model._meta.model_name}_{view}", args=args)


def make_refresh_token(user: User, application: Application) -> RefreshToken:
    now = timezone.now()
    return RefreshToken.objects.create(
        family_id=uuid.uuid4(),
        tenant=application.tenant,
        application=application,
        user=user,
        token_digest=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        started_at=now,
        created_at=now,
        expires_at=now + timedelta(days=1),
    )


def dump_database() -> str:
    """Every value of every table (django_session included) as text."""
    parts: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - introspected names
            for row in cursor.fetchall():
                parts += [bytes(v).hex() if isinstance(v, bytes | memoryview) else str(v) for v in row]
    return "\n".join(parts)


def _encode(form: forms.BaseForm, data: dict[str, Any]) -> None:
    for name, field in form.fields.items():
        if field.disabled:
            continue
        bound = form[name]
        value = bound.value()
        if isinstance(field.widget, forms.MultiWidget):
            for i, part in enumerate(field.widget.decompress(value)):
                data[f"{bound.html_name}_{i}"] = "" if part is None else str(part)
        elif isinstance(field, forms.BooleanField):
            if value:
                data[bound.html_name] = "on"
        elif isinstance(value, list | tuple):
            data[bound.html_name] = [str(v) for v in value]
        else:
            data[bound.html_name] = "" if value is None else str(value)


def form_data(response: HttpResponse, **overrides: Any) -> dict[str, Any]:
    """The POST body a browser sends for the unchanged admin form (inlines included), plus overrides."""
    context: Any = response.context
    data: dict[str, Any] = {}
    _encode(context["adminform"].form, data)
    for inline in context.get("inline_admin_formsets", []):
        _encode(inline.formset.management_form, data)
        for form in inline.formset.forms:
            _encode(form, data)
    data.update(overrides)
    return data


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[dict[str, Any]]:
    """Record the keyword arguments of every call of `module.name`, which is still made."""
    real = getattr(module, name)
    calls: list[dict[str, Any]] = []

    def wrapper(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def messages_of(response: HttpResponse) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@dataclass
class Rows:
    tenant: Tenant
    application: Application
    user: User
    registration: Registration
    refresh_token: RefreshToken
    signing_key: SigningKey
    api_key: APIKey

    def of(self, model: type[Model]) -> Model:
        return next(v for v in vars(self).values() if isinstance(v, model))


@pytest.fixture
def rows(db: None) -> Rows:
    tenant = TenantFactory(name="Initech")
    application = ApplicationFactory(tenant=tenant, name="Portal", roles=[RoleSpec("admin", is_default=True)])
    user = UserFactory(
        tenant=tenant, email="ada@acme.test", username="ada", first_name="Ada", last_name="Lovelace"
    )
    return Rows(
        tenant=tenant,
        application=application,
        user=user,
        registration=RegistrationFactory(user=user, application=application),
        refresh_token=make_refresh_token(user, application),
        signing_key=make_signing_key("ES256", tenant=tenant, name="acme signer"),
        api_key=make_api_key(name="ci key")[0],
    )


# --- every page renders -------------------------------------------------------------------------


def test_every_model_is_registered() -> None:
    registered = set(admin.site._registry)
    assert set(MODELS) <= registered
    assert ApplicationRole not in registered  # edited as an inline of its application


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_renders_with_a_row(admin_client: Client, rows: Rows, model: type[Model]) -> None:
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert rows.of(model) in response.context["cl"].result_list


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_add_page_renders(admin_client: Client, model: type[Model]) -> None:
    response = admin_client.get(url(model, "add"))
    assert response.status_code == (403 if model is RefreshToken else 200)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_renders(admin_client: Client, rows: Rows, model: type[Model]) -> None:
    response = admin_client.get(url(model, "change", rows.of(model).pk))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("model", "term"),
    [
        (Tenant, lambda r: r.tenant.name),
        (Tenant, lambda r: str(r.tenant.pk)),
        (Application, lambda r: r.application.name),
        (Application, lambda r: str(r.application.pk)),
        (User, lambda r: "ADA@acme.test"),
        (User, lambda r: "lovelace"),
        (User, lambda r: str(r.user.pk)),
        (Registration, lambda r: r.user.email),
        (Registration, lambda r: str(r.registration.pk)),
        (RefreshToken, lambda r: r.user.email),
        (RefreshToken, lambda r: str(r.refresh_token.pk)),
        (SigningKey, lambda r: r.signing_key.kid),
        (SigningKey, lambda r: str(r.signing_key.pk)),
        (APIKey, lambda r: r.api_key.prefix),
        (APIKey, lambda r: str(r.api_key.pk)),
    ],
)
def test_search(admin_client: Client, rows: Rows, model: type[Model], term: Callable[[Rows], str]) -> None:
    response = admin_client.get(url(model, "changelist"), {"q": term(rows)})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [rows.of(model)]


def test_anonymous_and_non_staff_users_are_sent_to_the_login_page(client: Client, rows: Rows) -> None:
    changelist = url(User, "changelist")
    assert client.get(changelist).url.startswith(reverse("admin:login"))
    client.force_login(UserFactory(email="plain@example.com"))
    response = client.get(changelist)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


# --- secrets are never shown --------------------------------------------------------------------


def test_refresh_token_page_shows_a_digest_prefix_only(admin_client: Client, rows: Rows) -> None:
    token = rows.refresh_token
    assert token.token_digest[:12] not in admin_client.get(url(RefreshToken, "changelist")).content.decode()
    content = admin_client.get(url(RefreshToken, "change", token.pk)).content.decode()
    assert token.token_digest[:12] in content
    assert token.token_digest not in content


def test_refresh_tokens_are_read_only(admin_client: Client, rows: Rows) -> None:
    token = rows.refresh_token
    response = admin_client.post(url(RefreshToken, "change", token.pk), {"device_name": "changed"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.device_name == ""


def test_signing_key_page_never_shows_the_private_part(admin_client: Client, rows: Rows) -> None:
    key = rows.signing_key
    content = admin_client.get(url(SigningKey, "change", key.pk)).content.decode()
    assert key.kid in content
    assert hashlib.sha256(key.public_key.encode()).hexdigest()[:16] in content
    assert key.encrypted_secret not in content
    assert "encrypted_secret" not in content


def test_api_key_page_shows_the_prefix_and_a_digest_prefix_only(admin_client: Client, rows: Rows) -> None:
    api_key = rows.api_key
    for page in (url(APIKey, "changelist"), url(APIKey, "change", api_key.pk)):
        content = admin_client.get(page).content.decode()
        assert f"{api_key.prefix}…" in content
        assert api_key.key_digest not in content
    assert api_key.key_digest[:12] in content


@pytest.mark.parametrize(
    ("model", "lookup"),
    [
        (RefreshToken, "token_digest__startswith"),
        (SigningKey, "encrypted_secret__startswith"),
        (APIKey, "key_digest__startswith"),
    ],
)
def test_secret_columns_cannot_be_probed_with_url_lookups(
    admin_client: Client, rows: Rows, model: type[Model], lookup: str
) -> None:
    response = admin_client.get(url(model, "changelist"), {lookup: "a"})
    assert response.status_code == 400


# --- API keys: the value is shown once and stored nowhere ----------------------------------------


def test_api_key_is_shown_once_and_never_stored(admin_client: Client, default_tenant: Tenant) -> None:
    add = admin_client.get(url(APIKey, "add"))
    response = admin_client.post(
        url(APIKey, "add"),
        form_data(
            add, tenant=str(default_tenant.pk), name="deploy", permissions='{"/api/jwt/refresh": ["get"]}'
        ),
    )

    assert response.status_code == 200
    [(_label, raw)] = response.context["shown_once"]
    content = response.content.decode()
    assert content.count(raw) == 1
    assert "only time the key is shown" in content
    assert "no-store" in response["Cache-Control"]
    api_key = APIKey.objects.get()
    assert api_key.key_digest == hashlib.sha256(raw.encode()).hexdigest()
    assert api_key.prefix == raw[:8]
    assert api_key.tenant == default_tenant
    assert api_key.permissions == {"/api/jwt/refresh": ["GET"]}
    assert messages_of(response) == []
    assert all(raw not in morsel.value for morsel in response.cookies.values())
    assert raw not in dump_database()
    assert raw not in admin_client.get(url(APIKey, "change", api_key.pk)).content.decode()


def test_api_key_with_bad_permissions_is_a_form_error(admin_client: Client) -> None:
    add = admin_client.get(url(APIKey, "add"))
    response = admin_client.post(
        url(APIKey, "add"), form_data(add, name="bad", permissions='{"/x": ["GET"]}')
    )
    assert response.status_code == 200
    assert "is not an API endpoint path" in response.content.decode()
    assert not APIKey.objects.exists()


# --- signing keys: generated, the secret shown once ----------------------------------------------


def test_hmac_key_generation_shows_the_secret_once(admin_client: Client, default_tenant: Tenant) -> None:
    keys_before = SigningKey.objects.count()
    add = admin_client.get(url(SigningKey, "add"))
    response = admin_client.post(
        url(SigningKey, "add"), form_data(add, name="hmac", algorithm="HS256", make_signing_key="on")
    )

    assert response.status_code == 200
    shown = dict(response.context["shown_once"])
    secret = shown["HMAC secret (base64url)"]
    key = SigningKey.objects.get(name="hmac")
    assert SigningKey.objects.count() == keys_before + 1  # validation's dry run left nothing behind
    assert shown["Key id (kid)"] == key.kid
    assert response.content.decode().count(secret) == 1
    assert "no-store" in response["Cache-Control"]
    assert key.tenant is None and key.length == 32
    assert secret not in key.encrypted_secret
    assert secret not in dump_database()
    default_tenant.refresh_from_db()
    assert default_tenant.access_token_signing_key == key
    assert default_tenant.id_token_signing_key == key


def test_ec_key_generation_shows_the_public_key(admin_client: Client, rows: Rows) -> None:
    default_signer = tenant_get_default().access_token_signing_key
    add = admin_client.get(url(SigningKey, "add"))
    response = admin_client.post(
        url(SigningKey, "add"),
        form_data(add, tenant=str(rows.tenant.pk), name="ec", algorithm="ES256", make_signing_key="on"),
    )

    assert response.status_code == 200
    key = SigningKey.objects.get(name="ec")
    content = response.content.decode()
    assert dict(response.context["shown_once"])["Public key"] == key.public_key
    assert content.count(key.public_key.strip()) == 1
    assert key.kid in content
    assert "PRIVATE KEY" not in content
    assert key.has_private_key
    assert "PRIVATE KEY" not in key.encrypted_secret
    rows.tenant.refresh_from_db()
    assert rows.tenant.access_token_signing_key == key
    assert tenant_get_default().access_token_signing_key == default_signer


@pytest.mark.parametrize(
    ("algorithm", "length", "message"),
    [("HS256", "16", "HS256 secrets are 32 to 512 bytes long."), ("RS256", "1024", "RSA keys are 2048")],
)
def test_invalid_key_generation_is_a_form_error(
    admin_client: Client, algorithm: str, length: str, message: str
) -> None:
    add = admin_client.get(url(SigningKey, "add"))
    response = admin_client.post(
        url(SigningKey, "add"), form_data(add, name="bad", algorithm=algorithm, length=length)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not SigningKey.objects.filter(name="bad").exists()


def test_signing_key_change_renames_only(admin_client: Client, rows: Rows) -> None:
    key = rows.signing_key
    page = admin_client.get(url(SigningKey, "change", key.pk))
    response = admin_client.post(url(SigningKey, "change", key.pk), form_data(page, name="renamed", kid="x"))
    assert response.status_code == 302
    renamed = SigningKey.objects.get(pk=key.pk)
    assert (renamed.name, renamed.kid, renamed.encrypted_secret) == ("renamed", key.kid, key.encrypted_secret)


def test_a_signing_key_in_use_is_not_deleted(admin_client: Client, rows: Rows) -> None:
    key = rows.signing_key
    tenant_update(tenant=rows.tenant, access_token_signing_key=key)
    response = admin_client.post(url(SigningKey, "delete", key.pk), {"post": "yes"}, follow=True)
    assert any("in use by tenant Initech" in m for m in messages_of(response))
    assert SigningKey.objects.filter(pk=key.pk).exists()


# --- deletes go through the services ------------------------------------------------------------


def _provider_with_link(rows: Rows) -> IdentityProviderLink:
    provider = external_jwt_provider_create(
        tenant=rows.tenant, name="Partner", keys=[rows.signing_key], applications=[rows.application]
    )
    return IdentityProviderLink.objects.create(provider=provider, user=rows.user, subject="ada@acme.test")


DELETE_SERVICES: list[tuple[str, Callable[[Rows], Model]]] = [
    ("tenant_delete", lambda r: r.tenant),
    ("application_delete", lambda r: r.application),
    ("user_delete", lambda r: r.user),
    ("registration_delete", lambda r: r.registration),
    ("signing_key_delete", lambda r: make_signing_key("ES256", tenant=r.tenant, name="spare")),
    ("api_key_delete", lambda r: r.api_key),
    ("external_jwt_provider_delete", lambda r: _provider_with_link(r).provider),
    ("identity_provider_link_delete", _provider_with_link),
]


@pytest.mark.parametrize("bulk", [False, True], ids=["delete view", "bulk action"])
@pytest.mark.parametrize(("service", "target"), DELETE_SERVICES, ids=[s for s, _ in DELETE_SERVICES])
def test_deletes_go_through_the_service(
    admin_client: Client,
    rows: Rows,
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    target: Callable[[Rows], Model],
    bulk: bool,
) -> None:
    obj = target(rows)
    model = type(obj)
    calls = counting(monkeypatch, identity_admin, service)
    if bulk:
        data = {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        response = admin_client.post(url(model, "changelist"), data)
    else:
        response = admin_client.post(url(model, "delete", obj.pk), {"post": "yes"})
    assert response.status_code == 302
    assert len(calls) == 1
    assert not model._default_manager.filter(pk=obj.pk).exists()


# --- tenants --------------------------------------------------------------------------------------


def test_tenant_is_created_through_the_service(admin_client: Client) -> None:
    add = admin_client.get(url(Tenant, "add"))
    response = admin_client.post(
        url(Tenant, "add"),
        form_data(add, name="Globex", issuer="globex.test", refresh_token_ttl_minutes="60"),
    )
    assert response.status_code == 302
    tenant = Tenant.objects.get(name="Globex")
    assert (tenant.issuer, tenant.refresh_token_ttl_minutes, tenant.is_default) == ("globex.test", 60, False)


def test_tenant_with_a_cap_below_the_ttl_is_a_form_error(admin_client: Client) -> None:
    add = admin_client.get(url(Tenant, "add"))
    response = admin_client.post(
        url(Tenant, "add"),
        form_data(
            add,
            name="Capped",
            issuer="https://capped.example.com",
            refresh_token_ttl_minutes="120",
            refresh_token_max_ttl_minutes="60",
        ),
    )
    assert response.status_code == 200
    assert (
        "The maximum lifetime must be at least the refresh-token time to live."
        in (response.context["adminform"].form.errors["refresh_token_max_ttl_minutes"])
    )
    assert not Tenant.objects.filter(name="Capped").exists()


def test_tenant_names_are_unique_ignoring_case(admin_client: Client, rows: Rows) -> None:
    add = admin_client.get(url(Tenant, "add"))
    response = admin_client.post(url(Tenant, "add"), form_data(add, name="INITECH"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == ["A tenant with this name already exists."]


def test_tenant_change_goes_through_the_service(admin_client: Client, rows: Rows) -> None:
    page = admin_client.get(url(Tenant, "change", rows.tenant.pk))
    response = admin_client.post(
        url(Tenant, "change", rows.tenant.pk), form_data(page, refresh_token_grace_period_seconds="90000")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["refresh_token_grace_period_seconds"] == [
        "Must be a whole number from 0 to 86399."
    ]
    response = admin_client.post(
        url(Tenant, "change", rows.tenant.pk), form_data(page, issuer="new.acme.test")
    )
    assert response.status_code == 302
    rows.tenant.refresh_from_db()
    assert rows.tenant.issuer == "new.acme.test"


def test_the_default_tenant_cannot_be_deleted(admin_client: Client, default_tenant: Tenant) -> None:
    delete = url(Tenant, "delete", default_tenant.pk)
    for response in (
        admin_client.get(delete, follow=True),
        admin_client.post(delete, {"post": "yes"}, follow=True),
    ):
        assert response.redirect_chain == [(url(Tenant, "change", default_tenant.pk), 302)]
        assert [str(m) for m in response.context["messages"]] == [
            "The default tenant cannot be deleted: it holds the console staff."
        ]
    assert Tenant.objects.filter(pk=default_tenant.pk).exists()


def test_bulk_delete_including_the_default_tenant_is_refused(
    admin_client: Client, rows: Rows, default_tenant: Tenant
) -> None:
    response = admin_client.post(
        url(Tenant, "changelist"),
        {"action": "delete_selected", "_selected_action": [default_tenant.pk, rows.tenant.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert messages_of(response) == ["The default tenant cannot be deleted: it holds the console staff."]
    assert Tenant.objects.filter(pk__in=[default_tenant.pk, rows.tenant.pk]).count() == 2


def test_other_tenants_are_deleted(admin_client: Client, rows: Rows) -> None:
    response = admin_client.post(url(Tenant, "delete", rows.tenant.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Tenant.objects.filter(pk=rows.tenant.pk).exists()
    assert not User.objects.filter(pk=rows.user.pk).exists()


def test_tenant_form_validation_writes_nothing_and_save_uses_the_service(db: None) -> None:
    data = {
        name: field.initial for name, field in TenantForm.base_fields.items() if field.initial is not None
    }
    form = TenantForm(data={**data, "name": "Dry run", "issuer": "dry.test"})
    assert form.is_valid(), form.errors
    assert not Tenant.objects.filter(name="Dry run").exists()
    tenant = form.save()
    assert Tenant.objects.get(name="Dry run") == tenant
    assert not tenant._state.adding


# --- applications and roles -----------------------------------------------------------------------


def test_application_is_created_with_its_roles(admin_client: Client, rows: Rows) -> None:
    add = admin_client.get(url(Application, "add"))
    response = admin_client.post(
        url(Application, "add"),
        form_data(
            add,
            tenant=str(rows.tenant.pk),
            name="Shop",
            **{"roles-0-name": "buyer", "roles-0-is_default": "on"},
        ),
    )
    assert response.status_code == 302
    application = Application.objects.get(name="Shop")
    assert [(r.name, r.is_default) for r in application.roles.all()] == [("buyer", True)]


def test_role_names_are_unique_ignoring_case(admin_client: Client, rows: Rows) -> None:
    application = rows.application
    page = admin_client.get(url(Application, "change", application.pk))
    response = admin_client.post(
        url(Application, "change", application.pk), form_data(page, **{"roles-1-name": "ADMIN"})
    )
    assert response.status_code == 200
    assert "listed twice" in response.content.decode()
    assert application.roles.count() == 1


def test_existing_roles_are_edited_and_deleted(admin_client: Client, rows: Rows) -> None:
    application = rows.application
    page = admin_client.get(url(Application, "change", application.pk))
    response = admin_client.post(
        url(Application, "change", application.pk),
        form_data(page, **{"roles-0-description": "Everything", "roles-1-name": "viewer"}),
    )
    assert response.status_code == 302
    assert [(r.name, r.description) for r in application.roles.all()] == [
        ("admin", "Everything"),
        ("viewer", ""),
    ]
    page = admin_client.get(url(Application, "change", application.pk))
    response = admin_client.post(
        url(Application, "change", application.pk), form_data(page, **{"roles-0-DELETE": "on"})
    )
    assert response.status_code == 302
    assert [r.name for r in application.roles.all()] == ["viewer"]


def _login_roles(api_client: APIClient, world: World) -> list[str]:
    response = api_client.post(
        "/api/login",
        {"loginId": world.user.email, "password": world.password, "applicationId": str(world.application.pk)},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert response.status_code == 200, response.content
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return list(claims.get("roles", []))


def _role_row(page: HttpResponse, name: str) -> int:
    forms_ = page.context["inline_admin_formsets"][0].formset.forms
    return next(i for i, form in enumerate(forms_) if form.instance.name == name)


def test_deleting_a_role_in_the_admin_takes_it_from_registrations_and_tokens(
    admin_client: Client, api_client: APIClient, world: World
) -> None:
    """The privilege must not outlive its removal: the inline delete goes through
    application_role_delete, so the registration and the next token lose the role."""
    assert _login_roles(api_client, world) == ["user"]
    change = url(Application, "change", world.application.pk)
    page = admin_client.get(change)
    data = form_data(page, **{f"roles-{_role_row(page, 'user')}-DELETE": "on"})
    assert admin_client.post(change, data).status_code == 302
    assert Registration.objects.get(user=world.user, application=world.application).roles == []
    assert _login_roles(api_client, world) == []


def test_renaming_a_role_in_the_admin_renames_it_in_registrations_and_tokens(
    admin_client: Client, api_client: APIClient, world: World
) -> None:
    change = url(Application, "change", world.application.pk)
    page = admin_client.get(change)
    data = form_data(page, **{f"roles-{_role_row(page, 'user')}-name": "member"})
    assert admin_client.post(change, data).status_code == 302
    assert Registration.objects.get(user=world.user, application=world.application).roles == ["member"]
    assert _login_roles(api_client, world) == ["member"]


def test_swapping_two_role_names_in_one_save_is_refused(admin_client: Client, rows: Rows) -> None:
    application = rows.application
    application_role_create(application=application, spec=RoleSpec("viewer"))
    change = url(Application, "change", application.pk)
    page = admin_client.get(change)
    admin, viewer = _role_row(page, "admin"), _role_row(page, "viewer")
    data = form_data(page, **{f"roles-{admin}-name": "viewer", f"roles-{viewer}-name": "admin"})
    before = dump_database()
    response = admin_client.post(change, data)
    assert response.status_code == 200
    (error,) = response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert "is still another role's name" in error
    assert dump_database() == before


def test_a_refusal_only_the_service_sees_rolls_the_save_back(
    admin_client: Client, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. a role written by someone else meanwhile: the service is called once, its refusal
    undoes the whole save (the application too) and is shown on the same page."""
    calls: list[RoleSpec] = []

    def refuse(*, application: Application, spec: RoleSpec) -> ApplicationRole:
        calls.append(spec)
        raise ValidationFailed.on_field("role.name", "duplicate", f"The role {spec.name!r} already exists.")

    monkeypatch.setattr("identity.admin.application_role_create", refuse)
    add = admin_client.get(url(Application, "add"))
    response = admin_client.post(
        url(Application, "add"),
        form_data(add, tenant=str(rows.tenant.pk), name="Shop", **{"roles-0-name": "x"}),
    )
    assert response.status_code == 200
    assert "role.name: The role &#x27;x&#x27; already exists." in response.content.decode()
    assert len(calls) == 1
    assert not Application.objects.filter(name="Shop").exists()


def test_invalid_roles_leave_no_application_behind(admin_client: Client, rows: Rows) -> None:
    add = admin_client.get(url(Application, "add"))
    data = form_data(add, tenant=str(rows.tenant.pk), name="Shop", **{"roles-0-name": "x"})
    data.update({"roles-TOTAL_FORMS": "2", "roles-1-name": "X"})
    response = admin_client.post(url(Application, "add"), data)
    assert response.status_code == 200
    assert "listed twice" in response.content.decode()
    assert not Application.objects.filter(name="Shop").exists()


def test_a_role_can_be_replaced_by_one_differing_in_case(admin_client: Client, rows: Rows) -> None:
    application = rows.application
    page = admin_client.get(url(Application, "change", application.pk))
    data = form_data(page, **{"roles-0-DELETE": "on", "roles-1-name": "Admin"})
    assert admin_client.post(url(Application, "change", application.pk), data).status_code == 302
    assert [r.name for r in application.roles.all()] == ["Admin"]


def test_application_duplicate_name_is_a_form_error(admin_client: Client, rows: Rows) -> None:
    add = admin_client.get(url(Application, "add"))
    response = admin_client.post(
        url(Application, "add"),
        form_data(add, tenant=str(rows.tenant.pk), name="portal", **{"roles-0-name": "x"}),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == [
        "An application with this name already exists in the tenant."
    ]
    assert Application.objects.filter(tenant=rows.tenant).count() == 1
    assert not ApplicationRole.objects.filter(name="x").exists()


# --- users ---------------------------------------------------------------------------------------


def test_user_is_created_with_a_password(admin_client: Client, rows: Rows) -> None:
    add = admin_client.get(url(User, "add"))
    response = admin_client.post(
        url(User, "add"),
        form_data(
            add,
            tenant=str(rows.tenant.pk),
            email="grace@acme.test",
            password1=NEW_PASSWORD,
            password2=NEW_PASSWORD,
        ),
    )
    assert response.status_code == 302
    user = User.objects.get(email="grace@acme.test")
    assert user.tenant == rows.tenant
    assert user.check_password(NEW_PASSWORD)
    assert user.password_changed_at is not None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password2": "something else entirely"}, "password2", "The two password fields do not match."),
        ({"email": "ADA@acme.test"}, "email", "A user with this email already exists."),
        ({"password1": "ada@acme.test", "password2": "ada@acme.test"}, "password2", None),
    ],
)
def test_user_creation_errors(
    admin_client: Client, rows: Rows, overrides: dict[str, str], field: str, message: str | None
) -> None:
    add = admin_client.get(url(User, "add"))
    data = {
        "tenant": str(rows.tenant.pk),
        "email": "new@acme.test",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    response = admin_client.post(url(User, "add"), form_data(add, **{**data, **overrides}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors[field]
    assert message in errors if message else errors
    assert not User.objects.filter(email="new@acme.test").exists()


def test_user_page_shows_no_password_hash(admin_client: Client, rows: Rows) -> None:
    content = admin_client.get(url(User, "change", rows.user.pk)).content.decode()
    assert rows.user.password not in content
    assert "../password/" in content


def test_deactivating_a_user_revokes_their_tokens(admin_client: Client, rows: Rows) -> None:
    page = admin_client.get(url(User, "change", rows.user.pk))
    data = form_data(page, first_name="Augusta")
    del data["is_active"]
    response = admin_client.post(url(User, "change", rows.user.pk), data)
    assert response.status_code == 302
    rows.user.refresh_from_db()
    rows.refresh_token.refresh_from_db()
    assert (rows.user.first_name, rows.user.is_active) == ("Augusta", False)
    assert rows.refresh_token.revoke_reason == "user_deactivated"


@pytest.mark.parametrize("revokes", [True, False])
def test_password_change_goes_through_the_service(admin_client: Client, rows: Rows, revokes: bool) -> None:
    tenant_update(tenant=rows.tenant, revoke_on_password_changed=revokes)
    password_url = reverse("admin:auth_user_password_change", args=[rows.user.pk])
    page = admin_client.get(password_url)
    assert page.status_code == 200
    assert "unset-password" not in page.content.decode()

    response = admin_client.post(password_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 302
    rows.user.refresh_from_db()
    rows.refresh_token.refresh_from_db()
    assert rows.user.check_password(NEW_PASSWORD)
    assert rows.refresh_token.is_revoked() is revokes
    assert rows.refresh_token.revoke_reason == ("password_changed" if revokes else "")


def test_password_change_validates_the_password(admin_client: Client, rows: Rows) -> None:
    password_url = reverse("admin:auth_user_password_change", args=[rows.user.pk])
    response = admin_client.post(password_url, {"password1": "short", "password2": "short"})
    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    rows.user.refresh_from_db()
    assert rows.user.check_password(DEFAULT_PASSWORD)


# --- registrations ---------------------------------------------------------------------------------


def test_registration_is_created_with_default_roles(admin_client: Client, rows: Rows) -> None:
    other = UserFactory(tenant=rows.tenant, email="bob@acme.test")
    add = admin_client.get(url(Registration, "add"))
    data = form_data(add, user=str(other.pk), application=str(rows.application.pk))
    assert admin_client.post(url(Registration, "add"), data).status_code == 302
    assert Registration.objects.get(user=other).roles == ["admin"]


def test_registration_errors_from_the_service_are_form_errors(admin_client: Client, rows: Rows) -> None:
    stranger = UserFactory(email="stranger@example.com")  # default tenant
    add = admin_client.get(url(Registration, "add"))
    response = admin_client.post(
        url(Registration, "add"),
        form_data(add, user=str(stranger.pk), application=str(rows.application.pk), roles="admin"),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["application"] == [
        "The application belongs to another tenant."
    ]
    page = admin_client.get(url(Registration, "change", rows.registration.pk))
    response = admin_client.post(
        url(Registration, "change", rows.registration.pk), form_data(page, roles="admin, ghost")
    )
    assert response.status_code == 200
    assert "Not roles of the application: ghost." in response.content.decode()


def test_registration_delete_goes_through_the_service(admin_client: Client, rows: Rows) -> None:
    response = admin_client.post(url(Registration, "delete", rows.registration.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Registration.objects.exists()
    rows.refresh_token.refresh_from_db()
    assert rows.refresh_token.is_revoked()


# --- revoke actions ---------------------------------------------------------------------------------


def _run_action(
    client: Client, model: type[Model], action: str, selected: list[Model], *, confirm: bool = False
) -> HttpResponse:
    """Run an admin action on `selected`; `confirm` answers its confirmation page beforehand."""
    body = {"action": action, "_selected_action": [str(obj.pk) for obj in selected]}
    response = client.post(url(model, "changelist"), {**body, **({"confirm": "yes"} if confirm else {})})
    assert response.status_code == 302
    return response


@pytest.mark.parametrize(
    ("model_name", "action", "submit"),
    [
        ("user", "revoke_refresh_tokens", "Revoke the refresh tokens"),
        ("application", "revoke_refresh_tokens", "Revoke the refresh tokens"),
        ("tenant", "rotate_signing_key", "Rotate the signing keys"),
    ],
)
def test_actions_that_cannot_be_undone_ask_first(
    admin_client: Client, rows: Rows, model_name: str, action: str, submit: str
) -> None:
    """As Django's delete does: the first post shows what will happen to which rows and changes
    nothing; the page's own button (with `confirm`) runs the action."""
    from django.apps import apps

    model = apps.get_model("identity", model_name)
    selected = rows.of(model)
    before = db_state()
    keys_before = set(SigningKey.objects.values_list("pk", flat=True))
    page = admin_client.post(
        url(model, "changelist"), {"action": action, "_selected_action": [str(selected.pk)]}
    )
    assert page.status_code == 200
    assert submit.encode() in page.content and str(selected).encode() in page.content
    assert b'name="confirm" value="yes"' in page.content
    assert db_state() == before and set(SigningKey.objects.values_list("pk", flat=True)) == keys_before
    assert not RefreshToken.objects.filter(revoked_at__isnull=False).exists()


def test_revoke_selected_refresh_tokens(admin_client: Client, rows: Rows) -> None:
    tokens = [rows.refresh_token, *(make_refresh_token(rows.user, rows.application) for _ in range(2))]
    response = _run_action(admin_client, RefreshToken, "revoke_selected", tokens[:2])
    assert messages_of(response) == ["Revoked 2 refresh tokens."]
    revoked = {t.pk: t.revoke_reason for t in RefreshToken.objects.exclude(revoked_at=None)}
    assert revoked == {tokens[0].pk: "admin", tokens[1].pk: "admin"}


def test_revoke_refresh_tokens_of_selected_users(admin_client: Client, rows: Rows) -> None:
    other = UserFactory(tenant=rows.tenant, email="other@acme.test")
    spared = make_refresh_token(other, rows.application)
    second = make_refresh_token(rows.user, rows.application)
    response = _run_action(admin_client, User, "revoke_refresh_tokens", [rows.user], confirm=True)
    assert messages_of(response) == ["Revoked 2 refresh tokens."]
    assert set(RefreshToken.objects.exclude(revoked_at=None).values_list("pk", flat=True)) == {
        rows.refresh_token.pk,
        second.pk,
    }
    spared.refresh_from_db()
    assert not spared.is_revoked()


def test_revoke_refresh_tokens_of_selected_applications(admin_client: Client, rows: Rows) -> None:
    other_app = ApplicationFactory(tenant=rows.tenant, name="Other")
    spared = make_refresh_token(rows.user, other_app)
    response = _run_action(
        admin_client, Application, "revoke_refresh_tokens", [rows.application], confirm=True
    )
    assert messages_of(response) == ["Revoked 1 refresh token."]
    rows.refresh_token.refresh_from_db()
    spared.refresh_from_db()
    assert rows.refresh_token.revoke_reason == "admin"
    assert not spared.is_revoked()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"current"}),  # live sessions by default
        ({"status": "revoked"}, {"revoked"}),
        ({"status": "expired"}, {"expired"}),
        ({"status": "all"}, {"current", "revoked", "expired"}),
    ],
)
def test_refresh_token_filters(
    admin_client: Client, rows: Rows, query: dict[str, str], expected: set[str]
) -> None:
    tokens = {
        "current": rows.refresh_token,
        "revoked": make_refresh_token(rows.user, rows.application),
        "expired": make_refresh_token(rows.user, rows.application),
    }
    _run_action(admin_client, RefreshToken, "revoke_selected", [tokens["revoked"]])
    RefreshToken.objects.filter(pk=tokens["expired"].pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = admin_client.get(url(RefreshToken, "changelist"), query)
    assert {t.pk for t in response.context["cl"].result_list} == {tokens[name].pk for name in expected}
    assert "Live sessions" in response.content.decode()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_the_live_session_list_reads_its_page_without_sorting_every_session(
    admin_client: Client, rows: Rows
) -> None:
    """The console's refresh-token list (live sessions, newest first) over a million sessions
    sorted them all: 1.6-2.0 s a page. It reads the first page from identity_rt_live_newest."""
    table, sessions = RefreshToken._meta.db_table, 3000
    with connection.cursor() as cursor:  # copies of the fixture's live session, older than it
        cursor.execute(
            f"INSERT INTO {table} (id, family_id, created_at, token_digest, value_salt, generation,"  # noqa: S608
            " started_at, expires_at, revoke_reason, application_id, user_id, tenant_id, device_name,"
            " device_description, device_type, last_accessed_address, scopes, data)"
            " SELECT gen_random_uuid(), gen_random_uuid(), created_at - n * interval '1 second',"
            " token_digest, value_salt, generation, started_at, expires_at, revoke_reason, application_id,"
            " user_id, tenant_id, device_name, device_description, device_type, last_accessed_address,"
            f" scopes, data FROM {table}, generate_series(1, %s) AS n WHERE id = %s",
            [sessions, rows.refresh_token.pk],
        )
        cursor.execute(f"ANALYZE {table}")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url(RefreshToken, "changelist"))
    assert response.context["cl"].result_count == sessions + 1
    [page] = [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"] and table in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {page}")
        nodes = plan_nodes(cursor.fetchone()[0][0]["Plan"])
    assert not [n for n in nodes if n["Node Type"] == "Sort"], nodes
    scans = [n for n in nodes if n.get("Relation Name") == table]
    assert scans and all(n.get("Index Name") == "identity_rt_live_newest" for n in scans), scans
    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in scans) <= 100, scans  # one page


def test_refresh_tokens_filter_by_tenant(admin_client: Client, rows: Rows) -> None:
    make_refresh_token(UserFactory(), ApplicationFactory())  # default tenant
    response = admin_client.get(
        url(RefreshToken, "changelist"), {"application__tenant__id__exact": rows.tenant.pk}
    )
    assert list(response.context["cl"].result_list) == [rows.refresh_token]


def test_rotate_action_keeps_the_previous_signer_trusted(admin_client: Client, rows: Rows) -> None:
    previous = rows.tenant.access_token_signing_key
    assert previous is not None
    response = _run_action(admin_client, Tenant, "rotate_signing_key", [rows.tenant], confirm=True)
    rows.tenant.refresh_from_db()
    new = rows.tenant.access_token_signing_key
    assert new is not None and new.pk != previous.pk and new.algorithm == previous.algorithm
    assert messages_of(response) == [
        f"Initech now signs with kid {new.kid}; the previous key still verifies."
    ]
    assert {previous.kid, new.kid} <= set(key_snapshot().trusted(tenant_id=rows.tenant.pk))
    previous.refresh_from_db()
    assert previous.expires_at is not None and previous.expires_at > timezone.now()


@pytest.mark.parametrize(
    ("model_name", "field"),
    [
        ("tenant", "access_token_signing_key"),
        ("application", "tenant"),
        ("user", "tenant"),
        ("registration", "user"),
        ("personalaccesstoken", "user"),
        ("externaljwtprovider", "tenant"),
    ],
)
@pytest.mark.parametrize("value", ["zzz", "12345", "00000000-0000-0000-0000-000000000000"])
def test_a_malformed_or_unknown_id_in_an_autocomplete_field_is_a_form_error(
    admin_client: Client, rows: Rows, model_name: str, field: str, value: str
) -> None:
    """Django's autocomplete widget looked a submitted value up to re-show it and raised on one
    that is no UUID: a 500 for a hand-made POST. Now the form's own "Select a valid choice"."""
    from django.apps import apps

    model = apps.get_model("identity", model_name)
    before = db_state()
    add = admin_client.get(url(model, "add"))
    response = admin_client.post(url(model, "add"), form_data(add, **{field: value}))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert db_state() == before

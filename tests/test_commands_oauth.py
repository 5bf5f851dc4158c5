"""`manage.py rotate_client_secret` (and `create_application --oauth`, when present)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from identity.models import OAuthConfiguration
from identity.services.oauth_clients import (
    oauth_client_configure,
)
from tests.api.helpers import client_secret_works
from tests.factories import ApplicationFactory, TenantFactory


@pytest.mark.django_db
def test_rotate_client_secret_prints_the_new_secret_once() -> None:
    tenant = TenantFactory()
    application = ApplicationFactory(tenant=tenant, name="Backend")
    old = oauth_client_configure(application=application).client_secret
    out = io.StringIO()
    args = ["--tenant", tenant.name, "--application", "Backend", "--overlap-seconds", "60", "--json"]
    call_command("rotate_client_secret", *args, stdout=out)
    data = json.loads(out.getvalue())
    assert data["clientId"] == str(application.pk)
    assert client_secret_works(application, data["clientSecret"]) and client_secret_works(application, old)
    stored = OAuthConfiguration.objects.get(pk=application.pk)
    assert data["clientSecret"] not in str(stored.__dict__)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["--application", "Nope"],
        ["--application", "Backend", "--overlap-seconds", "-5"],
        ["--application", "Plain"],
    ],
)
def test_rotate_client_secret_refusals_change_nothing(args) -> None:
    tenant = TenantFactory()
    application = ApplicationFactory(tenant=tenant, name="Backend")
    ApplicationFactory(tenant=tenant, name="Plain")
    oauth_client_configure(application=application)
    before = list(OAuthConfiguration.objects.values())
    with pytest.raises(CommandError):
        call_command("rotate_client_secret", "--tenant", tenant.name, *args, stdout=io.StringIO())
    assert list(OAuthConfiguration.objects.values()) == before


@pytest.mark.django_db
def test_create_application_oauth_prints_the_secret_once() -> None:
    tenant = TenantFactory()
    out = io.StringIO()
    args = ["--tenant", tenant.name, "--name", "Backend", "--oauth", "--scopes", "read,write", "--json"]
    call_command("create_application", *args, stdout=out)
    data = json.loads(out.getvalue())
    oauth = data["oauthConfiguration"]
    stored = OAuthConfiguration.objects.get(pk=data["id"])
    assert oauth["clientId"] == data["id"] and stored.scopes == ["read", "write"]
    assert client_secret_works(stored.application, oauth["clientSecret"])
    assert oauth["clientSecret"] not in str(stored.__dict__)


@pytest.mark.django_db
def test_create_application_oauth_with_bad_scopes_leaves_nothing() -> None:
    tenant = TenantFactory()
    with pytest.raises(CommandError):
        call_command(
            "create_application", "--tenant", tenant.name, "--name", "Backend", "--oauth", "--scopes", 'a"b',
            stdout=io.StringIO(),
        )  # fmt: skip
    assert not tenant.applications.exists()

"""Revoked token ids: refused by every verifier of this process at once, no SQL on the hot path."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from identity.models import RevokedToken
from identity.revocations import REVOKED, token_revoked
from identity.services.access_tokens import access_token_verify
from identity.services.jwt import jwt_validate
from identity.services.revocations import revoked_tokens_purge, token_revoke
from identity.signing import TokenInvalid


def login_tokens(world) -> dict:
    answer = APIClient().post(
        "/api/login",
        {"loginId": world.user.email, "password": world.password, "applicationId": str(world.application.pk)},
        format="json",
        HTTP_AUTHORIZATION=world.api_key,
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_a_revoked_access_token_is_refused_by_validate_and_verify(world):
    token = login_tokens(world)["token"]
    now = timezone.now()
    claims = jwt_validate(token=token, now=now).claims
    token_revoke(jti=claims["jti"], tenant=world.tenant, expires_at=None, kind="access")
    with pytest.raises(TokenInvalid):
        jwt_validate(token=token, now=now)
    with pytest.raises(TokenInvalid):
        access_token_verify(token=token, now=now)


def test_other_tokens_of_the_same_user_stay_valid(world):
    first, second = login_tokens(world)["token"], login_tokens(world)["token"]
    now = timezone.now()
    jti = jwt_validate(token=first, now=now).claims["jti"]
    token_revoke(jti=jti, tenant=world.tenant, expires_at=now + timedelta(hours=1), kind="access")
    assert jwt_validate(token=second, now=now).claims["sub"] == str(world.user.pk)


def test_the_check_costs_no_query_once_the_set_is_loaded(world):
    token_revoke(jti="some-jti", tenant=None, expires_at=None, kind="access")
    assert token_revoked("some-jti")  # loads the set
    with CaptureQueriesContext(connection) as queries:
        for _ in range(100):
            assert token_revoked("some-jti")
            assert not token_revoked(str(uuid.uuid4()))
    assert len(queries) == 0


@pytest.mark.parametrize("jti", [None, 42, ["a"], {"a": 1}, ""])
def test_ids_that_are_not_text_are_never_revoked_and_never_raise(db, jti):
    assert token_revoked(jti) is False


def test_revoking_twice_keeps_one_row_and_the_first_time(db):
    token_revoke(jti="twice", tenant=None, expires_at=None, kind="pat")
    first = RevokedToken.objects.get(jti="twice").revoked_at
    token_revoke(jti="twice", tenant=None, expires_at=None, kind="pat")
    assert RevokedToken.objects.filter(jti="twice").count() == 1
    assert RevokedToken.objects.get(jti="twice").revoked_at == first


def test_expired_revocations_leave_the_set_and_are_purged(db):
    now = timezone.now()
    token_revoke(jti="old", tenant=None, expires_at=now - timedelta(seconds=1), kind="access")
    token_revoke(jti="live", tenant=None, expires_at=now + timedelta(hours=1), kind="access")
    token_revoke(jti="forever", tenant=None, expires_at=None, kind="pat")
    assert not token_revoked("old")
    assert token_revoked("live") and token_revoked("forever")
    assert revoked_tokens_purge(now=now) == 1
    assert set(RevokedToken.objects.values_list("jti", flat=True)) == {"live", "forever"}


def test_a_rolled_back_revocation_is_forgotten(db):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        token_revoke(jti="rolled-back", tenant=None, expires_at=None, kind="access")
        raise RuntimeError
    REVOKED.reload(reason="test")
    assert not token_revoked("rolled-back")


def test_the_purge_command_forgets_expired_revocations_only(db):
    import json
    from io import StringIO

    from django.core.management import call_command

    now = timezone.now()
    token_revoke(jti="expired", tenant=None, expires_at=now - timedelta(minutes=1), kind="access")
    token_revoke(jti="live", tenant=None, expires_at=now + timedelta(hours=1), kind="access")
    out = StringIO()
    call_command("purge_refresh_tokens", "--dry-run", stdout=out)
    assert "1 expired revocations would be deleted" in out.getvalue()
    assert RevokedToken.objects.count() == 2
    out = StringIO()
    call_command("purge_refresh_tokens", "--json", stdout=out)
    assert json.loads(out.getvalue())["expiredRevocations"] == 1
    assert list(RevokedToken.objects.values_list("jti", flat=True)) == ["live"]

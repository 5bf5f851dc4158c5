"""A successful login's writes (issue 16): on PostgreSQL one statement (identity.services.login_sql)
unless a webhook listens; what it writes is what the ORM transaction writes, on every database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.exceptions import LoginPrevented, UserLocked
from identity.models import AuditEntry, RefreshToken, Registration, User, WebhookEvent
from identity.services.login import LoginStatus, password_login
from identity.services.refresh_tokens import refresh_token_create
from identity.services.tenants import tenant_update
from identity.services.webhooks import webhook_create
from tests.conftest import World
from tests.factories import ApplicationFactory, RegistrationFactory
from tests.plans import plan_nodes

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"


def _login(world: World, **kwargs):  # type: ignore[no-untyped-def]
    return password_login(
        tenant=world.tenant,
        application=kwargs.pop("application", world.application),
        login_id=world.user.email,
        password=world.password,
        **kwargs,
    )


def _writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SELECT")]


def test_a_login_records_the_user_the_registration_and_a_token_in_one_statement(world):
    other = ApplicationFactory(tenant=world.tenant)
    RegistrationFactory(user=world.user, application=other)
    User.objects.filter(pk=world.user.pk).update(failed_login_count=2)
    world.user.refresh_from_db()

    with CaptureQueriesContext(connection) as queries:
        result = _login(world)

    assert result.status == LoginStatus.OK
    writes = _writes(queries)
    if POSTGRES:  # the counting UPDATE before hashing, then the one statement
        assert len(writes) == 2 and writes[1].startswith("WITH"), writes
    user = User.objects.get(pk=world.user.pk)
    assert user.last_login == result.user.last_login and user.failed_login_count == 0
    mine = Registration.objects.get(user=world.user, application=world.application)
    theirs = Registration.objects.get(user=world.user, application=other)
    assert mine.last_login_at == user.last_login and theirs.last_login_at is None
    assert [r.pk for r in result.registrations] == [mine.pk, theirs.pk]  # oldest first, as loaded
    assert result.registrations[0].last_login_at == user.last_login
    assert result.registrations[0].roles == mine.roles
    token = RefreshToken.objects.get(user=world.user)
    assert result.refresh_token is not None and result.refresh_token.pk == token.pk
    assert token.token_digest != result.refresh_token_value  # only the digest is stored
    assert result.access_token is not None


def test_a_user_not_registered_gets_no_token_and_no_registration_write(world):
    other = ApplicationFactory(tenant=world.tenant, generate_refresh_tokens=True)

    result = _login(world, application=other)

    assert result.status == LoginStatus.NOT_REGISTERED
    assert result.refresh_token is None and not RefreshToken.objects.exists()
    assert User.objects.get(pk=world.user.pk).last_login is not None
    assert Registration.objects.get(user=world.user).last_login_at is None


def test_at_the_limit_a_login_evicts_the_oldest_session_and_audits_it(world):
    tenant_update(tenant=world.tenant, refresh_token_limit_per_user=2)
    world.application.refresh_from_db()
    now = timezone.now()
    oldest = refresh_token_create(
        user=world.user, application=world.application, now=now - timedelta(2)
    ).token
    kept = refresh_token_create(user=world.user, application=world.application, now=now - timedelta(1)).token

    with CaptureQueriesContext(connection) as queries:
        result = _login(world)

    if POSTGRES:
        assert len(_writes(queries)) == 2, _writes(queries)
    assert result.refresh_token is not None
    live = RefreshToken.objects.filter(revoked_at__isnull=True).order_by("created_at")
    assert [t.pk for t in live] == [kept.pk, result.refresh_token.pk]
    oldest.refresh_from_db()
    assert oldest.revoke_reason == "session_limit"
    entry = AuditEntry.objects.get(action="refresh_token.revoke_session_limit")
    assert (entry.count, entry.object_id, entry.tenant_id) == (1, str(world.user.pk), world.tenant.pk)
    assert entry.diff == {"revoke_reason": "session_limit"}


def test_a_listening_webhook_gets_its_event_from_the_same_transaction(world):
    webhook_create(
        url="https://hooks.example.com/in", events=["user.login.success"], tenant_ids=[world.tenant.pk]
    )

    with CaptureQueriesContext(connection) as queries:
        _login(world)

    assert not any(sql.startswith("WITH") for sql in _writes(queries))  # the ORM transaction
    event = WebhookEvent.objects.get(type="user.login.success")
    assert event.body["event"]["user"]["id"] == str(world.user.pk)


def test_a_lock_landing_after_the_password_check_still_refuses_and_writes_nothing(world, monkeypatch):
    from identity.services import login as login_service

    verify = login_service.password_verify

    def verify_then_lock(**kwargs):  # type: ignore[no-untyped-def]
        user = verify(**kwargs)
        User.objects.filter(pk=user.pk).update(locked_until=timezone.now() + timedelta(hours=1))
        return user

    monkeypatch.setattr(login_service, "password_verify", verify_then_lock)
    with pytest.raises(LoginPrevented):
        _login(world)
    assert not RefreshToken.objects.exists()
    assert User.objects.get(pk=world.user.pk).last_login is None
    assert Registration.objects.get(user=world.user).last_login_at is None


def test_a_deactivation_landing_after_the_password_check_is_named(world, monkeypatch):
    from identity.services import login as login_service

    verify = login_service.password_verify

    def verify_then_deactivate(**kwargs):  # type: ignore[no-untyped-def]
        user = verify(**kwargs)
        User.objects.filter(pk=user.pk).update(is_active=False)
        return user

    monkeypatch.setattr(login_service, "password_verify", verify_then_deactivate)
    with pytest.raises(UserLocked):
        _login(world)
    assert not RefreshToken.objects.exists()
    assert User.objects.get(pk=world.user.pk).last_login is None


@pytest.mark.skipif(not POSTGRES, reason="prepared statements are a PostgreSQL path")
@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "unprepared"])
def test_a_logins_statements_are_prepared_once_per_connection(world, settings, prepared):
    """The user's read, the attempt counter and the login record are each planned once per
    connection (identity.selectors.rows.prepared_cursor), and a second login prepares nothing new;
    with IDENTITY_PREPARED_STATEMENTS off nothing is prepared. Either way the results are the same."""
    settings.IDENTITY_PREPARED_STATEMENTS = prepared
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.connection._prepared.clear()  # psycopg's own record of what it prepared
    with CaptureQueriesContext(connection) as queries:
        first = _login(world)
        second = _login(world)
    assert first.status == second.status == LoginStatus.OK
    assert first.refresh_token is not None and second.refresh_token is not None
    assert RefreshToken.objects.filter(pk__in=[first.refresh_token.pk, second.refresh_token.pk]).count() == 2
    assert all(q["sql"] for q in queries.captured_queries)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == (3 if prepared else 0)


def _login_plan(world: World) -> list[dict]:  # type: ignore[type-arg]
    """Log in, and return the nodes of what EXPLAIN ANALYZE found running the one-statement record
    (the statement itself, in a savepoint rolled back before the login runs it for real)."""
    plans: list[dict] = []  # type: ignore[type-arg]

    def explain(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith("WITH g AS") and not plans:
            cursor = context["cursor"]
            cursor.execute("SAVEPOINT plan")
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plans.append(cursor.fetchone()[0][0]["Plan"])
            cursor.execute("ROLLBACK TO SAVEPOINT plan")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        assert _login(world).status == LoginStatus.OK
    (plan,) = plans
    return plan_nodes(plan)


@pytest.mark.skipif(not POSTGRES, reason="the plan of the one-statement record is PostgreSQL's")
@pytest.mark.parametrize("live", [5, 12], ids=["below-the-limit", "at-the-limit"])
def test_a_login_reads_the_users_live_tokens_once_however_many_there_are(world, live):
    """The families past the per-user limit are found once per login: as a subquery of the eviction
    UPDATE, PostgreSQL ran it again for every live token of the user (a login of a user with 100
    sessions sorted 100 times 100 rows). EXPLAIN ANALYZE of the record statement itself, rolled back."""
    tenant_update(tenant=world.tenant, refresh_token_limit_per_user=10)
    for _ in range(live):  # creating them keeps at most 10
        refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    live = min(live, 10)
    nodes = _login_plan(world)
    # The user's live tokens, newest first (in the order identity_rt_user_live keeps them), read once.
    table = RefreshToken._meta.db_table
    tokens = [n for n in nodes if n.get("Relation Name") == table and n["Actual Rows"] >= live]
    assert tokens and all(n["Actual Loops"] == 1 for n in tokens), nodes
    assert all(n["Actual Loops"] == 1 for n in nodes if n["Node Type"] == "Sort"), nodes
    assert RefreshToken.objects.filter(user=world.user, revoked_at__isnull=True).count() == min(live + 1, 10)


@pytest.mark.skipif(not POSTGRES, reason="the plan of the one-statement record is PostgreSQL's")
def test_a_login_reads_none_of_the_revoked_sessions_the_limit_leaves_behind(world):
    """Each login beyond the per-user limit revokes a session, and revoked rows stay until the
    purge (a week by default): a service account logging in every half minute keeps 20,000. The
    login's count of live sessions must not walk them (identity_rt_user_live): without that index
    PostgreSQL read every one of them on every login (bench/inprocess.py login --revoked 20000:
    4.4-4.8 ms of PostgreSQL CPU per login instead of 1.4-1.5)."""
    revoked = 3000
    for _ in range(3):
        refresh_token_create(user=world.user, application=world.application, now=timezone.now())
    table = RefreshToken._meta.db_table
    kept = ("token_digest", "value_salt", "generation", "started_at", "expires_at", "application_id",
            "user_id", "tenant_id", "device_name", "device_description", "device_type",
            "last_accessed_address", "scopes", "data")  # fmt: skip
    columns = ", ".join(kept)
    with connection.cursor() as cursor:  # copies of a live token, each revoked, older than it
        cursor.execute(
            f"INSERT INTO {table} (id, family_id, created_at, revoked_at, revoke_reason, {columns})"  # noqa: S608
            f" SELECT gen_random_uuid(), gen_random_uuid(), created_at - n * interval '1 second',"
            f" created_at, 'session_limit', {columns}"
            f" FROM (SELECT * FROM {table} WHERE user_id = %s LIMIT 1) AS t, generate_series(1, %s) AS n",
            [world.user.pk, revoked],
        )
        cursor.execute(f"ANALYZE {table}")
    scans = [n for n in _login_plan(world) if n.get("Relation Name") == table]
    read = sum(
        (n["Actual Rows"] + n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0))
        * n["Actual Loops"]
        for n in scans
    )
    assert scans and read < 20, scans  # the live sessions (3, then the new one), not the revoked
    live = RefreshToken.objects.filter(user=world.user, revoked_at__isnull=True).count()
    assert live == 4 and RefreshToken.objects.filter(user=world.user).count() == 4 + revoked

"""Data migrations do what they say on rows that existed before them."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = ("identity", "0005_login_identifier_normal_form")


def _user(User, tenant, email: str, username: str | None = None) -> None:
    User.objects.create(id=uuid.uuid4(), tenant_id=tenant.pk, email=email, username=username, password="!")


def test_login_identifier_keys_are_filled_for_existing_users_and_clashes_stop_the_migration() -> None:
    executor = MigrationExecutor(connection)
    before = next(p.key for p in executor.loader.graph.node_map[KEYS].parents if p.key[0] == "identity")
    latest = executor.loader.graph.leaf_nodes("identity")
    try:
        executor.migrate([before])
        old = executor.loader.project_state([before]).apps
        User, Tenant = old.get_model("identity", "User"), old.get_model("identity", "Tenant")
        tenant = Tenant.objects.get(is_default=True)
        _user(User, tenant, "Kim@Example.COM", "Kim")
        _user(User, tenant, "ann@example.com")
        executor = MigrationExecutor(connection)
        executor.migrate([KEYS])
        rows = set(connection.cursor().execute(
            "SELECT email, email_key, username, username_key FROM identity_user"
        ).fetchall())  # fmt: skip
        assert rows == {
            ("Kim@Example.COM", "kim@example.com", "Kim", "kim"),
            ("ann@example.com", "ann@example.com", None, None),
        }

        # Two rows the old LOWER() index let coexist but the key does not: the migration stops.
        executor = MigrationExecutor(connection)
        executor.migrate([before])
        _user(User, tenant, "\uff4bim@example.com")  # FULLWIDTH k: LOWER() keeps it apart
        executor = MigrationExecutor(connection)
        with pytest.raises(RuntimeError, match="share a login identifier"):
            executor.migrate([KEYS])
        User.objects.filter(email="\uff4bim@example.com").delete()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)


PAT_SIGNERS = ("identity", "0011_pat_signing_key")


def test_existing_personal_access_tokens_are_attributed_to_their_tenants_signer() -> None:
    executor = MigrationExecutor(connection)
    before = next(
        p.key for p in executor.loader.graph.node_map[PAT_SIGNERS].parents if p.key[0] == "identity"
    )
    latest = executor.loader.graph.leaf_nodes("identity")
    try:
        executor.migrate([before])
        old = executor.loader.project_state([before]).apps
        Tenant, User = old.get_model("identity", "Tenant"), old.get_model("identity", "User")
        Token = old.get_model("identity", "PersonalAccessToken")
        Key = old.get_model("identity", "SigningKey")
        tenant = Tenant.objects.get(is_default=True)
        key = Key.objects.create(id=uuid.uuid4(), tenant_id=tenant.pk, name="k", algorithm="ES256", kid="k-1")
        Tenant.objects.filter(pk=tenant.pk).update(access_token_signing_key_id=key.pk)
        _user(User, tenant, "bot@example.com")
        user = User.objects.get(email="bot@example.com")
        Token.objects.create(tenant_id=tenant.pk, user_id=user.pk, name="ci", expiry="Unlimited")
        executor = MigrationExecutor(connection)
        executor.migrate([PAT_SIGNERS])
        rows = (
            connection.cursor().execute("SELECT signing_key_id FROM identity_personalaccesstoken").fetchall()
        )
        assert [uuid.UUID(str(value)) for (value,) in rows] == [key.pk]  # SQLite keeps UUIDs as hex text
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)


def _indexes() -> dict[str, bool]:
    """The refresh-token table's index names, each with whether PostgreSQL may use it (an
    interrupted CREATE INDEX CONCURRENTLY leaves an invalid one behind)."""
    table = "identity_refreshtoken"
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            return dict.fromkeys(connection.introspection.get_constraints(cursor, table), True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass",
            [table],
        )
        return dict(cursor.fetchall())


@pytest.mark.parametrize(
    ("migration", "index"),
    [
        ("0015_refresh_token_live_sessions_index", "identity_rt_user_live"),
        ("0016_refresh_token_live_newest_index", "identity_rt_live_newest"),
    ],
)
def test_the_live_session_indexes_are_built_without_holding_writes_and_can_be_undone(
    migration: str, index: str
) -> None:
    """On PostgreSQL CONCURRENTLY (a plain CREATE INDEX blocks every login and refresh for as long
    as a large table takes to index); built, usable, and dropped again going back."""
    key = ("identity", migration)
    executor = MigrationExecutor(connection)
    parents = executor.loader.graph.node_map[key].parents
    before = next(p.key for p in parents if p.key[0] == "identity")
    latest = executor.loader.graph.leaf_nodes("identity")
    out = io.StringIO()
    call_command("sqlmigrate", *key, stdout=out)
    create = next(line for line in out.getvalue().splitlines() if line.startswith("CREATE"))
    postgres = connection.vendor == "postgresql"
    assert create.startswith("CREATE INDEX CONCURRENTLY" if postgres else 'CREATE INDEX "'), create
    assert 'WHERE "revoked_at" IS NULL' in create, create
    try:
        executor.migrate([before])
        assert index not in _indexes()
        executor = MigrationExecutor(connection)
        executor.migrate([key])
        assert _indexes()[index] is True
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)

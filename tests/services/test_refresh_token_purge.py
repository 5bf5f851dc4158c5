"""The refresh-token purge: keyset batches over the (instant, id) indexes, and its command's options."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.models import RefreshToken
from identity.services.refresh_tokens import refresh_tokens_purge
from tests.factories import RegistrationFactory
from tests.plans import plan_nodes

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, tzinfo=UTC)
RETENTION = timedelta(days=7)
OLD = NOW - timedelta(days=30)  # before the cutoff (NOW - RETENTION)
RECENT = NOW - timedelta(days=1)  # after it


def _tokens(count: int, *, expires_at: datetime, revoked_at: datetime | None = None) -> set[uuid.UUID]:
    registration = RegistrationFactory()
    rows = [
        RefreshToken(
            id=(token_id := uuid.uuid4()),
            family_id=token_id,
            tenant_id=registration.application.tenant_id,
            application=registration.application,
            user=registration.user,
            token_digest=uuid.uuid4().hex + uuid.uuid4().hex,
            value_salt="s",
            started_at=expires_at - timedelta(days=30),
            created_at=expires_at - timedelta(days=30),
            expires_at=expires_at,
            revoked_at=revoked_at,
        )
        for _ in range(count)
    ]
    RefreshToken.objects.bulk_create(rows)
    return {row.pk for row in rows}


def _left() -> set[uuid.UUID]:
    return set(RefreshToken.objects.values_list("pk", flat=True))


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_purge_deletes_exactly_the_stale_rows_whatever_the_batch_size(batch_size):
    # Many rows sharing one instant: the cursor is (instant, id), so batches neither skip nor repeat.
    expired = _tokens(10, expires_at=OLD)
    revoked_long_ago = _tokens(4, expires_at=NOW + timedelta(days=9), revoked_at=OLD)
    live = _tokens(3, expires_at=NOW + timedelta(days=9))
    expired_recently = _tokens(2, expires_at=RECENT)
    revoked_recently = _tokens(2, expires_at=NOW + timedelta(days=9), revoked_at=RECENT)
    batches = list(refresh_tokens_purge(retention=RETENTION, now=NOW, batch_size=batch_size))
    assert sum(batches) == len(expired) + len(revoked_long_ago)
    assert all(0 < count <= batch_size for count in batches)
    assert _left() == live | expired_recently | revoked_recently


def test_each_batch_is_one_statement_after_the_previous_key():
    _tokens(6, expires_at=OLD)
    with CaptureQueriesContext(connection) as queries:
        assert list(refresh_tokens_purge(retention=RETENTION, now=NOW, batch_size=2)) == [2, 2, 2]
    statements = [q["sql"] for q in queries.captured_queries]
    # Each batch that deleted rows writes its audit entry in the same transaction.
    bookkeeping = ('INSERT INTO "identity_auditentry"', "SAVEPOINT", "RELEASE SAVEPOINT")
    deletes = [sql for sql in statements if not sql.startswith(bookkeeping)]
    assert sum(sql.startswith('INSERT INTO "identity_auditentry"') for sql in statements) == 3
    # 3 batches + 1 empty one per pass (expired, then revoked); no SELECT of ids, no OFFSET.
    assert len(deletes) == 5
    assert all(sql.startswith("DELETE") and "OFFSET" not in sql for sql in deletes)
    assert sum(") > (" in sql for sql in deletes) == 3  # every batch but each pass's first


def test_an_interrupted_purge_resumes_where_it_stopped():
    expired = _tokens(5, expires_at=OLD)
    purge = refresh_tokens_purge(retention=RETENTION, now=NOW, batch_size=2)
    assert next(purge) == 2
    purge.close()
    assert len(_left() & expired) == 3
    assert sum(refresh_tokens_purge(retention=RETENTION, now=NOW, batch_size=2)) == 3
    assert not _left()


def test_the_command_dry_run_counts_and_deletes_nothing():
    _tokens(3, expires_at=OLD)
    before = _left()
    out = StringIO()
    call_command("purge_refresh_tokens", "--dry-run", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"purgeable": 3, "deleted": 0, "expiredRevocations": 0}
    assert _left() == before


def test_the_command_purges_in_batches_with_a_pause(monkeypatch):
    _tokens(5, expires_at=OLD)
    live = _tokens(1, expires_at=datetime.now(UTC) + timedelta(days=1))
    pauses: list[float] = []
    monkeypatch.setattr("identity.management.commands.purge_refresh_tokens.time.sleep", pauses.append)
    out = StringIO()
    call_command("purge_refresh_tokens", "--batch-size", "2", "--sleep", "0.5", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"purgeable": 5, "deleted": 5, "expiredRevocations": 0}
    assert pauses == [0.5, 0.5, 0.5]
    assert _left() == live


@pytest.mark.parametrize(
    "arguments",
    [
        ["--batch-size", "0"],
        ["--batch-size", "-5"],
        ["--batch-size", "100001"],
        ["--batch-size", "1e3"],
        ["--sleep", "-1"],
        ["--sleep", "nan"],
        ["--sleep", "inf"],
        ["--sleep", "3601"],
        ["--sleep", "soon"],
        ["--retention-days", "0"],
    ],
)
def test_the_command_refuses_bad_options_and_deletes_nothing(arguments):
    _tokens(2, expires_at=OLD)
    before = _left()
    with pytest.raises(CommandError):
        call_command("purge_refresh_tokens", *arguments, stdout=StringIO(), stderr=StringIO())
    assert _left() == before


@pytest.mark.parametrize(
    ("column", "index"), [("expires_at", "identity_rt_expires_id"), ("revoked_at", "identity_rt_revoked_id")]
)
def test_every_batch_walks_its_instant_and_id_index_in_order(column, index):
    """The rows of each batch are picked by walking the (instant, id) index in key order from the
    cursor: under the subquery's LIMIT there is only that index scan, the cursor in its condition,
    no Sort (which would read every stale row to return the first few) and no scan of the table."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's JSON plan is PostgreSQL's")
    if column == "expires_at":
        _tokens(5, expires_at=OLD)
    else:  # revoked long ago, not expired: left to the second pass
        _tokens(5, expires_at=NOW + timedelta(days=9), revoked_at=OLD)
    plans: list[dict[str, Any]] = []

    def explain(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith("DELETE") and f'"{column}" <' in sql:
            cursor = context["cursor"]
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
            plans.append((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        batches = list(refresh_tokens_purge(retention=RETENTION, now=NOW, batch_size=2))
    assert batches == [2, 2, 1]
    assert len(plans) == 4  # three batches and the empty one that ends the pass
    for number, plan in enumerate(plans):
        (limit,) = [node for node in plan_nodes(plan) if node["Node Type"] == "Limit"]
        (scan,) = limit["Plans"]
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
        assert scan["Index Name"] == index
        assert not scan.get("Plans"), scan  # nothing under it: no Sort, no other scan
        condition = scan["Index Cond"]
        assert f"{column} <" in condition
        assert ("ROW(" in condition) == (number > 0), condition  # the cursor, from the second batch on

"""identity.db: `timestamptz` through psycopg's compiled parser gives what Django's loader gives."""

from __future__ import annotations

import pytest
from django.db import connection
from psycopg.pq import Format

from identity.db import COMPILED_AVAILABLE, TIMESTAMPTZ_OID, CompiledTzLoader
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

VALUES = [
    "2026-12-01 11:23:45.123456+00",
    "2026-12-01 11:23:45+00",
    "2026-03-29 01:30:00+02",
    "1970-01-01 00:00:00+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2000-02-29 12:00:00.5-09:30",
    "2024-06-30 23:59:59.999999+14",
]
HOSTILE = ["infinity", "-infinity", "4713-01-01 00:00:00+00 BC", "10000-01-01 00:00:00+00"]


def _postgresql() -> None:
    if connection.vendor != "postgresql" or not COMPILED_AVAILABLE:
        pytest.skip("PostgreSQL with psycopg's compiled implementation (.ci/run has both)")


def _loaders():  # type: ignore[no-untyped-def]
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    connection.ensure_connection()
    raw = connection.connection
    ours = raw.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    django = type("DjangoTzLoader", (BaseTzLoader,), {"timezone": connection.timezone})
    return ours(TIMESTAMPTZ_OID, raw), django(TIMESTAMPTZ_OID, raw)


def test_every_connection_has_the_compiled_loader_with_djangos_tzinfo():
    _postgresql()
    ours, _ = _loaders()
    assert isinstance(ours, CompiledTzLoader)
    assert ours.timezone == connection.timezone
    # The compiled parse was made once for the connection; every statement's loader reuses it.
    again, _ = _loaders()
    assert ours.connection_parse is not None and ours._parse is again._parse is ours.connection_parse


@pytest.mark.parametrize("text", VALUES)
def test_the_same_value_and_tzinfo_as_djangos_loader(text):
    _postgresql()
    ours, django = _loaders()
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz::text", [text])
        wire = cursor.fetchone()[0].encode()  # as the server sends it in this session's TimeZone
    mine, theirs = ours.load(wire), django.load(wire)
    assert mine == theirs and mine.tzinfo is theirs.tzinfo and mine.isoformat() == theirs.isoformat()


@pytest.mark.parametrize("text", HOSTILE)
def test_what_djangos_loader_refuses_is_refused_alike(text):
    _postgresql()
    ours, django = _loaders()
    failures = []
    for loader in (ours, django):
        try:
            loader.load(text.encode())
        except Exception as exc:
            failures.append(type(exc))
    assert len(failures) == 2 and failures[0] is failures[1]


def test_a_model_reads_back_the_instant_it_wrote():
    user = UserFactory()
    stored = type(user).objects.values_list("created_at", flat=True).get(pk=user.pk)
    assert stored == user.created_at and stored.utcoffset().total_seconds() == 0

"""What the admin index shows (templates/admin/index.html): live sessions per application, logins and
refreshes over the last 24 hours, and failed logins. A fixed number of queries whatever the data
(tests/test_admin_dashboard.py), each grouped in the database so no more than a page of rows leaves
it.

Nothing is counted for this page: it reads what the login and refresh paths already store.

- A login that opens a session writes a refresh-token row (`created_at`): "sessions opened" per
  hour is exact for those (refresh tokens are purged only 7 days after they end). A login without
  a refresh token leaves only its registration's `last_login_at`, so "users signed in" counts
  users, not logins.
- A refresh writes the session's `last_used_at` (and `rotated_at`) over the previous value, so
  "sessions refreshed" per hour counts each session once, in the hour of its latest refresh: a
  lower bound of the refreshes, and exact when each session refreshes at most once an hour.
- Failed logins are the users' own counters (`failed_login_count`, reset by a successful login or
  when the tenant's failure window has passed) and lockouts (`locked_until`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from django.db import connections
from django.db.models import Count, F, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from identity.models import Application, RefreshToken, Registration, Tenant, User

WINDOW = timedelta(hours=24)
MAX_APPLICATIONS = 20
MAX_FAILED_USERS = 10


@dataclass(frozen=True)
class ApplicationSessions:
    application_id: object
    application: str
    tenant: str
    sessions: int
    users: int


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    """The start of the hour (UTC)."""
    logins: int
    refreshes: int


@dataclass(frozen=True)
class FailedLogins:
    user_id: object
    email: str
    tenant: str
    attempts: int
    since: datetime | None
    locked_until: datetime | None


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    live_sessions: int
    sessions_by_application: list[ApplicationSessions]
    """The MAX_APPLICATIONS applications with the most live sessions."""
    hours: list[HourCount]
    """24 entries, oldest first, the last one being the current (partial) hour."""
    users_signed_in: int
    """Distinct users with a login in the last 24 h, refresh token or not."""
    failing_users: int
    locked_users: int
    failed_logins: list[FailedLogins]
    """The MAX_FAILED_USERS most recent: users with failed attempts or locked out."""

    @property
    def sessions_opened(self) -> int:
        return sum(hour.logins for hour in self.hours)

    @property
    def sessions_refreshed(self) -> int:
        return sum(hour.refreshes for hour in self.hours)


def _per_hour(rows: dict[datetime, int], hours: list[datetime]) -> list[int]:
    return [rows.get(hour, 0) for hour in hours]


@cache
def _live_sessions_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    rt, app, tenant = (q(m._meta.db_table) for m in (RefreshToken, Application, Tenant))
    # Names from model metadata, quoted by the backend; the instant and the limit are parameters.
    return (
        f"SELECT s.{q('application_id')}, a.{q('name')}, t.{q('name')}, s.sessions, s.users, s.total"  # noqa: S608
        f" FROM (SELECT {q('application_id')}, SUM(n) AS sessions, COUNT(*) AS users,"
        f" SUM(SUM(n)) OVER () AS total FROM (SELECT {q('application_id')}, {q('user_id')}, COUNT(*) AS n"
        f" FROM {rt} WHERE {q('revoked_at')} IS NULL AND {q('expires_at')} > %s"
        f" GROUP BY {q('application_id')}, {q('user_id')}) AS per_user GROUP BY {q('application_id')}) AS s"
        f" INNER JOIN {app} a ON a.{q('id')} = s.{q('application_id')}"
        f" INNER JOIN {tenant} t ON t.{q('id')} = a.{q('tenant_id')}"
        f" ORDER BY s.sessions DESC, a.{q('name')} LIMIT %s"
    )


def _live_sessions(now: datetime, using: str = "default") -> tuple[int, list[ApplicationSessions]]:
    """How many sessions are live, and the MAX_APPLICATIONS applications with the most, each with
    its distinct users: one pass over the live rows, grouped first by (application, user) and
    then by application, the total summed over every group before the page's cut. As the ORM
    writes it (COUNT(DISTINCT user) per application, joined to the names first, and a separate
    COUNT(*)), PostgreSQL took 2.6 s and 0.15 s over a million live sessions, and the admin's
    front page grows with the table until it times out; this statement takes 0.3-0.5 s there."""
    connection = connections[using]
    pk = Application._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            _live_sessions_sql(using), [connection.ops.adapt_datetimefield_value(now), MAX_APPLICATIONS]
        )
        rows = cursor.fetchall()
    by_application = [
        ApplicationSessions(
            application_id=pk.to_python(application_id) if pk is not None else application_id,
            application=name,
            tenant=tenant,
            sessions=int(sessions),
            users=int(users),
        )
        for application_id, name, tenant, sessions, users, _ in rows
    ]
    return (int(rows[0][5]) if rows else 0), by_application


def admin_dashboard(*, now: datetime | None = None) -> Dashboard:
    """The admin index's figures, in six queries."""
    now = now or timezone.now()
    since = now - WINDOW
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    hours = [current_hour - timedelta(hours=n) for n in range(23, -1, -1)]

    live_total, by_application = _live_sessions(now)

    # A session used within the window expires after `since`: the bound lets the expiry index help.
    recent = RefreshToken.objects.filter(expires_at__gt=since)
    first_hour = hours[0]
    opened = dict(
        recent.filter(created_at__gte=first_hour)
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    refreshed = dict(
        recent.filter(last_used_at__gte=first_hour, last_used_at__gt=F("created_at"))
        .annotate(hour=TruncHour("last_used_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    series = [
        HourCount(hour=hour, logins=logins, refreshes=refreshes)
        for hour, logins, refreshes in zip(
            hours, _per_hour(opened, hours), _per_hour(refreshed, hours), strict=True
        )
    ]
    signed_in = Registration.objects.filter(last_login_at__gte=since).values("user").distinct().count()

    failing = User.objects.filter(
        Q(failed_login_count__gt=0, failed_login_window_started_at__gte=since) | Q(locked_until__gt=now)
    )
    counts = failing.aggregate(
        failing=Count("id", filter=Q(failed_login_count__gt=0)),
        locked=Count("id", filter=Q(locked_until__gt=now)),
    )
    failed = [
        FailedLogins(
            user_id=user.pk,
            email=user.email,
            tenant=user.tenant.name,
            attempts=user.failed_login_count,
            since=user.failed_login_window_started_at,
            locked_until=user.locked_until if user.locked_until and user.locked_until > now else None,
        )
        for user in failing.select_related("tenant").order_by(
            F("locked_until").desc(nulls_last=True), F("failed_login_window_started_at").desc(nulls_last=True)
        )[:MAX_FAILED_USERS]
    ]
    return Dashboard(
        now=now,
        live_sessions=live_total,
        sessions_by_application=by_application,
        hours=series,
        users_signed_in=signed_in,
        failing_users=counts["failing"],
        locked_users=counts["locked"],
        failed_logins=failed,
    )

"""The admin index's dashboard: its figures (identity.selectors.dashboard), a query count that does
not grow with the data, the SVG chart, and who sees which part."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.models import Application, RefreshToken, Registration, User
from identity.selectors.dashboard import MAX_APPLICATIONS, HourCount, admin_dashboard
from identity.templatetags.identity_admin import PLOT_H, hour_chart
from tests.factories import DEFAULT_PASSWORD, ApplicationFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
THIS_HOUR = NOW.replace(minute=0, second=0, microsecond=0)


def session(
    user: User,
    application: Application,
    *,
    created: datetime,
    used: datetime | None = None,
    expires: datetime | None = None,
    revoked: bool = False,
) -> RefreshToken:
    return RefreshToken.objects.create(
        family_id=uuid.uuid4(),
        tenant=application.tenant,
        application=application,
        user=user,
        token_digest=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        started_at=created,
        created_at=created,
        last_used_at=used or created,
        expires_at=expires or NOW + timedelta(days=1),
        revoked_at=NOW if revoked else None,
    )


def world(scale: int = 1, prefix: str = "") -> dict[str, Any]:
    """Two applications in two tenants, `scale` times the users and sessions."""
    portal = ApplicationFactory(tenant=TenantFactory(name=f"{prefix}Acme"), name=f"{prefix}Portal")
    shop = ApplicationFactory(tenant=TenantFactory(name=f"{prefix}Beta"), name=f"{prefix}Shop")
    for n in (f"{prefix}{i}" for i in range(scale)):
        ann = UserFactory(tenant=portal.tenant, email=f"ann{n}@example.com")
        bob = UserFactory(tenant=shop.tenant, email=f"bob{n}@example.com")
        Registration.objects.create(user=ann, application=portal, last_login_at=NOW - timedelta(hours=2))
        Registration.objects.create(user=bob, application=shop, last_login_at=NOW - timedelta(days=3))
        session(ann, portal, created=NOW)  # opened this hour
        session(ann, portal, created=NOW - timedelta(hours=5), used=NOW - timedelta(hours=1))  # refreshed
        session(bob, shop, created=NOW - timedelta(hours=30), used=NOW - timedelta(hours=30))  # outside 24 h
        session(bob, shop, created=NOW - timedelta(hours=2), revoked=True)  # not live, but opened
        session(bob, shop, created=NOW - timedelta(days=3), expires=NOW - timedelta(minutes=1))  # expired
        User.objects.filter(pk=bob.pk).update(
            failed_login_count=2, failed_login_window_started_at=NOW - timedelta(minutes=5)
        )
        stale = UserFactory(tenant=shop.tenant, email=f"stale{n}@example.com")
        User.objects.filter(pk=stale.pk).update(
            failed_login_count=1, failed_login_window_started_at=NOW - timedelta(days=2)
        )
        locked = UserFactory(tenant=portal.tenant, email=f"locked{n}@example.com")
        User.objects.filter(pk=locked.pk).update(locked_until=NOW + timedelta(minutes=10))
    return {"portal": portal, "shop": shop}


def test_the_figures_come_from_the_stored_sessions_and_counters() -> None:
    apps = world()
    board = admin_dashboard(now=NOW)
    assert board.live_sessions == 3
    assert [
        (row.application, row.tenant, row.sessions, row.users) for row in board.sessions_by_application
    ] == [
        ("Portal", "Acme", 2, 1),
        ("Shop", "Beta", 1, 1),
    ]
    assert board.sessions_by_application[0].application_id == apps["portal"].pk
    assert len(board.hours) == 24 and board.hours[-1].hour == THIS_HOUR
    by_hour = {h.hour: (h.logins, h.refreshes) for h in board.hours}
    this_hour = THIS_HOUR
    assert by_hour[this_hour] == (1, 0)
    assert by_hour[this_hour - timedelta(hours=1)] == (0, 1)
    assert by_hour[this_hour - timedelta(hours=2)] == (1, 0)  # the revoked one was still a login
    assert by_hour[this_hour - timedelta(hours=5)] == (1, 0)
    assert (board.sessions_opened, board.sessions_refreshed) == (3, 1)
    assert board.users_signed_in == 1  # bob's last login is three days old
    assert (board.failing_users, board.locked_users) == (1, 1)  # the stale counter is not counted
    assert [(f.email, f.attempts, f.locked_until is not None) for f in board.failed_logins] == [
        ("locked0@example.com", 0, True),
        ("bob0@example.com", 2, False),
    ]


def test_an_empty_service_has_an_empty_dashboard() -> None:
    board = admin_dashboard(now=NOW)
    assert (board.live_sessions, board.sessions_opened, board.sessions_refreshed) == (0, 0, 0)
    assert board.sessions_by_application == [] and board.failed_logins == []
    assert [h.logins + h.refreshes for h in board.hours] == [0] * 24


def _queries(call: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured.captured_queries)


def test_the_query_count_does_not_grow_with_the_data(admin_client: Client) -> None:
    world(scale=1)
    small = _queries(lambda: admin_dashboard(now=NOW))
    small_page = _queries(lambda: admin_client.get("/admin/"))
    world(scale=6, prefix="more")
    assert _queries(lambda: admin_dashboard(now=NOW)) == small == 6
    assert _queries(lambda: admin_client.get("/admin/")) == small_page


def _rects(content: str) -> list[str]:
    svg = re.search(r'<svg id="activity-chart".*?</svg>', content, re.S)
    assert svg, "the chart is drawn"
    return re.findall(r'<rect class="bar (logins|refreshes)"', svg.group(0))


def test_the_index_draws_the_chart_and_lists_sessions_and_failures(admin_client: Client) -> None:
    world()
    content = admin_client.get("/admin/").content.decode()
    rects = _rects(content)
    assert rects.count("logins") == 24 and rects.count("refreshes") == 24
    assert re.search(r"id=\"figure-live-sessions\">(\d+)<", content).group(1) == "3"
    assert "Portal</a>" in content and "bob0@example.com</a>" in content
    assert "stale0@example.com" not in content
    assert "identity/admin-dashboard" in content  # its stylesheet, served by us (no CDN)
    assert "<script" not in content.split('id="identity-dashboard"')[1].split("</svg>")[0]


def test_names_are_escaped(admin_client: Client) -> None:
    app = ApplicationFactory(tenant=TenantFactory(name="<b>t</b>"), name="<script>alert(1)</script>")
    session(UserFactory(tenant=app.tenant), app, created=NOW)
    content = admin_client.get("/admin/").content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_staff_see_only_the_parts_they_may_view(client: Client) -> None:
    world()
    staff = UserFactory(email="viewer@example.com", is_staff=True)
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    content = client.get("/admin/").content.decode()
    assert 'id="dashboard-activity"' not in content and 'id="dashboard-failed-logins"' not in content
    staff.user_permissions.add(Permission.objects.get(codename="view_refreshtoken"))
    content = client.get("/admin/").content.decode()
    assert 'id="dashboard-activity"' in content and "bob0@example.com" not in content
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    assert "bob0@example.com" in client.get("/admin/").content.decode()


def _hours(values: list[tuple[int, int]]) -> list[HourCount]:
    start = THIS_HOUR - timedelta(hours=len(values) - 1)
    return [
        HourCount(hour=start + timedelta(hours=n), logins=a, refreshes=b) for n, (a, b) in enumerate(values)
    ]


@pytest.mark.parametrize(
    ("values", "top_label"),
    [
        ([(0, 0)] * 24, "1"),
        ([(3, 1)] + [(0, 0)] * 23, "5"),
        ([(0, 0)] * 23 + [(7, 20)], "20"),
        ([(101, 0)], "200"),
    ],
)
def test_the_chart_scales_to_a_round_top(values: list[tuple[int, int]], top_label: str) -> None:
    chart = hour_chart(_hours(values))
    assert chart.y_ticks[-1].label == top_label
    assert all(
        0 <= bar.height <= PLOT_H and bar.y + bar.height == pytest.approx(chart.baseline)
        for bar in chart.bars
    )
    assert len(chart.bars) == 2 * len(values)
    tallest = max(chart.bars, key=lambda bar: bar.height)
    if int(top_label) == max(max(v) for v in values):
        assert tallest.height == PLOT_H
    assert all(bar.title.endswith(("sessions opened", "sessions refreshed")) for bar in chart.bars)


def test_the_total_counts_every_application_beyond_the_ones_listed() -> None:
    """The list stops at MAX_APPLICATIONS (most sessions first, then by name); the total does not."""
    tenant = TenantFactory(name="Many")
    user, other = UserFactory(tenant=tenant), UserFactory(tenant=tenant)
    for i in range(MAX_APPLICATIONS + 2):
        application = ApplicationFactory(tenant=tenant, name=f"App {i:02d}")
        for _ in range(1 + i % 3):
            session(user, application, created=NOW)
        session(other, application, created=NOW)
        session(other, application, created=NOW, revoked=True)
    board = admin_dashboard(now=NOW)
    expected = sorted(
        ((f"App {i:02d}", 2 + i % 3) for i in range(MAX_APPLICATIONS + 2)), key=lambda r: (-r[1], r[0])
    )
    assert [(r.application, r.sessions, r.users) for r in board.sessions_by_application] == [
        (name, sessions, 2) for name, sessions in expected[:MAX_APPLICATIONS]
    ]
    assert board.live_sessions == sum(sessions for _, sessions in expected)

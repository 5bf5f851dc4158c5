"""Template tags of the admin console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template

from identity.admin import KEY_EXPIRY_WARNING, keys_expiring_soon
from identity.selectors.dashboard import HourCount, admin_dashboard

register = template.Library()


# The chart's box, in SVG user units (the SVG scales to the page's width).
WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 12, 24
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    """Geometry of a grouped bar chart of HourCount, drawn by admin/identity/dashboard_chart.svg."""

    width: int
    height: int
    left: int
    top: int
    plot_right: int
    baseline: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]


def _ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 times 10^n at or above `value` (at least 1), for round axis labels."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def hour_chart(hours: list[HourCount]) -> Chart:
    """Two bars an hour (sessions opened, sessions refreshed) on a shared axis from 0."""
    top_value = _ceiling(max([1, *(h.logins for h in hours), *(h.refreshes for h in hours)]))
    slot = PLOT_W / max(len(hours), 1)
    bar_width = slot * 0.4
    baseline = TOP + PLOT_H

    def height(value: int) -> float:
        return round(PLOT_H * value / top_value, 2)

    bars: list[Bar] = []
    x_ticks: list[Tick] = []
    for index, hour in enumerate(hours):
        x = LEFT + index * slot + slot * 0.1
        span = f"{hour.hour:%H}:00 to {(hour.hour.hour + 1) % 24:02d}:00 UTC"
        for offset, series, value, noun in (
            (0.0, "logins", hour.logins, "sessions opened"),
            (bar_width, "refreshes", hour.refreshes, "sessions refreshed"),
        ):
            h = height(value)
            bars.append(
                Bar(
                    x=round(x + offset, 2),
                    y=round(baseline - h, 2),
                    width=round(bar_width, 2),
                    height=h,
                    series=series,
                    title=f"{span}: {value} {noun}",
                )
            )
        if index % 3 == 0:
            centre = round(LEFT + index * slot + slot / 2, 2)
            x_ticks.append(Tick(position=centre, label=f"{hour.hour:%H}:00"))
    y_ticks = [
        Tick(position=round(baseline - PLOT_H * fraction, 2), label=str(int(top_value * fraction)))
        for fraction in ((0.0, 0.5, 1.0) if top_value % 2 == 0 else (0.0, 1.0))
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        plot_right=WIDTH - RIGHT,
        baseline=baseline,
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
    )


@register.inclusion_tag("admin/identity/dashboard.html", takes_context=True)
def dashboard(context: dict[str, Any]) -> dict[str, Any]:
    """The admin index's dashboard (identity.selectors.dashboard), with its chart laid out. Each
    part is shown to staff who may view what it lists (sessions, users, keys)."""
    user = context["request"].user
    show_sessions = user.has_perm("identity.view_refreshtoken")
    show_users = user.has_perm("identity.view_user")
    show_keys = user.has_perm("identity.view_signingkey")
    board = admin_dashboard() if show_sessions or show_users else None
    return {
        "board": board,
        "chart": hour_chart(board.hours) if board is not None else None,
        "show_sessions": show_sessions,
        "show_users": show_users,
        "show_keys": show_keys,
        "expiring": keys_expiring_soon() if show_keys else [],
        "warning_days": KEY_EXPIRY_WARNING.days,
    }

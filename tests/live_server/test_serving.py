"""`make serve` as a deployment runs it: gunicorn with config/gunicorn.conf.py, DEBUG off, static files
collected with hashed names and served by whitenoise; the access log keeps no secrets."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.conftest import World
from tests.live import world_login

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_login_page_has_its_css_with_debug_off(gunicorn) -> None:
    server = gunicorn(workers=1, production=True)
    page = server.request("GET", "/admin/login/")
    assert page.status == 200, server.log_tail()
    stylesheets = re.findall(r'href="(/static/admin/css/[^"]+\.css)"', page.body.decode())
    base = [href for href in stylesheets if href.startswith("/static/admin/css/base.")]
    assert base, stylesheets
    assert re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", base[0]), base
    for href in stylesheets:
        css = server.request("GET", href, headers={"Accept-Encoding": "gzip"})
        assert css.status == 200, (href, server.log_tail())
        assert css.headers["Content-Type"].startswith("text/css"), css.headers
        assert css.headers.get("Content-Encoding") == "gzip", (href, css.headers)
        assert set(css.headers.get("Cache-Control", "").split(", ")) == {
            "max-age=315360000",  # ten years: a changed file gets a new name
            "public",
            "immutable",
        }, css.headers
    # The unhashed name is still served (issue 14's probe), with a short cache lifetime.
    plain = server.request("GET", "/static/admin/css/base.css")
    assert plain.status == 200
    assert "immutable" not in plain.headers.get("Cache-Control", "")


def test_a_request_line_over_the_documented_limit_is_gunicorns_414(gunicorn, world: World) -> None:
    """identity/openapi.py documents 414 on every operation with a query string, from gunicorn's
    `limit_request_line`; a long `ids` list belongs in `POST /api/user/search`."""
    server = gunicorn(workers=1, production=True)
    auth = {"Authorization": world.api_key, "X-FusionAuth-TenantId": str(world.tenant.pk)}
    ids = "&".join(f"ids={world.user.pk}" for _ in range(110))  # 110 x 41 bytes
    assert server.request("GET", f"/api/user/search?{ids}", headers=auth).status == 414
    assert server.request("GET", f"/api/user/search?ids={world.user.pk}", headers=auth).status == 200


def test_files_outside_static_are_not_served(gunicorn) -> None:
    server = gunicorn(workers=1, production=True)
    for path in ("/static/../config/settings.py", "/static/staticfiles.json.gz", "/static/nope.css"):
        assert server.request("GET", path).status == 404, path


def _access_lines(server, last: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The access log once a line containing `last` is in it (gunicorn writes each line after the
    answer, so a loaded machine may not have written the last one yet), or after 10 s."""
    log = server.log.parent / f"access-{server.port}.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if log.exists() and last in log.read_text():
            break
        time.sleep(0.05)
    return log.read_text().splitlines()


def test_access_log_records_no_query_string_authorization_or_cookie(gunicorn, world: World) -> None:
    server = gunicorn(workers=1, production=True)
    login = world_login(server, world)
    assert login.status == 200, server.log_tail()
    refresh, access = login.json()["refreshToken"], login.json()["token"]
    server.request(
        "GET",
        f"/api/jwt/validate?token={access}&secret=query-secret-123",
        headers={
            "Authorization": f"Bearer {access}",
            "Cookie": f"refresh_token={refresh}; access_token={access}",
            "Referer": "https://app.example.com/cb?code=referer-secret-456",
            "User-Agent": "serving-test",
        },
    )
    lines = _access_lines(server, "serving-test")
    text = "\n".join(lines)
    assert any('"GET /api/jwt/validate HTTP/1.1" 200' in line and "serving-test" in line for line in lines), (
        text
    )
    assert any('"POST /api/login HTTP/1.1" 200' in line for line in lines), text
    for secret in (access, refresh, world.api_key, "query-secret-123", "referer-secret-456", "?", "Bearer"):
        assert secret not in text, secret


def test_status_is_503_and_liveness_200_when_the_database_is_down(gunicorn) -> None:
    down = "postgres://postgres@127.0.0.1:9/identity_nowhere"
    server = gunicorn(workers=1, production=True, env={"DATABASE_URL": down})
    status = server.request("GET", "/api/status")
    assert status.status == 503, server.log_tail()
    assert status.json() == {"status": "unavailable"}
    assert b"identity_nowhere" not in status.body
    live = server.request("GET", "/api/health/live")
    assert (live.status, live.json()) == (200, {"status": "ok"})
    # What needs the database says so, with a time to come back, never a 500 (nor the address).
    answer = server.request(
        "POST", "/api/login", json_body={"loginId": "ann@example.com", "password": "x" * 12},
        headers={"Authorization": "k" * 40},
    )  # fmt: skip
    assert (answer.status, answer.headers.get("Retry-After")) == (503, "5"), answer.body
    assert b"identity_nowhere" not in answer.body and b"Traceback" not in answer.body
    form = f"grant_type=client_credentials&client_id={uuid.uuid4()}&client_secret=b"
    token = server.request(
        "POST", "/oauth2/token", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (token.status, token.json()["error"]) == (503, "temporarily_unavailable")
    ready = gunicorn(workers=1)
    assert (ready.request("GET", "/api/status").status, ready.request("GET", "/api/status").json()) == (
        200,
        {"status": "ok"},
    )


def test_api_docs_and_their_assets_are_served_by_this_server(gunicorn) -> None:
    server = gunicorn(workers=1, production=True)
    page = server.request("GET", "/api/docs/")
    assert page.status == 200, server.log_tail()
    assets = re.findall(r"""(?:src|href)\s*=\s*["'](/static/[^"']+)["']""", page.body.decode())
    assert any("swagger-ui-bundle" in asset for asset in assets), assets
    for asset in assets:
        assert server.request("GET", asset).status == 200, asset
    schema = server.request("GET", "/api/schema/?format=json")
    assert schema.status == 200
    assert "/api/login" in schema.json()["paths"]

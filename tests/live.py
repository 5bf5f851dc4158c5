"""Real gunicorn servers for tests that must see what a deployment sees: several worker processes,
several nodes (masters) on one database, DEBUG off.

Each server runs `config.wsgi` against the test database the test process created, with the test
process's secrets, so rows a transactional test commits are visible to the server and tokens either
side signs verify on the other. PostgreSQL only: SQLite's test database lives in memory.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
GUNICORN = Path(sys.executable).parent / "gunicorn"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LiveServer:
    """One gunicorn master and its workers on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        """One HTTP request on a fresh connection (so successive requests may reach any worker)."""
        all_headers = dict(headers or {})
        payload: bytes | str | None = body
        if json_body is not None:
            payload = json.dumps(json_body)
            all_headers.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=payload, headers=all_headers)
            answer = conn.getresponse()
            return Response(answer.status, answer.read(), dict(answer.getheaders()))
        finally:
            conn.close()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the server's process group (master and workers), SIGKILL after 10 s."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def database_url() -> str:
    """The URL of the database this test process uses (the test database, once it exists)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test settings (production code paths, DEBUG off, the fast test hasher so users made by
    factories can log in) with the test process's secrets and database; REDIS_URL only if given.
    Pass `DJANGO_SETTINGS_MODULE=config.settings` for the production hasher."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "DJANGO_", "IDENTITY_", "REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DJANGO_ENV_FILE": os.devnull,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECRET_KEY": str(settings.SECRET_KEY),
            "IDENTITY_KEY_ENCRYPTION_KEY": str(settings.IDENTITY_KEY_ENCRYPTION_KEY),
            "DATABASE_URL": database_url(),
            # Cheap Argon2id: these tests are about behaviour across processes, not hashing cost.
            "IDENTITY_ARGON2_TIME_COST": "1",
            "IDENTITY_ARGON2_MEMORY_KIB": "1024",
        }
    )
    env.update(extra or {})
    return env


_collected_static: Path | None = None


def collected_static() -> Path:
    """A STATIC_ROOT filled by `manage.py collectstatic` with the production storage (hashed,
    compressed names), once per test process."""
    global _collected_static
    if _collected_static is None:
        root = Path(tempfile.mkdtemp(prefix="identity-static-"))
        # About 33 MB a test process: removed when it exits, not left in /tmp run after run.
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity=0"],
            cwd=ROOT,
            env=server_env({"DJANGO_STATIC_ROOT": str(root), "IDENTITY_TEST_HASHED_STATIC": "1"}),
            check=True,
            timeout=300,
        )
        _collected_static = root
    return _collected_static


def start(
    *,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    log_dir: Path,
    ready_seconds: float = 60,
    production: bool = False,
    wsgi: str = "config.wsgi:application",
    process_env: Mapping[str, str] | None = None,
    ready_path: str = "/.well-known/jwks.json",
) -> LiveServer:
    """Start gunicorn and wait until `ready_path` answers. By default the identity service
    (`config.wsgi`) with `server_env(env)`; another project passes its `wsgi` application and its
    whole `process_env` (tests/resource_server does). `production=True` starts it as `make serve`
    does: with config/gunicorn.conf.py (access log into `log_dir`) and collected, hashed static files."""
    port = _free_port()
    log = log_dir / f"gunicorn-{port}.log"
    command = [str(GUNICORN), wsgi]
    extra = dict(env or {})
    if production:
        command.append("--config=config/gunicorn.conf.py")
        extra = {
            "GUNICORN_ACCESS_LOG": str(log_dir / f"access-{port}.log"),
            "DJANGO_STATIC_ROOT": str(collected_static()),
            "IDENTITY_TEST_HASHED_STATIC": "1",
            **extra,
        }
    command += [f"--bind={HOST}:{port}", f"--workers={workers}", "--log-level=warning"]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            command,
            cwd=ROOT,
            env=dict(process_env) if process_env is not None else server_env(extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(port=port, process=process, log=log)
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn {wsgi} exited ({process.returncode}):\n{server.log_tail()}")
        try:
            server.request("GET", ready_path, timeout=2)
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"gunicorn {wsgi} did not answer within {ready_seconds:.0f} s:\n{server.log_tail()}")


@contextlib.contextmanager
def running(
    *, workers: int = 2, env: Mapping[str, str] | None = None, log_dir: Path, production: bool = False
) -> Iterator[LiveServer]:
    server = start(workers=workers, env=env, log_dir=log_dir, production=production)
    try:
        yield server
    finally:
        server.stop()


def world_login(
    server: LiveServer,
    world: Any,
    *,
    password: str | None = None,
    application_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """`POST /api/login` for the `world` fixture's user (its password, application and API key
    unless given); `extra` members join the body."""
    return server.request(
        "POST",
        "/api/login",
        json_body={
            "loginId": world.user.email,
            "password": password or world.password,
            "applicationId": application_id or str(world.application.pk),
            **extra,
        },
        headers=headers if headers is not None else {"Authorization": world.api_key},
    )

"""Demo data for `make run`: a tenant, an application and users a newcomer can log in with at once.

Only digests of passwords and API keys are stored, so the plaintext demo credentials are kept in a
git-ignored local file. That file is the source of truth: every run makes the database accept what
it holds (creating rows, resetting a password, re-creating the API key with the same value), so the
credentials printed on start always work, whether the file, the database or both are new. Nothing
else is touched on later runs, so settings changed in the console survive a restart.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from identity.hashing import new_secret, secret_digest
from identity.models import (
    APIKey,
    Application,
    KeyAlgorithm,
    LoginBackend,
    LoginTransport,
    Registration,
    Tenant,
    User,
)
from identity.selectors import tenant_get_default, user_get_by_login_id
from identity.services.api_keys import api_key_create
from identity.services.applications import RoleSpec, application_create
from identity.services.login_backends import login_backend_create
from identity.services.registrations import registration_create
from identity.services.signing_keys import signing_key_generate, tenant_signing_key_set
from identity.services.tenants import tenant_create
from identity.services.users import user_create, user_set_password

DEMO_TENANT_NAME = "Demo"
DEMO_APPLICATION_NAME = "Demo app"
ADMIN_EMAIL = "admin@example.com"
DEMO_USER_EMAIL = "demo@example.com"
DEMO_USER_ROLE = "user"


@dataclass(frozen=True)
class DemoCredentials:
    admin_password: str
    demo_password: str
    api_key: str

    @classmethod
    def generate(cls) -> DemoCredentials:
        return cls(admin_password=new_secret(18), demo_password=new_secret(18), api_key=new_secret(36))


@dataclass(frozen=True)
class DemoSeed:
    tenant: Tenant
    application: Application
    admin: User
    demo_user: User
    api_key: APIKey
    credentials: DemoCredentials
    changes: tuple[str, ...]
    """What this run created or reset, in order; empty when everything was already in place."""


def default_credentials_file() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-credentials.json"


def demo_base_url(*, fallback: str) -> str:
    """Where the demo server was said to listen when the Demo tenant was made (its issuer, when
    that is a URL), so a later `seed_demo` without `--base-url` prints the addresses in use."""
    tenant = Tenant.objects.filter(name__iexact=DEMO_TENANT_NAME).first()
    issuer = tenant.issuer if tenant is not None else ""
    return issuer.rstrip("/") if issuer.startswith(("http://", "https://")) else fallback


@transaction.atomic
def demo_seed(*, credentials_file: Path, issuer: str = "http://127.0.0.1:8000") -> DemoSeed:
    """Ensure the demo rows exist and accept the credentials of `credentials_file` (created with
    random secrets, mode 0600, when missing or unreadable). Running it again changes nothing."""
    changes: list[str] = []
    credentials = _credentials_read(credentials_file)
    if credentials is None:
        credentials = DemoCredentials.generate()
        _credentials_write(credentials_file, credentials)
        changes.append("credentials")

    tenant = Tenant.objects.filter(name__iexact=DEMO_TENANT_NAME).first()
    if tenant is None:
        tenant = tenant_create(name=DEMO_TENANT_NAME, issuer=issuer)
        changes.append("tenant")
    if tenant.access_token_signing_key_id is None:
        key = signing_key_generate(tenant=tenant, algorithm=KeyAlgorithm.ES256, name="Demo signing key").key
        tenant = tenant_signing_key_set(tenant=tenant, key=key)
        changes.append("signing key")

    application = tenant.applications.filter(name__iexact=DEMO_APPLICATION_NAME).first()
    if application is None:
        application = application_create(
            tenant=tenant,
            name=DEMO_APPLICATION_NAME,
            roles=[RoleSpec(name="admin"), RoleSpec(name=DEMO_USER_ROLE, is_default=True)],
            generate_refresh_tokens=True,
            allow_token_refresh=True,
            require_authentication=True,
        )
        changes.append("application")

    admin, change = _user_ensure(
        tenant=tenant_get_default(),
        email=ADMIN_EMAIL,
        password=credentials.admin_password,
        label="admin",
        superuser=True,
    )
    changes += change
    demo_user, change = _user_ensure(
        tenant=tenant, email=DEMO_USER_EMAIL, password=credentials.demo_password, label="demo user"
    )
    changes += change
    if not Registration.objects.filter(user=demo_user, application=application).exists():
        registration_create(user=demo_user, application=application, roles=[DEMO_USER_ROLE])
        changes.append("registration")

    # fastapi-users style logins: `POST /auth/jwt/login` (bearer) and `/auth/cookie/login` (cookie;
    # not Secure-only, so it works over `make run`'s plain HTTP: outside debug it is Secure anyway).
    for name, transport in (("jwt", LoginTransport.BEARER), ("cookie", LoginTransport.COOKIE)):
        if not LoginBackend.objects.filter(name=name).exists():
            login_backend_create(application=application, name=name, transport=transport, cookie_secure=False)
            changes.append(f"login backend {name}")

    api_key = APIKey.objects.filter(key_digest=secret_digest(credentials.api_key)).first()
    if api_key is None:
        # Older demo keys stay valid: someone may have copied one into a script.
        api_key, _ = api_key_create(
            tenant=tenant, name="Demo key", description="Created by seed_demo.", key=credentials.api_key
        )
        changes.append("API key")

    return DemoSeed(
        tenant=tenant,
        application=application,
        admin=admin,
        demo_user=demo_user,
        api_key=api_key,
        credentials=credentials,
        changes=tuple(changes),
    )


def _user_ensure(
    *, tenant: Tenant, email: str, password: str, label: str, superuser: bool = False
) -> tuple[User, list[str]]:
    """The user, created if missing, whose password is `password` (reset if it is not)."""
    user = user_get_by_login_id(tenant=tenant, login_id=email)
    if user is None:
        user = user_create(
            tenant=tenant, email=email, password=password, is_staff=superuser, is_superuser=superuser
        )
        return user, [label]
    if not user.check_password(password):
        return user_set_password(user=user, password=password), [f"{label} password"]
    return user, []


def _credentials_read(path: Path) -> DemoCredentials | None:
    """The stored credentials, or None when the file is missing or not what this module wrote."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        credentials = DemoCredentials(**stored)
    except (OSError, ValueError, TypeError):
        return None
    values = asdict(credentials).values()
    return credentials if all(isinstance(value, str) and value for value in values) else None


def _credentials_write(path: Path, credentials: DemoCredentials) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file would keep a wider mode
        json.dump(asdict(credentials), handle, indent=2)
        handle.write("\n")

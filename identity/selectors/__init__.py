"""Read-only queries. Services and views call these instead of building querysets inline."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TYPE_CHECKING, cast

from django.db import DatabaseError, connection
from django.db.models import Q, QuerySet

from identity.exceptions import NotFound
from identity.login_ids import login_id_key
from identity.models import (
    APIKey,
    Application,
    ApplicationRole,
    JWTConfigurationFields,
    LoginBackend,
    PersonalAccessToken,
    RefreshToken,
    Registration,
    SigningKey,
    Tenant,
    User,
)
from identity.selectors.rows import Join, row_by_unique_key
from identity.validators import LOGIN_BACKEND_NAME

if TYPE_CHECKING:  # the caller is passed in, never imported: selectors and caller are siblings
    from identity.caller import Caller


def tenant_get_default() -> Tenant:
    return Tenant.objects.get(is_default=True)


def tenant_for_server_root(*, origin: str) -> Tenant:
    """The tenant the server root's discovery documents describe: the one whose issuer is this
    server's own origin (`http://127.0.0.1:8000`, with or without a trailing slash; issuers are
    unique ignoring case), so `issuer + /.well-known/openid-configuration` finds its own document,
    as OpenID clients expect; else the default tenant."""
    origin = origin.rstrip("/")
    match = Tenant.objects.filter(Q(issuer__iexact=origin) | Q(issuer__iexact=f"{origin}/")).first()
    return match or tenant_get_default()


def tenant_for_issuer(*, issuer: str) -> Tenant | None:
    """The tenant whose issuer is `issuer` (ignoring case and a trailing slash, as issuers are
    unique), for RFC 8414's path-inserted metadata URL; None when no tenant has it."""
    issuer = issuer.rstrip("/")
    return Tenant.objects.filter(Q(issuer__iexact=issuer) | Q(issuer__iexact=f"{issuer}/")).first()


LOGIN_ID_TYPES = ("email", "username")


def user_get_by_login_id(
    *, tenant: Tenant, login_id: str, types: tuple[str, ...] = LOGIN_ID_TYPES
) -> User | None:
    """The user a login id names, trying the id types in order (FusionAuth's loginIdTypes, email
    then username by default). Compares identity.login_ids keys, the one comparison every path
    uses (login, search, change-password, uniqueness); the per-tenant unique indexes serve it."""
    key = login_id_key(login_id)
    for kind in types:
        if kind not in ("email", "username"):
            continue
        found = row_by_unique_key(User, {"tenant": tenant.pk, f"{kind}_key": key})  # unique per tenant
        if found is not None:
            user = cast(User, found[0])
            User.tenant.field.set_cached_value(user, tenant)
            return user
    return None


@dataclass(frozen=True)
class JWTConfiguration:
    """The token settings in force for one application: its own when enabled, else its tenant's.
    Its fields are the model's JWT configuration columns (checked below), so a field added to
    `JWTConfigurationFields` fails at import until it is carried here too."""

    access_token_ttl_seconds: int
    refresh_token_ttl_minutes: int
    refresh_token_expiration_policy: str
    refresh_token_max_ttl_minutes: int
    refresh_token_usage_policy: str
    refresh_token_grace_period_seconds: int
    access_token_signing_key_id: uuid.UUID | None
    id_token_signing_key_id: uuid.UUID | None


JWT_CONFIGURATION_ATTNAMES = tuple(f.attname for f in JWTConfigurationFields._meta.local_fields)
"""The columns of the JWT configuration (what the refresh read path selects for both sources)."""
if tuple(f.name for f in fields(JWTConfiguration)) != JWT_CONFIGURATION_ATTNAMES:
    raise TypeError("JWTConfiguration must carry exactly the JWTConfigurationFields columns, in order.")


def jwt_configuration_for(*, application: Application) -> JWTConfiguration:
    """The effective configuration of an application (its tenant must be loaded or loadable).
    Compute it once per operation and pass it on (`config=`) rather than asking again."""
    tenant = application.tenant
    source: Application | Tenant = application if application.jwt_enabled else tenant
    values = {name: getattr(source, name) for name in JWT_CONFIGURATION_ATTNAMES}
    # An application override without its own key still signs with the tenant's key.
    values["access_token_signing_key_id"] = (
        values["access_token_signing_key_id"] or tenant.access_token_signing_key_id
    )
    values["id_token_signing_key_id"] = values["id_token_signing_key_id"] or tenant.id_token_signing_key_id
    return JWTConfiguration(**values)


def users_search(
    *,
    users: QuerySet[User],
    query: str | None = None,
    ids: list[uuid.UUID] | None = None,
    start_row: int = 0,
    number_of_results: int = 25,
    order_by: list[str] | None = None,
) -> tuple[list[User], int]:
    """One page of FusionAuth's user search over `users` (already narrowed to what the caller may
    see, identity.caller's `scope`) and the total. `ids` picks users by id (unknown ids are
    ignored). `query` is FusionAuth's queryString: `*` matches everyone; otherwise every
    whitespace-separated term (a `*` in it is a wildcard, ignored) must occur in the email, the
    username (both compared by their login-id keys), the first, last or full name, or be the id."""
    if ids:
        users = users.filter(pk__in=ids)
    for term in (query or "").split():
        words = term.replace("*", "")
        if not words:
            continue
        key = login_id_key(words)
        match = (
            Q(email_key__contains=key)
            | Q(username_key__contains=key)
            | Q(first_name__icontains=words)
            | Q(last_name__icontains=words)
            | Q(full_name__icontains=words)
        )
        try:
            match |= Q(pk=uuid.UUID(words))
        except ValueError:
            pass
        users = users.filter(match)
    total = users.count()
    page = users.select_related("tenant").prefetch_related("registrations")
    page = page.order_by(*(order_by or []), "email_key", "id")
    return list(page[start_row : start_row + number_of_results]), total


# Provisioning reads: one object by id (None when there is none; the views answer 404 through
# Caller.visible) and the lists a caller may see.


def tenant_get(*, tenant_id: uuid.UUID) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id).first()


def tenant_list(*, caller: Caller) -> QuerySet[Tenant]:
    return caller.scope(Tenant.objects.all(), field="pk")


def application_get(*, application_id: uuid.UUID, remembered: bool = False) -> Application | None:
    """`remembered`: the process may answer from the rows it remembers (row_by_unique_key), at most
    a check interval old; for reads that only decide (a login), never for one written back."""
    found = row_by_unique_key(
        Application, {"id": application_id}, joins=(Join(Tenant, "tenant"),), remember=remembered
    )
    return cast(Application, found[0]) if found is not None else None


def application_list(*, caller: Caller, active: bool) -> QuerySet[Application]:
    """With everything `ApplicationSerializer` reads (roles, OAuth configuration and its assertion
    keys) fetched in a fixed number of queries, however many applications there are."""
    applications = Application.objects.select_related("tenant", "oauth_configuration").prefetch_related(
        "roles", "oauth_configuration__assertion_keys"
    )
    return caller.scope(applications.filter(active=active))


def application_role_get(*, application: Application, role_id: uuid.UUID) -> ApplicationRole | None:
    return application.roles.filter(pk=role_id).first()


def login_backend_list(*, application: Application) -> QuerySet[LoginBackend]:
    return application.login_backends.order_by("name")


def login_backend_list_all(*, tenant: Tenant | None = None) -> QuerySet[LoginBackend]:
    """Every login backend, or (`tenant`) those of that tenant's applications."""
    found = LoginBackend.objects.select_related("application").order_by("name")
    return found.filter(application__tenant=tenant) if tenant is not None else found


def login_backend_find(*, name_or_id: str) -> LoginBackend | None:
    """A backend by its name or id as a person types it; anything that is neither never reaches
    the database (a NUL byte there is an error, not "not found")."""
    if LOGIN_BACKEND_NAME.fullmatch(name_or_id):
        found = LoginBackend.objects.filter(name=name_or_id).first()
        if found is not None:
            return found
    try:
        return LoginBackend.objects.filter(pk=uuid.UUID(name_or_id)).first()
    except ValueError:
        return None


def login_backend_get(*, application: Application, backend_id: uuid.UUID) -> LoginBackend | None:
    return application.login_backends.filter(pk=backend_id).first()


def signing_key_usable_by(*, tenant: Tenant | None, key_id: uuid.UUID) -> SigningKey | None:
    """A key `tenant` may name in its JWT configuration: its own or a global one (no tenant yet:
    a global one). Another tenant's key is as unknown as one that does not exist."""
    key = SigningKey.objects.filter(pk=key_id).first()
    if key is None or (key.tenant_id is not None and (tenant is None or key.tenant_id != tenant.pk)):
        return None
    return key


def application_of_tenant(*, tenant_id: uuid.UUID, application_id: uuid.UUID) -> Application | None:
    return Application.objects.filter(pk=application_id, tenant_id=tenant_id).first()


def user_get(*, user_id: uuid.UUID) -> User | None:
    return User.objects.select_related("tenant").filter(pk=user_id).first()


def user_find(*, tenant: Tenant, email: str = "", username: str = "", login_id: str = "") -> User | None:
    """FusionAuth's user search by the first of email, username or login id given (a login id is
    an email or a username)."""
    for value, types in ((email, ("email",)), (username, ("username",)), (login_id, LOGIN_ID_TYPES)):
        if value:
            return user_get_by_login_id(tenant=tenant, login_id=value, types=types)
    return None


def registrations_of(*, user: User) -> list[Registration]:
    """A user's registrations, oldest first (FusionAuth's order in a user's JSON)."""
    return list(Registration.objects.filter(user=user).order_by("created_at"))


def registration_get(*, user: User, application_id: uuid.UUID) -> Registration | None:
    return (
        Registration.objects.select_related("application", "user")
        .filter(user=user, application_id=application_id)
        .first()
    )


def api_key_get(*, api_key_id: uuid.UUID) -> APIKey | None:
    return APIKey.objects.filter(pk=api_key_id).first()


# FusionAuth's key types → the algorithm prefix of each.
KEY_TYPES = {"HMAC": "HS", "RSA": "RS", "EC": "ES", "OKP": "EdDSA"}


def signing_key_get(*, key_id: uuid.UUID) -> SigningKey | None:
    return SigningKey.objects.filter(pk=key_id).first()


def signing_key_list() -> QuerySet[SigningKey]:
    return SigningKey.objects.order_by("name", "created_at")


def signing_key_search(
    *,
    name: str = "",
    algorithm: str = "",
    key_type: str = "",
    start_row: int = 0,
    number_of_results: int = 25,
) -> tuple[list[SigningKey], int]:
    """FusionAuth's key search: a page of keys whose name contains `name` (its `*` wildcards
    ignored), of an algorithm or key type, and how many match in all."""
    keys = signing_key_list()
    if name:
        keys = keys.filter(name__icontains=name.replace("*", ""))
    if algorithm:
        keys = keys.filter(algorithm=algorithm)
    if key_type:
        keys = keys.filter(algorithm__startswith=KEY_TYPES[key_type])
    return list(keys[start_row : start_row + number_of_results]), keys.count()


MAX_LISTED_REFRESH_TOKENS = 1000


def refresh_token_get(*, caller: Caller, token_id: uuid.UUID) -> RefreshToken:
    """A live (unrevoked) refresh token the caller may address, else NotFound. Without an API key,
    the user's own sessions only: someone else's looks like no session at all."""
    return caller.visible(
        RefreshToken.objects.filter(pk=token_id, revoked_at__isnull=True).first(),
        owner_of=attrgetter("user_id"),
    )


def refresh_tokens_of_user(*, caller: Caller, user_id: uuid.UUID) -> list[RefreshToken]:
    """The unrevoked refresh tokens of a user the caller may address, newest first (at most
    MAX_LISTED_REFRESH_TOKENS)."""
    user = caller.visible(User.objects.filter(pk=user_id).first())
    tokens = RefreshToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")
    return list(tokens[:MAX_LISTED_REFRESH_TOKENS])


def application_tenant_id(*, application_id: uuid.UUID) -> uuid.UUID:
    """The tenant of an application, else NotFound."""
    tenant_id = Application.objects.filter(pk=application_id).values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        raise NotFound()
    return tenant_id


def database_answers() -> bool:
    """Whether the database answers a trivial query now (`GET /api/status`). Any database error,
    a refused connection included, is a no; the reason goes to the log, never to the caller."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        logging.getLogger(__name__).warning("status: the database does not answer", exc_info=True)
        return False


MAX_LISTED_ACCESS_TOKENS = 1000


def personal_access_tokens_of(*, user: User) -> list[PersonalAccessToken]:
    """A user's personal access tokens, live and revoked, newest first."""
    return list(
        PersonalAccessToken.objects.filter(user=user).order_by("-created_at")[:MAX_LISTED_ACCESS_TOKENS]
    )


def personal_access_token_of(*, user: User, token_id: uuid.UUID) -> PersonalAccessToken | None:
    return PersonalAccessToken.objects.select_related("tenant").filter(user=user, pk=token_id).first()

"""Read-only queries. Services and views call these instead of building querysets inline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from identity.login_ids import login_id_key
from identity.models import Application, Tenant, User


def tenant_get_default() -> Tenant:
    return Tenant.objects.get(is_default=True)


LOGIN_ID_TYPES = ("email", "username")


def user_get_by_login_id(
    *, tenant: Tenant, login_id: str, types: tuple[str, ...] = LOGIN_ID_TYPES
) -> User | None:
    """The user a login id names, trying the id types in order (FusionAuth's loginIdTypes, email
    then username by default). Compares identity.login_ids keys, the one comparison every path
    uses (login, search, change-password, uniqueness); the per-tenant unique indexes serve it."""
    key = login_id_key(login_id)
    users = User.objects.select_related("tenant").filter(tenant=tenant)
    for kind in types:
        if kind == "email":
            found = users.filter(email_key=key).first()
        elif kind == "username":
            found = users.filter(username_key=key).first()
        else:
            continue
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class JWTConfiguration:
    """The token settings in force for one application: its own when enabled, else its tenant's."""

    access_token_ttl_seconds: int
    refresh_token_ttl_minutes: int
    refresh_token_expiration_policy: str
    refresh_token_max_ttl_minutes: int
    refresh_token_usage_policy: str
    refresh_token_grace_period_seconds: int
    access_token_signing_key_id: uuid.UUID | None
    id_token_signing_key_id: uuid.UUID | None


def jwt_configuration_for(*, application: Application) -> JWTConfiguration:
    source: Application | Tenant = application if application.jwt_enabled else application.tenant
    return JWTConfiguration(
        access_token_ttl_seconds=source.access_token_ttl_seconds,
        refresh_token_ttl_minutes=source.refresh_token_ttl_minutes,
        refresh_token_expiration_policy=source.refresh_token_expiration_policy,
        refresh_token_max_ttl_minutes=source.refresh_token_max_ttl_minutes,
        refresh_token_usage_policy=source.refresh_token_usage_policy,
        refresh_token_grace_period_seconds=source.refresh_token_grace_period_seconds,
        # An application override without its own key still signs with the tenant's key.
        access_token_signing_key_id=source.access_token_signing_key_id
        or application.tenant.access_token_signing_key_id,
        id_token_signing_key_id=source.id_token_signing_key_id or application.tenant.id_token_signing_key_id,
    )


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

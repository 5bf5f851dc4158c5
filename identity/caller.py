"""Who is calling, and which tenant they may reach: one frozen `Caller` per request.

The authentication classes (identity/authentication.py) build it once from the API key, the user's
access token and the `X-FusionAuth-TenantId` header; views and services ask it, never the request:
`.tenant()` for the tenant an operation acts in, `.visible(obj)` for an object the caller may
address, `.scope(queryset)` for lists.

FusionAuth's rules for the header are the table `TENANT_HEADER_RULES` below, the only place they are
written. FusionAuth documents the header as the tenant id that scopes a request (required only when
the tenant cannot be inferred: `[TenantIdRequired]`), a tenant-locked key as seeing only its own
tenant's objects, and an object of another tenant as not found. What it does not spell out, we
answer once for every endpoint: a locked key naming another tenant is refused (401, as a key
without the permission is), and a malformed value is the field error any non-id value gets
(`[invalid]tenantId`, 400) rather than being read as "no tenant", which would widen a global
caller's reach.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Model, QuerySet

from identity.exceptions import NotAuthenticated, NotFound, TenantIdRequired, ValidationFailed
from identity.models import APIKey, Tenant

if TYPE_CHECKING:
    from identity.services.access_tokens import VerifiedToken

TENANT_HEADER = "X-FusionAuth-TenantId"
TENANT_META = "HTTP_X_FUSIONAUTH_TENANTID"
"""The same header in request.META (read there: `request.headers` builds a mapping of every header)."""

T = TypeVar("T")
M = TypeVar("M", bound=Model)


class Header(Enum):
    """What an `X-FusionAuth-TenantId` header says, as far as can be told without a query."""

    MISSING = "missing or empty"
    MALFORMED = "not a UUID"
    NAMES_THE_LOCK = "the tenant the API key is locked to"
    NAMES_ANOTHER = "a tenant other than the API key's lock"
    NAMES_A_TENANT = "a tenant (the caller has no lock)"


class Reach(Enum):
    """What the caller may reach, given its key's lock and the header."""

    ALL = (
        "every tenant; .tenant() is the one the request implies (vend: its keyId's, else the default), "
        "else the only tenant there is, else [TenantIdRequired]"
    )
    LOCK = "the key's tenant only"
    NAMED = "the named tenant only; one that does not exist holds nothing, and .tenant() is [invalid]"
    INVALID = "400 [invalid]tenantId on every endpoint"
    REFUSED = "401 with an empty body, as for any credential the endpoint does not accept"


# (caller holds a tenant-locked API key, what the header says) → what the caller may reach.
TENANT_HEADER_RULES: dict[tuple[bool, Header], Reach] = {
    (False, Header.MISSING): Reach.ALL,
    (False, Header.MALFORMED): Reach.INVALID,
    (False, Header.NAMES_A_TENANT): Reach.NAMED,
    (True, Header.MISSING): Reach.LOCK,
    (True, Header.MALFORMED): Reach.INVALID,
    (True, Header.NAMES_THE_LOCK): Reach.LOCK,
    (True, Header.NAMES_ANOTHER): Reach.REFUSED,
}


def _read_header(raw: str | None, lock: uuid.UUID | None) -> tuple[Header, uuid.UUID | None]:
    value = (raw or "").strip()
    if not value:
        return Header.MISSING, None
    try:
        named = uuid.UUID(value)
    except ValueError:
        return Header.MALFORMED, None
    if lock is None:
        return Header.NAMES_A_TENANT, named
    return (Header.NAMES_THE_LOCK if named == lock else Header.NAMES_ANOTHER), named


@dataclass(frozen=True)
class Caller:
    """The API key (if any), the tenant it is locked to, the tenant the header names, and the user
    whose access token authenticated the request (if any). Built only through `Caller.build`."""

    api_key: APIKey | None = None
    locked_tenant: Tenant | None = None
    named_tenant_id: uuid.UUID | None = None
    principal: VerifiedToken | None = None

    @classmethod
    def build(
        cls,
        *,
        api_key: APIKey | None = None,
        principal: VerifiedToken | None = None,
        header: str | None = None,
    ) -> Caller:
        """Apply TENANT_HEADER_RULES; a header the table refuses fails here, before any view runs."""
        lock = api_key.tenant if api_key is not None else None
        said, named = _read_header(header, lock.pk if lock is not None else None)
        reach = TENANT_HEADER_RULES[(lock is not None, said)]
        if reach is Reach.INVALID:
            raise ValidationFailed.on_field("tenantId", "invalid", f"{TENANT_HEADER} is not a tenant id.")
        if reach is Reach.REFUSED:
            raise NotAuthenticated()
        return cls(
            api_key=api_key,
            locked_tenant=lock,
            named_tenant_id=named if reach is Reach.NAMED else None,
            principal=principal,
        )

    @property
    def tenant_id(self) -> uuid.UUID | None:
        """The one tenant this caller is confined to, or None for a global caller naming none."""
        if self.locked_tenant is not None:
            return self.locked_tenant.pk
        return self.named_tenant_id

    def tenant(self, *, inferred: Callable[[], Tenant] | None = None) -> Tenant:
        """The tenant an operation acts in when nothing else in the request names one: the key's
        lock, else the named tenant, else the one the request's own parameters imply (`inferred`,
        for endpoints FusionAuth documents as never needing the header, such as vend), else the
        only tenant there is; only then is the request ambiguous ([TenantIdRequired])."""
        if self.locked_tenant is not None:
            return self.locked_tenant
        if self.named_tenant_id is not None:
            tenant = Tenant.objects.filter(pk=self.named_tenant_id).first()
            if tenant is None:
                raise ValidationFailed.on_field("tenantId", "invalid", f"{TENANT_HEADER} names no tenant.")
            return tenant
        if inferred is not None:
            return inferred()
        tenants = list(Tenant.objects.all()[:2])
        if len(tenants) == 1:
            return tenants[0]
        raise TenantIdRequired()

    def reaches(self, tenant_id: uuid.UUID | None) -> bool:
        scope = self.tenant_id
        return scope is None or tenant_id == scope

    def visible(
        self,
        found: T | None,
        *,
        tenant_of: Callable[[T], Any] = attrgetter("tenant_id"),
        owner_of: Callable[[T], Any] | None = None,
    ) -> T:
        """`found` if the caller may address it; anything else is not found (404, empty body), so
        a confined caller cannot even learn that another tenant's object exists. With `owner_of`,
        a caller without an API key (a user's access token) reaches only what that user owns."""
        if found is None or not self.reaches(tenant_of(found)):
            raise NotFound()
        if owner_of is not None and self.api_key is None and not self._is_user(owner_of(found)):
            raise NotFound()
        return found

    def _is_user(self, user_id: Any) -> bool:
        return self.principal is not None and self.principal.claims.get("sub") == str(user_id)

    def scope(self, queryset: QuerySet[M], *, field: str = "tenant_id") -> QuerySet[M]:
        """`queryset` narrowed to what the caller may see."""
        scope = self.tenant_id
        return queryset if scope is None else queryset.filter(**{field: scope})

    def key(self) -> APIKey:
        """The API key, for operations only a key may perform (else 401)."""
        if self.api_key is None:
            raise NotAuthenticated()
        return self.api_key

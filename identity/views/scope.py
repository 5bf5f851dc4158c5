"""What an API key may see: its own tenant when locked, the tenant it names, or everything."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar

from rest_framework.request import Request

from identity.authentication import TENANT_HEADER
from identity.exceptions import NotAuthenticated, NotFound
from identity.models import APIKey

T = TypeVar("T")


def caller_key(request: Request) -> APIKey:
    if not isinstance(request.auth, APIKey):
        raise NotAuthenticated()
    return request.auth


def scoped_tenant_id(request: Request) -> uuid.UUID | None:
    """The one tenant this request is confined to, or None for a global key naming no tenant."""
    key = caller_key(request)
    if key.tenant_id is not None:
        return key.tenant_id
    raw = request.headers.get(TENANT_HEADER)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound() from exc


def in_scope(
    request: Request, found: T | None, *, tenant_of: Callable[[T], Any] = attrgetter("tenant_id")
) -> T:
    """`found` if the caller may address it; anything else is not found, so a tenant-locked key
    cannot even learn that another tenant's object exists."""
    if found is None:
        raise NotFound()
    scope = scoped_tenant_id(request)
    if scope is not None and tenant_of(found) != scope:
        raise NotFound()
    return found

"""Applications, their roles and their optional JWT configuration override."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from identity.exceptions import ValidationFailed
from identity.key_store import key_store_invalidate
from identity.models import JWT_CONFIGURATION_FIELDS, Application, ApplicationRole, Registration, Tenant
from identity.services.audit import audit_changes, audit_record, audit_snapshot
from identity.services.personal_access_tokens import pats_revoke_for_application
from identity.services.signing_keys import signers_check, signers_retire
from identity.services.webhooks import public_key_update_emit
from identity.validators import application_validate, text_length_validate

APPLICATION_FIELDS = frozenset(
    {
        "name",
        "active",
        "jwt_enabled",
        *JWT_CONFIGURATION_FIELDS,
        "generate_refresh_tokens",
        "allow_token_refresh",
        "require_authentication",
    }
)


@dataclass(frozen=True)
class RoleSpec:
    name: str
    is_default: bool = False
    is_super_role: bool = False
    description: str = ""


def _check_fields(values: dict[str, Any]) -> None:
    unknown = set(values) - APPLICATION_FIELDS
    if unknown:
        raise TypeError(f"Unknown application fields: {', '.join(sorted(unknown))}")


@transaction.atomic
def application_create(
    *,
    tenant: Tenant,
    name: str,
    roles: Iterable[RoleSpec] = (),
    application_id: uuid.UUID | None = None,
    tenant_locked: bool = False,
    **config: Any,
) -> Application:
    """Create an application and its roles in one transaction, so a bad role leaves nothing behind."""
    _check_fields(config)
    config.pop("name", None)
    defaults = {
        f.name: f.get_default() for f in Application._meta.concrete_fields if f.name in APPLICATION_FIELDS
    }
    application_validate(values={**defaults, **config, "name": name}, tenant=tenant, application=None)
    signers_check(current={}, changes=config, tenant=tenant, tenant_locked=tenant_locked)
    if application_id is not None and Application.objects.filter(pk=application_id).exists():
        raise ValidationFailed.on_field(
            "applicationId", "duplicate", "An application with this id already exists."
        )
    name = name.strip()
    application = Application(id=application_id or uuid.uuid4(), tenant=tenant, name=name, **config)
    application.save()
    audit_record(action="application.create", obj=application)
    key_store_invalidate()
    for spec in roles:
        application_role_create(application=application, spec=spec)
    return application


@transaction.atomic
def application_update(
    *, application: Application, tenant_locked: bool = False, **changes: Any
) -> Application:
    """Change an application; the resulting JWT configuration is validated as a whole, and a new
    signer retires the previous one the way a tenant's does (`signers_retire`)."""
    _check_fields(changes)
    before = audit_snapshot(application)
    current = {f: getattr(application, f) for f in APPLICATION_FIELDS}
    application_validate(values={**current, **changes}, tenant=application.tenant, application=application)
    signers_check(current=current, changes=changes, tenant=application.tenant, tenant_locked=tenant_locked)
    signers = (application.access_token_signing_key_id, application.id_token_signing_key_id)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    for field_name, value in changes.items():
        setattr(application, field_name, value)
    application.save()
    if signers != (application.access_token_signing_key_id, application.id_token_signing_key_id):
        signers_retire(owner=application, tenant=application.tenant, before=signers)
        public_key_update_emit(tenant=None, application=application)
    audit_record(action="application.update", obj=application, diff=audit_changes(before, application))
    key_store_invalidate()
    return application


def application_set_active(*, application: Application, active: bool) -> Application:
    """Deactivate or reactivate. An inactive application's tokens stop refreshing and validating
    (the token services check `active`), without deleting anything, so reactivation restores them."""
    return application_update(application=application, active=active)


@transaction.atomic
def application_delete(*, application: Application) -> None:
    """Delete an application with its roles, registrations and refresh tokens (FusionAuth's hard
    delete; deactivating is the reversible way). The personal access tokens bound to it are revoked
    first: their rows go with it, and a verifier checks no row, so a token left live would keep
    working with no record left to list or revoke it by."""
    pats_revoke_for_application(application=application)
    audit_record(action="application.delete", obj=application, diff=audit_snapshot(application))
    application.delete()
    key_store_invalidate()


def _role_name(*, application: Application, name: str, role: ApplicationRole | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.on_field("role.name", "blank", "A role name is required.")
    try:
        text_length_validate(model=ApplicationRole, values={"name": name})
    except ValidationFailed as exc:
        raise exc.keyed({"name": "role.name"}) from None
    others = application.roles.filter(name__iexact=name)
    if (others.exclude(pk=role.pk) if role is not None else others).exists():
        raise ValidationFailed.on_field("role.name", "duplicate", f"The role {name!r} already exists.")
    return name


@transaction.atomic
def application_role_create(
    *, application: Application, spec: RoleSpec, role_id: uuid.UUID | None = None
) -> ApplicationRole:
    """Add a role; names are unique per application, ignoring case, like FusionAuth's."""
    name = _role_name(application=application, name=spec.name)
    if role_id is not None and ApplicationRole.objects.filter(pk=role_id).exists():
        raise ValidationFailed.on_field("roleId", "duplicate", "A role with this id already exists.")
    role = ApplicationRole.objects.create(
        id=role_id or uuid.uuid4(),
        application=application,
        name=name,
        description=spec.description,
        is_default=spec.is_default,
        is_super_role=spec.is_super_role,
    )
    audit_record(action="role.create", obj=role)
    return role


@transaction.atomic
def application_role_update(*, role: ApplicationRole, spec: RoleSpec) -> ApplicationRole:
    """Change a role. Roles can be renamed (the API and the admin alike): a rename is carried into
    every registration holding the role, so nobody silently loses or keeps a permission by it."""
    name = _role_name(application=role.application, name=spec.name, role=role)
    before = audit_snapshot(role)
    if name != role.name:
        for registration in _holders(role):
            registration.roles = sorted({name if r == role.name else r for r in registration.roles})
            registration.save(update_fields=["roles", "updated_at"])
    role.name, role.description = name, spec.description
    role.is_default, role.is_super_role = spec.is_default, spec.is_super_role
    role.save()
    audit_record(action="role.update", obj=role, diff=audit_changes(before, role))
    return role


@transaction.atomic
def application_role_delete(*, role: ApplicationRole) -> None:
    """Delete a role and take it away from every registration that held it."""
    for registration in _holders(role):
        registration.roles = [r for r in registration.roles if r != role.name]
        registration.save(update_fields=["roles", "updated_at"])
    audit_record(action="role.delete", obj=role, diff=audit_snapshot(role))
    role.delete()


def _holders(role: ApplicationRole) -> list[Registration]:
    """Registrations holding the role (filtered here: JSON containment is not portable to SQLite)."""
    registrations = role.application.registrations.select_for_update().only("id", "roles").iterator()
    return [registration for registration in registrations if role.name in registration.roles]

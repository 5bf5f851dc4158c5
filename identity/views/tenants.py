"""Provisioning: `/api/tenant` and `/api/application` (with roles), FusionAuth's shapes."""

from __future__ import annotations

from typing import Any

from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from identity.authentication import APIKeyAuthentication, HasAPIKey, caller_of
from identity.exceptions import NotAuthenticated, NotFound, ValidationFailed
from identity.models import Application, ApplicationRole, Tenant
from identity.services.applications import (
    RoleSpec,
    application_create,
    application_delete,
    application_role_create,
    application_role_delete,
    application_role_update,
    application_set_active,
    application_update,
)
from identity.services.tenants import tenant_create, tenant_delete, tenant_update
from identity.views.common import body_object, instant, path_uuid
from identity.views.mapping import (
    application_specs,
    errors_on_wire,
    read_bool,
    read_object,
    read_str,
    tenant_specs,
    write_object,
)

DURATION_UNITS = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86_400, "WEEKS": 604_800}


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    body = {"id": str(tenant.pk), **write_object(tenant, tenant_specs(tenant))}
    failed = body["failedAuthenticationConfiguration"]
    failed.update(actionDuration=tenant.failed_login_lockout_seconds, actionDurationUnit="SECONDS")
    return {
        **body,
        "insertInstant": instant(tenant.created_at),
        "lastUpdateInstant": instant(tenant.updated_at),
    }


def _tenant_values(payload: Any, tenant: Tenant | None) -> dict[str, Any]:
    """FusionAuth expresses the lockout as actionDuration + actionDurationUnit; we keep seconds."""
    failed = payload.get("failedAuthenticationConfiguration") if isinstance(payload, dict) else None
    if isinstance(failed, dict) and "actionDuration" in failed:
        unit = failed.get("actionDurationUnit", "MINUTES")
        duration = failed["actionDuration"]
        if unit not in DURATION_UNITS or isinstance(duration, bool) or not isinstance(duration, int):
            raise ValidationFailed.on_field(
                "tenant.failedAuthenticationConfiguration.actionDuration",
                "invalid",
                "A whole number with a unit.",
            )
        failed = {**failed, "actionDurationInSeconds": duration * DURATION_UNITS[unit]}
        payload = {**payload, "failedAuthenticationConfiguration": failed}
    return read_object(payload, "tenant", tenant_specs(tenant))


class TenantViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def _get(self, request: Request, pk: str | None) -> Tenant:
        return caller_of(request).visible(
            Tenant.objects.filter(pk=path_uuid(pk)).first(), tenant_of=lambda t: t.pk
        )

    def list(self, request: Request) -> Response:
        tenants = caller_of(request).scope(Tenant.objects.all(), field="pk")
        return Response({"tenants": [tenant_json(t) for t in tenants]})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"tenant": tenant_json(self._get(request, pk))})

    def create(self, request: Request, pk: str | None = None) -> Response:
        if caller_of(request).locked_tenant is not None:
            raise NotAuthenticated()  # a tenant-locked key cannot create tenants
        values = _tenant_values(body_object(request, "tenant"), None)
        if "name" not in values:
            raise ValidationFailed.on_field("tenant.name", "blank", "A name is required.")
        with errors_on_wire("tenant", tenant_specs(None)):
            tenant = tenant_create(tenant_id=path_uuid(pk) if pk else None, **values)
        return Response({"tenant": tenant_json(tenant)})

    def update(self, request: Request, pk: str | None = None) -> Response:
        tenant = self._get(request, pk)
        values = _tenant_values(body_object(request, "tenant"), tenant)
        with errors_on_wire("tenant", tenant_specs(tenant)):
            tenant = tenant_update(
                tenant=tenant, tenant_locked=caller_of(request).locked_tenant is not None, **values
            )
        return Response({"tenant": tenant_json(tenant)})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        tenant_delete(tenant=self._get(request, pk))
        return Response(status=200)


def role_json(role: ApplicationRole) -> dict[str, Any]:
    return {
        "id": str(role.pk),
        "name": role.name,
        "description": role.description,
        "isDefault": role.is_default,
        "isSuperRole": role.is_super_role,
        "insertInstant": instant(role.created_at),
        "lastUpdateInstant": instant(role.updated_at),
    }


def application_json(application: Application) -> dict[str, Any]:
    return {
        "id": str(application.pk),
        "tenantId": str(application.tenant_id),
        "active": application.active,
        **write_object(application, application_specs(application.tenant)),
        "roles": [role_json(r) for r in application.roles.order_by("name")],
        "insertInstant": instant(application.created_at),
        "lastUpdateInstant": instant(application.updated_at),
    }


def _role_spec(payload: Any, root: str) -> RoleSpec:
    if not isinstance(payload, dict):
        raise ValidationFailed.on_field(root, "invalid", f"{root} must be a JSON object.")
    return RoleSpec(
        name=read_str(191, blank=False)(payload.get("name", ""), f"{root}.name"),
        description=read_str(255)(payload.get("description", ""), f"{root}.description"),
        is_default=read_bool(payload.get("isDefault", False), f"{root}.isDefault"),
        is_super_role=read_bool(payload.get("isSuperRole", False), f"{root}.isSuperRole"),
    )


class ApplicationViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def _get(self, request: Request, pk: str | None) -> Application:
        return caller_of(request).visible(
            Application.objects.select_related("tenant").filter(pk=path_uuid(pk)).first()
        )

    def list(self, request: Request) -> Response:
        inactive = request.query_params.get("inactive") == "true"
        applications = caller_of(request).scope(
            Application.objects.select_related("tenant").filter(active=not inactive)
        )
        return Response({"applications": [application_json(a) for a in applications]})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"application": application_json(self._get(request, pk))})

    def create(self, request: Request, pk: str | None = None) -> Response:
        tenant = caller_of(request).tenant()
        payload = body_object(request, "application")
        values = read_object(payload, "application", application_specs(tenant))
        if "name" not in values:
            raise ValidationFailed.on_field("application.name", "blank", "A name is required.")
        roles = payload.get("roles") or []
        if not isinstance(roles, list):
            raise ValidationFailed.on_field("application.roles", "invalid", "roles must be a list.")
        specs = [_role_spec(role, f"application.roles[{i}]") for i, role in enumerate(roles)]
        with errors_on_wire("application", application_specs(tenant)):
            application = application_create(
                tenant=tenant,
                roles=specs,
                application_id=path_uuid(pk) if pk else None,
                tenant_locked=caller_of(request).locked_tenant is not None,
                **values,
            )
        return Response({"application": application_json(application)})

    def update(self, request: Request, pk: str | None = None) -> Response:
        application = self._get(request, pk)
        if request.query_params.get("reactivate") == "true":
            application = application_set_active(application=application, active=True)
        else:
            values = read_object(
                body_object(request, "application"), "application", application_specs(application.tenant)
            )
            with errors_on_wire("application", application_specs(application.tenant)):
                application = application_update(
                    application=application,
                    tenant_locked=caller_of(request).locked_tenant is not None,
                    **values,
                )
        return Response({"application": application_json(application)})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Deactivate, as FusionAuth does; `?hardDelete=true` deletes for good."""
        application = self._get(request, pk)
        if request.query_params.get("hardDelete") == "true":
            application_delete(application=application)
        else:
            application_set_active(application=application, active=False)
        return Response(status=200)

    def _role(self, request: Request, pk: str | None, role_id: str | None) -> ApplicationRole:
        role = self._get(request, pk).roles.filter(pk=path_uuid(role_id)).first()
        if role is None:
            raise NotFound()
        return role

    def create_role(self, request: Request, pk: str | None = None, role_id: str | None = None) -> Response:
        application = self._get(request, pk)
        role = application_role_create(
            application=application,
            spec=_role_spec(body_object(request, "role"), "role"),
            role_id=path_uuid(role_id) if role_id else None,
        )
        return Response({"role": role_json(role)})

    def update_role(self, request: Request, pk: str | None = None, role_id: str | None = None) -> Response:
        role = self._role(request, pk, role_id)
        payload = body_object(request, "role")
        if request.method == "PATCH" and isinstance(payload, dict):
            current = {"name": role.name, "description": role.description, "isDefault": role.is_default,
                       "isSuperRole": role.is_super_role}  # fmt: skip
            payload = {**current, **payload}
        return Response(
            {"role": role_json(application_role_update(role=role, spec=_role_spec(payload, "role")))}
        )

    def destroy_role(self, request: Request, pk: str | None = None, role_id: str | None = None) -> Response:
        application_role_delete(role=self._role(request, pk, role_id))
        return Response(status=200)

"""Provisioning: `/api/tenant` and `/api/application` (with roles and login backends), FusionAuth's
shapes."""

from __future__ import annotations

from contextlib import AbstractContextManager

from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from identity.authentication import APIKeyAuthentication, HasAPIKey, caller_of
from identity.exceptions import NotAuthenticated, NotFound
from identity.models import Application, ApplicationRole, LoginBackend, Tenant
from identity.selectors import (
    application_get,
    application_list,
    application_role_get,
    login_backend_get,
    login_backend_list,
    tenant_get,
    tenant_list,
)
from identity.serializers.applications import (
    ApplicationCreateSerializer,
    ApplicationSerializer,
    RoleSerializer,
)
from identity.serializers.common import errors_on_wire, parse_body
from identity.serializers.login_backends import LoginBackendSerializer
from identity.serializers.oauth import OAuthConfigurationSerializer, with_client_secret
from identity.serializers.tenants import TenantSerializer
from identity.services.applications import (
    application_delete,
    application_role_create,
    application_role_delete,
    application_role_update,
    application_set_active,
)
from identity.services.login_backends import login_backend_create, login_backend_delete, login_backend_update
from identity.services.oauth_clients import oauth_application_create, oauth_application_update
from identity.services.tenants import tenant_create, tenant_delete, tenant_update
from identity.views.common import optional_path_uuid, path_uuid, query_flag


class TenantViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def _get(self, request: Request, pk: str | None) -> Tenant:
        return caller_of(request).visible(tenant_get(tenant_id=path_uuid(pk)), tenant_of=lambda t: t.pk)

    def list(self, request: Request) -> Response:
        tenants = tenant_list(caller=caller_of(request))
        return Response({"tenants": TenantSerializer(tenants, many=True).data})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"tenant": TenantSerializer(self._get(request, pk)).data})

    def create(self, request: Request, pk: str | None = None) -> Response:
        _not_tenant_locked(request)
        tenant_id = optional_path_uuid(pk)  # a path that is no id is a 404 before the body is read
        values = parse_body(request.data, "tenant", TenantSerializer, context={"tenant": None})
        with errors_on_wire("tenant", TenantSerializer):
            tenant = tenant_create(tenant_id=tenant_id, **values)
        return Response({"tenant": TenantSerializer(tenant).data})

    def update(self, request: Request, pk: str | None = None) -> Response:
        """PUT and PATCH change only what they send, as the API always has; an unknown member in a
        PATCH is a 400."""
        tenant = self._get(request, pk)
        strict = request.method == "PATCH"  # an unknown member is a 400, not a silent 200
        values = parse_body(
            request.data, "tenant", TenantSerializer, partial=True, strict=strict, context={"tenant": tenant}
        )
        with errors_on_wire("tenant", TenantSerializer):
            tenant = tenant_update(
                tenant=tenant, tenant_locked=caller_of(request).locked_tenant is not None, **values
            )
        return Response({"tenant": TenantSerializer(tenant).data})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        _not_tenant_locked(request)
        tenant_delete(tenant=self._get(request, pk))
        return Response(status=200)


def _not_tenant_locked(request: Request) -> None:
    """Tenants are made and ended by global keys only: a tenant-locked key may change its tenant's
    settings, not create tenants nor delete its own (with every user, session and key in it)."""
    if caller_of(request).locked_tenant is not None:
        raise NotAuthenticated()


def _oauth_errors() -> AbstractContextManager[None]:
    """OAuth configuration errors on `application.oauthConfiguration.<member>`."""
    return errors_on_wire("application.oauthConfiguration", OAuthConfigurationSerializer)


class ApplicationViewSet(viewsets.ViewSet):
    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def _get(self, request: Request, pk: str | None) -> Application:
        return caller_of(request).visible(application_get(application_id=path_uuid(pk)))

    def _role(self, request: Request, pk: str | None, role_id: str | None) -> ApplicationRole:
        role = application_role_get(application=self._get(request, pk), role_id=path_uuid(role_id))
        if role is None:
            raise NotFound()
        return role

    def list(self, request: Request) -> Response:
        applications = application_list(caller=caller_of(request), active=not query_flag(request, "inactive"))
        return Response({"applications": ApplicationSerializer(applications, many=True).data})

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response({"application": ApplicationSerializer(self._get(request, pk)).data})

    def retrieve_oauth_configuration(self, request: Request, pk: str | None = None) -> Response:
        """`GET /api/application/{id}/oauth-configuration` (the SDK's retrieve_oauth_configuration):
        the application's `oauthConfiguration` member, never the secret; null for no OAuth client."""
        application = ApplicationSerializer(self._get(request, pk)).data
        return Response({"oauthConfiguration": application.get("oauthConfiguration")})

    def create(self, request: Request, pk: str | None = None) -> Response:
        caller = caller_of(request)
        application_id = optional_path_uuid(pk)
        tenant = caller.tenant()
        values = parse_body(
            request.data, "application", ApplicationCreateSerializer, context={"tenant": tenant}
        )
        oauth = values.pop("oauth_configuration", None)
        with errors_on_wire("application", ApplicationSerializer), _oauth_errors():
            application, configured = oauth_application_create(
                oauth=oauth,
                tenant=tenant,
                application_id=application_id,
                tenant_locked=caller.locked_tenant is not None,
                **values,
            )
        return Response(
            {"application": with_client_secret(ApplicationSerializer(application).data, configured)}
        )

    def update(self, request: Request, pk: str | None = None) -> Response:
        """`?reactivate=true` reactivates; otherwise PUT and PATCH change only what they send."""
        application = self._get(request, pk)
        if query_flag(request, "reactivate"):
            application = application_set_active(application=application, active=True)
            return Response({"application": ApplicationSerializer(application).data})
        context = {"tenant": application.tenant}
        strict = request.method == "PATCH"  # an unknown member is a 400, not a silent 200
        values = parse_body(
            request.data, "application", ApplicationSerializer, partial=True, strict=strict, context=context
        )
        oauth = values.pop("oauth_configuration", None)
        with errors_on_wire("application", ApplicationSerializer), _oauth_errors():
            application, configured = oauth_application_update(
                application=application,
                oauth=oauth,
                tenant_locked=caller_of(request).locked_tenant is not None,
                **values,
            )
        return Response(
            {"application": with_client_secret(ApplicationSerializer(application).data, configured)}
        )

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Deactivate, as FusionAuth does; `?hardDelete=true` deletes for good."""
        application = self._get(request, pk)
        if query_flag(request, "hardDelete"):
            application_delete(application=application)
        else:
            application_set_active(application=application, active=False)
        return Response(status=200)

    def create_role(self, request: Request, pk: str | None = None, role_id: str | None = None) -> Response:
        application, chosen = self._get(request, pk), optional_path_uuid(role_id)
        spec = parse_body(request.data, "role", RoleSerializer)
        role = application_role_create(application=application, spec=spec, role_id=chosen)
        return Response({"role": RoleSerializer(role).data})

    def update_role(self, request: Request, pk: str | None = None, role_id: str | None = None) -> Response:
        """PUT and PATCH change only the members sent (docs/fusionauth-differences.md: an omitted
        `isDefault` or description is not silently reset); PATCH refuses unknown members."""
        role = self._role(request, pk, role_id)
        spec = parse_body(
            request.data,
            "role",
            RoleSerializer,
            partial=True,
            strict=request.method == "PATCH",
            instance=role,
        )
        return Response({"role": RoleSerializer(application_role_update(role=role, spec=spec)).data})

    def destroy_role(self, request: Request, pk: str | None = None, role_id: str | None = None) -> Response:
        application_role_delete(role=self._role(request, pk, role_id))
        return Response(status=200)


class LoginBackendViewSet(viewsets.ViewSet):
    """`/api/application/{id}/login-backend[/{backendId}]`: an application's fastapi-users style
    login backends (ours, not FusionAuth's; shaped like the role endpoints)."""

    authentication_classes = [APIKeyAuthentication]
    permission_classes = [HasAPIKey]

    def _application(self, request: Request, pk: str | None) -> Application:
        return caller_of(request).visible(application_get(application_id=path_uuid(pk)))

    def _get(self, request: Request, pk: str | None, backend_id: str | None) -> LoginBackend:
        application = self._application(request, pk)
        backend = login_backend_get(application=application, backend_id=path_uuid(backend_id))
        if backend is None:
            raise NotFound()
        return backend

    def list(self, request: Request, pk: str | None = None) -> Response:
        backends = login_backend_list(application=self._application(request, pk))
        return Response({"loginBackends": LoginBackendSerializer(backends, many=True).data})

    def retrieve(self, request: Request, pk: str | None = None, backend_id: str | None = None) -> Response:
        return Response({"loginBackend": LoginBackendSerializer(self._get(request, pk, backend_id)).data})

    def create(self, request: Request, pk: str | None = None, backend_id: str | None = None) -> Response:
        application, chosen = self._application(request, pk), optional_path_uuid(backend_id)
        values = parse_body(request.data, "loginBackend", LoginBackendSerializer)
        with errors_on_wire("loginBackend", LoginBackendSerializer):
            backend = login_backend_create(application=application, backend_id=chosen, **values)
        return Response({"loginBackend": LoginBackendSerializer(backend).data})

    def update(self, request: Request, pk: str | None = None, backend_id: str | None = None) -> Response:
        """PUT and PATCH change only what they send."""
        backend = self._get(request, pk, backend_id)
        values = parse_body(request.data, "loginBackend", LoginBackendSerializer, partial=True)
        with errors_on_wire("loginBackend", LoginBackendSerializer):
            backend = login_backend_update(backend=backend, **values)
        return Response({"loginBackend": LoginBackendSerializer(backend).data})

    def destroy(self, request: Request, pk: str | None = None, backend_id: str | None = None) -> Response:
        login_backend_delete(backend=self._get(request, pk, backend_id))
        return Response(status=200)

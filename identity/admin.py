"""The admin console. Writes go through the services (see identity.forms.ServiceModelForm), secrets
are never displayed, and values that exist only once (API keys, HMAC secrets) are shown on a page
of their own, never through messages, which may be stored in the session."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin import widgets as admin_widgets
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, F, Model, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.utils.translation import ngettext

from identity.exceptions import ValidationFailed
from identity.forms import (
    OAUTH_FORM_FIELDS,
    APIKeyCreateForm,
    ApplicationForm,
    ClientSecretRotationForm,
    ExternalJWTProviderForm,
    LoginBackendInlineForm,
    OAuthConfigurationInlineForm,
    OAuthConfigurationInlineFormSet,
    PasswordChangeForm,
    PersonalAccessTokenCreateForm,
    RegistrationForm,
    RoleInlineForm,
    RoleInlineFormSet,
    ServiceModelForm,
    SigningKeyGenerateForm,
    SigningKeyImportForm,
    SigningKeyRenameForm,
    TenantForm,
    UserChangeForm,
    UserCreationForm,
    UserRegistrationForm,
    UserRegistrationFormSet,
)
from identity.models import (
    JWT_CONFIGURATION_FIELDS,
    APIKey,
    Application,
    ApplicationRole,
    ExternalJWTProvider,
    IdentityProviderLink,
    LoginBackend,
    OAuthConfiguration,
    PersonalAccessToken,
    RefreshToken,
    Registration,
    SigningKey,
    Tenant,
    User,
)
from identity.selectors import tenant_get_default
from identity.services.api_keys import api_key_delete
from identity.services.applications import (
    RoleSpec,
    application_delete,
    application_role_create,
    application_role_delete,
    application_role_update,
)
from identity.services.identity_providers import (
    external_jwt_provider_delete,
    identity_provider_link_delete,
)
from identity.services.login_backends import login_backend_create, login_backend_delete, login_backend_update
from identity.services.oauth_clients import oauth_client_configure, oauth_client_secret_rotate
from identity.services.personal_access_tokens import pat_revoke
from identity.services.refresh_tokens import RevokeReason, refresh_tokens_revoke
from identity.services.registrations import registration_create, registration_delete, registration_update
from identity.services.signing_keys import (
    signing_key_delete,
    signing_key_delete_refusal,
    signing_key_rotate,
    tenant_signing_key_set,
)
from identity.services.tenants import tenant_delete
from identity.services.users import user_delete, user_unlock
from identity.validators import LOGIN_BACKEND_FIELDS

# "View site" would lead to an API root that answers 404: the console has no public site to show.
admin.site.site_url = None

DIGEST_PREFIX_LENGTH = 12
FINGERPRINT_LENGTH = 16
RECORD_FIELDS = ("id", "created_at", "updated_at")
# Request attribute carrying a value from save_model to response_add; it lives as long as the request.
_SHOWN_ONCE_ATTRIBUTE = "_identity_shown_once"
# Request attribute carrying a service's refusal from a rolled-back save to the page shown again.
_REFUSED_ATTRIBUTE = "_identity_refused"


def role_spec(role: ApplicationRole) -> RoleSpec:
    return RoleSpec(
        name=role.name,
        description=role.description,
        is_default=role.is_default,
        is_super_role=role.is_super_role,
    )


class _Refused(Exception):
    """A service refused the admin's save; carries its errors out of Django's atomic changeform_view."""

    def __init__(self, errors: ValidationFailed) -> None:
        super().__init__(str(errors))
        self.errors = errors


def tenant_column(without: str) -> Any:
    """A list column naming a row's tenant, or `without` for a row of no tenant (global keys)."""

    @admin.display(description="tenant", ordering="tenant__name")
    def column(modeladmin: admin.ModelAdmin, obj: Any) -> str:
        return str(obj.tenant) if obj.tenant is not None else without

    return column


def _digest_prefix(digest: str) -> str:
    return f"{digest[:DIGEST_PREFIX_LENGTH]}…" if digest else ""


class AutocompleteSelect(admin_widgets.AutocompleteSelect):
    """Django's autocomplete widget, minus its 500 when a submitted value is no id of the model
    (`tenant=zzz` in a hand-made POST): the form already says "Select a valid choice"; re-showing
    the page then shows no selection instead of failing to look the value up."""

    def optgroups(self, name: str, value: Any, attr: Any = None) -> Any:
        try:
            return super().optgroups(name, value, attr)
        except (DjangoValidationError, ValueError):
            return super().optgroups(name, [], attr)


class IdentityModelAdmin(admin.ModelAdmin):
    """Shared by every identity admin: secret columns cannot be probed with URL lookups
    (`?token_digest__startswith=…` would otherwise work on any local field), revoking refresh
    tokens is allowed to whoever may delete them, and autocomplete fields survive malformed ids."""

    secret_fields: Sequence[str] = ()

    def confirmation(
        self, request: HttpRequest, queryset: QuerySet[Any], *, action: str, question: str, submit: str
    ) -> TemplateResponse | None:
        """None once the operator confirmed (the page's "confirm"), else the page asking: what the
        action `action` will do (`question`) to the selected rows. For actions that cannot be undone
        and have no question of their own, as Django's delete asks first."""
        if request.POST.get("confirm") == "yes":
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": submit,
            "opts": self.opts,
            "question": question,
            "rows": [str(row) for row in queryset[:100]],
            "submit": submit,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/identity/action_confirmation.html", context)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = AutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        return lookup.split("__")[0] not in self.secret_fields and super().lookup_allowed(
            lookup, value, request
        )

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("identity.delete_refreshtoken")

    def change_context(self, request: HttpRequest, object_id: str | None) -> dict[str, Any]:
        """Extra context of the add/change page (e.g. which buttons to show)."""
        return {}

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {**(extra_context or {}), **self.change_context(request, object_id)}
        return super().changeform_view(request, object_id, form_url, context)

    def report_revoked(self, request: HttpRequest, count: int) -> None:
        message = ngettext("Revoked %(count)d refresh token.", "Revoked %(count)d refresh tokens.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    def shown_once_response(
        self, request: HttpRequest, obj: Any, shown: list[tuple[str, str]], *, title: str, warning: str
    ) -> HttpResponse:
        """A page holding values that exist only in this response, never cached, instead of a
        redirect with a message: messages live in a cookie or the session, and the values must
        never be stored anywhere."""
        info = (self.opts.app_label, self.opts.model_name)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": str(obj) if obj is not None else "",
            "opts": self.opts,
            "object": obj,
            "shown_once": shown,
            "warning": warning,
            "change_url": reverse("admin:{}_{}_change".format(*info), args=[quote(obj.pk)])
            if obj is not None
            else reverse("admin:{}_{}_changelist".format(*info)),
            "changelist_url": reverse("admin:{}_{}_changelist".format(*info)),
        }
        response = TemplateResponse(request, "admin/identity/shown_once.html", context)
        add_never_cache_headers(response)
        return response


def delete_selected_unless_refused(
    modeladmin: ServiceAdmin, request: HttpRequest, queryset: QuerySet[Any]
) -> HttpResponse | None:
    """Django's bulk delete, refused as a whole with the reasons when any selected row may not go."""
    refusals = [refusal for obj in queryset if (refusal := modeladmin.delete_refusal(obj))]
    for refusal in refusals:
        modeladmin.message_user(request, refusal, messages.ERROR)
    return None if refusals else delete_selected(modeladmin, request, queryset)


def revoke_refresh_tokens_of(owner: str) -> Any:
    """The action revoking every refresh token of the selected users or applications (`owner`, the
    keyword of refresh_tokens_revoke), through the service, once per selected row."""

    @admin.action(permissions=["revoke"], description=f"Revoke all refresh tokens of selected {owner}s")
    def revoke_refresh_tokens(
        modeladmin: IdentityModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
    ) -> TemplateResponse | None:
        page = modeladmin.confirmation(
            request,
            queryset,
            action="revoke_refresh_tokens",
            question=f"Every refresh token of these {owner}s will be revoked: their sessions end.",
            submit="Revoke the refresh tokens",
        )
        if page is not None:
            return page
        revoked = sum(refresh_tokens_revoke(reason=RevokeReason.ADMIN, **{owner: obj}) for obj in queryset)
        modeladmin.report_revoked(request, revoked)
        return None

    return revoke_refresh_tokens


class ServiceAdmin(IdentityModelAdmin):
    """An admin whose forms are ServiceModelForms and whose deletes go through `service_delete`.

    `add_form`/`add_fieldsets` give the add page its own form (as Django's UserAdmin does), and
    `change_readonly_fields` are editable when adding only (e.g. an application's tenant)."""

    add_form: type[ModelForm] | None = None
    add_fieldsets: Any = None
    change_readonly_fields: Sequence[str] = ()

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None and self.add_fieldsets is not None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly + tuple(self.change_readonly_fields) if obj is not None else readonly

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None and self.add_form is not None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change=change, **kwargs)
        refused = getattr(request, _REFUSED_ATTRIBUTE, None)
        if refused is not None and issubclass(form, ServiceModelForm):
            form = type(form.__name__, (form,), {"refused": refused})
        return form

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """A refusal from the service (in save_model or an inline's save) rolls the whole save back
        (Django's changeform_view is atomic) and shows the same page again with the refusal as form
        errors. The second pass only validates: the service is not called twice."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused as refused:
            setattr(request, _REFUSED_ATTRIBUTE, refused.errors)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Any, form: ServiceModelForm[Any], change: bool) -> None:
        try:
            form.write()
        except ValidationFailed as exc:
            raise _Refused(exc) from exc

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        try:
            super().save_related(request, form, formsets, change)
        except ValidationFailed as exc:
            raise _Refused(exc) from exc

    def delete_refusal(self, obj: Any) -> str | None:
        """Why `obj` may not be deleted, shown as an error message instead of the confirmation."""
        return None

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """Refresh tokens and personal access tokens cannot be deleted one by one (they are revoked
        and kept), but they go with their user, application or tenant, whose delete services revoke
        them first (a PAT's id stays refused everywhere): no permission of their own is needed."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(RefreshToken._meta.verbose_name)
        perms_needed.discard(PersonalAccessToken._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def service_delete(self, obj: Any) -> None:
        """Delete through the model's service: every ServiceAdmin says which."""
        raise NotImplementedError(f"{type(self).__name__} names no delete service.")

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.service_delete(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.service_delete(obj)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_delete_permission(request, obj):
            refusal = self.delete_refusal(obj)
            if refusal:
                self.message_user(request, refusal, messages.ERROR)
                return HttpResponseRedirect(
                    reverse(
                        f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                        args=[quote(obj.pk)],
                        current_app=self.admin_site.name,
                    )
                )
        return super().delete_view(request, object_id, extra_context)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions[name] = (delete_selected_unless_refused, name, description)
        return actions


class ShowOnceAdmin(ServiceAdmin):
    """Adding shows a value that exists only in this response (an API key, an HMAC secret).

    save_model hands the value to response_add on the request object, and response_add renders it
    on a page that must not be cached, instead of redirecting with a message: messages live in a
    cookie or the session, and the value must never be stored anywhere."""

    shown_once_warning = ""

    def shown_once(self, form: Any) -> list[tuple[str, str]]:
        """The (label, value) pairs to show after adding, taken from the form that wrote them."""
        raise NotImplementedError

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The response to an add is always the one-time page, whichever button was pressed.
        hide = {"show_save_and_add_another": False, "show_save_and_continue": False}
        return super().add_view(request, form_url, {**(extra_context or {}), **hide})

    def save_model(self, request: HttpRequest, obj: Any, form: ServiceModelForm[Any], change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            setattr(request, _SHOWN_ONCE_ATTRIBUTE, self.shown_once(form))

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: str | None = None
    ) -> HttpResponse:
        return self.shown_once_response(
            request,
            obj,
            getattr(request, _SHOWN_ONCE_ATTRIBUTE),
            title=capfirst(f"{self.opts.verbose_name} created"),
            warning=self.shown_once_warning,
        )


@admin.register(Tenant)
class TenantAdmin(ServiceAdmin):
    form = TenantForm
    list_display = (
        "name",
        "id",
        "issuer",
        "is_default",
        "access_token_ttl_seconds",
        "refresh_token_ttl_minutes",
        "refresh_token_usage_policy",
        "created_at",
    )
    list_filter = ("is_default", "refresh_token_expiration_policy", "refresh_token_usage_policy")
    search_fields = ("name", "issuer", "id")
    autocomplete_fields = ("access_token_signing_key", "id_token_signing_key")
    readonly_fields = ("is_default", "verification_keys", *RECORD_FIELDS)
    fieldsets = (
        (None, {"fields": ("name", "issuer", "is_default")}),
        ("JWT configuration", {"fields": (*JWT_CONFIGURATION_FIELDS, "verification_keys")}),
        (
            "Token revocation",
            {
                "fields": (
                    "revoke_on_password_changed",
                    "revoke_on_login_prevented",
                    "revoke_on_one_time_token_reuse",
                    "revoke_access_tokens_on_password_changed",
                    "refresh_token_limit_per_user",
                )
            },
        ),
        (
            "Login",
            {
                "fields": (
                    "require_authentication",
                    "failed_login_max_attempts",
                    "failed_login_window_seconds",
                    "failed_login_lockout_seconds",
                )
            },
        ),
        ("Record", {"fields": RECORD_FIELDS}),
    )

    def delete_refusal(self, obj: Tenant) -> str | None:
        return "The default tenant cannot be deleted: it holds the console staff." if obj.is_default else None

    actions = ("rotate_signing_key",)

    @admin.action(permissions=["change"], description="Rotate the signing key of selected tenants")
    def rotate_signing_key(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> TemplateResponse | None:
        """`manage.py rotate_signing_key` for each tenant, same algorithm, after a confirmation page;
        HMAC keys are left to the command, which shows the new secret once."""
        page = self.confirmation(
            request,
            queryset,
            action="rotate_signing_key",
            question="Each of these tenants will sign with a new key; its previous key keeps verifying.",
            submit="Rotate the signing keys",
        )
        if page is not None:
            return page
        for tenant in queryset.select_related("access_token_signing_key"):
            current = tenant.access_token_signing_key
            algorithm = current.algorithm if current is not None else "ES256"
            if algorithm.startswith("HS"):
                self.message_user(
                    request, f"{tenant.name}: rotate HMAC keys with the command.", messages.WARNING
                )
                continue
            key = signing_key_rotate(
                tenant=tenant,
                algorithm=algorithm,
                name=f"{tenant.name} {algorithm} {timezone.now():%Y-%m-%d}",
            ).key
            self.message_user(
                request, f"{tenant.name} now signs with kid {key.kid}; the previous key still verifies."
            )
        return None

    def service_delete(self, obj: Tenant) -> None:
        tenant_delete(tenant=obj)


class LoginBackendInline(admin.StackedInline):
    model = LoginBackend
    form = LoginBackendInlineForm
    fields = (
        ("name", "transport", "lifetime_seconds"),
        ("cookie_name", "cookie_domain", "cookie_path"),
        ("cookie_secure", "cookie_samesite"),
    )
    extra = 0
    verbose_name = "login backend (POST /auth/<name>/login)"


class RoleInline(admin.TabularInline):
    model = ApplicationRole
    form = RoleInlineForm
    formset = RoleInlineFormSet
    fields = ("name", "description", "is_default", "is_super_role")
    extra = 1


class OAuthConfigurationInline(admin.StackedInline):
    """The application as an OAuth2 client. The secret is never shown here (only its rotation
    date); a new client's secret is shown once after the save, and rotated with the list's action."""

    model = OAuthConfiguration
    form = OAuthConfigurationInlineForm
    formset = OAuthConfigurationInlineFormSet
    fields = ("is_client", *OAUTH_FORM_FIELDS, "secret_rotated_at", "previous_secret_valid_until")
    readonly_fields = ("secret_rotated_at", "previous_secret_valid_until")
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = "OAuth configuration"
    verbose_name_plural = "OAuth client"


@admin.register(Application)
class ApplicationAdmin(ServiceAdmin):
    form = ApplicationForm
    inlines = (RoleInline, OAuthConfigurationInline, LoginBackendInline)
    list_display = (
        "name",
        "id",
        "tenant",
        "active",
        "jwt_enabled",
        "generate_refresh_tokens",
        "allow_token_refresh",
        "oauth_client",
        "created_at",
    )
    list_filter = ("tenant", "active", "jwt_enabled")
    search_fields = ("name", "id", "tenant__name")
    list_select_related = ("tenant", "oauth_configuration")
    autocomplete_fields = ("tenant", "access_token_signing_key", "id_token_signing_key")
    readonly_fields = ("verification_keys", *RECORD_FIELDS)
    change_readonly_fields = ("tenant",)
    actions = (revoke_refresh_tokens_of("application"), "rotate_client_secret")
    shown_once_warning = (
        "This is the only time the client secret is shown. It is stored only as a digest and cannot "
        "be displayed again; rotate it if it is lost."
    )
    fieldsets = (
        (None, {"fields": ("tenant", "name", "active")}),
        (
            "Login",
            {"fields": ("generate_refresh_tokens", "allow_token_refresh", "require_authentication")},
        ),
        (
            "JWT configuration",
            {
                "fields": ("jwt_enabled", *JWT_CONFIGURATION_FIELDS, "verification_keys"),
                "description": "Used instead of the tenant's only when enabled.",
            },
        ),
        ("Record", {"fields": RECORD_FIELDS}),
    )

    @admin.display(boolean=True, description="OAuth client")
    def oauth_client(self, obj: Application) -> bool:
        return hasattr(obj, "oauth_configuration")

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Every row goes through the services: roles through the role services (so a deleted role
        is taken from the registrations holding it and a renamed one is renamed in them; deletions
        go first, so a role, or a backend name, can be replaced by one differing only in case), the
        login backends through theirs, the OAuth client through `oauth_client_configure` (a new
        client's secret is kept for `response_add` / `response_change` to show once)."""
        if formset.model is LoginBackend:
            self._save_login_backends(form, formset)
            return
        formset.save(commit=False)  # builds the instances and the change lists; writes nothing
        if formset.model is OAuthConfiguration:
            self._save_oauth_configuration(request, form.instance, formset)
            return
        # The formset's instances already carry the submitted values; the services compare with
        # the stored row (a rename is found by the old name in the registrations).
        stored = ApplicationRole.objects.in_bulk(
            [role.pk for role in formset.deleted_objects]
            + [role.pk for role, _changed in formset.changed_objects]
        )
        for role in formset.deleted_objects:
            application_role_delete(role=stored[role.pk])
        for role, _changed in formset.changed_objects:
            application_role_update(role=stored[role.pk], spec=role_spec(role))
        for role in formset.new_objects:
            application_role_create(application=form.instance, spec=role_spec(role))

    def _save_oauth_configuration(self, request: HttpRequest, application: Application, formset: Any) -> None:
        for inline_form in formset.forms:
            if not inline_form.has_changed():
                continue
            configured = oauth_client_configure(application=application, **inline_form.oauth_values())
            if configured.client_secret is not None:
                shown = [("Client id", str(application.pk)), ("Client secret", configured.client_secret)]
                setattr(request, _SHOWN_ONCE_ATTRIBUTE, shown)

    def _client_secret_page(self, request: HttpRequest, obj: Any, title: str) -> HttpResponse | None:
        shown = getattr(request, _SHOWN_ONCE_ATTRIBUTE, None)
        if not shown:
            return None
        return self.shown_once_response(request, obj, shown, title=title, warning=self.shown_once_warning)

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: str | None = None
    ) -> HttpResponse:
        page = self._client_secret_page(request, obj, "Application created: OAuth client secret")
        return page or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        page = self._client_secret_page(request, obj, "Application saved: OAuth client secret")
        return page or super().response_change(request, obj)

    @admin.action(
        permissions=["change"], description="Rotate the OAuth client secret of selected applications"
    )
    def rotate_client_secret(
        self, request: HttpRequest, queryset: QuerySet[Application]
    ) -> HttpResponse | None:
        """`oauth_client_secret_rotate` for each selected OAuth client, after a page asking for the
        overlap window; the new secrets are shown once, on a page of their own."""
        clients = list(queryset.filter(oauth_configuration__isnull=False).select_related("tenant"))
        if not clients:
            self.message_user(
                request, "None of the selected applications is an OAuth client.", messages.WARNING
            )
            return None
        form = ClientSecretRotationForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            shown: list[tuple[str, str]] = []
            for application in clients:
                secret = oauth_client_secret_rotate(
                    application=application, overlap_seconds=form.cleaned_data["overlap_seconds"]
                )
                shown.append((f"{application.tenant.name} / {application.name} ({application.pk})", secret))
            single = clients[0] if len(clients) == 1 else None
            return self.shown_once_response(
                request,
                single,
                shown,
                title="OAuth client secrets rotated",
                warning=self.shown_once_warning,
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Rotate OAuth client secrets",
            "opts": self.opts,
            "clients": clients,
            "skipped": queryset.count() - len(clients),
            "form": form,
            "action": "rotate_client_secret",
            "submit": "Rotate the client secrets",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/identity/application/rotate_client_secret.html", context)

    def _save_login_backends(self, form: Any, formset: Any) -> None:
        formset.save(commit=False)
        stored = LoginBackend.objects.in_bulk(
            [b.pk for b in formset.deleted_objects] + [b.pk for b, _changed in formset.changed_objects]
        )
        for backend in formset.deleted_objects:
            login_backend_delete(backend=stored[backend.pk])
        for backend, changed in formset.changed_objects:
            values = {name: getattr(backend, name) for name in changed if name in LOGIN_BACKEND_FIELDS}
            login_backend_update(backend=stored[backend.pk], **values)
        for backend in formset.new_objects:
            values = {name: getattr(backend, name) for name in LOGIN_BACKEND_FIELDS}
            login_backend_create(application=form.instance, **values)

    def service_delete(self, obj: Application) -> None:
        application_delete(application=obj)


def session_device(token: RefreshToken) -> str:
    return token.device_name or token.device_type or "-"


class ReadOnlyInline(admin.TabularInline):
    """Rows shown on a parent's page and changed only by their own buttons (revoke), never by the
    parent's form."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UserRegistrationInline(admin.TabularInline):
    """The user's registrations: application, roles as checkboxes of the application's roles, last
    login. Saved by UserAdmin.save_formset through the registration services."""

    model = Registration
    form = UserRegistrationForm
    formset = UserRegistrationFormSet
    fields = ("application", "roles", "last_login_at")
    readonly_fields = ("last_login_at",)
    extra = 0
    verbose_name_plural = "registrations"


USER_PAGE_SESSIONS = 50
"""How many live sessions a user's page lists (the most recently used); the rest are one link away."""


class UserSessionFormSet(BaseInlineFormSet):
    """The user's USER_PAGE_SESSIONS most recently used live sessions, and how many more there are.
    A tenant may allow a user up to 100,000 (refreshTokenLimitPerUser), and each listed session
    costs the page about 2 ms to render: a user with 50,000 took the page 110 s, past gunicorn's
    timeout. Counted only when the page is full."""

    def get_queryset(self) -> Any:
        if not hasattr(self, "_listed"):
            self._everything = super().get_queryset()
            self._listed = self._everything[:USER_PAGE_SESSIONS]
        return self._listed

    def unlisted(self) -> int:
        """The user's live sessions this page does not list."""
        listed = len(self.get_queryset())
        return self._everything.count() - listed if listed >= USER_PAGE_SESSIONS else 0


class UserSessionInline(ReadOnlyInline):
    """The user's live sessions (refresh tokens neither revoked nor expired), each with a button
    revoking it through the service; at most USER_PAGE_SESSIONS, then a link to all of them in the
    refresh-token list."""

    model = RefreshToken
    formset = UserSessionFormSet
    template = "admin/identity/user/sessions_inline.html"
    fk_name = "user"
    fields = (
        "application",
        "device",
        "last_accessed_address",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoke",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "live session"
    verbose_name_plural = "live sessions"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RefreshToken]:
        live = super().get_queryset(request).filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
        # Latest activity first: a session never refreshed was last active when it was created.
        active = Coalesce("last_used_at", "created_at")
        return live.select_related("application").order_by(active.desc(), "-created_at", "-id")

    @admin.display(description="device")
    def device(self, obj: RefreshToken) -> str:
        return session_device(obj)

    @admin.display(description="")
    def revoke(self, obj: RefreshToken) -> str:
        target = reverse("admin:identity_refreshtoken_revoke", args=[quote(obj.pk)])
        back = reverse("admin:identity_user_change", args=[quote(obj.user_id)])
        return format_html(
            '<button type="submit" form="user_form" formaction="{}?next={}" formnovalidate '
            'class="button">Revoke this session</button>',
            target,
            back,
        )


REVOKED_BY_CONSOLE = "admin console"


def pat_status(token: PersonalAccessToken, now: datetime) -> str:
    if token.revoked_at is not None:
        by = f" by {token.revoked_by}" if token.revoked_by else ""
        return f"revoked {_short_time(token.revoked_at)}{by}"
    return "expired" if token.is_expired(now) else "live"


def pat_revoke_button(token: PersonalAccessToken, *, form: str, back: str) -> str:
    """A button posting the page's own form to the token's revoke view (which ignores its fields)."""
    if token.revoked_at is not None:
        return ""
    target = reverse("admin:identity_personalaccesstoken_revoke", args=[quote(token.pk)])
    return format_html(
        '<button type="submit" form="{}" formaction="{}?next={}" formnovalidate class="button">'
        "Revoke this token</button>",
        form,
        target,
        back,
    )


class PersonalAccessTokenColumns:
    """The columns a token shows on the user page and in the token list alike."""

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: PersonalAccessToken) -> str:
        return _short_time(obj.expires_at) if obj.expires_at is not None else "never"

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: PersonalAccessToken) -> str:
        return _short_time(obj.last_used_at)

    @admin.display(description="scopes")
    def scope_list(self, obj: PersonalAccessToken) -> str:
        return ", ".join(obj.scopes) or "-"

    @admin.display(description="status")
    def status(self, obj: PersonalAccessToken) -> str:
        return pat_status(obj, timezone.now())


class UserAccessTokenInline(PersonalAccessTokenColumns, ReadOnlyInline):
    """The user's personal access tokens (never their values): name, expiry, last use, scopes and
    whether revoked, each live one with a button revoking it through pat_revoke. New tokens are made
    on their own page (the value is shown there once)."""

    model = PersonalAccessToken
    fk_name = "user"
    fields = ("name", "application", "expiry", "expires", "last_used", "scope_list", "status", "revoke")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "personal access token"
    verbose_name_plural = "personal access tokens"

    def get_queryset(self, request: HttpRequest) -> QuerySet[PersonalAccessToken]:
        return super().get_queryset(request).select_related("application").order_by("-created_at")

    @admin.display(description="")
    def revoke(self, obj: PersonalAccessToken) -> str:
        back = reverse("admin:identity_user_change", args=[quote(obj.user_id)])
        return pat_revoke_button(obj, form="user_form", back=back)


@admin.register(User)
class UserAdmin(ServiceAdmin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = PasswordChangeForm
    add_form_template = None
    change_user_password_template = "admin/identity/user/change_password.html"  # noqa: S105
    inlines = (UserRegistrationInline, UserSessionInline, UserAccessTokenInline)
    list_display = ("email", "id", "tenant", "is_active", "is_bot", "locked", "last_login", "created_at")
    list_filter = ("tenant", "is_active", "is_bot", "is_staff", "verified")
    search_fields = ("email", "username", "id", "first_name", "last_name")
    ordering = ("email",)
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)
    readonly_fields = (
        "id",
        "last_login",
        "password_changed_at",
        "failed_login_count",
        "created_at",
        "updated_at",
    )
    change_readonly_fields = ("tenant", "is_bot")
    actions = (revoke_refresh_tokens_of("user"), "unlock_selected")
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "tenant",
                    "email",
                    "username",
                    "first_name",
                    "last_name",
                    "is_staff",
                    "is_superuser",
                    "is_bot",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    fieldsets = (
        (None, {"fields": ("tenant", "email", "username", "password")}),
        ("Personal info", {"fields": ("first_name", "middle_name", "last_name", "full_name", "data")}),
        (
            "Status",
            {
                "fields": (
                    "is_active",
                    "is_bot",
                    "verified",
                    "expires_at",
                    "locked_until",
                    "failed_login_count",
                )
            },
        ),
        (
            "Console permissions",
            {
                "fields": ("is_staff", "is_superuser", "groups", "user_permissions"),
                "description": "Only staff of the default tenant can sign in to the console.",
            },
        ),
        ("Record", {"fields": ("id", "last_login", "password_changed_at", "created_at", "updated_at")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """Users of other tenants cannot sign in to the console: no console-permission widgets."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.tenant.is_default:
            return fieldsets
        return [(name, options) for name, options in fieldsets if name != "Console permissions"]

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return self.inlines if obj is not None else ()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Registrations go through the registration services; sessions are read-only (revoked
        with their own buttons), so their formset writes nothing."""
        formset.save(commit=False)  # builds the instances and the change lists; writes nothing
        if formset.model is not Registration:
            return
        stored = Registration.objects.select_related("user", "application").in_bulk(
            [r.pk for r in formset.deleted_objects] + [r.pk for r, _changed in formset.changed_objects]
        )
        for registration in formset.deleted_objects:
            registration_delete(registration=stored[registration.pk])
        for registration, _changed in formset.changed_objects:
            registration_update(registration=stored[registration.pk], roles=registration.roles)
        for registration in formset.new_objects:
            registration_create(user=form.instance, application=registration.application)

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "<path:object_id>/sign-out-everywhere/",
                self.admin_site.admin_view(self.sign_out_everywhere_view),
                name="identity_user_sign_out_everywhere",
            ),
            path(
                "<path:object_id>/unlock/",
                self.admin_site.admin_view(self.unlock_view),
                name="identity_user_unlock",
            ),
        ]
        return own + super().get_urls()

    def _user_for_post(self, request: HttpRequest, object_id: str, allowed: bool) -> User:
        user = self.get_object(request, unquote(object_id))
        if user is None or not allowed or request.method != "POST":
            raise PermissionDenied
        return user

    def _back_to(self, user: User) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:identity_user_change", args=[quote(user.pk)]))

    def sign_out_everywhere_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: revoke every refresh token of the user (every session, every application)."""
        user = self._user_for_post(request, object_id, self.has_revoke_permission(request))
        self.report_revoked(request, refresh_tokens_revoke(user=user, reason=RevokeReason.ADMIN))
        return self._back_to(user)

    def unlock_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: lift a failed-login lockout through user_unlock."""
        user = self._user_for_post(request, object_id, self.has_change_permission(request))
        user_unlock(user=user)
        self.message_user(request, f"{user.email} is unlocked and may log in again.", messages.SUCCESS)
        return self._back_to(user)

    def change_context(self, request: HttpRequest, object_id: str | None) -> dict[str, Any]:
        context = {
            "can_revoke": self.has_revoke_permission(request),
            "can_add_access_token": request.user.has_perm("identity.add_personalaccesstoken"),
        }
        if object_id is not None and (user := self.get_object(request, unquote(object_id))) is not None:
            context["is_locked"] = user.is_locked(timezone.now())
        return context

    @admin.display(boolean=True, description="locked")
    def locked(self, obj: User) -> bool:
        return obj.is_locked(timezone.now())

    @admin.action(permissions=["change"], description="Unlock selected users (lift a failed-login lockout)")
    def unlock_selected(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        now = timezone.now()
        locked = [user.email for user in queryset if user.is_locked(now)]
        for user in queryset:
            user_unlock(user=user)  # also clears the failure count of one not (yet) locked
        if not locked:
            self.message_user(request, "None of the selected users was locked.", messages.INFO)
        else:
            self.message_user(request, f"Unlocked {', '.join(locked)}.", messages.SUCCESS)

    def service_delete(self, obj: User) -> None:
        user_delete(user=obj)


@admin.register(Registration)
class RegistrationAdmin(ServiceAdmin):
    form = RegistrationForm
    list_display = ("__str__", "id", "application__tenant", "role_names", "last_login_at", "created_at")
    list_filter = ("application__tenant", "application", "verified")
    search_fields = ("user__email", "user__id", "username", "id", "application__name")
    list_select_related = ("user", "application__tenant")
    autocomplete_fields = ("user",)  # picked by email (the user's search fields)
    readonly_fields = ("verified", "last_login_at", *RECORD_FIELDS)
    change_readonly_fields = ("user", "application")
    fieldsets = (
        (None, {"fields": ("user", "application", "roles", "username", "data")}),
        ("Record", {"fields": ("verified", "last_login_at", *RECORD_FIELDS)}),
    )

    @admin.display(description="roles")
    def role_names(self, obj: Registration) -> str:
        return ", ".join(obj.roles)

    def service_delete(self, obj: Registration) -> None:
        registration_delete(registration=obj)


class SessionStatusFilter(admin.SimpleListFilter):
    """Live sessions by default; revoked and expired tokens (kept for reuse detection) on request."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("revoked", "Revoked"), ("expired", "Expired"), ("all", "All tokens")]

    def choices(self, changelist: Any) -> Any:
        choices = super().choices(changelist)
        # Django's first choice ("All") is the default, which here shows the live sessions.
        yield {**next(choices), "display": "Live sessions"}
        yield from choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        match self.value():
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
            case "expired":
                return queryset.filter(expires_at__lte=now)
            case "all":
                return queryset
            case _:
                return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)


def short_id(value: Any, length: int = 8) -> str:
    """The first characters of a long identifier, the whole one on hover."""
    text = str(value)
    return format_html('<span title="{}">{}…</span>', text, text[:length]) if len(text) > length else text


def _short_time(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


TOKENS_ARE_KEPT = (
    "Refresh tokens are revoked, never deleted: a revoked token is kept so that a replay of it is "
    "recognised as reuse and ends its whole family. Deleting it would make a stolen copy look unknown."
)


class RevokePageAdmin(IdentityModelAdmin):
    """Tokens that are revoked, never deleted: a POST-only `<id>/revoke/` page (the button on the
    token's page, or on the user page with `next`) that calls `revoke_one`, then goes back to
    `next` when it is a page of this site, else to the token's page."""

    def revoke_one(self, request: HttpRequest, token: Any) -> None:
        raise NotImplementedError

    def get_urls(self) -> list[Any]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_revoke"
        revoke = path("<path:object_id>/revoke/", self.admin_site.admin_view(self.revoke_view), name=name)
        return [revoke, *super().get_urls()]

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        token = self.get_object(request, unquote(object_id))
        if token is None or not self.has_revoke_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.revoke_one(request, token)
        back = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            change = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
            back = reverse(change, args=[quote(token.pk)])
        return HttpResponseRedirect(back)


@admin.register(RefreshToken)
class RefreshTokenAdmin(RevokePageAdmin):
    """Read-only: tokens are issued by logins, never typed in. They are revoked (from the list or
    the token's own page) through refresh_tokens_revoke, and never deleted here (TOKENS_ARE_KEPT)."""

    secret_fields = ("token_digest", "value_salt")
    change_form_template = "admin/identity/refreshtoken/change_form.html"
    # Fits a 1400 px screen beside the navigation and the filters (tests/browser): a short id (the
    # whole one on hover), "app" and "IP" as headers, started and last used as Keycloak's session list
    # has them (the expiry is on the token's page and the user's).
    list_display = ("short_id", "user", "app", "device", "address", "created", "last_used", "status")
    list_filter = (SessionStatusFilter, ("application__tenant", admin.RelatedFieldListFilter))
    search_fields = ("user__email", "user__id", "id", "family_id")
    list_select_related = ("user", "application")
    actions = ("revoke_selected",)
    fields = (
        "id",
        "family_id",
        "tenant",
        "application",
        "user",
        "digest_prefix",
        "generation",
        "rotated_at",
        "started_at",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoke_reason",
        "device_name",
        "device_description",
        "device_type",
        "last_accessed_address",
        "scopes",
        "data",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # TOKENS_ARE_KEPT

    def revoke_one(self, request: HttpRequest, token: Any) -> None:
        """This one token (the session it belongs to), through the service."""
        self.report_revoked(
            request, refresh_tokens_revoke(token_ids=[str(token.pk)], reason=RevokeReason.ADMIN)
        )

    def change_context(self, request: HttpRequest, object_id: str | None) -> dict[str, Any]:
        return {"tokens_are_kept": TOKENS_ARE_KEPT, "can_revoke": self.has_revoke_permission(request)}

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), "tokens_are_kept": TOKENS_ARE_KEPT})

    @admin.display(description="digest")
    def digest_prefix(self, obj: RefreshToken) -> str:
        return _digest_prefix(obj.token_digest)

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: RefreshToken) -> str:
        return short_id(obj.pk)

    @admin.display(description="app", ordering="application__name")
    def app(self, obj: RefreshToken) -> str:
        return obj.application.name

    @admin.display(description="IP", ordering="last_accessed_address")
    def address(self, obj: RefreshToken) -> str:
        return obj.last_accessed_address or "-"

    @admin.display(description="device")
    def device(self, obj: RefreshToken) -> str:
        return session_device(obj)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: RefreshToken) -> str:
        return _short_time(obj.created_at)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: RefreshToken) -> str:
        return _short_time(obj.last_used_at)

    @admin.display(description="status")
    def status(self, obj: RefreshToken) -> str:
        if obj.is_revoked():
            return f"revoked ({obj.revoke_reason})" if obj.revoke_reason else "revoked"
        return "expired" if obj.expires_at <= timezone.now() else "live"

    @admin.action(permissions=["revoke"], description="Revoke selected refresh tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[RefreshToken]) -> None:
        token_ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        self.report_revoked(request, refresh_tokens_revoke(token_ids=token_ids, reason=RevokeReason.ADMIN))


class AccessTokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("live", "Live"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        match self.value():
            case "live":
                return queryset.filter(
                    Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True
                )
            case "expired":
                return queryset.filter(expires_at__lte=now)
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
            case _:
                return queryset


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(PersonalAccessTokenColumns, RevokePageAdmin, ShowOnceAdmin):
    """Tokens are created here (the value shown once, on the page that follows), listed, and
    revoked through pat_revoke (the list's action, the user page's buttons); never edited or
    deleted: a revoked token's row says who revoked it and when."""

    add_form = PersonalAccessTokenCreateForm
    add_fieldsets = ((None, {"fields": ("user", "name", "expiry", "application", "scopes", "allowed_ips")}),)
    autocomplete_fields = ("user",)
    list_display = (
        "name",
        "user",
        "bot",
        "application",
        "expiry",
        "expires",
        "last_used",
        "scope_list",
        "status",
        "created_at",
    )
    list_filter = (
        AccessTokenStatusFilter,
        ("user__is_bot", admin.BooleanFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
        ("tenant", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("name", "user__email", "user__id", "id")
    list_select_related = ("user", "application")
    actions = ("revoke_selected",)
    fields = (
        "id",
        "name",
        "user",
        "tenant",
        "application",
        "expiry",
        "expires_at",
        "scopes",
        "allowed_ips",
        "signing_key",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    shown_once_warning = (
        "This is the only time the token is shown. It is not stored anywhere (only its record is): "
        "copy it now. It works until it expires or is revoked."
    )

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # revoked, never deleted: the record says who revoked it

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("identity.delete_personalaccesstoken")

    def revoke_one(self, request: HttpRequest, token: Any) -> None:
        """This one token, through pat_revoke."""
        pat_revoke(token=token, by=f"{REVOKED_BY_CONSOLE} ({request.user})")
        self.message_user(request, f"Revoked the personal access token {token.name}.", messages.SUCCESS)

    @admin.action(permissions=["revoke"], description="Revoke selected personal access tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[PersonalAccessToken]) -> None:
        live = queryset.filter(revoked_at__isnull=True).select_related("tenant")
        tokens = list(live)
        for token in tokens:
            pat_revoke(token=token, by=f"{REVOKED_BY_CONSOLE} ({request.user})")
        message = ngettext(
            "Revoked %(count)d personal access token.",
            "Revoked %(count)d personal access tokens.",
            len(tokens),
        )
        self.message_user(request, message % {"count": len(tokens)}, messages.SUCCESS)

    @admin.display(boolean=True, description="bot", ordering="user__is_bot")
    def bot(self, obj: PersonalAccessToken) -> bool:
        return obj.user.is_bot

    def shown_once(self, form: PersonalAccessTokenCreateForm) -> list[tuple[str, str]]:
        token = form.instance
        expires = _short_time(token.expires_at) if token.expires_at is not None else "never (Unlimited)"
        return [("Personal access token (JWT)", form.raw_value), ("Expires", expires)]


KEY_VERIFIES_PATS = "[KeyVerifiesPersonalAccessTokens]"
DELETE_REVOKING_PATS = (
    "Delete selected keys, revoking the personal access tokens they verify (those tokens stop working)"
)

# A key that signs, or that an external provider's tokens are checked with, is announced on the
# console's index this long before it expires.
KEY_EXPIRY_WARNING = timedelta(days=14)


@dataclass
class KeyRoles:
    """What a key does now: who signs with it, who still trusts it (verify only), which external
    providers' tokens are checked with it."""

    signs: list[str] = field(default_factory=list)
    verifies: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    live_tokens: int = 0
    """Live personal access tokens it signed: it keeps verifying them past its own expiry."""

    def status(self, key: SigningKey, now: datetime) -> str:
        if key.is_expired(now):
            if self.live_tokens and not key.certificate:
                return f"retired; still verifies {self.live_tokens} live personal access token(s)"
            return "expired"
        until = f" until {_short_time(key.expires_at)}" if key.expires_at is not None else ""
        if self.signs:
            return f"signs now for {', '.join(self.signs)}{until}"
        if self.verifies:
            return f"verifies only, for {', '.join(self.verifies)}{until}"
        if self.providers:
            return f"verifies tokens of {', '.join(self.providers)}{until}"
        return "unused"


def key_roles() -> dict[Any, KeyRoles]:
    """KeyRoles of every key in use, by key id (a handful of queries for the whole list)."""
    roles: dict[Any, KeyRoles] = defaultdict(KeyRoles)
    owners: list[tuple[str, Any]] = [
        ("tenant", Tenant.objects.annotate(label=F("name"))),
        ("application", Application.objects.annotate(label=Concat("tenant__name", Value(" / "), "name"))),
    ]
    for kind, rows in owners:
        for label, *signers in rows.values_list("label", "access_token_signing_key", "id_token_signing_key"):
            for key_id in set(signers) - {None}:
                roles[key_id].signs.append(f"{kind} {label}")
        for label, key_id in rows.filter(verification_keys__isnull=False).values_list(
            "label", "verification_keys"
        ):
            roles[key_id].verifies.append(f"{kind} {label}")
    providers = ExternalJWTProvider.objects.filter(verification_keys__isnull=False)
    for name, key_id in providers.values_list("name", "verification_keys"):
        roles[key_id].providers.append(f"provider {name}")
    now = timezone.now()
    live = PersonalAccessToken.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True, signing_key__isnull=False
    )
    for key_id, count in live.values_list("signing_key").annotate(count=Count("pk")):
        roles[key_id].live_tokens = count
    return roles


def keys_expiring_soon(now: datetime | None = None) -> list[tuple[SigningKey, str]]:
    """(key, status) of the keys that sign, or check an external provider's tokens, and expire
    within KEY_EXPIRY_WARNING: after that, tokens stop being issued or accepted."""
    now = now or timezone.now()
    roles = key_roles()
    soon = SigningKey.objects.filter(expires_at__gt=now, expires_at__lte=now + KEY_EXPIRY_WARNING)
    used = [key for key in soon.order_by("expires_at") if roles[key.pk].signs or roles[key.pk].providers]
    return [(key, roles[key.pk].status(key, now)) for key in used]


@admin.register(SigningKey)
class SigningKeyAdmin(ShowOnceAdmin):
    """Keys are generated here, never typed in; afterwards only the name may change. The private
    part (`encrypted_secret`) is in no form, list or read-only field."""

    secret_fields = ("encrypted_secret",)
    form = SigningKeyRenameForm
    add_form = SigningKeyGenerateForm
    add_fieldsets = ((None, {"fields": ("tenant", "name", "algorithm", "length", "make_signing_key")}),)
    # Fits a 1400 px screen beside the navigation and the filters (tests/browser): a short kid (the
    # whole one on hover and on the key's page); the key type and private part are on the key's page.
    list_display = ("name", "short_kid", "algorithm", "tenant_or_global", "status", "use", "expires_at")
    actions = ("make_signing_key", "delete_revoking_personal_access_tokens")
    list_filter = ("algorithm", "use", "tenant")
    search_fields = ("name", "kid", "id")
    list_select_related = ("tenant",)
    readonly_fields = ("key_type", "has_private_key", "public_key_fingerprint", *RECORD_FIELDS)
    change_readonly_fields = (
        "tenant",
        "algorithm",
        "kid",
        "use",
        "length",
        "public_key",
        "certificate",
        "issuer",
        "expires_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "tenant", "algorithm", "key_type", "kid", "use", "length")}),
        (
            "Material",
            {
                "fields": ("has_private_key", "public_key_fingerprint", "public_key", "certificate"),
                "description": "Private keys and HMAC secrets are stored encrypted and never shown.",
            },
        ),
        ("Validity", {"fields": ("issuer", "expires_at")}),
        ("Record", {"fields": RECORD_FIELDS}),
    )
    shown_once_warning = (
        "This is the only time the secret is shown. It is stored encrypted and cannot be displayed "
        "again: copy it now."
    )

    @admin.display(description="key type")
    def key_type(self, obj: SigningKey) -> str:
        return obj.key_type

    @admin.display(description="kid", ordering="kid")
    def short_kid(self, obj: SigningKey) -> str:
        return short_id(obj.kid, 12)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="identity_signingkey_import"), *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Import a public key or certificate (verify only) through signing_key_import."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SigningKeyImportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            key = form.save()  # the service's own transaction: a refusal leaves nothing behind
            if key is not None:
                self.message_user(request, f"Imported {key} (verify only).", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:identity_signingkey_change", args=[quote(key.pk)]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a public key or certificate",
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/identity/signingkey/import.html", context)

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """Each listed key carries its KeyRoles, read once for the page."""
        changelist = super().get_changelist_instance(request)
        roles = key_roles()
        for key in changelist.result_list:
            key.roles = roles.get(key.pk, KeyRoles())
        return changelist

    @admin.display(description="status")
    def status(self, obj: SigningKey) -> str:
        roles = getattr(obj, "roles", None) or key_roles().get(obj.pk, KeyRoles())
        return roles.status(obj, timezone.now())

    @admin.action(
        permissions=["change"], description="Make it the signing key (of its tenant; global: the default)"
    )
    def make_signing_key(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> None:
        """tenant_signing_key_set: the previous signer keeps verifying until the tokens it made expire."""
        if len(queryset) != 1:
            self.message_user(request, "Choose exactly one key.", messages.ERROR)
            return
        key = queryset[0]
        tenant = key.tenant or tenant_get_default()
        try:
            tenant_signing_key_set(tenant=tenant, key=key)
        except ValidationFailed as refused:
            self.message_user(request, f"{key.name}: {refused.message}", messages.ERROR)
            return
        self.message_user(
            request,
            f"{tenant.name} now signs with kid {key.kid}; the previous key still verifies.",
            messages.SUCCESS,
        )

    tenant_or_global = tenant_column("(global)")

    @admin.display(boolean=True, description="private key")
    def has_private_key(self, obj: SigningKey) -> bool:
        return obj.has_private_key

    @admin.display(description="public key SHA-256")
    def public_key_fingerprint(self, obj: SigningKey) -> str:
        if not obj.public_key:
            return "-"
        return hashlib.sha256(obj.public_key.encode("ascii")).hexdigest()[:FINGERPRINT_LENGTH]

    def shown_once(self, form: SigningKeyGenerateForm) -> list[tuple[str, str]]:
        generated = form.generated
        values = [("Key id (kid)", generated.key.kid), ("Algorithm", generated.key.algorithm)]
        if generated.hmac_secret is not None:
            return [*values, ("HMAC secret (base64url)", generated.hmac_secret)]
        return [*values, ("Public key", generated.key.public_key)]

    def delete_refusal(self, obj: SigningKey) -> str | None:
        refusal = signing_key_delete_refusal(key=obj)
        if refusal is None:
            return None
        if refusal.general_errors[0].code == KEY_VERIFIES_PATS:
            return f"{obj.name}: {refusal.message} (the action “{DELETE_REVOKING_PATS}”)"
        return refusal.message

    def service_delete(self, obj: SigningKey) -> None:
        signing_key_delete(key=obj)

    @admin.action(permissions=["delete"], description=DELETE_REVOKING_PATS)
    def delete_revoking_personal_access_tokens(
        self, request: HttpRequest, queryset: QuerySet[SigningKey]
    ) -> None:
        """signing_key_delete(revoke_personal_access_tokens=True), key by key: the explicit way to
        delete a retired key whose personal access tokens are still live. Keys still signing or
        trusted are refused as by the ordinary delete."""
        for key in queryset:
            name = key.name
            try:
                revoked = signing_key_delete(key=key, revoke_personal_access_tokens=True)
            except ValidationFailed as refused:
                self.message_user(request, f"{name}: {refused.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"Deleted {name}; revoked the {revoked} personal access token(s) it verified.",
                messages.SUCCESS,
            )


@admin.register(APIKey)
class APIKeyAdmin(ShowOnceAdmin):
    """Keys are created here and shown once; there is no update service, so an existing key is
    read-only (delete it and create another to change it)."""

    secret_fields = ("key_digest",)
    add_form = APIKeyCreateForm
    add_fieldsets = (
        (None, {"fields": ("tenant", "name", "description", "permissions", "key_manager", "expires_at")}),
    )
    list_display = ("__str__", "id", "key_prefix", "tenant_or_any", "key_manager", "expires_at", "created_at")
    list_filter = ("tenant", "key_manager")
    search_fields = ("name", "description", "prefix", "id")
    list_select_related = ("tenant",)
    fieldsets = (
        (None, {"fields": ("name", "description", "tenant", "key_prefix", "digest_prefix")}),
        ("Access", {"fields": ("permissions", "key_manager", "expires_at")}),
        ("Record", {"fields": RECORD_FIELDS}),
    )
    shown_once_warning = (
        "This is the only time the key is shown. Only its SHA-256 digest is stored: copy it now."
    )

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="key", ordering="prefix")
    def key_prefix(self, obj: APIKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="digest")
    def digest_prefix(self, obj: APIKey) -> str:
        return _digest_prefix(obj.key_digest)

    tenant_or_any = tenant_column("(any tenant)")

    def shown_once(self, form: APIKeyCreateForm) -> list[tuple[str, str]]:
        return [("API key", form.raw_value)]

    def service_delete(self, obj: APIKey) -> None:
        api_key_delete(api_key=obj)


@admin.register(ExternalJWTProvider)
class ExternalJWTProviderAdmin(ServiceAdmin):
    form = ExternalJWTProviderForm
    list_display = ("name", "id", "tenant", "enabled", "unique_identity_claim", "issuer", "created_at")
    list_filter = ("enabled", "tenant")
    search_fields = ("name", "id", "issuer")
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)
    filter_horizontal = ("verification_keys", "applications")
    readonly_fields = RECORD_FIELDS
    change_readonly_fields = ("tenant",)

    def service_delete(self, obj: ExternalJWTProvider) -> None:
        external_jwt_provider_delete(provider=obj)


@admin.register(IdentityProviderLink)
class IdentityProviderLinkAdmin(ServiceAdmin):
    """Links are made by /api/jwt/reconcile; the console can look and unlink, not edit."""

    list_display = ("user", "provider", "subject", "created_at", "last_login_at")
    list_filter = ("provider",)
    search_fields = ("subject", "user__email", "user__id")
    list_select_related = ("user", "provider")
    raw_id_fields = ("user", "provider")
    readonly_fields = ("id", "user", "provider", "subject", "created_at", "last_login_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def service_delete(self, obj: IdentityProviderLink) -> None:
        identity_provider_link_delete(link=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[IdentityProviderLink]) -> None:
        for link in queryset:
            identity_provider_link_delete(link=link)


import identity.admin_audit  # noqa: E402, F401  (the audit trail and webhooks; issue 15)

"""The admin console. Writes go through the services (see identity.forms.ServiceModelForm), secrets
are never displayed, and values that exist only once (API keys, HMAC secrets) are shown on a page
of their own, never through messages, which may be stored in the session."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.text import capfirst
from django.utils.translation import ngettext

from identity.exceptions import ValidationFailed
from identity.forms import (
    APIKeyCreateForm,
    ApplicationForm,
    ExternalJWTProviderForm,
    PasswordChangeForm,
    RegistrationForm,
    RoleInlineForm,
    RoleInlineFormSet,
    ServiceModelForm,
    SigningKeyGenerateForm,
    SigningKeyRenameForm,
    TenantForm,
    UserChangeForm,
    UserCreationForm,
)
from identity.models import (
    JWT_CONFIGURATION_FIELDS,
    APIKey,
    Application,
    ApplicationRole,
    ExternalJWTProvider,
    IdentityProviderLink,
    RefreshToken,
    Registration,
    SigningKey,
    Tenant,
    User,
)
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
from identity.services.refresh_tokens import RevokeReason, refresh_tokens_revoke
from identity.services.registrations import registration_delete
from identity.services.signing_keys import signing_key_delete, signing_key_rotate, signing_key_usages
from identity.services.tenants import tenant_delete
from identity.services.users import user_delete

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


def _digest_prefix(digest: str) -> str:
    return f"{digest[:DIGEST_PREFIX_LENGTH]}…" if digest else ""


class IdentityModelAdmin(admin.ModelAdmin):
    """Shared by every identity admin: secret columns cannot be probed with URL lookups
    (`?token_digest__startswith=…` would otherwise work on any local field), and revoking
    refresh tokens is allowed to whoever may delete them."""

    secret_fields: Sequence[str] = ()

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        return lookup.split("__")[0] not in self.secret_fields and super().lookup_allowed(
            lookup, value, request
        )

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("identity.delete_refreshtoken")

    def report_revoked(self, request: HttpRequest, count: int) -> None:
        message = ngettext("Revoked %(count)d refresh token.", "Revoked %(count)d refresh tokens.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)


def delete_selected_unless_refused(
    modeladmin: ServiceAdmin, request: HttpRequest, queryset: QuerySet[Any]
) -> HttpResponse | None:
    """Django's bulk delete, refused as a whole with the reasons when any selected row may not go."""
    refusals = [refusal for obj in queryset if (refusal := modeladmin.delete_refusal(obj))]
    for refusal in refusals:
        modeladmin.message_user(request, refusal, messages.ERROR)
    return None if refusals else delete_selected(modeladmin, request, queryset)


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

    def service_delete(self, obj: Any) -> None:
        obj.delete()

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
        info = (self.opts.app_label, self.opts.model_name)
        context = {
            **self.admin_site.each_context(request),
            "title": capfirst(f"{self.opts.verbose_name} created"),
            "subtitle": str(obj),
            "opts": self.opts,
            "object": obj,
            "shown_once": getattr(request, _SHOWN_ONCE_ATTRIBUTE),
            "warning": self.shown_once_warning,
            "change_url": reverse("admin:{}_{}_change".format(*info), args=[quote(obj.pk)]),
            "changelist_url": reverse("admin:{}_{}_changelist".format(*info)),
        }
        response = TemplateResponse(request, "admin/identity/shown_once.html", context)
        add_never_cache_headers(response)
        return response


class YesNoFilter(admin.SimpleListFilter):
    """A filter offering Yes and No; `condition(yes, now)` is the queryset filter for the answer."""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def condition(self, yes: bool, now: Any) -> dict[str, Any]:
        raise NotImplementedError

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(**self.condition(self.value() == "yes", timezone.now()))
        return queryset


class RevokedFilter(YesNoFilter):
    title = "revoked"
    parameter_name = "revoked"

    def condition(self, yes: bool, now: Any) -> dict[str, Any]:
        return {"revoked_at__isnull": not yes}


class ExpiredFilter(YesNoFilter):
    title = "expired"
    parameter_name = "expired"

    def condition(self, yes: bool, now: Any) -> dict[str, Any]:
        return {"expires_at__lte": now} if yes else {"expires_at__gt": now}


@admin.register(Tenant)
class TenantAdmin(ServiceAdmin):
    form = TenantForm
    list_display = (
        "name",
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
            "Refresh-token revocation",
            {
                "fields": (
                    "revoke_on_password_changed",
                    "revoke_on_login_prevented",
                    "revoke_on_one_time_token_reuse",
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
    def rotate_signing_key(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        """`manage.py rotate_signing_key` for each tenant, same algorithm; HMAC keys are left to the
        command, which shows the new secret once."""
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

    def service_delete(self, obj: Tenant) -> None:
        tenant_delete(tenant=obj)


class RoleInline(admin.TabularInline):
    model = ApplicationRole
    form = RoleInlineForm
    formset = RoleInlineFormSet
    fields = ("name", "description", "is_default", "is_super_role")
    extra = 1


@admin.register(Application)
class ApplicationAdmin(ServiceAdmin):
    form = ApplicationForm
    inlines = (RoleInline,)
    list_display = (
        "name",
        "tenant",
        "active",
        "jwt_enabled",
        "generate_refresh_tokens",
        "allow_token_refresh",
        "created_at",
    )
    list_filter = ("tenant", "active", "jwt_enabled")
    search_fields = ("name", "id", "tenant__name")
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant", "access_token_signing_key", "id_token_signing_key")
    readonly_fields = ("verification_keys", *RECORD_FIELDS)
    change_readonly_fields = ("tenant",)
    actions = ("revoke_refresh_tokens",)
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

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """The only inline is the roles', and every row goes through the role services, so a deleted
        role is taken from the registrations holding it and a renamed one is renamed in them.
        Deletions go first, so a role can be replaced by one differing only in case."""
        formset.save(commit=False)
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

    def service_delete(self, obj: Application) -> None:
        application_delete(application=obj)

    @admin.action(permissions=["revoke"], description="Revoke all refresh tokens of selected applications")
    def revoke_refresh_tokens(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        revoked = sum(
            refresh_tokens_revoke(application=application, reason=RevokeReason.ADMIN)
            for application in queryset
        )
        self.report_revoked(request, revoked)


@admin.register(User)
class UserAdmin(ServiceAdmin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = PasswordChangeForm
    add_form_template = None
    change_user_password_template = "admin/identity/user/change_password.html"  # noqa: S105
    list_display = ("email", "tenant", "username", "is_active", "verified", "is_staff", "created_at")
    list_filter = ("tenant", "is_active", "is_staff", "verified")
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
    change_readonly_fields = ("tenant",)
    actions = ("revoke_refresh_tokens",)
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
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    fieldsets = (
        (None, {"fields": ("tenant", "email", "username", "password")}),
        ("Personal info", {"fields": ("first_name", "middle_name", "last_name", "full_name", "data")}),
        ("Status", {"fields": ("is_active", "verified", "expires_at", "locked_until", "failed_login_count")}),
        (
            "Console permissions",
            {
                "fields": ("is_staff", "is_superuser", "groups", "user_permissions"),
                "description": "Only staff of the default tenant can sign in to the console.",
            },
        ),
        ("Record", {"fields": ("id", "last_login", "password_changed_at", "created_at", "updated_at")}),
    )

    def service_delete(self, obj: User) -> None:
        user_delete(user=obj)

    @admin.action(permissions=["revoke"], description="Revoke all refresh tokens of selected users")
    def revoke_refresh_tokens(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        revoked = sum(refresh_tokens_revoke(user=user, reason=RevokeReason.ADMIN) for user in queryset)
        self.report_revoked(request, revoked)


@admin.register(Registration)
class RegistrationAdmin(ServiceAdmin):
    form = RegistrationForm
    list_display = ("user", "application", "application__tenant", "role_names", "verified", "created_at")
    list_filter = ("application__tenant", "application", "verified")
    search_fields = ("user__email", "username", "id", "application__name")
    list_select_related = ("user", "application__tenant")
    raw_id_fields = ("user",)
    autocomplete_fields = ("application",)
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


@admin.register(RefreshToken)
class RefreshTokenAdmin(IdentityModelAdmin):
    """Read-only: tokens are issued by logins, never typed in. They can be revoked or deleted."""

    secret_fields = ("token_digest", "value_salt")
    list_display = (
        "id",
        "user",
        "application",
        "tenant",
        "digest_prefix",
        "created_at",
        "expires_at",
        "is_revoked",
        "revoke_reason",
    )
    list_filter = (RevokedFilter, ExpiredFilter, ("application__tenant", admin.RelatedFieldListFilter))
    search_fields = ("user__email", "id", "family_id")
    list_select_related = ("user", "application", "tenant")
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

    @admin.display(description="digest")
    def digest_prefix(self, obj: RefreshToken) -> str:
        return _digest_prefix(obj.token_digest)

    @admin.display(boolean=True, description="revoked")
    def is_revoked(self, obj: RefreshToken) -> bool:
        return obj.is_revoked()

    @admin.action(permissions=["revoke"], description="Revoke selected refresh tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[RefreshToken]) -> None:
        token_ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        self.report_revoked(request, refresh_tokens_revoke(token_ids=token_ids, reason=RevokeReason.ADMIN))


@admin.register(SigningKey)
class SigningKeyAdmin(ShowOnceAdmin):
    """Keys are generated here, never typed in; afterwards only the name may change. The private
    part (`encrypted_secret`) is in no form, list or read-only field."""

    secret_fields = ("encrypted_secret",)
    form = SigningKeyRenameForm
    add_form = SigningKeyGenerateForm
    add_fieldsets = ((None, {"fields": ("tenant", "name", "algorithm", "length", "make_signing_key")}),)
    list_display = (
        "name",
        "kid",
        "algorithm",
        "key_type",
        "tenant_or_global",
        "use",
        "has_private_key",
        "public_key_fingerprint",
        "expires_at",
        "created_at",
    )
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

    @admin.display(description="tenant", ordering="tenant__name")
    def tenant_or_global(self, obj: SigningKey) -> str:
        return str(obj.tenant) if obj.tenant is not None else "(global)"

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
        usages = signing_key_usages(key=obj)
        return f"The key is in use by {', '.join(usages)}." if usages else None

    def service_delete(self, obj: SigningKey) -> None:
        signing_key_delete(key=obj)


@admin.register(APIKey)
class APIKeyAdmin(ShowOnceAdmin):
    """Keys are created here and shown once; there is no update service, so an existing key is
    read-only (delete it and create another to change it)."""

    secret_fields = ("key_digest",)
    add_form = APIKeyCreateForm
    add_fieldsets = (
        (None, {"fields": ("tenant", "name", "description", "permissions", "key_manager", "expires_at")}),
    )
    list_display = ("__str__", "key_prefix", "tenant_or_any", "key_manager", "expires_at", "created_at")
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

    @admin.display(description="tenant", ordering="tenant__name")
    def tenant_or_any(self, obj: APIKey) -> str:
        return str(obj.tenant) if obj.tenant is not None else "(any tenant)"

    def shown_once(self, form: APIKeyCreateForm) -> list[tuple[str, str]]:
        return [("API key", form.raw_value)]

    def service_delete(self, obj: APIKey) -> None:
        api_key_delete(api_key=obj)


@admin.register(ExternalJWTProvider)
class ExternalJWTProviderAdmin(ServiceAdmin):
    form = ExternalJWTProviderForm
    list_display = ("name", "tenant", "enabled", "unique_identity_claim", "issuer", "created_at")
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
class IdentityProviderLinkAdmin(IdentityModelAdmin):
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

    def delete_model(self, request: HttpRequest, obj: IdentityProviderLink) -> None:
        identity_provider_link_delete(link=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[IdentityProviderLink]) -> None:
        for link in queryset:
            identity_provider_link_delete(link=link)


import identity.admin_audit  # noqa: E402, F401  (the audit trail and webhooks; issue 15)

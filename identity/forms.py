"""Admin-console forms. Every write goes through the same service functions as the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast

from django import forms
from django.contrib.auth.forms import AdminPasswordChangeForm, ReadOnlyPasswordHashField, SetPasswordMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.forms.models import BaseInlineFormSet, construct_instance

from identity.exceptions import ValidationFailed
from identity.models import (
    JWT_CONFIGURATION_FIELDS,
    APIKey,
    Application,
    ApplicationRole,
    ClientAuthenticationMethod,
    ExternalJWTProvider,
    KeyAlgorithm,
    KeyUse,
    LoginBackend,
    OAuthConfiguration,
    OAuthGrant,
    PersonalAccessToken,
    Registration,
    SigningKey,
    Tenant,
    User,
)
from identity.selectors import tenant_get_default
from identity.services.api_keys import API_KEY_ERROR_PATHS, api_key_create
from identity.services.applications import (
    APPLICATION_FIELDS,
    application_create,
    application_update,
)
from identity.services.identity_providers import (
    PROVIDER_ERROR_PATHS,
    external_jwt_provider_create,
    external_jwt_provider_update,
)
from identity.services.oauth_clients import MAX_OVERLAP_SECONDS, OAUTH_FIELD_ORDER
from identity.services.personal_access_tokens import pat_create, pat_create_check
from identity.services.registrations import REGISTRATION_ERROR_PATHS, registration_create, registration_update
from identity.services.signing_keys import (
    KEY_ERROR_PATHS,
    GeneratedKey,
    signing_key_generate,
    signing_key_import,
    signing_key_rename,
    tenant_signing_key_set,
)
from identity.services.tenants import TENANT_FIELDS, tenant_create, tenant_update
from identity.services.users import (
    USER_ERROR_PATHS,
    USER_FIELDS,
    user_console_update,
    user_create,
    user_set_password,
)
from identity.validators import (
    LOGIN_BACKEND_FIELDS,
    api_key_validate,
    application_validate,
    external_jwt_provider_validate,
    login_backend_validate,
    oauth_configuration_validate,
    registration_validate,
    signing_key_validate,
    tenant_validate,
    user_password_validate,
    user_validate,
)

M = TypeVar("M", bound=models.Model)


def add_service_errors(form: forms.BaseForm, exc: ValidationFailed, error_fields: Mapping[str, str]) -> None:
    """Show a ValidationFailed as form errors: on the field its key names (a model field, or a
    service path listed in `error_fields`) when the form has that field, otherwise above the form,
    prefixed with the key so the message keeps its subject."""
    for path, items in exc.field_errors.items():
        field = error_fields.get(path, path)
        for item in items:
            if field is not None and field in form.fields:
                form.add_error(field, item.message)
            else:
                form.add_error(None, f"{path}: {item.message}")
    for item in exc.general_errors:
        form.add_error(None, item.message)


def _adopt(target: models.Model, source: models.Model) -> None:
    """Make `target` a copy of the saved `source`. The admin keeps working with the form's own
    instance (inline formsets, the log entry and the response hold it), so that object, not the
    one a service returned, has to carry the stored state."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


def _data_of(cleaned: Mapping[str, Any]) -> dict[str, Any]:
    """The `data` a form would save, for the validators (absent when the form has no such field)."""
    return {"data": cleaned["data"]} if "data" in cleaned else {}


class ServiceModelForm(forms.ModelForm, Generic[M]):
    """A model form whose writes go through a service function instead of `Model.save()`.

    clean() runs the pure validators of identity.validators (`validate()`), the same the service
    runs, so most mistakes are form errors before anything is written. The admin then calls the
    service once, from save_model (`write()`); a refusal only the service can see (e.g. a clash
    with a row written meanwhile) rolls the save back and is shown as `refused` on the same page
    (ServiceAdmin.changeform_view). The model's own validation is replaced by the validators; the
    database constraints remain the backstop."""

    error_fields: ClassVar[Mapping[str, str]] = {}
    """Service error path → form field, where the service's key is not the field's name."""

    service_fields: ClassVar[frozenset[str]] = frozenset()
    """The cleaned fields passed to the service as keyword arguments by `service_values()`."""

    refused: ClassVar[ValidationFailed | None] = None
    """What the service refused on the previous submission of this form (set by the admin)."""

    def create(self) -> M:
        raise NotImplementedError(f"{type(self).__name__} cannot create.")

    def update(self, current: M) -> M:
        raise NotImplementedError(f"{type(self).__name__} cannot update.")

    def validate(self) -> None:
        """Raise the validators' ValidationFailed for the cleaned values; no writes."""

    def service_values(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items() if name in self.service_fields}

    def resulting_values(self) -> dict[str, Any]:
        """What the row would hold after the save: the submitted values over the stored (or default)
        ones, for fields the admin page does not show too; the services validate the same whole."""
        return {name: getattr(self.instance, name) for name in self.service_fields}

    def _post_clean(self) -> None:
        self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        if self.refused is not None:
            add_service_errors(self, self.refused, self.error_fields)
        if self.errors:
            return
        try:
            self.validate()
        except ValidationFailed as exc:
            add_service_errors(self, exc, self.error_fields)

    def _save_m2m(self) -> None:
        """Many-to-many fields are written by the service with the row (create() / update()); the
        admin's save_related must not write them a second time, around the service."""

    def write(self) -> M:
        """Make the service call and bring `self.instance` up to date with the stored row."""
        if self.instance._state.adding:
            saved = self.create()
        else:
            # A fresh copy: the form's instance already carries the submitted values, and services
            # compare against the stored state (e.g. deactivating a user revokes their tokens).
            saved = self.update(type(self.instance)._default_manager.get(pk=self.instance.pk))
        _adopt(self.instance, saved)
        return self.instance

    def save(self, commit: bool = True) -> M:
        """With commit=False (the admin's save_form) only the unsaved instance is built; committing
        writes through the service, never through Model.save()."""
        instance: M = super().save(commit=False)
        if commit:
            self.write()
            self.save_m2m()
        return instance


class TenantForm(ServiceModelForm[Tenant]):
    """A new tenant's issuer is not pre-filled (the model default is the default tenant's, and
    issuers are unique): left empty, the service gives it `urn:uuid:<tenant id>`."""

    service_fields = TENANT_FIELDS

    class Meta:
        model = Tenant
        fields = sorted(TENANT_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding and "issuer" in self.fields:
            self.initial["issuer"] = ""
            self.fields["issuer"].required = False
            self.fields["issuer"].help_text = "The `iss` claim of every token. Empty: urn:uuid:<tenant id>."

    def _issuer_chosen(self) -> bool:
        return not self.instance._state.adding or bool((self.cleaned_data.get("issuer") or "").strip())

    def validate(self) -> None:
        values = self.resulting_values()
        if not self._issuer_chosen():
            del values["issuer"]
        tenant_validate(values=values, tenant=None if self.instance._state.adding else self.instance)

    def create(self) -> Tenant:
        values = self.service_values()
        if not self._issuer_chosen():
            values["issuer"] = None
        return tenant_create(**values)

    def update(self, current: Tenant) -> Tenant:
        return tenant_update(tenant=current, **self.service_values())


class ApplicationForm(ServiceModelForm[Application]):
    service_fields = APPLICATION_FIELDS

    class Meta:
        model = Application
        fields = ["tenant", *sorted(APPLICATION_FIELDS)]

    def validate(self) -> None:
        adding = self.instance._state.adding
        application_validate(
            values=self.resulting_values(),
            tenant=self.cleaned_data["tenant"] if adding else self.instance.tenant,
            application=None if adding else self.instance,
        )

    def create(self) -> Application:
        return application_create(tenant=self.cleaned_data["tenant"], **self.service_values())

    def update(self, current: Application) -> Application:
        return application_update(application=current, **self.service_values())


def application_label(application: Application) -> str:
    """An application in a picker: with its tenant's name (names repeat across tenants)."""
    return f"{application.tenant.name} / {application.name}"


def scope_picker(form: forms.BaseForm, name: str, queryset: Any, label: Any) -> None:
    """Offer only `queryset` in the form's model picker `name` (if shown), labelled by `label`."""
    field = form.fields.get(name)
    if isinstance(field, forms.ModelChoiceField):  # ModelMultipleChoiceField included
        field.queryset = queryset
        field.label_from_instance = label  # type: ignore[method-assign]


def key_label(key: SigningKey) -> str:
    owner = key.tenant.name if key.tenant is not None else "global"
    return f"{key.name} ({key.algorithm}, kid {key.kid}, {owner})"


class RoleInlineForm(forms.ModelForm):
    """A role of the application. Renaming is allowed, as in the API: application_role_update
    carries the new name into every registration holding the role."""

    class Meta:
        model = ApplicationRole
        fields = ["name", "description", "is_default", "is_super_role"]

    def _post_clean(self) -> None:
        # Written through the role services (ApplicationAdmin.save_formset); the model's own
        # validation would check uniqueness against the rows as they are before this save.
        self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)


class RoleInlineFormSet(BaseInlineFormSet):
    """Role names are unique per application ignoring case, the rule the role services enforce;
    checked across the whole formset so two rows cannot clash with each other. Renaming a role to
    the stored name of another kept role (a swap) would clash mid-save, so it takes two saves."""

    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        kept = [form for form in self.forms if hasattr(form, "cleaned_data") and form.cleaned_data]
        kept = [form for form in kept if not form.cleaned_data.get("DELETE")]
        stored = {form.instance.pk: form.initial.get("name", "").lower() for form in kept if form.initial}
        for form in kept:
            name = (form.cleaned_data.get("name") or "").strip().lower()
            if name in seen:
                raise ValidationError(f"The role {form.cleaned_data['name']!r} is listed twice.")
            others = {old for pk, old in stored.items() if pk != form.instance.pk}
            if form.initial and name != stored[form.instance.pk] and name in others:
                raise ValidationError(
                    f"The role {form.cleaned_data['name']!r} is still another role's name: rename "
                    "that one first and save."
                )
            if name:
                seen.add(name)


OAUTH_FORM_FIELDS = OAUTH_FIELD_ORDER


class OAuthConfigurationInlineForm(forms.ModelForm):
    """An application's OAuth client configuration (FusionAuth's `oauthConfiguration`), on the
    application's page. Checked here by the validator the API's service runs, and written by
    ApplicationAdmin.save_formset through `oauth_client_configure`: a new client's secret is
    shown once on a page of its own; an existing client keeps its secret (rotate it with the
    application list's action). `is_client` makes the application a client; there is no way back
    here, as in the API."""

    is_client = forms.BooleanField(
        required=False,
        label="OAuth client",
        help_text="Make this application an OAuth2 client (client id = the application id).",
    )
    enabled_grants = forms.MultipleChoiceField(
        choices=OAuthGrant.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    client_authentication_methods = forms.MultipleChoiceField(
        choices=ClientAuthenticationMethod.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    scopes = forms.CharField(
        required=False,
        max_length=10_000,
        help_text="Scopes the client may request, separated by spaces.",
    )

    class Meta:
        model = OAuthConfiguration
        fields = list(OAUTH_FORM_FIELDS)
        labels = {"jwks": "Inline JWKS"}

    def __init__(self, *args: Any, application: Application, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.application = application
        adding = self.instance._state.adding
        self.initial["is_client"] = not adding
        if adding:
            self.initial.setdefault("assertion_keys", [])
            self.initial.setdefault("enabled_grants", [OAuthGrant.CLIENT_CREDENTIALS.value])
            self.initial.setdefault(
                "client_authentication_methods",
                [
                    ClientAuthenticationMethod.CLIENT_SECRET_BASIC,
                    ClientAuthenticationMethod.CLIENT_SECRET_POST,
                ],
            )
        else:
            self.fields["is_client"].disabled = True
        self.initial["scopes"] = " ".join(self.instance.scopes or [])
        # Changes are judged against the stored row (or `is_client` for a new one), not against a
        # hidden copy of a callable default's value posted back by the page.
        for field in self.fields.values():
            field.show_hidden_initial = False
        keys = SigningKey.objects.select_related("tenant").exclude(public_key="")
        keys = keys.exclude(algorithm__startswith="HS").order_by("name")
        if application.tenant_id is not None:
            keys = keys.filter(Q(tenant__isnull=True) | Q(tenant_id=application.tenant_id))
        scope_picker(self, "assertion_keys", keys, key_label)

    def has_changed(self) -> bool:
        """An extra (new) form counts only when `is_client` is ticked; its pre-filled defaults
        are not a change."""
        if self.instance._state.adding:
            return bool(self["is_client"].value())
        return super().has_changed()

    def clean_scopes(self) -> list[str]:
        return [scope for scope in (self.cleaned_data.get("scopes") or "").split(" ") if scope]

    def oauth_values(self) -> dict[str, Any]:
        """The keyword arguments of `oauth_client_configure` (model field names)."""
        return {name: self.cleaned_data[name] for name in OAUTH_FORM_FIELDS if name in self.cleaned_data}

    def _post_clean(self) -> None:
        # Written by ApplicationAdmin.save_formset through oauth_client_configure, never save().
        self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        if self.errors or not self.has_changed():
            return
        if self.application.tenant_id is None:
            return  # the application form itself is in error; nothing to check against
        values = self.oauth_values()
        values["assertion_keys"] = list(values.get("assertion_keys") or [])
        try:
            oauth_configuration_validate(values=values, tenant=self.application.tenant)
        except ValidationFailed as exc:
            add_service_errors(self, exc, {})


class LoginBackendInlineForm(forms.ModelForm):
    """A login backend of the application, checked by login_backend_validate (the API's and the
    commands' validator) and written by the login-backend services (ApplicationAdmin.save_formset).
    Two rows of one save taking the same name are refused by the formset's own uniqueness check
    (the model's `unique`), which the validator, seeing only stored rows, cannot see."""

    class Meta:
        model = LoginBackend
        fields = sorted(LOGIN_BACKEND_FIELDS)

    def _post_clean(self) -> None:
        self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        if self.errors or not self.has_changed() or self.cleaned_data.get("DELETE"):
            return
        values = {name: getattr(self.instance, name) for name in LOGIN_BACKEND_FIELDS}
        try:
            stored = None if self.instance._state.adding else self.instance
            login_backend_validate(values=values, backend=stored)
        except ValidationFailed as exc:
            add_service_errors(self, exc, {})


class OAuthConfigurationInlineFormSet(BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "application": self.instance}


class ClientSecretRotationForm(forms.Form):
    """The overlap window of the admin's "rotate client secret" action (the API's `overlapSeconds`)."""

    overlap_seconds = forms.IntegerField(
        min_value=0,
        max_value=MAX_OVERLAP_SECONDS,
        initial=0,
        label="Overlap (seconds)",
        help_text="How long the previous secret keeps working, so clients can be redeployed "
        "(0: it stops at once; at most 30 days).",
    )


def _form_fields(error_paths: Mapping[str, str], renamed: Mapping[str, str] | None = None) -> dict[str, str]:
    """`error_fields` from a service's table of API error paths (model field → path): a refusal the
    service raises is shown on the field again; `renamed` maps model fields the form names otherwise."""
    renamed = renamed or {}
    return {path: renamed.get(field, field) for field, path in error_paths.items()} | dict(renamed)


class UserCreationForm(ServiceModelForm[User]):
    """A user with a password, or a bot (no password: it authenticates with personal access
    tokens only, made on their own page)."""

    password1, password2 = SetPasswordMixin.create_password_fields()
    error_fields = _form_fields(USER_ERROR_PATHS, {"password": "password2"})
    service_fields = USER_FIELDS

    class Meta:
        model = User
        fields = [
            "tenant",
            "email",
            "username",
            "first_name",
            "last_name",
            "is_staff",
            "is_superuser",
            "is_bot",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password1"].required = self.fields["password2"].required = False
        self.fields["is_bot"].help_text = "A bot has no password: leave both password fields empty."

    def clean(self) -> dict[str, Any]:
        super().clean()
        password1, password2 = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if self.cleaned_data.get("is_bot"):
            if password1 or password2:
                self.add_error("password2", "A bot has no password.")  # the service's words
            return self.cleaned_data
        for name in ("password1", "password2"):
            if not self.cleaned_data.get(name) and name not in self.errors:
                self.add_error(name, forms.Field.default_error_messages["required"])
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two password fields do not match.")
        return self.cleaned_data

    def validate(self) -> None:
        data = self.cleaned_data
        values = {"email": data["email"], "username": data.get("username"), **_data_of(data)}
        user_validate(values=values, tenant=data["tenant"], user=None)
        if not data.get("is_bot"):
            user = User(tenant=data["tenant"], email=data["email"], username=data.get("username"))
            user_password_validate(password=data["password1"], user=user)

    def create(self) -> User:
        return user_create(
            tenant=self.cleaned_data["tenant"],
            email=self.cleaned_data["email"],
            password=None if self.cleaned_data.get("is_bot") else self.cleaned_data["password1"],
            **self.service_values(),
        )


class UserChangeForm(ServiceModelForm[User]):
    password = ReadOnlyPasswordHashField(
        label="Password", help_text="Raw passwords are not stored, so there is no way to see it."
    )
    error_fields = _form_fields(USER_ERROR_PATHS)
    service_fields = USER_FIELDS | {"email", "groups", "user_permissions"}

    class Meta:
        model = User
        # groups and user_permissions are Django's console permissions (absent from the page for
        # users of other tenants, who cannot use the console).
        fields = ["email", *sorted(USER_FIELDS), "groups", "user_permissions"]

    def validate(self) -> None:
        data = self.cleaned_data
        values = {"email": data["email"], "username": data.get("username"), **_data_of(data)}
        user_validate(values=values, tenant=self.instance.tenant, user=self.instance)

    def update(self, current: User) -> User:
        return user_console_update(user=current, **self.service_values())


class PasswordChangeForm(AdminPasswordChangeForm):
    """Django's admin password form, saving through user_set_password so the tenant's
    revoke-on-password-change policy applies. Disabling password login is not offered (no service
    does it). Validation is Django's validate_password, the same the service runs."""

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.fields.pop("usable_password", None)
        self.fields["password1"].required = True
        self.fields["password2"].required = True

    def save(self, commit: bool = True) -> User:
        return user_set_password(user=self.user, password=self.cleaned_data["password1"])


class RegistrationForm(ServiceModelForm[Registration]):
    roles = forms.CharField(
        required=False,
        help_text="Role names of the application, comma separated. Left empty when registering, "
        "the application's default roles are granted.",
    )
    error_fields = _form_fields(REGISTRATION_ERROR_PATHS)
    service_fields = frozenset({"roles", "username", "data"})

    class Meta:
        model = Registration
        fields = ["user", "application", "roles", "username", "data"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.initial["roles"] = ", ".join(self.instance.roles)
        scope_picker(self, "application", Application.objects.select_related("tenant"), application_label)

    def clean_roles(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["roles"].split(",") if name.strip()]

    def validate(self) -> None:
        adding = self.instance._state.adding
        data = self.cleaned_data
        registration_validate(
            # Left empty when registering, the service grants the default roles.
            values={"roles": data["roles"] or (None if adding else []), **_data_of(data)},
            user=data["user"] if adding else self.instance.user,
            application=data["application"] if adding else self.instance.application,
            registration=None if adding else self.instance,
        )

    def create(self) -> Registration:
        values = self.service_values()
        return registration_create(
            user=self.cleaned_data["user"],
            application=self.cleaned_data["application"],
            **{**values, "roles": values["roles"] or None},
        )

    def update(self, current: Registration) -> Registration:
        return registration_update(registration=current, **self.service_values())


class UserRegistrationForm(forms.ModelForm):
    """A registration on its user's page: the application (of the user's tenant; fixed once
    registered) and its roles as the application's role checkboxes. Written by UserAdmin's
    save_formset through the registration services; checked here by the same validator."""

    roles = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="When registering, the application's default roles are granted; choose roles after saving.",
    )

    class Meta:
        model = Registration
        fields = ["application", "roles"]

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        applications = Application.objects.filter(tenant_id=user.tenant_id).select_related("tenant")
        scope_picker(self, "application", applications, application_label)
        roles = cast(forms.MultipleChoiceField, self.fields["roles"])
        if self.instance._state.adding:
            roles.disabled = True
        else:
            self.fields["application"].disabled = True
            names = self.instance.application.roles.order_by("name").values_list("name", flat=True)
            roles.choices = [(name, name) for name in names]
            self.initial["roles"] = list(self.instance.roles)

    def _post_clean(self) -> None:
        self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        if self.errors or not self.has_changed() or self.cleaned_data.get("DELETE"):
            return
        adding = self.instance._state.adding
        try:
            registration_validate(
                values={
                    "roles": None if adding else self.cleaned_data["roles"],
                    **_data_of(self.cleaned_data),
                },
                user=self.user,
                application=self.cleaned_data["application"] if adding else self.instance.application,
                registration=None if adding else self.instance,
            )
        except ValidationFailed as exc:
            add_service_errors(self, exc, {})


class UserRegistrationFormSet(BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "user": self.instance}


class APIKeyCreateForm(ServiceModelForm[APIKey]):
    """Creates a key; its value exists only in `raw_value`, to be shown once."""

    error_fields = _form_fields(API_KEY_ERROR_PATHS)
    service_fields = frozenset({"tenant", "name", "description", "permissions", "key_manager", "expires_at"})
    raw_value: str

    class Meta:
        model = APIKey
        fields = ["tenant", "name", "description", "permissions", "key_manager", "expires_at"]

    def validate(self) -> None:
        api_key_validate(values=self.service_values())

    def create(self) -> APIKey:
        api_key, self.raw_value = api_key_create(**self.service_values())
        return api_key


def _list_of_words(value: str) -> list[str]:
    """A text box's items, separated by commas, spaces or lines (empty ones dropped)."""
    return [item for item in value.replace(",", " ").split() if item]


class PersonalAccessTokenCreateForm(ServiceModelForm[PersonalAccessToken]):
    """Creates a personal access token through pat_create; its value exists only in `raw_value`,
    to be shown once. clean() runs pat_create_check, the service's own rules, so the page refuses
    what `POST /api/user/{id}/access-token` refuses, with the same words."""

    scopes = forms.CharField(
        required=False,
        help_text="Role names, separated by commas or spaces: a subset of what the user's "
        "registrations grant (of the application, when one is chosen).",
    )
    allowed_ips = forms.CharField(
        required=False,
        label="Allowed addresses",
        help_text="Addresses or CIDR networks the token may be used from, separated by commas or spaces. "
        "Empty: anywhere.",
    )
    raw_value: str

    class Meta:
        model = PersonalAccessToken
        fields = ["user", "name", "expiry", "application", "scopes", "allowed_ips"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope_picker(self, "application", Application.objects.select_related("tenant"), application_label)

    def clean_scopes(self) -> list[str]:
        return _list_of_words(self.cleaned_data.get("scopes") or "")

    def clean_allowed_ips(self) -> list[str]:
        return _list_of_words(self.cleaned_data.get("allowed_ips") or "")

    def _values(self) -> dict[str, Any]:
        data = self.cleaned_data
        application = data.get("application")
        return {
            "user": data["user"],
            "name": data["name"],
            "expiry": data["expiry"],
            "scopes": data["scopes"],
            "application_id": application.pk if application is not None else None,
            "allowed_ips": data["allowed_ips"],
        }

    def validate(self) -> None:
        pat_create_check(**self._values())

    def create(self) -> PersonalAccessToken:
        created = pat_create(**self._values())
        self.raw_value = created.value
        return created.token


class SigningKeyGenerateForm(ServiceModelForm[SigningKey]):
    """Generates a key; an HMAC secret exists only in `generated`, to be shown once."""

    make_signing_key = forms.BooleanField(
        required=False,
        label="Make it the tenant's signing key",
        help_text="Sign the tenant's access and id tokens with the new key "
        "(for a global key: the default tenant's).",
    )
    error_fields = {
        **_form_fields(KEY_ERROR_PATHS),
        **{field: "make_signing_key" for field in JWT_CONFIGURATION_FIELDS},
    }
    service_fields = frozenset({"tenant", "name", "algorithm", "length"})
    generated: GeneratedKey

    class Meta:
        model = SigningKey
        fields = ["tenant", "name", "algorithm", "length"]
        help_texts = {
            "length": "RSA: 2048, 3072 or 4096 bits (default 2048). HMAC: secret bytes (default the "
            "hash size). Not used for EC and EdDSA keys."
        }

    def validate(self) -> None:
        values = self.service_values()
        signing_key_validate(values={name: values[name] for name in ("name", "algorithm", "length")})

    def create(self) -> SigningKey:
        self.generated = signing_key_generate(**self.service_values())
        if self.cleaned_data["make_signing_key"]:
            tenant_signing_key_set(
                tenant=self.cleaned_data["tenant"] or tenant_get_default(), key=self.generated.key
            )
        return self.generated.key


ASYMMETRIC_ALGORITHMS = [alg for alg in KeyAlgorithm.values if not alg.startswith("HS")]


class SigningKeyImportForm(forms.Form):
    """Import someone else's public key or certificate (verify only), e.g. an external JWT
    provider's: what the Key API's import does, through the same service. The material is read
    only by the service (identity.signing); its refusals come back as errors of this form."""

    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.order_by("name"), required=False, help_text="Empty: a global key."
    )
    name = forms.CharField(max_length=191)
    algorithm = forms.ChoiceField(
        choices=[("", "(from the key)"), *((alg, alg) for alg in ASYMMETRIC_ALGORITHMS)], required=False
    )
    public_key = forms.CharField(widget=forms.Textarea, required=False, help_text="PEM public key.")
    certificate = forms.CharField(
        widget=forms.Textarea,
        required=False,
        help_text="PEM certificate; its end of validity becomes the expiry.",
    )
    kid = forms.CharField(max_length=64, required=False, help_text="Empty: the RFC 7638 thumbprint.")
    error_fields = {
        **_form_fields(KEY_ERROR_PATHS),
        "key.publicKey": "public_key",
        "key.certificate": "certificate",
        "key.kid": "kid",
    }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not (data.get("public_key") or data.get("certificate")):
            raise ValidationError("Paste a public key or a certificate.")
        if not self.errors:
            values = {
                "name": data["name"],
                **({"algorithm": data["algorithm"]} if data.get("algorithm") else {}),
            }
            try:
                signing_key_validate(values=values)
            except ValidationFailed as exc:
                add_service_errors(self, exc, self.error_fields)
        return data

    def save(self) -> SigningKey | None:
        """Import through signing_key_import; None (with the refusal as form errors) if refused."""
        data = self.cleaned_data
        try:
            return signing_key_import(
                tenant=data["tenant"],
                name=data["name"],
                algorithm=data["algorithm"] or None,
                public_key=data["public_key"],
                certificate=data["certificate"],
                kid=data["kid"] or None,
            )
        except ValidationFailed as exc:
            add_service_errors(self, exc, self.error_fields)
            return None


class SigningKeyRenameForm(ServiceModelForm[SigningKey]):
    """Only a key's name may change: new material means a new key."""

    error_fields = _form_fields(KEY_ERROR_PATHS)

    class Meta:
        model = SigningKey
        fields = ["name"]

    def validate(self) -> None:
        signing_key_validate(values={"name": self.cleaned_data["name"]})

    def update(self, current: SigningKey) -> SigningKey:
        return signing_key_rename(key=current, name=self.cleaned_data["name"])


class ExternalJWTProviderForm(ServiceModelForm[ExternalJWTProvider]):
    error_fields = _form_fields(PROVIDER_ERROR_PATHS)

    class Meta:
        model = ExternalJWTProvider
        fields = [
            "tenant",
            "name",
            "enabled",
            "verification_keys",
            "issuer",
            "audience",
            "unique_identity_claim",
            "claim_map",
            "applications",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Scoped pickers: keys with public material that can verify a foreign token — of the
        provider's tenant, or imported verify-only keys (never another tenant's private keys, never
        HMAC secrets); applications named with their tenant."""
        super().__init__(*args, **kwargs)
        keys = SigningKey.objects.exclude(public_key="").select_related("tenant").order_by("name")
        verify_only = Q(use=KeyUse.VERIFY_ONLY)
        if not self.instance._state.adding:
            tenant = self.instance.tenant
            keys = keys.filter(Q(tenant=tenant) | (Q(tenant__isnull=True) & verify_only))
            applications = Application.objects.filter(tenant=tenant)
        else:
            keys = keys.filter(verify_only)
            applications = Application.objects.all()
        scope_picker(self, "verification_keys", keys, key_label)
        scope_picker(self, "applications", applications.select_related("tenant"), application_label)

    def _values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "keys": data["verification_keys"],
            "applications": data["applications"],
            "unique_identity_claim": data["unique_identity_claim"],
            "claim_map": data["claim_map"] or {},
            "issuer": data["issuer"],
            "audience": data["audience"],
            "enabled": data["enabled"],
        }

    def validate(self) -> None:
        adding = self.instance._state.adding
        values = self._values()
        external_jwt_provider_validate(
            values={**values, "verification_keys": values["keys"]},
            tenant=self.cleaned_data["tenant"] if adding else self.instance.tenant,
            provider=None if adding else self.instance,
        )

    def create(self) -> ExternalJWTProvider:
        return external_jwt_provider_create(tenant=self.cleaned_data["tenant"], **self._values())

    def update(self, current: ExternalJWTProvider) -> ExternalJWTProvider:
        return external_jwt_provider_update(provider=current, **self._values())

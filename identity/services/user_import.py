"""Bulk user import (FusionAuth's Import Users API): many users with their registrations and
existing password hashes, all or nothing, in a handful of queries whatever the batch size."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from identity.exceptions import ValidationFailed
from identity.hashers import UnsupportedHash, imported_password
from identity.models import Application, Registration, Tenant, User
from identity.services.audit import audit_record
from identity.services.registrations import clean_roles
from identity.services.users import email_checked, login_id_checked, user_unique_key_violated

# Profile fields an import may set (never staff or superuser flags: those are the console's).
IMPORTABLE_USER_FIELDS = frozenset(
    {"first_name", "middle_name", "last_name", "full_name", "is_active", "verified", "expires_at", "data"}
)
BATCH_SIZE = 1000  # rows per INSERT and ids per lookup

T = TypeVar("T")


@dataclass(frozen=True)
class ImportedRegistration:
    application_id: uuid.UUID
    roles: list[str] | None = None  # None: the application's default roles
    username: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    verified: bool = True


@dataclass(frozen=True)
class ImportedUser:
    """One user of an import, as FusionAuth's import user object carries it."""

    email: str
    user_id: uuid.UUID | None = None
    username: str | None = None
    password: str | None = None  # the existing hash, never a plain password
    salt: str | None = None
    encryption_scheme: str | None = None
    factor: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    registrations: list[ImportedRegistration] = field(default_factory=list)


def _chunks(values: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), BATCH_SIZE):
        yield values[start : start + BATCH_SIZE]


def _taken(*, tenant: Tenant, column: str, values: Iterable[Any]) -> set[Any]:
    """Which of `values` the database already holds in `column` (of the tenant; ids of any)."""
    values = list(values)
    found: set[Any] = set()
    users = User.objects.all() if column == "pk" else User.objects.filter(tenant=tenant)
    for chunk in _chunks(values):
        found.update(users.filter(**{f"{column}__in": chunk}).values_list(column, flat=True))
    return found


@dataclass
class _Checked:
    """The rows one import would insert, and every reason it cannot."""

    errors: ValidationFailed = field(default_factory=ValidationFailed)
    users: list[User] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    # (column, value) → index of the first user claiming it, for duplicates within the batch.
    claimed: dict[tuple[str, Any], int] = field(default_factory=dict)

    def claim(self, column: str, value: Any, path: str, label: str, index: int) -> None:
        first = self.claimed.setdefault((column, value), index)
        if first != index:
            self.errors.add(path, "duplicate", f"The {label} of users[{first}] is repeated here.")

    def merge(self, exc: ValidationFailed, prefix: str | None = None) -> None:
        """A shared validator's errors; with `prefix`, moved from its own path (`registration.roles`)
        to this user's (`users[3].registrations[0].roles`)."""
        for path, errors in exc.field_errors.items():
            for item in errors:
                error_type = item.code[1:].split("]", 1)[0]
                where = path if prefix is None else f"{prefix}.{path.rpartition('.')[2]}"
                self.errors.add(where, error_type, item.message)


def _user_row(checked: _Checked, *, tenant: Tenant, index: int, spec: ImportedUser, scheme: str | None,
              factor: int | None, now: datetime) -> User | None:  # fmt: skip
    prefix = f"users[{index}]"
    unknown = set(spec.fields) - IMPORTABLE_USER_FIELDS
    if unknown:
        raise TypeError(f"Unknown user fields: {', '.join(sorted(unknown))}")
    try:
        email = email_checked(spec.email, f"{prefix}.email")
        email_key = login_id_checked(field=f"{prefix}.email", label="email", value=email)
        username = (spec.username or "").strip() or None
        username_key = (
            None if username is None
            else login_id_checked(field=f"{prefix}.username", label="username", value=username)
        )  # fmt: skip
    except ValidationFailed as exc:
        checked.merge(exc)
        return None
    try:
        password = imported_password(
            password=spec.password,
            salt=spec.salt,
            scheme=spec.encryption_scheme or scheme,
            factor=spec.factor if spec.factor is not None else factor,
        )
    except UnsupportedHash as exc:
        checked.errors.add(f"{prefix}.{exc.field}", "invalid", str(exc))
        return None
    user_id = spec.user_id or uuid.uuid4()
    checked.claim("pk", user_id, f"{prefix}.id", "id", index)
    checked.claim("email_key", email_key, f"{prefix}.email", "email", index)
    if username_key is not None:
        checked.claim("username_key", username_key, f"{prefix}.username", "username", index)
    return User(
        id=user_id, tenant=tenant, email=email, email_key=email_key, username=username,
        username_key=username_key, password=password,
        password_changed_at=now if spec.password else None, **spec.fields,
    )  # fmt: skip


def _registration_rows(checked: _Checked, *, user: User, index: int, spec: ImportedUser,
                       applications: dict[uuid.UUID, Application]) -> None:  # fmt: skip
    seen: set[uuid.UUID] = set()
    for position, registration in enumerate(spec.registrations):
        prefix = f"users[{index}].registrations[{position}]"
        application = applications.get(registration.application_id)
        if application is None:
            checked.errors.add(
                f"{prefix}.applicationId", "invalid", "No application of the tenant has this id."
            )
            continue
        if application.pk in seen:
            checked.errors.add(f"{prefix}.applicationId", "duplicate", "The user is registered twice here.")
            continue
        seen.add(application.pk)
        try:
            roles = clean_roles(application=application, roles=registration.roles)
        except ValidationFailed as exc:
            checked.merge(exc, prefix)
            continue
        checked.registrations.append(
            Registration(
                user=user,
                application=application,
                roles=roles,
                username=registration.username,
                data=registration.data,
                verified=registration.verified,
            )
        )


def _against_database(checked: _Checked, *, tenant: Tenant) -> None:
    """validateDbConstraints: name every user whose id, email or username is already taken."""
    for column, label in (("pk", "id"), ("email_key", "email"), ("username_key", "username")):
        wanted = {value: index for (col, value), index in checked.claimed.items() if col == column}
        for value in _taken(tenant=tenant, column=column, values=wanted):
            path = f"users[{wanted[value]}].{'id' if column == 'pk' else label}"
            checked.errors.add(path, "duplicate", f"A user with this {label} already exists.")


@transaction.atomic
def users_import(
    *,
    tenant: Tenant,
    users: list[ImportedUser],
    validate_db_constraints: bool = False,
    encryption_scheme: str | None = None,
    factor: int | None = None,
    now: datetime | None = None,
    progress: Callable[[str, int], object] | None = None,
) -> int:
    """Create `users` of `tenant` with their registrations, or nothing at all.

    Password hashes are stored as they came (identity.hashers.imported_password; the request's
    `encryption_scheme`/`factor` apply to users naming none) and re-hashed to Argon2id at each
    user's first login. Every problem of the batch is reported at once on FusionAuth-style paths
    (`[duplicate]users[3].email`). Repeats within the batch are always refused; users already in
    the database are named one by one with `validate_db_constraints`, and otherwise caught by the
    unique constraints (one general `[duplicate]` error, as FusionAuth answers without the check).
    `progress(stage, n)` is told as users are checked ("check") and inserted ("insert").
    Returns the number of users created."""
    report = progress or (lambda stage, n: None)
    now = now or timezone.now()
    checked = _Checked()
    application_ids = {r.application_id for spec in users for r in spec.registrations}
    applications = {
        a.pk: a
        for a in Application.objects.filter(tenant=tenant, pk__in=application_ids).prefetch_related("roles")
    }
    for index, spec in enumerate(users):
        user = _user_row(checked, tenant=tenant, index=index, spec=spec, scheme=encryption_scheme,
                         factor=factor, now=now)  # fmt: skip
        if user is not None:
            checked.users.append(user)
            _registration_rows(checked, user=user, index=index, spec=spec, applications=applications)
        if index % BATCH_SIZE == BATCH_SIZE - 1 or index == len(users) - 1:
            report("check", index % BATCH_SIZE + 1)
    if validate_db_constraints:  # named with the batch's other problems, not on the next try
        _against_database(checked, tenant=tenant)
    if checked.errors:
        raise checked.errors
    try:
        with transaction.atomic():
            for chunk in _chunks(checked.users):
                User.objects.bulk_create(chunk)
                report("insert", len(chunk))
    except IntegrityError as exc:
        label = user_unique_key_violated(exc) or "email or username"
        raise ValidationFailed.on_field(
            "users", "duplicate", f"A user with an imported {label} already exists."
        ) from exc
    Registration.objects.bulk_create(checked.registrations, batch_size=BATCH_SIZE)
    audit_record(action="user.import", object_type="user", tenant_id=tenant.pk, count=len(checked.users))
    return len(checked.users)

"""Domain errors. Each has a stable code; `identity.exception_handler` maps them to HTTP once.

Codes follow FusionAuth's `[errorType]field.path` convention so the official SDK and existing
client code that matches on them keep working. This module imports nothing from DRF or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorItem:
    code: str
    message: str
    data: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data:
            out["data"] = self.data
        return out


class IdentityError(Exception):
    """Base of every error the services raise on purpose."""

    code = "[invalid]"
    message = "The request is invalid."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class ValidationFailed(IdentityError):
    """Bad input: answered with 400 and FusionAuth's `{fieldErrors, generalErrors}` body."""

    def __init__(
        self,
        field_errors: dict[str, list[ErrorItem]] | None = None,
        general_errors: list[ErrorItem] | None = None,
    ) -> None:
        self.field_errors: dict[str, list[ErrorItem]] = field_errors or {}
        self.general_errors: list[ErrorItem] = general_errors or []
        super().__init__(self.summary())

    @classmethod
    def on_field(cls, path: str, error_type: str, message: str) -> ValidationFailed:
        return cls(field_errors={path: [ErrorItem(f"[{error_type}]{path}", message)]})

    @classmethod
    def general(cls, code: str, message: str) -> ValidationFailed:
        return cls(general_errors=[ErrorItem(code, message)])

    def add(self, path: str, error_type: str, message: str) -> None:
        self.field_errors.setdefault(path, []).append(ErrorItem(f"[{error_type}]{path}", message))
        self.message = self.summary()
        self.args = (self.message,)

    def __bool__(self) -> bool:
        return bool(self.field_errors or self.general_errors)

    def summary(self) -> str:
        parts = [f"{p}: {e.message}" for p, errs in self.field_errors.items() for e in errs]
        parts += [e.message for e in self.general_errors]
        return "; ".join(parts) or "Invalid request."

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.field_errors:
            body["fieldErrors"] = {p: [e.as_json() for e in errs] for p, errs in self.field_errors.items()}
        if self.general_errors:
            body["generalErrors"] = [e.as_json() for e in self.general_errors]
        return body


class TenantIdRequired(ValidationFailed):
    """More than one tenant exists and nothing in the request says which one is meant."""

    def __init__(self) -> None:
        super().__init__(
            general_errors=[
                ErrorItem(
                    "[TenantIdRequired]",
                    "A Tenant Id is required to complete this request. "
                    "Send the X-FusionAuth-TenantId header or use a tenant-locked API key.",
                )
            ]
        )


class NotAuthenticated(IdentityError):
    """Missing, wrong, expired or unpermitted credentials: 401 with an empty body."""

    code = "[NotAuthenticated]"
    message = "Authentication failed."


class NotFound(IdentityError):
    """The object does not exist or is not visible to the caller: 404 with an empty body."""

    code = "[NotFound]"
    message = "Not found."


class Conflict(IdentityError):
    """The request conflicts with the current state, e.g. deleting the default tenant."""

    code = "[Conflict]"
    message = "The request conflicts with the current state."

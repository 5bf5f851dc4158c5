"""Tenants (`/api/tenant`) and the JWT configuration they share with applications."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from identity.models import ExpirationPolicy, SigningKey, Tenant, UsagePolicy
from identity.selectors import signing_key_usable_by
from identity.serializers.common import (
    Choice,
    Flag,
    Instant,
    Section,
    Text,
    UUIDValue,
    WholeNumber,
    WireSerializer,
)

DURATION_UNITS = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86_400, "WEEKS": 604_800}


class SigningKeyId(UUIDValue):
    """`accessTokenKeyId` / `idTokenKeyId`: the id of a key the tenant in `context["tenant"]` may
    use (its own or a global one; no tenant yet: a global one), as the key record; null clears.
    Whether the key can sign is identity.validators' to say."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, required=False, **kwargs)

    def get_attribute(self, instance: Any) -> Any:
        return getattr(instance, f"{self.source}_id")  # the id alone: no query for the key

    def to_internal_value(self, data: Any) -> SigningKey:  # type: ignore[override]
        key = signing_key_usable_by(tenant=self.context.get("tenant"), key_id=super().to_internal_value(data))
        if key is None:
            raise ValidationError(ErrorDetail("No signing key of this tenant has this id.", "invalid"))
        return key


class SlidingWindowSerializer(Section):
    maximumTimeToLiveInMinutes = WholeNumber(source="refresh_token_max_ttl_minutes", required=False)


class OneTimeUseSerializer(Section):
    gracePeriodInSeconds = WholeNumber(source="refresh_token_grace_period_seconds", required=False)


class JWTConfigurationSerializer(Section):
    """FusionAuth's `jwtConfiguration`: the fields of identity.models.JWTConfigurationFields."""

    timeToLiveInSeconds = WholeNumber(source="access_token_ttl_seconds", required=False)
    refreshTokenTimeToLiveInMinutes = WholeNumber(source="refresh_token_ttl_minutes", required=False)
    refreshTokenExpirationPolicy = Choice(
        ExpirationPolicy.values, source="refresh_token_expiration_policy", required=False
    )
    refreshTokenUsagePolicy = Choice(UsagePolicy.values, source="refresh_token_usage_policy", required=False)
    refreshTokenSlidingWindowConfiguration = SlidingWindowSerializer()
    refreshTokenOneTimeUseConfiguration = OneTimeUseSerializer()
    accessTokenKeyId = SigningKeyId(source="access_token_signing_key")
    idTokenKeyId = SigningKeyId(source="id_token_signing_key")


class RevocationPolicySerializer(Section):
    onPasswordChanged = Flag(source="revoke_on_password_changed", required=False)
    onLoginPrevented = Flag(source="revoke_on_login_prevented", required=False)
    onOneTimeTokenReuse = Flag(source="revoke_on_one_time_token_reuse", required=False)


class PersonalAccessTokenRevocationPolicySerializer(Section):
    """Ours (issue 12): whether a password change also revokes the user's personal access tokens
    (separate credentials, kept by default)."""

    onPasswordChanged = Flag(source="revoke_access_tokens_on_password_changed", required=False)


class TenantJWTConfigurationSerializer(JWTConfigurationSerializer):
    refreshTokenRevocationPolicy = RevocationPolicySerializer()
    personalAccessTokenRevocationPolicy = PersonalAccessTokenRevocationPolicySerializer()
    validateChecksState = Flag(source="validate_checks_state", required=False)
    # Ours (docs/fusionauth-differences.md): live refresh tokens per user, the oldest evicted.
    refreshTokenLimitPerUser = WholeNumber(source="refresh_token_limit_per_user", required=False)


class TenantLoginConfigurationSerializer(Section):
    requireAuthentication = Flag(source="require_authentication", required=False)


class FailedAuthenticationSerializer(Section):
    """The lockout policy. FusionAuth says the lockout as `actionDuration` + `actionDurationUnit`
    (default MINUTES); it is kept in seconds, so either form is read and both are written."""

    tooManyAttempts = WholeNumber(source="failed_login_max_attempts", required=False)
    resetCountInSeconds = WholeNumber(source="failed_login_window_seconds", required=False)
    actionDurationInSeconds = WholeNumber(source="failed_login_lockout_seconds", required=False)
    actionDuration = serializers.IntegerField(source="failed_login_lockout_seconds", read_only=True)
    actionDurationUnit = serializers.SerializerMethodField()

    def get_actionDurationUnit(self, tenant: Tenant) -> str:
        return "SECONDS"

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "actionDuration" in data:
            unit, duration = data.get("actionDurationUnit", "MINUTES"), data["actionDuration"]
            if unit not in DURATION_UNITS or isinstance(duration, bool) or not isinstance(duration, int):
                raise ValidationError(
                    {"actionDuration": [ErrorDetail("A whole number with a unit.", "invalid")]}
                )
            data = {**data, "actionDurationInSeconds": duration * DURATION_UNITS[unit]}
        return super().to_internal_value(data)


class TenantSerializer(WireSerializer):
    """A tenant in and out. Context `tenant`: the tenant being changed (None when creating), whose
    signing keys `accessTokenKeyId`/`idTokenKeyId` may name."""

    omitted = ()

    id = serializers.UUIDField(read_only=True)
    name = Text(191, blank=False, error_messages={"required": "A name is required."})
    issuer = Text(255, blank=False, required=False)
    jwtConfiguration = TenantJWTConfigurationSerializer()
    loginConfiguration = TenantLoginConfigurationSerializer()
    failedAuthenticationConfiguration = FailedAuthenticationSerializer()
    insertInstant = Instant(source="created_at", read_only=True)
    lastUpdateInstant = Instant(source="updated_at", read_only=True)

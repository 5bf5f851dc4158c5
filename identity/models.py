"""The identity domain: tenants, applications, users, registrations, refresh tokens, keys.

Models hold data, constraints and single-row predicates only. Every rule that writes lives in
`identity.services`; the admin, the API and the management commands all go through those.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models

from identity.managers import UserManager


class ExpirationPolicy(models.TextChoices):
    FIXED = "Fixed", "Fixed (from issue)"
    SLIDING_WINDOW = "SlidingWindow", "Sliding window (from last use)"
    SLIDING_WINDOW_WITH_MAXIMUM_LIFETIME = (
        "SlidingWindowWithMaximumLifetime",
        "Sliding window with maximum lifetime",
    )


class UsagePolicy(models.TextChoices):
    REUSABLE = "Reusable", "Reusable"
    ONE_TIME_USE = "OneTimeUse", "One-time use (rotated on every refresh)"


class TimestampedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class JWTConfigurationFields(models.Model):
    """Token lifetimes and refresh-token policies, shared by Tenant and Application (FusionAuth's
    `jwtConfiguration`). The application's copy applies only when its `jwt_enabled` is on."""

    access_token_ttl_seconds = models.PositiveIntegerField(
        default=3600, help_text="Lifetime of access and id tokens (FusionAuth timeToLiveInSeconds)."
    )
    refresh_token_ttl_minutes = models.PositiveIntegerField(
        default=43_200, help_text="Refresh-token lifetime (FusionAuth refreshTokenTimeToLiveInMinutes)."
    )
    refresh_token_expiration_policy = models.CharField(
        max_length=40, choices=ExpirationPolicy.choices, default=ExpirationPolicy.FIXED
    )
    refresh_token_max_ttl_minutes = models.PositiveIntegerField(
        default=43_200,
        help_text="Hard cap for SlidingWindowWithMaximumLifetime; at least the refresh-token TTL.",
    )
    refresh_token_usage_policy = models.CharField(
        max_length=20, choices=UsagePolicy.choices, default=UsagePolicy.REUSABLE
    )
    refresh_token_grace_period_seconds = models.PositiveIntegerField(
        default=0,
        help_text="One-time use: how long the previous value still returns the current token (0 = off).",
    )
    access_token_signing_key = models.ForeignKey(
        "identity.SigningKey", null=True, blank=True, on_delete=models.RESTRICT, related_name="+"
    )
    id_token_signing_key = models.ForeignKey(
        "identity.SigningKey", null=True, blank=True, on_delete=models.RESTRICT, related_name="+"
    )

    class Meta:
        abstract = True


def jwt_configuration_constraints(prefix: str) -> list[models.BaseConstraint]:
    """The database's backstop under identity.validators (which owns the bounds and says why): a
    sliding cap at least the TTL, positive TTLs, a grace period under a day."""
    return [
        models.CheckConstraint(
            condition=models.Q(refresh_token_max_ttl_minutes__gte=models.F("refresh_token_ttl_minutes")),
            name=f"identity_{prefix}_max_ttl_gte_ttl",
        ),
        models.CheckConstraint(
            condition=models.Q(access_token_ttl_seconds__gt=0, refresh_token_ttl_minutes__gt=0),
            name=f"identity_{prefix}_ttls_positive",
        ),
        models.CheckConstraint(
            condition=models.Q(refresh_token_grace_period_seconds__lt=86_400),
            name=f"identity_{prefix}_grace_lt_day",
        ),
    ]


# The one list of JWT configuration fields, in form order (admin fieldsets, services, token SQL).
JWT_CONFIGURATION_FIELDS: tuple[str, ...] = tuple(f.name for f in JWTConfigurationFields._meta.local_fields)


class Tenant(TimestampedModel, JWTConfigurationFields):
    name = models.CharField(max_length=191, unique=True)
    issuer = models.CharField(max_length=255, default="acme.com", help_text="The `iss` claim of every token.")
    is_default = models.BooleanField(default=False, editable=False)
    verification_keys = models.ManyToManyField(
        "identity.SigningKey",
        blank=True,
        related_name="verifying_tenants",
        help_text="Keys still trusted for verification besides the signing keys (key rotation).",
    )
    # Revocation policies are tenant-wide, as in FusionAuth.
    revoke_on_password_changed = models.BooleanField(default=True)
    revoke_on_login_prevented = models.BooleanField(default=True)
    revoke_access_tokens_on_password_changed = models.BooleanField(
        default=False,
        help_text="A password change also revokes the user's personal access tokens (separate "
        "credentials, kept by default).",
    )
    revoke_on_one_time_token_reuse = models.BooleanField(
        default=True,
        help_text="Reuse of a rotated one-time refresh token revokes its whole family (RFC 9700 §4.14.2).",
    )
    refresh_token_limit_per_user = models.PositiveIntegerField(
        default=100,
        help_text="Live refresh tokens one user may hold; a new one evicts the oldest session (and "
        "revokes its family), so no user can grow the table without bound.",
    )
    # loginConfiguration
    require_authentication = models.BooleanField(
        default=True, help_text="Require an API key on /api/login when no applicationId is sent."
    )
    validate_checks_state = models.BooleanField(
        default=False,
        help_text="/api/jwt/validate also refuses tokens of deactivated or locked users, inactive "
        "applications and revoked sessions (costs a query per call; FusionAuth checks only the signature).",
    )
    # failedAuthenticationConfiguration
    failed_login_max_attempts = models.PositiveIntegerField(default=5)
    failed_login_window_seconds = models.PositiveIntegerField(default=60)
    failed_login_lockout_seconds = models.PositiveIntegerField(default=60)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="identity_one_default_tenant"
            ),
            *jwt_configuration_constraints("tenant"),
            models.CheckConstraint(
                condition=models.Q(refresh_token_limit_per_user__gte=1),
                name="identity_tenant_refresh_token_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Application(TimestampedModel, JWTConfigurationFields):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="applications")
    name = models.CharField(max_length=191)
    active = models.BooleanField(default=True)
    jwt_enabled = models.BooleanField(
        default=False, help_text="Use this application's JWT configuration instead of the tenant's."
    )
    verification_keys = models.ManyToManyField(
        "identity.SigningKey", blank=True, related_name="verifying_applications"
    )
    # loginConfiguration
    generate_refresh_tokens = models.BooleanField(default=False)
    allow_token_refresh = models.BooleanField(default=False)
    require_authentication = models.BooleanField(
        default=True, help_text="Require an API key on /api/login for this application."
    )

    class Meta:
        ordering = ["tenant__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="identity_application_name_per_tenant"),
            *jwt_configuration_constraints("application"),
        ]

    def __str__(self) -> str:
        return self.name


class ApplicationRole(TimestampedModel):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=191)
    description = models.CharField(max_length=255, blank=True)
    is_default = models.BooleanField(default=False, help_text="Granted to new registrations.")
    is_super_role = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["application", "name"], name="identity_role_name_per_application")
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractBaseUser, PermissionsMixin):
    """A person (or console staff member) of one tenant. Staff live in the default tenant."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users")
    email = models.EmailField(max_length=254)
    # NULL, not "", for users without a username: NULLs do not collide in the unique constraint.
    username = models.CharField(max_length=191, null=True, blank=True)  # noqa: DJ001
    # identity.login_ids.login_id_key of email and username, set by the user services: every lookup
    # and the unique constraints compare these, never LOWER()/UPPER() of the raw values.
    email_key = models.CharField(max_length=320, editable=False)
    username_key = models.CharField(max_length=320, null=True, blank=True, editable=False)  # noqa: DJ001
    first_name = models.CharField(max_length=150, blank=True)
    middle_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    full_name = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive users cannot log in or refresh.")
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin console.")
    is_bot = models.BooleanField(
        default=False, help_text="A bot has no password and authenticates with access tokens only."
    )
    verified = models.BooleanField(default=False, help_text="Email verified.")
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this instant login answers 410."
    )
    password_changed_at = models.DateTimeField(null=True, blank=True)
    # Failed-login lockout (the tenant's policy): failures counted within a window from the first.
    failed_login_count = models.PositiveIntegerField(default=0, editable=False)
    failed_login_window_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, help_text="Login is refused (409) until then.")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "email_key"], name="identity_user_email_key_per_tenant"
            ),
            models.UniqueConstraint(
                fields=["tenant", "username_key"], name="identity_user_username_key_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class Registration(TimestampedModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="registrations")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="registrations")
    roles = models.JSONField(default=list, blank=True, help_text="Role names of the application.")
    username = models.CharField(max_length=191, blank=True)
    data = models.JSONField(default=dict, blank=True)
    verified = models.BooleanField(default=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "application"], name="identity_registration_unique")
        ]

    def __str__(self) -> str:
        # "email → application", as the console titles it (load user and application with it).
        return f"{self.user.email} → {self.application.name}"


class RefreshToken(models.Model):
    """A refresh-token session. The token value is never stored, only its SHA-256 digest.

    `id` is the refreshTokenId and stays the same when a one-time-use token is rotated. A value
    carries the token id and its rotation generation under a keyed MAC, so a replayed older
    generation is recognised (reuse) without keeping the digests of rotated values.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    family_id = models.UUIDField(
        db_index=True, help_text="Shared by tokens derived from one login (rotation, issue to another app)."
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # No index of their own: (application, user) and (user, -created_at) below lead with them. Every
    # rotation changes an indexed column, and PostgreSQL then writes an entry into each index.
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="refresh_tokens", db_index=False
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_tokens", db_index=False)
    # Not indexed: a value carries its token's id, so every read is by primary key and compares the
    # digest (identity.services.refresh_tokens). A rotation then changes no indexed column, which
    # lets PostgreSQL write it as a HOT update (no index entries) when the page has room.
    token_digest = models.CharField(max_length=64, help_text="SHA-256 hex of the current value.")
    value_salt = models.CharField(
        max_length=32,
        editable=False,
        blank=True,
        help_text="Random input of the MAC of a value minted before 2026-12 (70 characters); empty since.",
    )
    generation = models.PositiveIntegerField(default=0, help_text="Number of one-time-use rotations so far.")
    rotated_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(help_text="Base of the expiry calculation (FusionAuth startInstant).")
    created_at = models.DateTimeField(help_text="FusionAuth insertInstant.")
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=40, blank=True)
    device_name = models.CharField(max_length=255, blank=True)
    device_description = models.CharField(max_length=255, blank=True)
    device_type = models.CharField(max_length=64, blank=True)
    last_accessed_address = models.CharField(max_length=64, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="identity_rt_user_newest"),
            # A user's live sessions, newest first, without the revoked ones: what every login
            # counts against the per-user limit (and the session list shows), read without walking
            # the revoked rows the limit itself leaves behind until the purge (migration 0015).
            models.Index(
                fields=["user", "-created_at", "-id"],
                name="identity_rt_user_live",
                condition=models.Q(revoked_at__isnull=True),
            ),
            # Every live session, newest first: the console's refresh-token list (live sessions by
            # default) reads its first page from here instead of sorting them all (migration 0016).
            models.Index(
                fields=["-created_at", "-id"],
                name="identity_rt_live_newest",
                condition=models.Q(revoked_at__isnull=True),
            ),
            models.Index(fields=["application", "user"], name="identity_rt_app_user"),
            # (instant, id): the purge walks these in key order, batch after batch (keyset), so it
            # never rescans the index entries of rows it has already deleted.
            models.Index(fields=["expires_at", "id"], name="identity_rt_expires_id"),
            models.Index(
                fields=["revoked_at", "id"],
                name="identity_rt_revoked_id",
                condition=models.Q(revoked_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"refresh token {self.id}"

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    def is_usable(self, now: datetime) -> bool:
        """Whether the session still stands: neither revoked nor expired. The one definition every
        path asks (refresh, logout, issue, validate's session check); a refresh also needs its user,
        application and registration to allow it (RefreshTokenContext.refreshable)."""
        return self.revoked_at is None and self.expires_at > now


class KeyAlgorithm(models.TextChoices):
    HS256 = "HS256", "HS256"
    HS384 = "HS384", "HS384"
    HS512 = "HS512", "HS512"
    RS256 = "RS256", "RS256"
    RS384 = "RS384", "RS384"
    RS512 = "RS512", "RS512"
    ES256 = "ES256", "ES256"
    ES384 = "ES384", "ES384"
    ES512 = "ES512", "ES512"
    EDDSA = "EdDSA", "EdDSA (Ed25519)"


class KeyUse(models.TextChoices):
    SIGN_AND_VERIFY = "SignAndVerify", "Sign and verify"
    VERIFY_ONLY = "VerifyOnly", "Verify only"


class SigningKey(TimestampedModel):
    """A JWT signing or verification key. Private material is encrypted at rest (AES-256-GCM)."""

    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="signing_keys",
        help_text="Empty for a global key usable by every tenant.",
    )
    name = models.CharField(max_length=191)
    algorithm = models.CharField(max_length=8, choices=KeyAlgorithm.choices)
    kid = models.CharField(max_length=64, unique=True)
    use = models.CharField(max_length=16, choices=KeyUse.choices, default=KeyUse.SIGN_AND_VERIFY)
    length = models.PositiveIntegerField(null=True, blank=True, help_text="RSA bits or HMAC secret bytes.")
    public_key = models.TextField(blank=True, help_text="PEM public key (asymmetric keys).")
    certificate = models.TextField(blank=True, help_text="PEM certificate, if one was imported.")
    issuer = models.CharField(max_length=255, blank=True)
    encrypted_secret = models.TextField(
        blank=True, editable=False, help_text="Private key PEM or HMAC secret, encrypted (never shown)."
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.algorithm}, kid {self.kid})"

    @property
    def key_type(self) -> str:
        return {"H": "HMAC", "R": "RSA", "E": "EC"}.get(self.algorithm[0], "OKP")

    @property
    def has_private_key(self) -> bool:
        return bool(self.encrypted_secret)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class APIKey(TimestampedModel):
    """A key for the REST APIs. Only its SHA-256 digest is stored; the value is shown once."""

    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="Locks the key to one tenant. Empty: any tenant (chosen with X-FusionAuth-TenantId).",
    )
    name = models.CharField(max_length=191, blank=True)
    description = models.CharField(max_length=255, blank=True)
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="First characters, to recognise it.")
    permissions = models.JSONField(
        default=dict,
        blank=True,
        help_text='Endpoint → methods, e.g. {"/api/jwt/refresh": ["GET", "DELETE"]}. Empty: every endpoint.',
    )
    key_manager = models.BooleanField(default=False, help_text="May manage API keys.")
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.name or f"API key {self.prefix}…"

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def allows(self, endpoint: str, method: str) -> bool:
        """Empty permissions make a super key; otherwise the endpoint must be listed by its exact
        name (FusionAuth's: the route up to its first id, e.g. `/api/user` for `/api/user/{id}`,
        while `/api/user/registration` is an endpoint of its own) with the method."""
        if not self.permissions:
            return True
        methods = self.permissions.get(endpoint)
        return methods is not None and method.upper() in {str(m).upper() for m in methods}


class ExternalJWTProvider(TimestampedModel):
    """An identity provider whose JWTs `/api/jwt/reconcile` accepts (FusionAuth's "External JWT").

    Its keys live in our key store (verify-only imports); the algorithm comes from those key
    records. The unique claim finds or creates the user; the mapping copies claims to user fields.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="external_jwt_providers")
    name = models.CharField(max_length=191)
    enabled = models.BooleanField(default=True)
    verification_keys = models.ManyToManyField(SigningKey, related_name="external_jwt_providers")
    issuer = models.CharField(
        max_length=255, blank=True, help_text="Required `iss` of the foreign tokens, if set."
    )
    audience = models.CharField(max_length=255, blank=True, help_text="Required `aud`, if set.")
    unique_identity_claim = models.CharField(
        max_length=64,
        default="email",
        help_text="The claim that identifies the user (its value is the user's email).",
    )
    claim_map = models.JSONField(
        default=dict, blank=True, help_text='Foreign claim → user field, e.g. {"given_name": "first_name"}.'
    )
    applications = models.ManyToManyField(
        Application,
        blank=True,
        related_name="external_jwt_providers",
        help_text="Applications it may log into.",
    )

    class Meta:
        ordering = ["tenant__name", "name"]
        verbose_name = "external JWT identity provider"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="identity_idp_name_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class IdentityProviderLink(models.Model):
    """A user known to an external provider under a subject (its unique-claim value)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(ExternalJWTProvider, on_delete=models.CASCADE, related_name="links")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identity_provider_links")
    subject = models.CharField(max_length=320)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="identity_idp_link_subject_unique"),
            models.UniqueConstraint(fields=["provider", "user"], name="identity_idp_link_user_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.user_id}"


class RevokedToken(models.Model):
    """A token `jti` refused everywhere until `expires_at` (never forgotten when null): revoked
    access tokens and personal access tokens. Read into every process by `identity.revocations`."""

    jti = models.CharField(primary_key=True, max_length=255)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revoked_at = models.DateTimeField()

    class Meta:
        db_table = "identity_revoked_token"

    def __str__(self) -> str:
        return f"revoked {self.kind} {self.jti}"


class OAuthGrant(models.TextChoices):
    CLIENT_CREDENTIALS = "client_credentials", "Client credentials"
    REFRESH_TOKEN = "refresh_token", "Refresh token"
    TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange", "Token exchange (RFC 8693)"


class ClientAuthenticationPolicy(models.TextChoices):
    REQUIRED = "Required", "Required"
    NOT_REQUIRED_WHEN_USING_PKCE = "NotRequiredWhenUsingPKCE", "Not required when using PKCE"
    NOT_REQUIRED = "NotRequired", "Not required"


class ClientAuthenticationMethod(models.TextChoices):
    CLIENT_SECRET_BASIC = "client_secret_basic", "HTTP Basic with the client secret"
    CLIENT_SECRET_POST = "client_secret_post", "Client secret in the form body"
    PRIVATE_KEY_JWT = "private_key_jwt", "Signed client assertion (RFC 7523)"


class OAuthConfiguration(models.Model):
    """An application as an OAuth2 client (FusionAuth's `application.oauthConfiguration`).

    The client id is the application id. The client secret is stored only as an HMAC-SHA256 digest
    under a server pepper; during a rotation the previous digest keeps working until
    `previous_secret_valid_until`. Rules live in identity.services.oauth_clients."""

    application = models.OneToOneField(
        Application, primary_key=True, on_delete=models.CASCADE, related_name="oauth_configuration"
    )
    client_secret_digest = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_digest = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    enabled_grants = models.JSONField(default=list, blank=True, help_text="OAuth grant types it may use.")
    client_authentication_policy = models.CharField(
        max_length=32, choices=ClientAuthenticationPolicy.choices, default=ClientAuthenticationPolicy.REQUIRED
    )
    client_authentication_methods = models.JSONField(
        default=list, blank=True, help_text="Accepted token-endpoint authentication methods."
    )
    scopes = models.JSONField(default=list, blank=True, help_text="Scopes the client may request.")
    assertion_keys = models.ManyToManyField(
        SigningKey,
        blank=True,
        related_name="oauth_clients",
        help_text="Public keys (our key store) that verify its private_key_jwt assertions.",
    )
    jwks = models.JSONField(
        default=dict, blank=True, help_text="Inline JWKS (public keys) for private_key_jwt assertions."
    )
    token_requests_per_minute = models.PositiveIntegerField(
        default=6000, help_text="Token-endpoint requests allowed per minute for this client (0 = no limit)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OAuth configuration"

    def __str__(self) -> str:
        return f"OAuth client {self.application_id}"


class OAuthAssertionJti(models.Model):
    """A client assertion's `jti`, kept until the assertion expires so it is used once (RFC 7523 §3)."""

    id = models.BigAutoField(primary_key=True)
    client = models.ForeignKey(OAuthConfiguration, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "jti"], name="identity_oauth_jti_once")]
        indexes = [models.Index(fields=["expires_at"], name="identity_oauth_jti_expires")]

    def __str__(self) -> str:
        return f"assertion jti of {self.client_id}"


class TokenExpiry(models.TextChoices):
    """OpenMetadata's `JWTTokenExpiry` (seed 000): one hour, a number of days, or no expiry."""

    ONE_HOUR = "OneHour", "One hour"
    ONE_DAY = "1", "1 day"
    SEVEN_DAYS = "7", "7 days"
    THIRTY_DAYS = "30", "30 days"
    SIXTY_DAYS = "60", "60 days"
    NINETY_DAYS = "90", "90 days"
    UNLIMITED = "Unlimited", "Unlimited (until revoked)"


class PersonalAccessToken(models.Model):
    """A long-lived, scoped, revocable credential of a user or bot: a JWT whose `jti` is this row's
    id. The value is shown once and never stored; the row is what revocation and listing need."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_access_tokens")
    name = models.CharField(max_length=191)
    expiry = models.CharField(max_length=16, choices=TokenExpiry.choices)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty for Unlimited.")
    scopes = models.JSONField(
        default=list, blank=True, help_text="Role names carried by the token (a subset of the user's)."
    )
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    allowed_ips = models.JSONField(
        default=list, blank=True, help_text="Addresses or CIDR networks the token may be used from."
    )
    signing_key = models.ForeignKey(
        SigningKey,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="personal_access_tokens",
        help_text="The key that signed the token: kept trusted while the token lives.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.CharField(max_length=100, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "personal access token"
        constraints = [
            # Only live tokens hold their name: a revoked "ci" token does not block a new one.
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="identity_pat_name_per_user",
            ),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="identity_pat_user_newest")]

    def __str__(self) -> str:
        return self.name

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class LoginTransport(models.TextChoices):
    BEARER = "bearer", "Bearer (JSON body)"
    COOKIE = "cookie", "Cookie"


class CookieSameSite(models.TextChoices):
    LAX = "lax", "Lax"
    STRICT = "strict", "Strict"
    NONE = "none", "None"


class LoginBackend(TimestampedModel):
    """A fastapi-users style authentication backend of an application: `POST /auth/<name>/login`
    with the OAuth2 password form answers with an access token of the application, in the JSON body
    (bearer) or in a cookie. The name is unique across the service because the path carries it."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="login_backends")
    name = models.SlugField(max_length=64, unique=True, default="jwt")
    transport = models.CharField(max_length=16, choices=LoginTransport.choices, default=LoginTransport.BEARER)
    lifetime_seconds = models.PositiveIntegerField(
        default=3600, help_text="Token lifetime; never longer than the application's access-token TTL."
    )
    cookie_name = models.CharField(max_length=64, default="fastapiusersauth")
    cookie_domain = models.CharField(max_length=253, blank=True)
    cookie_path = models.CharField(max_length=255, default="/")
    cookie_secure = models.BooleanField(default=True, help_text="Always Secure outside debug mode.")
    cookie_samesite = models.CharField(
        max_length=8, choices=CookieSameSite.choices, default=CookieSameSite.LAX
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# The audit trail and the webhook outbox live in their own module (issue 15).
from identity.models_events import (  # noqa: E402, F401
    ActorKind,
    AuditEntry,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)

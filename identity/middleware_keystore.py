"""identity.middleware's key source inside the identity service: the in-process key store, the
same verification `/api/jwt/validate` does (no SQL on the hot path), and the key that signed the
token to re-sign it on refresh."""

from __future__ import annotations

import functools
from datetime import datetime

from identity.exceptions import TokenInvalid
from identity.key_store import key_snapshot
from identity.middleware_config import TokenAuthorizationConfig
from identity.middleware_keys import Verified
from identity.revocations import REVOKED
from identity.services.access_tokens import VerifiedToken, access_token_verify
from identity.services.jwt import access_token_renewable
from identity.signing import TokenKind


class KeyStoreSource:
    def __init__(self, config: TokenAuthorizationConfig) -> None:
        self.config = config
        self.kinds = tuple(TokenKind(kind) for kind in config.token_kinds or ("access",))

    def generation(self) -> object:
        # New objects whenever keys, tenants or applications changed, or a token was revoked.
        return (key_snapshot(), REVOKED.get())

    def verify(self, *, token: str, now: datetime) -> Verified:
        verified = access_token_verify(token=token, now=now, kinds=self.kinds)
        claims = verified.claims
        if self.config.issuer is not None and claims.get("iss") != self.config.issuer:
            raise TokenInvalid()
        wanted = self.config.audience
        if wanted is not None:
            audiences = claims.get("aud")
            held = set(audiences) if isinstance(audiences, list) else {audiences}
            if not held.intersection({wanted} if isinstance(wanted, str) else set(wanted)):
                raise TokenInvalid()
        key = verified.key
        return Verified(
            claims=claims,
            signer=key if key.can_sign and not key.expired(now) else None,
            renewable=functools.partial(_renewable, verified),
        )


def _renewable(verified: VerifiedToken, now: datetime) -> bool:
    return access_token_renewable(verified=verified, now=now)

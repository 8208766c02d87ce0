"""API bearer tokens: HS256 JWTs signed with the key from studio.secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

ISSUER = "anime-studio"


class TokenError(ValueError):
    """The token is missing, expired, forged or malformed; the message says which."""


class TokenService:
    def __init__(self, key: str, ttl: timedelta) -> None:
        if len(key) < 32:
            raise ValueError("the JWT signing key must be at least 32 characters")
        self._key = key
        self.ttl = ttl

    def issue(self, subject: str, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims = {"sub": subject, "iss": ISSUER, "iat": now, "exp": now + self.ttl}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> str:
        """The token's subject (user name). Raises TokenError."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], issuer=ISSUER, options={"require": ["sub", "exp", "iat"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("the token has expired; request a new one at POST /api/auth/token") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"the token is not valid: {exc}") from exc
        return str(claims["sub"])

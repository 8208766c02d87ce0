"""API bearer tokens: HS256 JWTs signed with the key from studio.secrets.

A token names its account and the account's access generation when it was issued; the access
guard checks both against the users table on every request, so raising the generation revokes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ISSUER = "anime-studio"


class TokenError(ValueError):
    """The token is missing, expired, forged or malformed; the message says which."""


@dataclass(frozen=True)
class Claims:
    """Who a token or page session says its holder is: the account, and its access generation then."""

    subject: str
    generation: int


class TokenService:
    def __init__(self, key: str, ttl: timedelta) -> None:
        if len(key) < 32:
            raise ValueError("the JWT signing key must be at least 32 characters")
        self._key = key
        self.ttl = ttl

    def issue(self, subject: str, generation: int, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims = {"sub": subject, "gen": generation, "iss": ISSUER, "iat": now, "exp": now + self.ttl}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> Claims:
        """What the token claims, once its signature and lifetime are checked. Raises TokenError."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["sub", "gen", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("the token has expired; request a new one at POST /api/auth/token") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"the token is not valid: {exc}") from exc
        generation = claims["gen"]
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise TokenError("the token is not valid: its generation is not a number")
        return Claims(str(claims["sub"]), generation)

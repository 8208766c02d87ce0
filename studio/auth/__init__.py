"""Authentication: who may use the studio, and how they prove it."""

from studio.auth.access import LOCAL, AccessPolicy, Principal, parse_address
from studio.auth.guard import AccessGuard, AccountCheck, is_public
from studio.auth.passwords import hash_password, verify_password
from studio.auth.tokens import Claims, TokenError, TokenService

__all__ = [
    "LOCAL",
    "AccessGuard",
    "AccessPolicy",
    "AccountCheck",
    "Claims",
    "Principal",
    "TokenError",
    "TokenService",
    "hash_password",
    "is_public",
    "parse_address",
    "verify_password",
]

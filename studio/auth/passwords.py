"""Password hashing with scrypt (memory-hard, in the standard library)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# 16 MiB of memory per hash: slow for an attacker's GPU, ~50 ms for us.
_N, _R, _P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("passwords need at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


# Checked when a login names no usable account, so that a wrong name costs as much as a wrong
# password and the time taken does not tell which names exist. No password hashes to zeros.
_NOBODY = f"scrypt${_N}${_R}${_P}${_b64(bytes(16))}${_b64(bytes(32))}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; with no stored hash, the same work and False."""
    if stored is None:
        verify_password(password, _NOBODY)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from studio.auth import Claims, TokenError, TokenService, hash_password, verify_password
from studio.secrets import load_or_create_key

KEY = "k" * 48


def test_passwords_are_salted_and_verified() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and "correct horse" not in first
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", "garbage")


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        hash_password("short")


def test_tokens_round_trip_and_expire() -> None:
    tokens = TokenService(KEY, timedelta(minutes=5))
    assert tokens.verify(tokens.issue("aiko", 7)) == Claims("aiko", 7)
    old = tokens.issue("aiko", 7, now=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(old)


def test_forged_tokens_are_refused() -> None:
    forged = jwt.encode(
        {
            "sub": "admin",
            "iss": "anime-studio",
            "iat": datetime.now(UTC),
            "exp": datetime.now(UTC) + timedelta(hours=1),
        },
        "another-key-" * 4,
        algorithm="HS256",
    )
    with pytest.raises(TokenError):
        TokenService(KEY, timedelta(minutes=5)).verify(forged)
    now = datetime.now(UTC)
    # Signed with the right key but without the account's token generation (as tokens before revocation were).
    ungenerated = jwt.encode({"sub": "aiko", "iss": "anime-studio", "iat": now, "exp": now + timedelta(hours=1)}, KEY)
    with pytest.raises(TokenError, match="gen"):
        TokenService(KEY, timedelta(minutes=5)).verify(ungenerated)
    unsigned = jwt.encode({"sub": "admin"}, None, algorithm="none")
    with pytest.raises(TokenError):
        TokenService(KEY, timedelta(minutes=5)).verify(unsigned)


def test_a_missing_key_is_generated_once_with_private_permissions(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "jwt.key"
    key = load_or_create_key(path)
    assert len(key) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key(path) == key


def test_a_key_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "jwt.key"
    path.write_text("existing-key\n")
    os.chmod(path, 0o644)
    assert load_or_create_key(path) == "existing-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

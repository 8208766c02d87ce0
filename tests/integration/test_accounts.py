"""Accounts and preferences on both databases."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from services.accounts import AccountError, LoginThrottled
from studio.root import Studio


async def test_users_log_in_with_their_password(studio: Studio) -> None:
    await studio.accounts.add("aiko", "correct horse battery")
    assert await studio.accounts.authenticate("aiko", "correct horse battery", "203.0.113.9", "api") is not None
    assert await studio.accounts.authenticate("aiko", "wrong password", "203.0.113.9", "api") is None
    assert await studio.accounts.authenticate("nobody", "whatever1", "203.0.113.9", "api") is None
    events = [r.event for r in await studio.audit.recent(event_prefix="auth.")]
    assert events == ["auth.login_failed", "auth.login_failed", "auth.login_succeeded"]


async def test_a_login_costs_the_same_whether_or_not_the_name_exists(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing must not tell which names exist: every failed login runs one scrypt of the same cost."""
    await studio.accounts.add("aiko", "correct horse battery")
    await studio.accounts.add("ren", "another password")
    await studio.accounts.disable("ren", actor="admin")
    costs: list[tuple[int, int, int]] = []
    real_scrypt: Callable[..., bytes] = hashlib.scrypt

    def counted_scrypt(password: bytes, **params: Any) -> bytes:  # the real hasher, counted
        costs.append((params["n"], params["r"], params["p"]))
        return real_scrypt(password, **params)

    monkeypatch.setattr(hashlib, "scrypt", counted_scrypt)
    for number, name in enumerate(("aiko", "nobody", "ren")):
        assert await studio.accounts.authenticate(name, "wrong password", f"203.0.113.{number}", "api") is None
    assert len(costs) == 3 and len(set(costs)) == 1, costs


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("a", "long enough", "2-64"),
        ("local", "long enough", "not one of"),
        ("ok-name", "short", "at least 8"),
        ("../etc", "long enough", "2-64"),
    ],
)
async def test_bad_accounts_are_refused(studio: Studio, name: str, password: str, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        await studio.accounts.add(name, password)
    assert await studio.accounts.list() == []


async def test_a_taken_name_is_refused(studio: Studio) -> None:
    await studio.accounts.add("aiko", "correct horse battery")
    with pytest.raises(AccountError, match="already exists"):
        await studio.accounts.add("aiko", "another password")


async def test_password_guessing_is_throttled_per_client(studio: Studio) -> None:
    await studio.accounts.add("aiko", "correct horse battery")
    for _ in range(5):
        await studio.accounts.authenticate("aiko", "guess-guess", "203.0.113.9", "api")
    with pytest.raises(LoginThrottled, match="try again"):
        await studio.accounts.authenticate("aiko", "correct horse battery", "203.0.113.9", "api")
    # Another client is not punished for the first one's guesses.
    assert await studio.accounts.authenticate("aiko", "correct horse battery", "198.51.100.4", "api") is not None


async def test_preferences_are_kept_per_principal(studio: Studio) -> None:
    assert await studio.preferences.get("local", "dark_mode") is None
    await studio.preferences.set("local", "dark_mode", True)
    await studio.preferences.set("aiko", "dark_mode", False)
    await studio.preferences.set("local", "dark_mode", False)
    assert await studio.preferences.get("local", "dark_mode") is False
    assert await studio.preferences.get("aiko", "dark_mode") is False

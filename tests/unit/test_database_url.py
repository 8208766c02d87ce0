import pytest

from studio.db import DatabaseConfigError, parse_database_url


def test_sqlite_gets_the_async_driver() -> None:
    kind, sync, async_ = parse_database_url("sqlite:////srv/studio/studio.db")
    assert kind == "sqlite"
    assert sync.drivername == "sqlite" and async_.drivername == "sqlite+aiosqlite"


def test_postgres_password_is_filled_in_only_when_the_url_has_none() -> None:
    kind, sync, _ = parse_database_url("postgresql://studio@db:5432/anime", password="from-vault")
    assert kind == "postgresql"
    assert sync.drivername == "postgresql+psycopg"
    assert sync.password == "from-vault"
    _, explicit, _ = parse_database_url("postgresql+psycopg://studio:given@db/anime", password="from-vault")
    assert explicit.password == "given"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x@y/z", "unsupported database"),
        ("sqlite://", "file path"),
        ("not a url", "not a database URL"),
        ("postgresql+asyncpg://u@h/d", "not installed"),
    ],
)
def test_unusable_urls_say_how_to_fix_them(url: str, message: str) -> None:
    with pytest.raises(DatabaseConfigError, match=message):
        parse_database_url(url)

"""`python -m studio`: migrate, manage users, check the installation, print the settings reference."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.config import Settings, settings_markdown

if TYPE_CHECKING:
    from services.accounts import Accounts


def _studio(settings: Settings):
    from studio.root import Studio

    return Studio.build(settings)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    studio = _studio(settings)
    studio.migrate()
    print(f"{studio.db.display_url}: schema at revision {studio.schema_revision}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise SystemExit("the passwords differ; nothing was changed")
    return first


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:

    password = _read_password(args)
    if not _on_accounts(settings, lambda accounts: accounts.add(args.name, password, actor="cli")):
        return 1
    print(f"user {args.name} added; they can log in at http://{settings.host}:{settings.port}/login")
    return 0


def _on_accounts(settings: Settings, act: Callable[[Accounts], Awaitable[object]]) -> bool:
    """Run one change to the accounts on a migrated database; False (said on stderr) when it is refused."""
    from services.accounts import AccountError

    studio = _studio(settings)
    studio.migrate()

    async def run() -> None:
        try:
            await act(studio.accounts)
        finally:
            await studio.db.dispose()

    try:
        asyncio.run(run())
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    return True


@dataclass(frozen=True)
class AccountChange:
    """`python -m studio user COMMAND NAME`: what it does to the account and how it reports that."""

    command: str
    help: str
    done: str
    act: Callable[[Accounts, str], Awaitable[None]]


ACCOUNT_CHANGES = (
    AccountChange(
        "disable",
        "lock a user out at once: page sessions and API tokens end",
        "user {name} is disabled: their page sessions and API tokens stopped working",
        lambda accounts, name: accounts.disable(name, actor="cli"),
    ),
    AccountChange(
        "enable",
        "let a disabled user log in again",
        "user {name} can log in again (sessions and tokens from before stay ended)",
        lambda accounts, name: accounts.enable(name, actor="cli"),
    ),
    AccountChange(
        "delete",
        "remove a user; their page sessions and API tokens end at once",
        "user {name} is deleted: their page sessions and API tokens stopped working",
        lambda accounts, name: accounts.delete(name, actor="cli"),
    ),
    AccountChange(
        "revoke",
        "sign a user out everywhere: every page session and API token ends",
        "user {name} is signed out everywhere: every page session and API token ended",
        lambda accounts, name: accounts.revoke(name, actor="cli"),
    ),
)


def cmd_user_change(settings: Settings, args: argparse.Namespace) -> int:
    change: AccountChange = args.change
    if not _on_accounts(settings, lambda accounts: change.act(accounts, args.name)):
        return 1
    print(change.done.format(name=args.name))
    return 0


def cmd_makemigration(_settings: Settings, args: argparse.Namespace) -> int:
    import tempfile

    from studio import migrate

    with tempfile.TemporaryDirectory() as scratch:
        migrate.autogenerate(args.message, Path(scratch))
    return 0


def cmd_doctor(settings: Settings, _args: argparse.Namespace) -> int:
    from studio.doctor import print_report, run_checks

    checks = asyncio.run(run_checks(settings))
    print_report(checks)
    return 1 if any(c.level == "fail" for c in checks) else 0


def cmd_demo(settings: Settings, _args: argparse.Namespace) -> int:
    """Make the sample production and publish its episode 1, printing progress; 1 when a step fails."""
    import logging
    import time

    from services.errors import StudioError

    began = time.monotonic()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    studio = _studio(settings)
    studio.migrate()
    print(f"Making the sample production in {settings.data_dir} (about a minute on two cores)", flush=True)

    async def progress(fraction: float, message: str) -> None:
        print(f"[{time.monotonic() - began:5.1f} s {fraction:4.0%}] {message}", flush=True)

    async def produce():  # -> SampleResult
        await studio.start()
        try:
            return await studio.demo.produce("cli", progress)
        finally:
            await studio.stop()

    try:
        result = asyncio.run(produce())
    except StudioError as exc:
        print(f"error: the sample production failed: {exc}", file=sys.stderr)
        print("run `python -m studio doctor` to check ffmpeg, espeak-ng and Piper", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped; the sample project made so far stays in the studio", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a step a person can fix: show where, then fail
        import traceback

        traceback.print_exc()
        print(f"error: the sample production failed unexpectedly ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    print(f"Done in {time.monotonic() - began:.0f} s: project '{result.project_name}', episode 1 published to")
    print(f"  {result.episode_file}")
    print(f"the folder library is {result.library_root}")
    print(f"keyframes {result.keyframes}")
    print(
        f"Watch it in the studio: ./run, then open "
        f"http://{settings.host}:{settings.port}/episodes?project={result.project_id}&episode={result.episode_id}"
    )
    return 0


def cmd_settings(_settings: Settings | None, args: argparse.Namespace) -> int:
    if args.markdown:
        sys.stdout.write(settings_markdown())
        return 0
    from studio.config import settings_view

    assert _settings is not None
    for row in settings_view(_settings):
        print(f"{row['env']:34} {row['value'] or '(unset)':40} [{row['source']}]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio", description="Anime Studio command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database schema to the newest revision").set_defaults(func=cmd_migrate)
    user = sub.add_parser("user", help="manage accounts for logins from untrusted networks")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_user_add)
    for change in ACCOUNT_CHANGES:
        command = user_sub.add_parser(change.command, help=change.help)
        command.add_argument("name")
        command.set_defaults(func=cmd_user_change, change=change)
    make = sub.add_parser("makemigration", help="developers: write a migration for changed tables")
    make.add_argument("message", help="what changed, e.g. 'add shot review columns'")
    make.set_defaults(func=cmd_makemigration)
    sub.add_parser(
        "doctor", help="check ffmpeg, the database, the data folder and every configured service"
    ).set_defaults(func=cmd_doctor)
    sub.add_parser(
        "demo", help="make a sample project and publish its episode 1 to the folder library (no GPU needed)"
    ).set_defaults(func=cmd_demo)
    settings = sub.add_parser("settings", help="print the effective settings")
    settings.add_argument("--markdown", action="store_true", help="print the settings reference (docs/settings.md)")
    settings.set_defaults(func=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func is cmd_settings and args.markdown:
        return cmd_settings(None, args)
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"error: the settings are invalid:\n{exc}", file=sys.stderr)
        return 2
    return int(args.func(settings, args))

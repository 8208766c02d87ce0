"""Settings changed in the app, on SQLite and PostgreSQL (the audit trail): checked by the Settings model,
applied at once when live, kept for the next start otherwise, and never over the environment or TOML."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from services.errors import Conflict, Invalid, NotFound
from studio.config import Settings, settings_view
from studio.root import Studio
from studio.settings_file import in_app_file
from tests.integration.test_api import guarded_api


async def setting_events(studio: Studio) -> list[str]:
    return [row.summary for row in await studio.audit.recent(event_prefix="setting.")]


def source_of(settings: Settings, name: str) -> str:
    return next(row["source"] for row in settings_view(settings) if row["name"] == name)


async def test_a_live_setting_applies_at_once_is_audited_and_read_at_the_next_start(studio: Studio) -> None:
    await studio.settings_editor.change("assembly_crf", "28", actor="mio")
    # The one settings object every service holds now says 28: the next assembly uses it.
    assert studio.settings.assembly_crf == 28
    assert await setting_events(studio) == ["mio set assembly_crf to 28"]
    assert stat.S_IMODE(in_app_file(studio.settings.data_dir).stat().st_mode) == 0o600
    restarted = Settings(data_dir=studio.settings.data_dir)
    assert restarted.assembly_crf == 28
    assert source_of(restarted, "assembly_crf") == "set in the app"
    assert studio.settings_editor.restart_needed() == []


async def test_a_bad_value_is_a_clear_error_and_changes_nothing(studio: Studio) -> None:
    with pytest.raises(Invalid, match="assembly_crf: Input should be less than or equal to 51"):
        await studio.settings_editor.change("assembly_crf", 99, actor="mio")
    with pytest.raises(Invalid, match="give a limit for every content rating; missing: NC-17"):
        await studio.settings_editor.change("nsfw_limits", {"G": 0.1, "PG": 0.2, "PG-13": 0.3, "R": 0.4}, actor="mio")
    assert studio.settings.assembly_crf == 20
    assert not in_app_file(studio.settings.data_dir).exists()
    assert await setting_events(studio) == []


async def test_undo_and_reset_bring_back_what_was_in_force(studio: Studio) -> None:
    first = await studio.settings_editor.change("vision_approve_at", 0.9, actor="mio")
    second = await studio.settings_editor.change("vision_approve_at", 0.7, actor="mio")
    await studio.settings_editor.restore(second, actor="mio")
    assert studio.settings.vision_approve_at == 0.9
    await studio.settings_editor.restore(first, actor="mio")
    assert studio.settings.vision_approve_at == 0.8  # the default again, and nothing stored
    assert not Settings(data_dir=studio.settings.data_dir).model_fields_set & {"vision_approve_at"}
    await studio.settings_editor.change("vision_approve_at", 0.95, actor="mio")
    await studio.settings_editor.reset("vision_approve_at", actor="mio")
    assert studio.settings.vision_approve_at == 0.8
    assert (await setting_events(studio))[0] == "mio set vision_approve_at to its default"


async def test_a_restart_setting_waits_for_the_next_start_and_says_so(studio: Studio) -> None:
    change = await studio.settings_editor.change("log_level", "debug", actor="mio")
    assert not change.live
    assert studio.settings.log_level == "info"  # logging was set up at start; the running studio keeps it
    assert studio.settings_editor.restart_needed() == ["log_level"]
    assert (await setting_events(studio)) == ["mio set log_level to 'debug' (from the next start)"]
    assert Settings(data_dir=studio.settings.data_dir).log_level == "debug"
    await studio.settings_editor.reset("log_level", actor="mio")
    assert studio.settings_editor.restart_needed() == []


async def test_the_environment_wins_and_is_read_only_here(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    await studio.settings_editor.change("assembly_crf", 28, actor="mio")
    monkeypatch.setenv("STUDIO_ASSEMBLY_CRF", "24")
    with pytest.raises(Conflict, match="assembly_crf is set by the environment"):
        await studio.settings_editor.change("assembly_crf", 30, actor="mio")
    restarted = Settings(data_dir=studio.settings.data_dir)
    assert restarted.assembly_crf == 24
    assert source_of(restarted, "assembly_crf") == "environment"


async def test_toml_wins_over_the_app_at_start(studio: Studio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await studio.settings_editor.change("loudness_target_lufs", -14, actor="mio")
    toml = tmp_path / "studio.toml"
    toml.write_text("loudness_target_lufs = -20\n", encoding="utf-8")
    monkeypatch.setenv("STUDIO_CONFIG_FILE", str(toml))
    restarted = Settings(data_dir=studio.settings.data_dir)
    assert restarted.loudness_target_lufs == -20
    assert source_of(restarted, "loudness_target_lufs") == "TOML"
    with pytest.raises(Conflict, match="set by the TOML"):
        await studio.settings_editor.change("loudness_target_lufs", -16, actor="mio")


async def test_settings_set_only_where_the_studio_starts_are_refused(studio: Studio) -> None:
    with pytest.raises(Conflict, match="STUDIO_PORT in the environment"):
        await studio.settings_editor.change("port", 9000, actor="mio")
    with pytest.raises(NotFound, match="there is no setting 'colour'"):
        await studio.settings_editor.change("colour", "blue", actor="mio")


async def test_connections_are_changed_on_their_own_page(studio: Studio) -> None:
    # Settings → Connections lays what it stored over the settings object (services.connections).
    studio.settings.echo_brain_url = "http://127.0.0.1:8309"
    assert source_of(studio.settings, "echo_brain_url") == "set in the app"
    assert source_of(studio.settings, "jellyfin_url") == "default"
    with pytest.raises(Conflict, match="echo_brain_url is a connection: change it on Settings → Connections"):
        await studio.settings_editor.change("echo_brain_url", "http://127.0.0.1:9000", actor="mio")


async def test_the_api_lists_changes_and_resets_settings(studio: Studio) -> None:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))  # loopback: trusted
    async with httpx.AsyncClient(transport=transport, base_url="http://studio") as api:
        listed = (await api.get("/api/settings")).json()
        by_name = {row["name"]: row for row in listed["settings"]}
        assert by_name["assembly_crf"] | {"description": ""} == by_name["assembly_crf"] | {
            "value": "20",
            "source": "default",
            "edit": "live",
            "editable": True,
            "group": "Sound and assembly",
            "description": "",
        }
        assert by_name["port"]["edit"] == "fixed" and not by_name["port"]["editable"]

        changed = await api.put("/api/settings/assembly_crf", json={"value": 26})
        assert changed.status_code == 200
        assert {"name": "assembly_crf", "value": "26", "source": "set in the app"}.items() <= next(
            row for row in changed.json()["settings"] if row["name"] == "assembly_crf"
        ).items()
        assert studio.settings.assembly_crf == 26

        refused = await api.put("/api/settings/assembly_crf", json={"value": "very good"})
        assert refused.status_code == 422
        message = "Input should be a valid integer, unable to parse string as an integer"
        assert refused.json()["errors"] == [{"field": "assembly_crf", "message": message}]
        assert (await api.put("/api/settings/port", json={"value": 9000})).status_code == 409
        assert (await api.put("/api/settings/nonsense", json={"value": 1})).status_code == 404

        restart = await api.put("/api/settings/token_ttl_minutes", json={"value": 60})
        assert restart.json()["restart_needed"] == ["token_ttl_minutes"]

        reset = await api.delete("/api/settings/assembly_crf")
        assert reset.status_code == 200
        assert studio.settings.assembly_crf == 20
    assert await setting_events(studio) == [
        "local set assembly_crf to its default",
        "local set token_ttl_minutes to 60 (from the next start)",
        "local set assembly_crf to 26",
    ]

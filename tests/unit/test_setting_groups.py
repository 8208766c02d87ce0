"""The Settings page's groups and the settings the app may change, all declared in studio/config.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from studio.config import LIVE_SETTINGS, RESTART_SETTINGS, SETTING_GROUPS, Settings
from studio.settings_file import SettingsFileError, in_app_file, write_in_app


def test_every_setting_is_in_exactly_one_group() -> None:
    grouped = Counter(name for names in SETTING_GROUPS.values() for name in names)
    assert set(grouped) == set(Settings.model_fields), "add the new setting to a group in SETTING_GROUPS"
    assert [name for name, times in grouped.items() if times > 1] == []


def test_the_app_changes_no_secret_connection_or_access_setting() -> None:
    assert LIVE_SETTINGS.isdisjoint(RESTART_SETTINGS)
    assert LIVE_SETTINGS | RESTART_SETTINGS <= set(Settings.model_fields)
    never = {*SETTING_GROUPS["Connections"], "host", "port", "data_dir", "database_url", "trusted_networks"}
    assert never.isdisjoint(LIVE_SETTINGS | RESTART_SETTINGS)
    assert not any("SecretStr" in repr(Settings.model_fields[n].annotation) for n in LIVE_SETTINGS | RESTART_SETTINGS)


def test_a_hand_added_key_in_the_file_is_ignored(tmp_path: Path) -> None:
    write_in_app(tmp_path, {"port": 1, "assembly_crf": 30})
    settings = Settings(data_dir=tmp_path)
    assert (settings.port, settings.assembly_crf) == (8401, 30)


def test_a_broken_file_stops_the_start_with_where_it_is(tmp_path: Path) -> None:
    in_app_file(tmp_path).write_text("{not json", encoding="utf-8")
    with pytest.raises(SettingsFileError, match=r"settings.json is unreadable .*fix or delete it"):
        Settings(data_dir=tmp_path)

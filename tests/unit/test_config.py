import ipaddress
from pathlib import Path

import pytest
from pydantic import ValidationError

from studio.config import DeviceSettings, Settings, describe_settings, settings_markdown, settings_view

REPO = Path(__file__).resolve().parents[2]


def test_defaults_serve_locally_on_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    assert settings.host == "127.0.0.1"
    assert settings.port == 8401
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'd' / 'studio.db'}"
    assert settings.trusted_networks == []


def test_environment_variables_use_the_studio_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STUDIO_PORT", "9000")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "x"))
    monkeypatch.setenv("STUDIO_TRUSTED_NETWORKS", "192.168.50.0/24, 10.1.0.0/16")
    monkeypatch.setenv("STUDIO_DEVICES", '[{"name": "rtx3060", "comfyui_url": "http://gpu:8188/"}]')
    settings = Settings()
    assert settings.port == 9000
    assert settings.data_dir == tmp_path / "x"
    assert settings.trusted_networks == [ipaddress.ip_network("192.168.50.0/24"), ipaddress.ip_network("10.1.0.0/16")]
    assert settings.devices == [DeviceSettings(name="rtx3060", comfyui_url="http://gpu:8188")]


def test_toml_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "studio.toml"
    config.write_text('port = 8500\nlog_level = "debug"\n[[devices]]\nname = "rx9070"\nllm_url = "http://amd:11434"\n')
    monkeypatch.setenv("STUDIO_CONFIG_FILE", str(config))
    monkeypatch.setenv("STUDIO_PORT", "8600")
    settings = Settings()
    assert settings.port == 8600
    assert settings.log_level == "debug"
    assert settings.devices[0].llm_url == "http://amd:11434"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trusted_networks", "192.168.1.0/33", "CIDR"),
        ("port", "0", "greater than or equal to 1"),
        ("devices", '[{"name": "cpu"}]', "built-in device"),
        ("devices", '[{"name": "a"}, {"name": "a"}]', "unique"),
        ("echo_brain_url", "localhost:8309", "http(s) URL"),
    ],
)
def test_invalid_settings_say_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"STUDIO_{field.upper()}", value)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings()


def test_every_setting_is_documented() -> None:
    undocumented = [row["env"] for row in describe_settings() if len(row["description"]) < 15]
    assert undocumented == []
    for name, field in DeviceSettings.model_fields.items():
        assert field.description, f"device field {name} has no description"


def test_the_settings_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    assert committed == settings_markdown(), "run: python -m studio settings --markdown > docs/settings.md"


def test_settings_view_masks_secrets(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jellyfin_api_key="super-secret-value")
    rows = {row["env"]: row for row in settings_view(settings)}
    assert "super-secret-value" not in str(rows)
    assert rows["STUDIO_JELLYFIN_API_KEY"]["value"].endswith("(set)")
    assert rows["STUDIO_PORT"]["value"] == "8401"
    assert rows["STUDIO_PORT"]["source"] == "default"

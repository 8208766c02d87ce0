"""BackendMonitor.configured(): the rows planned from settings alone, with actionable details."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from services.backends import BackendMonitor, BackendStatus
from studio.config import DeviceSettings, Settings
from studio.events import BackendReachabilityChanged, EventBus
from studio.secrets import SecretStore


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings naming only what the test passes (explicit Nones shield the test from STUDIO_* env vars)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "devices": [],
        "echo_brain_url": None,
        "jellyfin_url": None,
        "vault_addr": None,
    }
    values.update(overrides)
    return Settings(**values)


def configured(settings: Settings, **store: Any) -> list[BackendStatus]:
    return BackendMonitor(settings, SecretStore(settings, **store), EventBus()).configured()


def by_key(rows: list[BackendStatus]) -> dict[str, BackendStatus]:
    return {r.key: r for r in rows}


def test_no_devices_shows_comfyui_and_llm_rows_explaining_STUDIO_DEVICES(tmp_path: Path) -> None:
    rows = configured(make_settings(tmp_path))

    assert [r.key for r in rows] == ["comfyui", "llm", "echo_brain", "jellyfin", "vault"]
    assert {r.state for r in rows} == {"not_configured"}
    for key, field in (("comfyui", "comfyui_url"), ("llm", "llm_url")):
        status = by_key(rows)[key]
        assert status.device is None and status.url is None
        assert "STUDIO_DEVICES=" in status.detail
        # The example is copy-pasteable: valid JSON that the settings accept.
        example = re.search(r"STUDIO_DEVICES='(.+)'", status.detail)
        assert example is not None
        [device] = [DeviceSettings(**d) for d in json.loads(example.group(1))]
        assert getattr(device, field)


def test_device_with_only_an_llm_url(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, devices=[{"name": "rx9070", "llm_url": "http://10.0.0.9:11434"}])

    rows = configured(settings)

    assert [r.key for r in rows] == ["llm@rx9070", "echo_brain", "jellyfin", "vault"]
    llm = rows[0]
    assert (llm.kind, llm.label, llm.device) == ("llm", "LLM (Ollama)", "rx9070")
    assert (llm.url, llm.state, llm.detail) == ("http://10.0.0.9:11434", "down", "not probed yet")
    assert llm.version is None and llm.gpus == () and llm.loaded_models == ()


def test_openai_compatible_llm_is_labelled_so(tmp_path: Path) -> None:
    device = {"name": "box", "llm_url": "http://10.0.0.9:8080", "llm_api": "openai"}
    rows = configured(make_settings(tmp_path, devices=[device]))
    assert by_key(rows)["llm@box"].label == "LLM (OpenAI-compatible)"


def test_device_rows_follow_device_order_and_services(tmp_path: Path) -> None:
    devices = [
        {"name": "rtx3060", "comfyui_url": "http://10.0.0.8:8188"},
        {"name": "rx9070", "llm_url": "http://10.0.0.9:11434", "ace_step_url": "http://10.0.0.9:8001"},
    ]
    rows = configured(make_settings(tmp_path, devices=devices))
    assert [r.key for r in rows][:3] == ["comfyui@rtx3060", "llm@rx9070", "ace_step@rx9070"]


def test_device_without_services_says_which_fields_to_set(tmp_path: Path) -> None:
    rows = configured(make_settings(tmp_path, devices=[{"name": "spare"}]))

    status = by_key(rows)["comfyui@spare"]
    assert status.state == "not_configured"
    assert status.device == "spare"
    for field in ("comfyui_url", "llm_url", "ace_step_url", "STUDIO_DEVICES"):
        assert field in status.detail


def test_unset_globals_name_their_env_vars(tmp_path: Path) -> None:
    rows = by_key(configured(make_settings(tmp_path)))

    expected = {
        "echo_brain": "STUDIO_ECHO_BRAIN_URL",
        "jellyfin": "STUDIO_JELLYFIN_URL",
        "vault": "STUDIO_VAULT_ADDR",
    }
    for key, env in expected.items():
        assert rows[key].state == "not_configured"
        assert rows[key].device is None and rows[key].url is None
        assert env in rows[key].detail


def test_set_globals_are_pending_until_probed(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        echo_brain_url="http://10.0.0.9:8309",
        jellyfin_url="http://10.0.0.2:8096/",
        vault_addr="http://10.0.0.3:8200",
    )
    rows = by_key(configured(settings))
    assert rows["jellyfin"].url == "http://10.0.0.2:8096"
    for key in ("echo_brain", "jellyfin", "vault"):
        assert (rows[key].state, rows[key].detail) == ("down", "not probed yet")


def test_vault_error_is_known_without_probing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, vault_addr="http://10.0.0.3:8200")
    rows = by_key(configured(settings, vault_error="Vault at http://10.0.0.3:8200 refused to read secret/x"))
    assert rows["vault"].state == "down"
    assert rows["vault"].detail == "Vault at http://10.0.0.3:8200 refused to read secret/x"


async def test_probing_nothing_configured_touches_no_network_and_emits_nothing(tmp_path: Path) -> None:
    events = EventBus()
    seen: list[BackendReachabilityChanged] = []
    events.subscribe(BackendReachabilityChanged, seen.append)
    settings = make_settings(tmp_path)
    monitor = BackendMonitor(settings, SecretStore(settings), events)
    assert monitor.last == [] and monitor.last_probed_at is None

    rows = await monitor.probe_all()

    assert rows == monitor.configured() == monitor.last
    assert monitor.last_probed_at is not None
    assert seen == []

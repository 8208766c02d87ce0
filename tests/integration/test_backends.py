"""BackendMonitor against protocol-faithful fake servers on loopback (real sockets, real httpx)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from services.backends import BackendMonitor, BackendStatus, GpuMemory
from services.backends.probes import comfyui_previews
from studio.config import DeviceSettings, Settings
from studio.events import BackendReachabilityChanged, EventBus
from studio.secrets import SecretStore
from tests.fakes import FakeAceStep, FakeComfyUI, FakeEchoBrain, FakeJellyfin, FakeOllama, FakeServer

# --- helpers -------------------------------------------------------------------------------------


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings naming only what the test passes (explicit Nones shield the test from STUDIO_* env vars)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "devices": [],
        "echo_brain_url": None,
        "echo_brain_token": None,
        "jellyfin_url": None,
        "jellyfin_api_key": None,
        "llm_api_key": None,
        "vault_addr": None,
        "backend_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


def make_monitor(settings: Settings, events: EventBus | None = None, **store: Any) -> BackendMonitor:
    return BackendMonitor(settings, SecretStore(settings, **store), events or EventBus())


def row(rows: list[BackendStatus], key: str) -> BackendStatus:
    matches = [r for r in rows if r.key == key]
    assert len(matches) == 1, f"expected one {key} row in {[r.key for r in rows]}"
    return matches[0]


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.levelno >= logging.ERROR]


# Stopping a server takes ~0.2 s, so the common fakes are shared by the module and reset before each
# test (healthy, listening, empty request log). Tests needing another configuration build their own.


@pytest.fixture(scope="module")
def shared_comfyui() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as fake:
        yield fake


@pytest.fixture(scope="module")
def shared_echo_brain() -> Iterator[FakeEchoBrain]:
    with FakeEchoBrain(version="0.5.0") as fake:
        yield fake


@pytest.fixture(scope="module")
def shared_jellyfin() -> Iterator[FakeJellyfin]:
    with FakeJellyfin(api_key="jf-secret-1") as fake:
        yield fake


@pytest.fixture
def comfyui(shared_comfyui: FakeComfyUI) -> FakeComfyUI:
    shared_comfyui.reset()
    return shared_comfyui


@pytest.fixture
def ollama(shared_ollama: FakeOllama) -> FakeOllama:
    shared_ollama.reset()
    return shared_ollama


@pytest.fixture
def openai(shared_openai: FakeOllama) -> FakeOllama:
    shared_openai.reset()
    return shared_openai


@pytest.fixture
def echo_brain(shared_echo_brain: FakeEchoBrain) -> FakeEchoBrain:
    shared_echo_brain.reset()
    return shared_echo_brain


@pytest.fixture
def jellyfin(shared_jellyfin: FakeJellyfin) -> FakeJellyfin:
    shared_jellyfin.reset()
    return shared_jellyfin


# --- ComfyUI -------------------------------------------------------------------------------------


async def test_comfyui_version_and_gpu_memory(tmp_path: Path, comfyui: FakeComfyUI) -> None:
    settings = make_settings(tmp_path, devices=[{"name": "rtx3060", "comfyui_url": comfyui.url}])

    status = row(await make_monitor(settings).probe_all(), "comfyui@rtx3060")

    assert status.state == "ok"
    assert status.version == "0.3.64"
    assert status.device == "rtx3060"
    assert status.gpus == (
        GpuMemory(name="cuda:0 NVIDIA GeForce RTX 3060", total_bytes=12884901888, free_bytes=11811160064),
    )
    assert "11.0 GB free of 12.0 GB" in status.detail
    assert status.latency_ms is not None and status.latency_ms >= 0


async def test_a_comfyui_started_without_a_preview_method_says_there_are_no_live_previews(
    tmp_path: Path, comfyui: FakeComfyUI
) -> None:
    # 0.3.64 defaults to --preview-method none: its system_stats argv is the only place that tells.
    settings = make_settings(tmp_path, devices=[{"name": "rtx3060", "comfyui_url": comfyui.url}])
    comfyui.previews = False
    status = row(await make_monitor(settings).probe_all(), "comfyui@rtx3060")
    assert status.previews is False
    assert status.detail.endswith("; no live previews: start ComfyUI with --preview-method auto")

    comfyui.previews = True
    status = row(await make_monitor(settings).probe_all(), "comfyui@rtx3060")
    assert status.previews is True and "preview" not in status.detail


@pytest.mark.parametrize(
    ("argv", "previews"),
    [
        (["main.py", "--listen", "0.0.0.0"], False),
        (["main.py", "--preview-method", "none"], False),
        (["main.py", "--preview-method", "auto"], True),
        (["main.py", "--preview-method=taesd", "--port", "8188"], True),
        (["main.py", "--preview-method", "latent2rgb", "--preview-method", "none"], False),  # the last one wins
        (None, None),  # a server that does not report its command line
    ],
)
def test_the_preview_method_is_read_from_comfyuis_command_line(argv: list[str] | None, previews: bool | None) -> None:
    assert comfyui_previews(argv) is previews


async def test_comfyui_on_cpu_reports_system_memory(tmp_path: Path) -> None:
    cpu = {"name": "cpu", "type": "cpu", "index": None, "vram_total": 25276502016, "vram_free": 23962660864,
           "torch_vram_total": 25276502016, "torch_vram_free": 23962660864}  # fmt: skip
    with FakeComfyUI(comfyui_version="0.3.70", devices=[cpu]) as fake:
        settings = make_settings(tmp_path, devices=[{"name": "box", "comfyui_url": fake.url}])
        status = row(await make_monitor(settings).probe_all(), "comfyui@box")
    assert status.version == "0.3.70"
    assert status.gpus == (GpuMemory(name="cpu", total_bytes=25276502016, free_bytes=23962660864),)


# --- LLM servers ---------------------------------------------------------------------------------


async def test_ollama_version_and_loaded_models(tmp_path: Path, ollama: FakeOllama) -> None:
    settings = make_settings(tmp_path, devices=[{"name": "rx9070", "llm_url": ollama.url}])

    status = row(await make_monitor(settings).probe_all(), "llm@rx9070")

    assert status.state == "ok"
    assert status.label == "LLM (Ollama)"
    assert status.version == "0.12.3"
    assert status.loaded_models == ("gemma3:12b",)
    assert status.detail == "gemma3:12b loaded (10.7 GB in VRAM)"
    assert status.gpus == ()
    assert [r.path for r in ollama.requests] == ["/api/version", "/api/ps"]


async def test_ollama_reports_models_spilling_into_system_ram(tmp_path: Path) -> None:
    loaded = ["gemma3:12b", "llava:7b"]
    with FakeOllama(loaded=loaded, size_vram={"gemma3:12b": 8 * 1024**3}) as fake:
        settings = make_settings(tmp_path, devices=[{"name": "rx9070", "llm_url": fake.url}])
        status = row(await make_monitor(settings).probe_all(), "llm@rx9070")
    assert status.loaded_models == ("gemma3:12b", "llava:7b")
    assert status.detail.startswith("2 models loaded: gemma3:12b (8.0 GB in VRAM, 2.7 GB in system RAM)")


async def test_ollama_with_nothing_loaded(tmp_path: Path) -> None:
    with FakeOllama(loaded=[]) as fake:
        settings = make_settings(tmp_path, devices=[{"name": "rx9070", "llm_url": fake.url}])
        status = row(await make_monitor(settings).probe_all(), "llm@rx9070")
    assert status.state == "ok"
    assert status.loaded_models == ()
    assert "no model loaded" in status.detail


@pytest.mark.parametrize("suffix", ["", "/v1"])
async def test_openai_compatible_with_api_key(tmp_path: Path, openai: FakeOllama, suffix: str) -> None:
    device = {"name": "rx9070", "llm_url": openai.url + suffix, "llm_api": "openai"}
    settings = make_settings(tmp_path, devices=[device], llm_api_key="sk-good")

    status = row(await make_monitor(settings).probe_all(), "llm@rx9070")

    sent = openai.requests_to("/v1/models")

    assert status.state == "ok", status.detail
    assert status.label == "LLM (OpenAI-compatible)"
    assert status.version is None
    assert status.detail == "2 models available: gemma3:12b, llava:7b"
    assert [r.headers["authorization"] for r in sent] == ["Bearer sk-good"]


async def test_openai_compatible_with_wrong_key_is_down(
    tmp_path: Path, openai: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    device = {"name": "rx9070", "llm_url": openai.url, "llm_api": "openai"}
    settings = make_settings(tmp_path, devices=[device], llm_api_key="sk-wrong")

    status = row(await make_monitor(settings).probe_all(), "llm@rx9070")

    assert status.state == "down"
    assert "HTTP 401" in status.detail
    assert "STUDIO_LLM_API_KEY" in status.detail
    assert no_errors_logged(caplog)


async def test_openai_compatible_without_key_says_to_set_one(tmp_path: Path, openai: FakeOllama) -> None:
    device = {"name": "rx9070", "llm_url": openai.url, "llm_api": "openai"}
    settings = make_settings(tmp_path, devices=[device])

    status = row(await make_monitor(settings).probe_all(), "llm@rx9070")

    assert "authorization" not in openai.requests_to("/v1/models")[0].headers
    assert status.state == "down"
    assert "set STUDIO_LLM_API_KEY" in status.detail


# --- Echo Brain and ACE-Step ---------------------------------------------------------------------


async def test_echo_brain_ok(tmp_path: Path, echo_brain: FakeEchoBrain) -> None:
    settings = make_settings(tmp_path, echo_brain_url=echo_brain.url)

    status = row(await make_monitor(settings).probe_all(), "echo_brain")

    assert "authorization" not in echo_brain.requests_to("/health")[0].headers
    assert (status.state, status.version, status.detail) == ("ok", "0.5.0", "healthy")
    assert status.device is None


async def test_echo_brain_sends_its_token(tmp_path: Path) -> None:
    with FakeEchoBrain(token="eb-token") as fake:
        settings = make_settings(tmp_path, echo_brain_url=fake.url, echo_brain_token="eb-token")
        status = row(await make_monitor(settings).probe_all(), "echo_brain")
        assert fake.requests_to("/health")[0].headers["authorization"] == "Bearer eb-token"
    assert status.state == "ok"


async def test_ace_step_ok(tmp_path: Path) -> None:
    with FakeAceStep(models_initialized=False) as fake:
        settings = make_settings(tmp_path, devices=[{"name": "rx9070", "ace_step_url": fake.url}])
        status = row(await make_monitor(settings).probe_all(), "ace_step@rx9070")
    assert (status.state, status.version) == ("ok", "1.0")
    assert "loads with the first job" in status.detail


# --- Jellyfin ------------------------------------------------------------------------------------


async def test_jellyfin_ok_sends_the_key_in_the_mediabrowser_header(tmp_path: Path, jellyfin: FakeJellyfin) -> None:
    settings = make_settings(tmp_path, jellyfin_url=jellyfin.url, jellyfin_api_key="jf-secret-1")

    status = row(await make_monitor(settings).probe_all(), "jellyfin")

    assert (status.state, status.version) == ("ok", "10.10.7")
    assert "API key accepted" in status.detail
    [info] = jellyfin.requests_to("/System/Info")
    assert info.headers["authorization"] == 'MediaBrowser Token="jf-secret-1"'
    # The legacy headers stopped working in Jellyfin 12; the key must never travel in them.
    for headers in jellyfin.request_headers:
        assert not {"x-emby-token", "x-mediabrowser-token", "x-emby-authorization"} & set(headers)


async def test_jellyfin_wrong_key_is_down(tmp_path: Path, jellyfin: FakeJellyfin) -> None:
    settings = make_settings(tmp_path, jellyfin_url=jellyfin.url, jellyfin_api_key="jf-wrong")

    status = row(await make_monitor(settings).probe_all(), "jellyfin")

    assert status.state == "down"
    assert status.version == "10.10.7"  # the server answered; only the key is wrong
    assert "HTTP 401" in status.detail
    assert "STUDIO_JELLYFIN_API_KEY" in status.detail


async def test_jellyfin_without_key_is_ok_but_says_publishing_needs_one(tmp_path: Path, jellyfin: FakeJellyfin) -> None:
    settings = make_settings(tmp_path, jellyfin_url=jellyfin.url)

    status = row(await make_monitor(settings).probe_all(), "jellyfin")

    assert status.state == "ok"
    assert "publishing needs STUDIO_JELLYFIN_API_KEY" in status.detail
    assert jellyfin.requests_to("/System/Info") == []


# --- failures ------------------------------------------------------------------------------------


async def test_http_500_is_down(tmp_path: Path, comfyui: FakeComfyUI, caplog: pytest.LogCaptureFixture) -> None:
    comfyui.fail_with = 500
    settings = make_settings(tmp_path, devices=[{"name": "rtx3060", "comfyui_url": comfyui.url}])

    status = row(await make_monitor(settings).probe_all(), "comfyui@rtx3060")

    assert status.state == "down"
    assert "HTTP 500" in status.detail
    assert status.version is None and status.gpus == ()
    assert no_errors_logged(caplog)


async def test_stopped_server_is_down_with_connection_detail(
    tmp_path: Path, comfyui: FakeComfyUI, caplog: pytest.LogCaptureFixture
) -> None:
    comfyui.stop()
    settings = make_settings(tmp_path, devices=[{"name": "rtx3060", "comfyui_url": comfyui.url}])

    status = row(await make_monitor(settings).probe_all(), "comfyui@rtx3060")

    assert status.state == "down"
    assert status.detail == f"connection refused at {comfyui.url} — is ComfyUI running?"
    assert no_errors_logged(caplog)


async def test_slow_server_beyond_the_timeout_is_down(
    tmp_path: Path, ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    ollama.latency = 3.0
    settings = make_settings(tmp_path, devices=[{"name": "rx9070", "llm_url": ollama.url}], backend_timeout_seconds=0.5)

    started = time.monotonic()
    status = row(await make_monitor(settings).probe_all(), "llm@rx9070")

    assert time.monotonic() - started < 2.0
    assert status.state == "down"
    assert "timed out" in status.detail and "0.5 s" in status.detail
    assert no_errors_logged(caplog)


async def test_wrong_service_answers_are_down_not_exceptions(tmp_path: Path) -> None:
    class NotJson(FakeServer):
        def register_routes(self, app: FastAPI) -> None:
            app.get("/health")(lambda: PlainTextResponse("<html>hello</html>"))

    with FakeServer() as empty, NotJson() as html:
        settings = make_settings(
            tmp_path, devices=[{"name": "rtx3060", "comfyui_url": empty.url}], echo_brain_url=html.url
        )
        rows = await make_monitor(settings).probe_all()

    assert row(rows, "comfyui@rtx3060").state == "down"
    assert "HTTP 404" in row(rows, "comfyui@rtx3060").detail
    assert row(rows, "echo_brain").state == "down"
    assert "not with JSON" in row(rows, "echo_brain").detail


async def test_probes_run_concurrently(
    tmp_path: Path, comfyui: FakeComfyUI, ollama: FakeOllama, echo_brain: FakeEchoBrain
) -> None:
    for fake in (comfyui, ollama, echo_brain):
        fake.latency = 0.3
    devices = [{"name": "one", "comfyui_url": comfyui.url}, {"name": "two", "comfyui_url": comfyui.url}]
    settings = make_settings(tmp_path, devices=devices, echo_brain_url=echo_brain.url)

    started = time.monotonic()
    rows = await make_monitor(settings).probe_all()
    elapsed = time.monotonic() - started

    assert [r.state for r in rows if r.url] == ["ok", "ok", "ok"]
    assert elapsed < 0.8  # three probes of 0.3 s each, at once


# --- events --------------------------------------------------------------------------------------


async def test_reachability_change_is_emitted_when_a_backend_goes_down_and_back(
    tmp_path: Path, comfyui: FakeComfyUI
) -> None:
    events = EventBus()
    seen: list[BackendReachabilityChanged] = []
    events.subscribe(BackendReachabilityChanged, seen.append)
    settings = make_settings(tmp_path, devices=[{"name": "rtx3060", "comfyui_url": comfyui.url}])
    monitor = make_monitor(settings, events)

    await monitor.probe_all()
    assert seen == []  # healthy at the first probe: not news

    comfyui.down = True
    await monitor.probe_all()
    await monitor.probe_all()  # still down: no second event
    comfyui.down = False
    await monitor.probe_all()

    assert [(e.backend, e.previous, e.state) for e in seen] == [
        ("comfyui@rtx3060", "ok", "down"),
        ("comfyui@rtx3060", "down", "ok"),
    ]
    assert seen[0].actor == "studio"
    assert seen[0].url == comfyui.url
    assert "connection refused" in seen[0].detail


async def test_a_backend_down_at_the_first_probe_is_announced(tmp_path: Path, echo_brain: FakeEchoBrain) -> None:
    events = EventBus()
    seen: list[BackendReachabilityChanged] = []
    events.subscribe(BackendReachabilityChanged, seen.append)
    echo_brain.fail_with = 503
    settings = make_settings(tmp_path, echo_brain_url=echo_brain.url)
    monitor = make_monitor(settings, events)

    await monitor.probe_all()

    assert [(e.backend, e.previous, e.state) for e in seen] == [("echo_brain", None, "down")]
    assert monitor.last_probed_at is not None
    assert row(monitor.last, "echo_brain").state == "down"


# --- vault ---------------------------------------------------------------------------------------


async def test_vault_not_configured(tmp_path: Path) -> None:
    status = row(await make_monitor(make_settings(tmp_path)).probe_all(), "vault")
    assert status.state == "not_configured"
    assert "STUDIO_VAULT_ADDR" in status.detail


async def test_vault_error_makes_the_vault_row_down(tmp_path: Path) -> None:
    with FakeServer() as gone:
        pass  # started and stopped: a port nothing listens on
    error = f"Vault at {gone.url} is unreachable (ConnectionError); is the server running?"
    settings = make_settings(tmp_path, vault_addr=gone.url)
    monitor = make_monitor(settings, vault_error=error)

    assert row(monitor.configured(), "vault").detail == error
    status = row(await monitor.probe_all(), "vault")

    assert status.state == "down"
    assert status.detail == error


async def test_status_pages_refreshing_together_share_one_probe(tmp_path: Path) -> None:
    with FakeComfyUI(latency=0.2) as comfyui:
        settings = Settings(data_dir=tmp_path, devices=[DeviceSettings(name="rtx3060", comfyui_url=comfyui.url)])
        monitor = BackendMonitor(settings, SecretStore(settings), EventBus())
        pages = await asyncio.gather(*(monitor.current(max_age=5) for _ in range(10)))
        assert all(rows[0].state == "ok" for rows in pages)
        assert len(comfyui.requests_to("/system_stats")) == 1
        await monitor.current(max_age=5)  # fresh enough: reused
        assert len(comfyui.requests_to("/system_stats")) == 1
        await monitor.current(max_age=0)  # "Check now"
        assert len(comfyui.requests_to("/system_stats")) == 2

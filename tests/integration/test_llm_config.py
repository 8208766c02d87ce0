"""The configured LLM uses the API key wherever the studio keeps it: typed in Settings → Connections (the data
folder, or Vault when Vault is in use), also after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.llm import ChatMessage, LlmError, configured_llm
from studio.config import DeviceSettings, Settings
from studio.root import Studio
from tests.conftest import OpenBao
from tests.fakes.ollama import TEST_API_KEY, FakeOllama

HELLO = [ChatMessage("user", "Say hello")]


async def _answers(studio: Studio) -> str:
    client = configured_llm(studio.settings, studio.secrets, timeout=5)
    assert client is not None
    try:
        return await client.chat("gemma3:12b", HELLO)
    finally:
        await client.aclose()


async def test_a_key_typed_in_connections_reaches_the_llm_server(studio: Studio, shared_openai: FakeOllama) -> None:
    await studio.connections.add_device("aiko", DeviceSettings(name="box", llm_url=shared_openai.url, llm_api="openai"))
    with pytest.raises(LlmError, match="wants an API key"):
        await _answers(studio)

    await studio.connections.update_service("aiko", "llm", {"llm_api_key": TEST_API_KEY})
    assert await _answers(studio)


@pytest.mark.openbao
async def test_a_key_kept_in_vault_reaches_the_llm_server_after_a_restart(
    openbao: OpenBao, shared_openai: FakeOllama, tmp_path: Path
) -> None:
    path = f"anime-studio-llm-{tmp_path.name[-20:]}"
    openbao.run("kv", "put", "-mount=secret", path, "jwt_secret=vault-signing-key-0123456789-0123456789")
    settings = Settings(
        data_dir=tmp_path / "data", vault_addr=openbao.addr, vault_token=openbao.root_token, vault_path=path
    )
    first = Studio.build(settings.model_copy(deep=True))
    first.migrate()
    await first.start()
    try:
        await first.connections.add_device(
            "aiko", DeviceSettings(name="box", llm_url=shared_openai.url, llm_api="openai")
        )
        await first.connections.update_service("aiko", "llm", {"llm_api_key": TEST_API_KEY})
        assert first.secrets.source("llm_api_key") == "vault"
    finally:
        await first.stop()

    # Started again: the key is in Vault only (not the environment, not the data folder).
    again = Studio.build(settings.model_copy(deep=True))
    again.migrate()
    await again.start()
    try:
        assert again.settings.llm_api_key is None
        assert await _answers(again)
    finally:
        await again.stop()

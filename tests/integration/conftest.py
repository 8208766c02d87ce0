"""Fakes shared by the integration tests: starting a server takes ~0.2 s, so common ones live per module and
are reset before each test (healthy, listening, empty request log)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from services.llm import LlmClient, forget_servers
from tests.fakes.ollama import TEST_API_KEY, FakeOllama, LlmServer


@pytest.fixture(autouse=True)
def _forget_llm_servers() -> Iterator[None]:
    """What a test taught the LLM client about its fakes (JSON mode, vision) must not reach a later fake that
    gets the same port."""
    yield
    forget_servers()


@pytest.fixture(scope="module")
def shared_ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture(scope="module")
def shared_openai() -> Iterator[FakeOllama]:
    """An OpenAI-compatible server that demands `TEST_API_KEY` (as llama.cpp's --api-key would)."""
    with FakeOllama(api_key=TEST_API_KEY) as fake:
        yield fake


@pytest.fixture(params=["ollama", "openai"])
async def llm_server(
    request: pytest.FixtureRequest, shared_ollama: FakeOllama, shared_openai: FakeOllama
) -> AsyncIterator[LlmServer]:
    """Each test runs once per protocol, with a client pointed at a healthy fake."""
    if request.param == "ollama":
        fake, client = shared_ollama, LlmClient(shared_ollama.url, "ollama", timeout=5)
    else:
        fake, client = shared_openai, LlmClient(shared_openai.url, "openai", api_key=TEST_API_KEY, timeout=5)
    fake.reset()
    try:
        yield LlmServer(fake, client, request.param)
    finally:
        await client.aclose()
        fake.reset()  # a test that took the server down leaves it listening for the next

"""Chat with a language model on an Ollama or OpenAI-compatible server (vision review, story work, chat)."""

from services.llm.client import (
    DEFAULT_MAX_TOKENS,
    AnswerCut,
    ChatMessage,
    LlmApi,
    LlmClient,
    LlmError,
    image_media_type,
)
from services.llm.configured import LLM_DEVICE_EXAMPLE, configured_llm
from services.llm.server_facts import Sight, forget_servers

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "LLM_DEVICE_EXAMPLE",
    "AnswerCut",
    "ChatMessage",
    "LlmApi",
    "LlmClient",
    "LlmError",
    "Sight",
    "configured_llm",
    "forget_servers",
    "image_media_type",
]

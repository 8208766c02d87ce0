"""Chat with a language model on an Ollama or OpenAI-compatible server (vision review, story work, chat)."""

from services.llm.client import ChatMessage, LlmApi, LlmClient, LlmError, image_media_type
from services.llm.configured import LLM_DEVICE_EXAMPLE, configured_llm

__all__ = [
    "LLM_DEVICE_EXAMPLE",
    "ChatMessage",
    "LlmApi",
    "LlmClient",
    "LlmError",
    "configured_llm",
    "image_media_type",
]

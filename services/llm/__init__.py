"""Chat with a language model on an Ollama or OpenAI-compatible server (vision review, story work, chat)."""

from services.llm.client import ChatMessage, LlmApi, LlmClient, LlmError, image_media_type

__all__ = ["ChatMessage", "LlmApi", "LlmClient", "LlmError", "image_media_type"]

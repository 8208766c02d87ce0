"""Echo Brain, the user's assistant: its client (health, ask, memory search)."""

from services.echo.client import (
    EchoAnswer,
    EchoBrainClient,
    EchoBrainError,
    EchoBrainTimeout,
    EchoBrainUnreachable,
    Memory,
    memories_of,
)

__all__ = [
    "EchoAnswer",
    "EchoBrainClient",
    "EchoBrainError",
    "EchoBrainTimeout",
    "EchoBrainUnreachable",
    "Memory",
    "memories_of",
]

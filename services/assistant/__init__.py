"""The assistant: questions about the production answered from its own notes (Echo Brain or the LLM), prompt
enhancement and narration, the threads they are kept in, and the production index it retrieves notes from."""

from services.assistant.assistant import Assistant, AssistantNotConfigured, AssistantStatus, Turn
from services.assistant.embedding import Embedder, EmbeddingModelMissing
from services.assistant.events import ThreadCleared
from services.assistant.index import Entry, Hit, IndexFolderBusy, ProductionIndex, SyncReport
from services.assistant.responders import HOW_TO_CONFIGURE, AssistantIdentity

__all__ = [
    "HOW_TO_CONFIGURE",
    "Assistant",
    "AssistantIdentity",
    "AssistantNotConfigured",
    "AssistantStatus",
    "Embedder",
    "EmbeddingModelMissing",
    "Entry",
    "Hit",
    "IndexFolderBusy",
    "ProductionIndex",
    "SyncReport",
    "ThreadCleared",
    "Turn",
]

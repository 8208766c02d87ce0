"""The assistant's conversations: one thread per project (and one for work outside any project)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from studio.models._base import created_at_field, json_field, optional_json_field, optional_time_field


class AssistantMessage(SQLModel, table=True):
    """One turn of a thread: the user's question, the assistant's answer, or a failure notice.

    `action` holds a suggestion the user may apply ({target, id, field, label, before, after, status}):
    the assistant never changes the production itself. A cleared thread keeps its rows (the record of what
    was asked and applied), marked with when they were cleared; the thread and the model no longer see them.
    """

    __tablename__ = "assistant_messages"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int | None = Field(default=None, foreign_key="projects.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=16)  # "user" | "assistant"
    kind: str = Field(default="ask", max_length=16)  # "ask" | "enhance" | "narrate"
    text: str = ""
    author: str = Field(default="", max_length=100)  # who asked, or which assistant answered
    # "done", "stopped" (the user pressed Stop; the text so far is kept), "cut" (a length or time limit ended
    # it; the text so far is kept and `cut_reason` names the setting to raise) or "failed" (text is the reason)
    state: str = Field(default="done", max_length=16)
    cut_reason: str | None = None
    sources: list[dict[str, Any]] = json_field(list)  # [{title, link, kind}] the answer drew on
    action: dict[str, Any] | None = optional_json_field()
    created_at: datetime = created_at_field()
    cleared_at: datetime | None = optional_time_field()

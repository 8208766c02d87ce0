"""REST routes for the assistant: ask, enhance a prompt, narrate a scene, its status, the thread (read,
clear, restore) and the suggestions a person applies, discards or reverts.

Each asking route waits for the whole answer (the panel streams; an API client gets the result). An
answer that failed is saved in the thread like any other and returned as 502 with the reason; one that a
length or time limit cut is returned with what was written, as `state: cut` with the `cut_reason`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from services.assistant import Turn
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.auth import Principal
from studio.ids import RowId
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int | None
    role: str
    kind: str
    text: str
    author: str
    state: str = Field(
        description="done, stopped (by a person), cut (by a limit: `cut_reason` says which) or failed (then `text` "
        "is the reason)"
    )
    cut_reason: str | None = Field(description="for a cut answer: the limit that ended it and the setting to raise")
    sources: list[dict[str, Any]] = Field(description="[{title, link, kind}]: the notes the answer drew on")
    action: dict[str, Any] | None = Field(description="a suggestion: {target, id, field, before, after, status}")
    created_at: datetime


class TurnOut(BaseModel):
    question: MessageOut
    answer: MessageOut


class StatusOut(BaseModel):
    kind: str = Field(description="echo_brain, llm or none")
    name: str
    url: str | None
    state: str = Field(description="ok, down or not_configured")
    detail: str


class ClearedOut(BaseModel):
    cleared: int = Field(description="how many messages left the thread")
    cleared_at: datetime | None = Field(description="the clearing, to restore it; null when the thread was empty")


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # year 1 an hour east of UTC is before year 1 in UTC
        raise ValueError("is not a time a thread was cleared at") from exc


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: RowId | None = Field(None, description="the project's thread; null: the thread outside projects")
    cleared_at: Annotated[AwareDatetime, AfterValidator(_in_utc)] = Field(
        description="the `cleared_at` of the clearing to take back (with its time zone)"
    )


class RestoredOut(BaseModel):
    restored: int = Field(description="how many messages came back to the thread")


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=4000)
    project_id: RowId | None = Field(None, description="the project's thread; null: the thread outside projects")


class EnhanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Literal["shot", "character"]
    id: str = Field(min_length=1, max_length=64, description="the shot's UUID or the character's id")


class NarrateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scene_id: uuid.UUID


async def answered(turn: Turn) -> TurnOut:
    answer = await turn.wait()
    if answer.state == "failed":
        raise HTTPException(502, f"{turn.assistant.name} could not answer: {answer.text}")
    return TurnOut(question=MessageOut.model_validate(turn.question), answer=MessageOut.model_validate(answer))


def assistant_router(studio: Studio) -> APIRouter:
    router = APIRouter(prefix="/assistant", tags=["assistant"])
    assistant = studio.assistant

    @router.get("/status", response_model=StatusOut)
    async def status(_: Caller) -> StatusOut:
        """Which assistant answers (Echo Brain, else the configured LLM) and whether it is reachable;
        when none is set up, `detail` says how to set one up."""
        found = await assistant.status()
        return StatusOut(kind=found.kind, name=found.name, url=found.url, state=found.state, detail=found.detail)

    @router.get("/messages", response_model=list[MessageOut])
    async def messages(_: Caller, project_id: RowId | None = None, limit: int = 200) -> list[Any]:
        """A thread, oldest first: a project's, or without `project_id` the one outside projects."""
        return await assistant.history(project_id, max(1, min(limit, 1000)))

    @router.delete("/messages", response_model=ClearedOut, responses=errors(404, 409))
    async def clear(caller: Caller, project_id: RowId | None = None) -> ClearedOut:
        """Clear a thread (a project's, or without `project_id` the one outside projects): its messages leave
        the thread and what the assistant is told with new questions, but stay recorded; 409 while it answers."""
        count, at = await assistant.clear(project_id, caller.name)
        return ClearedOut(cleared=count, cleared_at=at)

    @router.post("/messages/restore", response_model=RestoredOut, responses=errors(404))
    async def restore(body: RestoreIn, caller: Caller) -> RestoredOut:
        """Take back a clearing: the messages it cleared return to the thread."""
        return RestoredOut(restored=await assistant.restore(body.project_id, body.cleared_at, caller.name))

    @router.post("/ask", response_model=TurnOut, responses=errors(404, 502, 503))
    async def ask(body: AskIn, caller: Caller) -> TurnOut:
        """Ask about the production; the answer cites the project's notes it used as `sources`."""
        return await answered(await assistant.ask(body.project_id, body.question, caller.name))

    @router.post("/enhance-prompt", response_model=TurnOut, responses=errors(404, 502, 503))
    async def enhance(body: EnhanceIn, caller: Caller) -> TurnOut:
        """Suggest a better shot motion prompt or character design prompt. Nothing changes until the
        suggestion is applied with POST /api/assistant/messages/{id}/apply."""
        return await answered(await assistant.enhance(body.target, body.id, caller.name))

    @router.post("/narrate", response_model=TurnOut, responses=errors(404, 502, 503))
    async def narrate(body: NarrateIn, caller: Caller) -> TurnOut:
        """A narration of the scene, for the storyline."""
        return await answered(await assistant.narrate(str(body.scene_id), caller.name))

    @router.post("/messages/{message_id}/apply", response_model=MessageOut, responses=errors(404, 409))
    async def apply(message_id: RowId, caller: Caller) -> Any:
        """Apply a pending suggestion (409 when its prompt changed since, or it was already settled)."""
        return await assistant.apply(message_id, caller.name)

    @router.post("/messages/{message_id}/discard", response_model=MessageOut, responses=errors(404, 409))
    async def discard(message_id: RowId, caller: Caller) -> Any:
        """Settle a pending suggestion without changing anything."""
        return await assistant.discard(message_id, caller.name)

    @router.post("/messages/{message_id}/revert", response_model=MessageOut, responses=errors(404, 409))
    async def revert(message_id: RowId, caller: Caller) -> Any:
        """Undo an applied suggestion (409 when the prompt was edited since)."""
        return await assistant.revert(message_id, caller.name)

    return router

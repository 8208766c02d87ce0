"""REST routes for episodes: scenes in order with transitions, assembly, the assembled files, publishing.

`/libraries` is a static path; episode ids are UUIDs under `/episodes/{id}`, so nothing shadows anything.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from services.episodes import EpisodeChanges, EpisodeDraft, EpisodeEntry, EpisodeScenes
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.api.files import stored_file
from studio.api.jobs import JobOut
from studio.auth import Principal
from studio.ids import RowId
from studio.models import Episode
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
NOT_ASSEMBLED = "this episode has not been assembled yet"


class EpisodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: int
    episode_number: int
    title: str
    description: str
    story_arc: str
    status: str
    final_video_path: str | None
    thumbnail_path: str | None
    subtitles_path: str | None
    actual_duration_seconds: float | None
    assembly_job_id: int | None
    render_mode: str | None
    assembly_warnings: list[str]
    assembled_at: datetime | None
    publish_job_id: int | None
    publication: dict[str, Any] | None
    published_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EpisodeSceneOut(BaseModel):
    """One scene of the episode in order, with the transition into the next one (unused on the last)."""

    position: int
    scene_id: uuid.UUID
    scene_number: int
    title: str
    transition: str
    transition_duration: float
    has_video: bool = Field(description="the scene is assembled; an episode assembles only such scenes")
    duration_seconds: float | None = Field(description="the assembled scene's length; null without a video")
    deleted: bool


class EpisodeDetail(BaseModel):
    episode: EpisodeOut
    scenes: list[EpisodeSceneOut]
    publication: dict[str, Any] | None
    assembly_job: JobOut | None = Field(description="the assembly while it is queued or running")
    publish_job: JobOut | None = Field(description="the publishing while it is queued or running")
    out_of_date: list[str] = Field(description="why the assembled video no longer matches the scenes")
    publication_out_of_date: str | None = Field(description="why the library's copy differs from the assembly")


class UnpublishedOut(EpisodeOut):
    note: str = Field(description="what the library did, in one sentence")


class LibraryOut(BaseModel):
    kind: str
    label: str
    root: str


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    library: str = Field("folder", max_length=32, description="a `kind` from GET /api/libraries")


def scene_out(entry: EpisodeEntry) -> EpisodeSceneOut:
    link, scene = entry.link, entry.scene
    return EpisodeSceneOut(
        position=link.position,
        scene_id=scene.id,
        scene_number=scene.scene_number,
        title=scene.title,
        transition=link.transition,
        transition_duration=link.transition_duration,
        has_video=bool(scene.final_video_path),
        duration_seconds=entry.seconds,
        deleted=scene.deleted_at is not None,
    )


def episodes_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["episodes"])
    episodes = studio.episodes

    @router.get("/libraries", response_model=list[LibraryOut])
    async def libraries(_: Caller) -> list[LibraryOut]:
        """Where episodes can be published: a Jellyfin-layout folder, and Jellyfin when it is configured."""
        return [
            LibraryOut(kind=lib.kind, label=lib.label, root=str(lib.root))
            for lib in studio.episode_publishing.libraries()
        ]

    @router.get("/projects/{project_id}/episodes", response_model=list[EpisodeOut], responses=errors(404))
    async def list_episodes(project_id: RowId, _: Caller, include_deleted: bool = False) -> list[Episode]:
        await studio.projects.get(project_id)
        return await episodes.list(project_id, include_deleted)

    @router.post(
        "/projects/{project_id}/episodes", response_model=EpisodeOut, status_code=201, responses=errors(404, 409)
    )
    async def create_episode(project_id: RowId, body: EpisodeDraft, caller: Caller) -> Episode:
        """Add an episode, numbered after the last one unless `episode_number` is given (409 when taken)."""
        return await episodes.create(project_id, body, caller.name)

    @router.get("/episodes/{episode_id}", response_model=EpisodeDetail, responses=errors(404))
    async def get_episode(episode_id: uuid.UUID, _: Caller) -> EpisodeDetail:
        """The episode, its scenes in order, its publication, its running jobs and why it is out of date."""
        episode = await episodes.get(episode_id)
        entries = await episodes.entries(episode_id)
        assembling = await studio.episode_assembly.running_job(episode)
        publishing = await studio.episode_publishing.running_job(episode)
        return EpisodeDetail(
            episode=EpisodeOut.model_validate(episode),
            scenes=[scene_out(entry) for entry in entries],
            publication=episode.publication,
            assembly_job=JobOut.model_validate(assembling) if assembling else None,
            publish_job=JobOut.model_validate(publishing) if publishing else None,
            out_of_date=await studio.episode_assembly.out_of_date(episode_id),
            publication_out_of_date=studio.episode_publishing.out_of_date(episode),
        )

    @router.patch("/episodes/{episode_id}", response_model=EpisodeOut, responses=errors(404, 409))
    async def update_episode(episode_id: uuid.UUID, body: EpisodeChanges, caller: Caller) -> Episode:
        """Change the title, number, description or story arc; `deleted: false` restores a deleted episode."""
        return await episodes.update(episode_id, body, caller.name)

    @router.delete("/episodes/{episode_id}", response_model=EpisodeOut, responses=errors(404, 409))
    async def delete_episode(episode_id: uuid.UUID, caller: Caller) -> Episode:
        """Soft delete; `PATCH {"deleted": false}` restores. 409 while published, assembling or publishing."""
        return await episodes.delete(episode_id, caller.name)

    @router.put("/episodes/{episode_id}/scenes", response_model=list[EpisodeSceneOut], responses=errors(404, 409))
    async def set_scenes(episode_id: uuid.UUID, body: EpisodeScenes, caller: Caller) -> list[EpisodeSceneOut]:
        """Replace the scene list with these scenes in this order, each with its transition into the next.

        422 for a scene listed twice, of another project or deleted; 409 while the episode assembles.
        """
        return [scene_out(entry) for entry in await episodes.set_scenes(episode_id, body.scenes, caller.name)]

    # --- assembly -----------------------------------------------------------------------------------

    @router.post("/episodes/{episode_id}/assemble", response_model=JobOut, status_code=202, responses=errors(404, 409))
    async def assemble(episode_id: uuid.UUID, caller: Caller) -> Any:
        """Join the assembled scenes with their transitions into one video (a job; follow it at /api/jobs/{id}).

        422 when the episode has no scenes or a scene is not assembled (the message lists which); 409 when it
        is already assembling.
        """
        return await studio.episode_assembly.start(episode_id, caller.name)

    @router.get("/episodes/{episode_id}/video", response_class=FileResponse, responses=errors(404))
    async def video(episode_id: uuid.UUID, _: Caller, v: str | None = None) -> Any:
        """The assembled episode (MP4); answers Range requests. `v` (e.g. the assembly time) caches it for good."""
        episode = await episodes.get(episode_id)
        return await stored_file(studio.media, episode.final_video_path, "video/mp4", v, missing=NOT_ASSEMBLED)

    @router.get("/episodes/{episode_id}/thumbnail", response_class=FileResponse, responses=errors(404))
    async def thumbnail(episode_id: uuid.UUID, _: Caller, v: str | None = None) -> Any:
        episode = await episodes.get(episode_id)
        return await stored_file(studio.media, episode.thumbnail_path, "image/jpeg", v, missing=NOT_ASSEMBLED)

    @router.get("/episodes/{episode_id}/subtitles.{fmt}", response_class=FileResponse, responses=errors(404))
    async def subtitles(episode_id: uuid.UUID, fmt: Literal["vtt", "srt"], _: Caller, v: str | None = None) -> Any:
        """The dialogue as SRT (for media servers) or WebVTT (for a browser's <track>), timed as it is heard."""
        episode = await episodes.get(episode_id)
        path = episode.subtitles_path
        return await stored_file(studio.media, path, f"text/{fmt}", v, missing=NOT_ASSEMBLED, suffix=f".{fmt}")

    # --- publishing ---------------------------------------------------------------------------------

    @router.post(
        "/episodes/{episode_id}/publish", response_model=JobOut, status_code=202, responses=errors(404, 409, 503)
    )
    async def publish(episode_id: uuid.UUID, caller: Caller, body: PublishIn | None = None) -> Any:
        """Copy the assembled episode into a library (a job); the default library is the local folder.

        422 when it is not assembled or the library is unknown; 409 when it is already publishing.
        """
        return await studio.episode_publishing.start(episode_id, (body or PublishIn()).library, caller.name)

    @router.delete("/episodes/{episode_id}/publish", response_model=UnpublishedOut, responses=errors(404, 409, 503))
    async def unpublish(episode_id: uuid.UUID, caller: Caller) -> UnpublishedOut:
        """Remove exactly what the last publish wrote from the library. 422 when it is not published."""
        episode, note = await studio.episode_publishing.unpublish(episode_id, caller.name)
        return UnpublishedOut.model_validate({**EpisodeOut.model_validate(episode).model_dump(), "note": note})

    return router

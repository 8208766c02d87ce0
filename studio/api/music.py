"""REST routes for music: the moods, each project's music cache (upload, generate with ACE-Step, delete and
restore), the audio itself (Range requests answered), temp beds, and the music a scene plays.

Static paths (`/music/moods`, `/music/temp-beds/...`) are registered before `/music/{track_id}`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from services.music import MAX_SECONDS, MIN_SECONDS, MusicRequest, mood_of, track_label
from services.music.library import MAX_CAPTION, MAX_SEED
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.api.jobs import JobOut
from studio.api.uploads import chunks_of
from studio.auth import Principal
from studio.ids import RowId
from studio.models import MusicTrack
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]


class TrackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    title: str
    source: str
    mood: str
    caption: str
    duration_seconds: float | None
    status: str
    job_id: int | None
    error: str | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    label: str = ""
    audio_url: str | None = None

    @classmethod
    def of(cls, track: MusicTrack) -> TrackOut:
        out = cls.model_validate(track)
        out.label = track_label(track)
        out.audio_url = f"/api/music/{track.id}/audio" if track.path else None
        return out


class MoodOut(BaseModel):
    mood: str
    caption: str
    temp_bed_url: str


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mood: str | None = Field(None, description="One of the moods; unset: the scene's mood, else ambient.")
    caption: str | None = Field(None, max_length=MAX_CAPTION, description="Unset: built from the mood.")
    duration_seconds: float | None = Field(
        None, ge=MIN_SECONDS, le=MAX_SECONDS, description="Unset: the scene's target duration, else 30 s."
    )
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Unset: a random seed.")
    scene_id: uuid.UUID | None = Field(None, description="Attach the track to this scene once it is generated.")
    title: str | None = Field(None, max_length=200)


class GenerateOut(BaseModel):
    track: TrackOut
    job: JobOut


class TempBedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mood: str


class DeletedOut(BaseModel):
    track: TrackOut
    detached_scenes: list[uuid.UUID] = Field(description="Scenes that played it; give them to restore to undo.")


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reattach: list[uuid.UUID] = Field(default_factory=list, max_length=1000)


class AttachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    track_id: RowId | None = Field(description="The track to play under the scene; null: the mood's temp bed.")


class SceneMusicOut(BaseModel):
    scene_id: uuid.UUID
    mood: str = Field(description="The mood the scene's temp bed follows (from its free-text mood).")
    label: str
    temp_bed: bool
    note: str | None = Field(description="Why the temp bed plays instead of the attached track.")
    audio_url: str
    track: TrackOut | None = Field(description="The attached track, ready or not.")


def music_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["music"])
    music = studio.music

    # --- static paths first -----------------------------------------------------------------------

    @router.get("/music/moods", response_model=list[MoodOut])
    async def moods(_: Caller) -> list[MoodOut]:
        """The moods music is made for, with the instrumentation each asks ACE-Step for."""
        return [
            MoodOut(mood=mood, caption=caption, temp_bed_url=f"/api/music/temp-beds/{mood}")
            for mood, caption in music.moods().items()
        ]

    @router.get("/music/temp-beds/{mood}", response_class=FileResponse)
    async def temp_bed(mood: str, _: Caller) -> FileResponse:
        """The mood's temp bed: a soft chord pad the studio synthesizes (WAV, loops seamlessly)."""
        return FileResponse(await music.temp_bed_path(mood), media_type="audio/wav")

    # --- a project's music ------------------------------------------------------------------------

    @router.get("/projects/{project_id}/music", response_model=list[TrackOut], responses=errors(404))
    async def list_tracks(project_id: RowId, _: Caller, deleted: bool = False) -> list[TrackOut]:
        """The project's tracks, newest first (`deleted=true` includes deleted ones)."""
        return [TrackOut.of(t) for t in await music.list(project_id, include_deleted=deleted)]

    @router.post("/projects/{project_id}/music", response_model=TrackOut, status_code=201, responses=errors(404))
    async def upload(
        project_id: RowId,
        caller: Caller,
        file: Annotated[UploadFile, File()],
        title: Annotated[str | None, Form(max_length=200)] = None,
    ) -> TrackOut:
        """Upload an audio file (WAV, MP3, FLAC, OGG, M4A...; at most max_music_upload_mb and 20 minutes)."""
        return TrackOut.of(await music.upload(project_id, file.filename or "", chunks_of(file), caller.name, title))

    @router.post(
        "/projects/{project_id}/music/generate",
        response_model=GenerateOut,
        status_code=202,
        responses=errors(404, 409, 503),
    )
    async def generate(project_id: RowId, body: GenerateIn, caller: Caller) -> GenerateOut:
        """Queue a piece on ACE-Step; the track is `generating` until its job ends (503: no ACE-Step device)."""
        request = MusicRequest(**body.model_dump())
        track, job = await music.generate(project_id, request, caller.name)
        return GenerateOut(track=TrackOut.of(track), job=JobOut.model_validate(job))

    @router.post(
        "/projects/{project_id}/music/temp-beds", response_model=TrackOut, status_code=201, responses=errors(404)
    )
    async def keep_temp_bed(project_id: RowId, body: TempBedIn, caller: Caller) -> TrackOut:
        """Keep a mood's temp bed as a track, so a scene of another mood can play it."""
        return TrackOut.of(await music.keep_temp_bed(project_id, body.mood, caller.name))

    # --- one track --------------------------------------------------------------------------------

    @router.get("/music/{track_id}", response_model=TrackOut, responses=errors(404))
    async def get_track(track_id: RowId, _: Caller) -> TrackOut:
        return TrackOut.of(await music.get(track_id))

    @router.get("/music/{track_id}/audio", response_class=FileResponse, responses=errors(404))
    async def audio(track_id: RowId, _: Caller) -> FileResponse:
        """The track's audio; Range requests get 206 partial content (players seek with them)."""
        return FileResponse(await music.audio_path(track_id))

    @router.delete("/music/{track_id}", response_model=DeletedOut, responses=errors(404, 409))
    async def delete(track_id: RowId, caller: Caller, detach: bool = False) -> DeletedOut:
        """Soft delete. 409 when scenes play it, unless `detach=true` (the reply lists them for restore)."""
        deleted = await music.delete(track_id, caller.name, detach=detach)
        return DeletedOut(track=TrackOut.of(deleted.track), detached_scenes=deleted.detached_scenes)

    @router.post("/music/{track_id}/restore", response_model=TrackOut, responses=errors(404, 409))
    async def restore(track_id: RowId, caller: Caller, body: RestoreIn | None = None) -> TrackOut:
        """Bring a deleted track back, attaching it again to `reattach`'s scenes (those without other music)."""
        return TrackOut.of(await music.restore(track_id, caller.name, body.reattach if body else ()))

    @router.post("/music/{track_id}/retry", response_model=TrackOut, status_code=202, responses=errors(404, 409, 503))
    async def retry(track_id: RowId, caller: Caller) -> TrackOut:
        """Generate a failed track again."""
        return TrackOut.of(await music.retry(track_id, caller.name))

    # --- a scene's music --------------------------------------------------------------------------

    async def scene_music(scene_id: uuid.UUID) -> SceneMusicOut:
        scene = await studio.scenes.get(scene_id)
        chosen = await music.music_for_scene(scene)
        track = await music.get(scene.music_track_id) if scene.music_track_id is not None else None
        mood = mood_of(scene.mood)
        if chosen.temp_bed or track is None:
            url = f"/api/music/temp-beds/{mood}"
        else:
            url = f"/api/music/{track.id}/audio"
        return SceneMusicOut(
            scene_id=scene_id,
            mood=mood,
            label=chosen.label,
            temp_bed=chosen.temp_bed,
            note=chosen.note,
            audio_url=url,
            track=TrackOut.of(track) if track else None,
        )

    @router.get("/scenes/{scene_id}/music", response_model=SceneMusicOut, responses=errors(404))
    async def get_scene_music(scene_id: uuid.UUID, _: Caller) -> Any:
        """What scene assembly will mix under the scene: its track, or the mood's temp bed and why."""
        return await scene_music(scene_id)

    @router.post("/scenes/{scene_id}/music", response_model=SceneMusicOut, responses=errors(404, 409))
    async def set_scene_music(scene_id: uuid.UUID, body: AttachIn, caller: Caller) -> Any:
        """Attach a ready track of the scene's project (`null` detaches). 404: no such scene or track; 422: a
        track of another project; 409: the scene or track is deleted, or the track is not ready."""
        await music.attach(scene_id, body.track_id, caller.name)
        return await scene_music(scene_id)

    return router

"""REST routes for scenes and shots: the timeline, story to scenes, generation and its status.

Static paths (`/scenes/motion-presets`) are registered before `/scenes/{scene_id}` so an id route never
shadows them (the earlier system learned that the hard way).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from services.errors import NotFound
from services.scenes import (
    SceneChanges,
    SceneDraft,
    ShotChanges,
    ShotDraft,
    StoryPlan,
    StoryPlanError,
    motion_presets,
)
from studio.api.deps import IMMUTABLE_CACHE, current_principal
from studio.api.errors import errors
from studio.api.files import stored_file
from studio.api.jobs import JobOut
from studio.auth import Principal
from studio.ids import RowId
from studio.models import Scene, Shot
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]


class SceneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: int
    scene_number: int
    title: str
    description: str
    location: str
    time_of_day: str
    weather: str
    mood: str
    generation_status: str
    target_duration_seconds: float
    actual_duration_seconds: float | None
    total_shots: int
    completed_shots: int
    generation_job_id: int | None
    music_track_id: int | None
    post_interpolate_fps: int | None
    post_upscale_factor: int | None
    assembly_job_id: int | None
    final_video_path: str | None
    poster_path: str | None
    subtitles_path: str | None
    assembly_warnings: list[str]
    assembled_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SceneListItem(BaseModel):
    scene: SceneOut
    shots: int
    seconds: float


class ShotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    scene_id: uuid.UUID
    shot_number: int
    shot_type: str
    camera_angle: str
    duration_seconds: float
    description: str
    motion_prompt: str
    characters_present: list[int]
    source_image_id: int | None
    source_image_path: str | None
    first_frame_path: str | None
    last_frame_path: str | None
    output_video_path: str | None
    status: str
    seed: int | None
    steps: int | None
    quality_score: float | None
    attempts: list[dict[str, Any]]
    selected_attempt: int | None
    error_message: str | None
    dialogue_text: str
    dialogue_character_id: int | None
    transition_type: str
    transition_duration: float
    video_engine: str
    updated_at: datetime


class SceneStatus(BaseModel):
    scene: SceneOut
    shots: list[ShotOut]
    job: JobOut | None


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shot_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shot_ids: list[uuid.UUID] | None = Field(None, description="Only these shots; unset: the whole scene.")


class FromStoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_scenes: int = Field(3, ge=1, le=12)
    max_scenes: int = Field(8, ge=1, le=12)


class ApplyPlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: StoryPlan
    replace: bool = Field(False, description="true: the project's scenes are deleted (restorable) first")


def _attempt_file(shot: Shot, attempt: int, key: str) -> str | None:
    """A file of one attempt (attempts are numbered per shot, across runs)."""
    found = next((a for a in shot.attempts if a.get("n") == attempt), None)
    return str(found[key]) if found and found.get(key) else None


def scenes_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["scenes"])
    scenes, generation, planner = studio.scenes, studio.scene_generation, studio.story_planner

    # --- static paths first -----------------------------------------------------------------------

    @router.get("/scenes/motion-presets")
    async def presets(_: Caller, shot_type: str | None = None) -> dict[str, list[str]]:
        """Curated motion prompts per shot type (one type with `shot_type`)."""
        return {kind: list(prompts) for kind, prompts in motion_presets(shot_type).items()}

    @router.get("/projects/{project_id}/scenes", response_model=list[SceneListItem], responses=errors(404))
    async def list_scenes(project_id: RowId, _: Caller, include_deleted: bool = False) -> list[SceneListItem]:
        return [
            SceneListItem(scene=SceneOut.model_validate(s.scene), shots=s.shots, seconds=s.seconds)
            for s in await scenes.list(project_id, include_deleted)
        ]

    @router.post("/projects/{project_id}/scenes", response_model=SceneOut, status_code=201, responses=errors(404))
    async def create_scene(project_id: RowId, body: SceneDraft, caller: Caller) -> Scene:
        return await scenes.create(project_id, body, caller.name)

    @router.post("/projects/{project_id}/scenes/from-story", response_model=StoryPlan, responses=errors(404, 502, 503))
    async def plan_from_story(project_id: RowId, body: FromStoryIn, _: Caller) -> StoryPlan:
        """A preview of scenes and shots the LLM planned from the storyline; nothing is saved. 502 when the
        LLM failed or gave no valid plan (like the assistant's failed answers), 503 when none is set up."""
        try:
            return await planner.preview(project_id, (min(body.min_scenes, body.max_scenes), body.max_scenes))
        except StoryPlanError as exc:
            raise HTTPException(502, str(exc)) from exc

    @router.post(
        "/projects/{project_id}/scenes/from-story/apply",
        response_model=list[SceneOut],
        status_code=201,
        responses=errors(404, 409),
    )
    async def apply_plan(project_id: RowId, body: ApplyPlanIn, caller: Caller) -> list[Scene]:
        """Save a (possibly edited) plan as scenes and shots."""
        return await planner.apply(project_id, body.plan, replace=body.replace, actor=caller.name)

    # --- scenes -------------------------------------------------------------------------------------

    @router.get("/scenes/{scene_id}", response_model=SceneOut, responses=errors(404))
    async def get_scene(scene_id: uuid.UUID, _: Caller) -> Scene:
        return await scenes.get(scene_id)

    @router.patch("/scenes/{scene_id}", response_model=SceneOut, responses=errors(404, 409))
    async def update_scene(scene_id: uuid.UUID, body: SceneChanges, caller: Caller) -> Scene:
        return await scenes.update(scene_id, body, caller.name)

    @router.delete("/scenes/{scene_id}", response_model=SceneOut, responses=errors(404, 409))
    async def delete_scene(scene_id: uuid.UUID, caller: Caller) -> Scene:
        """Soft delete; `PATCH {"deleted": false}` restores. 409 while it generates."""
        return await scenes.delete(scene_id, caller.name)

    @router.get("/scenes/{scene_id}/shots", response_model=list[ShotOut], responses=errors(404))
    async def list_shots(scene_id: uuid.UUID, _: Caller) -> list[Shot]:
        await scenes.get(scene_id)
        return await scenes.shots(scene_id)

    @router.post("/scenes/{scene_id}/shots", response_model=ShotOut, status_code=201, responses=errors(404, 409))
    async def add_shot(scene_id: uuid.UUID, body: ShotDraft, caller: Caller) -> Shot:
        """Add a shot (at `position`, default the end); without `video_engine` the studio proposes one."""
        return await scenes.add_shot(scene_id, body, caller.name)

    @router.put("/scenes/{scene_id}/shots/order", response_model=list[ShotOut], responses=errors(404, 409))
    async def order_shots(scene_id: uuid.UUID, body: OrderIn, caller: Caller) -> list[Shot]:
        return await scenes.reorder(scene_id, body.shot_ids, caller.name)

    @router.post("/scenes/{scene_id}/generate", response_model=JobOut, status_code=202, responses=errors(404, 409))
    async def generate(scene_id: uuid.UUID, caller: Caller, body: GenerateIn | None = None) -> Any:
        """Render the scene's shots in order; 409 when it is already generating, 422 when a shot cannot render."""
        return await generation.start(scene_id, caller.name, body.shot_ids if body else None)

    @router.post("/scenes/{scene_id}/cancel", status_code=204, responses=errors(404, 409))
    async def cancel(scene_id: uuid.UUID, caller: Caller) -> None:
        await generation.cancel(scene_id, caller.name)

    @router.get("/scenes/{scene_id}/status", response_model=SceneStatus, responses=errors(404))
    async def status(scene_id: uuid.UUID, _: Caller) -> SceneStatus:
        """The scene, its shots with every attempt and score, and the running generation job."""
        scene = await scenes.get(scene_id)
        job = await studio.jobs.get(scene.generation_job_id) if scene.generation_job_id else None
        return SceneStatus(
            scene=SceneOut.model_validate(scene),
            shots=[ShotOut.model_validate(s) for s in await scenes.shots(scene_id)],
            job=JobOut.model_validate(job) if job else None,
        )

    # --- assembly -----------------------------------------------------------------------------------

    @router.post("/scenes/{scene_id}/assemble", response_model=JobOut, status_code=202, responses=errors(404, 409))
    async def assemble(scene_id: uuid.UUID, caller: Caller) -> Any:
        """Render the scene with its transitions, voiced dialogue and ducked music in one pass (a job).

        409 while it generates or already assembles; 422 when no shot has a video.
        """
        return await studio.scene_assembly.start(scene_id, caller.name)

    @router.get("/scenes/{scene_id}/video", response_class=FileResponse, responses=errors(404))
    async def scene_video(scene_id: uuid.UUID, _: Caller, v: str | None = None) -> Any:
        """The assembled scene (MP4); answers Range requests, so a player can seek.

        `v` (any value, e.g. the assembly time) lets a browser cache one assembly for good.
        """
        return await _scene_file(await scenes.get(scene_id), "final_video_path", "video/mp4", v)

    @router.get("/scenes/{scene_id}/poster", response_class=FileResponse, responses=errors(404))
    async def scene_poster(scene_id: uuid.UUID, _: Caller, v: str | None = None) -> Any:
        return await _scene_file(await scenes.get(scene_id), "poster_path", "image/jpeg", v)

    @router.get("/scenes/{scene_id}/subtitles.{fmt}", response_class=FileResponse, responses=errors(404))
    async def scene_subtitles(scene_id: uuid.UUID, fmt: Literal["vtt", "srt"], _: Caller, v: str | None = None) -> Any:
        """The dialogue as WebVTT or SRT, timed as it is heard in the assembled scene."""
        scene = await scenes.get(scene_id)
        return await _scene_file(scene, "subtitles_path", f"text/{fmt}", v, suffix=f".{fmt}")

    async def _scene_file(scene: Scene, field: str, media_type: str, v: str | None, suffix: str = "") -> FileResponse:
        missing = "this scene has not been assembled yet"
        return await stored_file(studio.media, getattr(scene, field), media_type, v, missing=missing, suffix=suffix)

    # --- shots --------------------------------------------------------------------------------------

    @router.get("/shots/{shot_id}", response_model=ShotOut, responses=errors(404))
    async def get_shot(shot_id: uuid.UUID, _: Caller) -> Shot:
        return await scenes.shot(shot_id)

    @router.patch("/shots/{shot_id}", response_model=ShotOut, responses=errors(404, 409))
    async def update_shot(shot_id: uuid.UUID, body: ShotChanges, caller: Caller) -> Shot:
        return await scenes.update_shot(shot_id, body, caller.name)

    @router.delete("/shots/{shot_id}", response_model=ShotOut, responses=errors(404, 409))
    async def delete_shot(shot_id: uuid.UUID, caller: Caller) -> Shot:
        """Delete a shot; the answer holds it, so a client can add it back at its `shot_number`."""
        return await scenes.delete_shot(shot_id, caller.name)

    @router.post("/shots/{shot_id}/regenerate", response_model=JobOut, status_code=202, responses=errors(404, 409))
    async def regenerate_shot(shot_id: uuid.UUID, caller: Caller) -> Any:
        """Render one shot again (with its gates), leaving the other shots as they are."""
        shot = await scenes.shot(shot_id)
        return await generation.start(shot.scene_id, caller.name, [shot_id])

    @router.post("/shots/{shot_id}/cancel", status_code=204, responses=errors(404, 409))
    async def cancel_shot(shot_id: uuid.UUID, caller: Caller) -> None:
        """Stop one shot of a running scene generation; the other shots go on. 409 when it is not rendering."""
        await generation.cancel_shot(shot_id, caller.name)

    @router.post("/shots/{shot_id}/attempts/{attempt}/promote", response_model=ShotOut, responses=errors(404, 409))
    async def promote(shot_id: uuid.UUID, attempt: int, caller: Caller) -> Shot:
        """Use another attempt's video for the shot."""
        return await generation.promote(shot_id, attempt, caller.name)

    @router.get("/shots/{shot_id}/video", response_class=FileResponse, responses=errors(404))
    async def shot_video(shot_id: uuid.UUID, _: Caller, attempt: Annotated[int | None, Query(ge=1)] = None) -> Any:
        """The shot's video (or one attempt's)."""
        shot = await scenes.shot(shot_id)
        path = _attempt_file(shot, attempt, "video") if attempt else shot.output_video_path
        if not path:
            raise NotFound("this shot has no video yet")
        return FileResponse(studio.media.path_of(path), media_type="video/mp4")

    @router.get("/shots/{shot_id}/frames/{which}", response_class=FileResponse, responses=errors(404))
    async def shot_frame(
        shot_id: uuid.UUID,
        which: Literal["first", "last", "source"],
        _: Caller,
        attempt: Annotated[int | None, Query(ge=1)] = None,
    ) -> Any:
        """The shot's first or last frame (of the kept attempt, or of `attempt`), or its source image."""
        shot = await scenes.shot(shot_id)
        if attempt and which != "source":
            path = _attempt_file(shot, attempt, f"{which}_frame")
        else:
            path = {"first": shot.first_frame_path, "last": shot.last_frame_path, "source": shot.source_image_path}[
                which
            ]
        if not path:
            raise NotFound(f"this shot has no {which} frame yet")
        # Attempt files are named per attempt and never rewritten; the kept frames and the source change.
        return FileResponse(studio.media.path_of(path), headers=IMMUTABLE_CACHE if attempt is not None else None)

    return router

"""REST routes for character voices: engines, voice profiles, previews and each shot's spoken line.

Synthesis runs as `voice.synthesize` jobs: a POST answers 202 with the job, or 200 with the file's URL when
the line is already cached (the same line in the same voice is made once).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.errors import NotFound
from services.voice import LineRequest, VoiceProfile
from studio.api.deps import IMMUTABLE_CACHE, current_principal
from studio.api.errors import errors
from studio.api.jobs import JobOut
from studio.auth import Principal
from studio.ids import RowId
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
PREVIEW_CHARS = 500


class EngineOut(BaseModel):
    engine: str
    label: str
    available: bool
    reason: str = Field(description="Why the engine cannot speak here (with the fix), or what backs it.")


class VoiceOut(BaseModel):
    character_id: int
    name: str
    profile: VoiceProfile
    engine_available: bool
    engine_reason: str


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=PREVIEW_CHARS, description="The sample line to speak.")
    profile: VoiceProfile | None = Field(None, description="Try this voice before saving it; unset: the saved one.")


class CachedLineOut(BaseModel):
    cached: Literal[True] = True
    key: str
    url: str = Field(description="Where the WAV file is served.")


def _answer(request: LineRequest) -> JSONResponse:
    if request.job is None:
        return JSONResponse(CachedLineOut(key=request.key, url=request.url).model_dump(), 200)
    return JSONResponse(JobOut.model_validate(request.job).model_dump(mode="json"), 202)


SYNTHESIS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CachedLineOut, "description": "Already synthesized: the file's URL."},
    202: {"model": JobOut, "description": "Being synthesized by this job; its result holds the URL."},
}


def voices_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["voices"])
    voices = studio.voices

    def voice_out(character_id: int, name: str, profile: VoiceProfile) -> VoiceOut:
        status = next(s for s in voices.available_engines() if s.engine == profile.engine)
        return VoiceOut(
            character_id=character_id,
            name=name,
            profile=profile,
            engine_available=status.available,
            engine_reason=status.reason,
        )

    @router.get("/voices/engines", response_model=list[EngineOut])
    async def engines(_: Caller) -> list[EngineOut]:
        """Which speech engines work here, and for those that do not, why and how to fix it."""
        return [EngineOut(**vars(status)) for status in voices.available_engines()]

    @router.get("/voices/espeak-variants", response_model=list[str])
    async def espeak_variants(_: Caller) -> list[str]:
        """The espeak-ng variants installed here (m1..m8, f1..f5, klatt...); empty without espeak-ng."""
        return await voices.espeak.variants()

    @router.get("/voices/lines/{key}", response_class=FileResponse, responses=errors(404))
    async def line_file(key: Annotated[str, Path(pattern="^[0-9a-f]{64}$")], _: Caller) -> Any:
        """A synthesized line (WAV), by the key a job's result or a cached answer gave."""
        path = voices.cached_file(key)
        if path is None:
            raise NotFound("no line with this key has been synthesized")
        return FileResponse(path, media_type="audio/wav", headers=IMMUTABLE_CACHE)

    @router.get("/characters/{character_id}/voice", response_model=VoiceOut, responses=errors(404))
    async def get_voice(character_id: RowId, _: Caller) -> VoiceOut:
        character, profile = await voices.voice(character_id)
        return voice_out(character_id, character.name, profile)

    @router.put("/characters/{character_id}/voice", response_model=VoiceOut, responses=errors(404, 409))
    async def put_voice(character_id: RowId, body: VoiceProfile, caller: Caller) -> VoiceOut:
        """Set the character's voice (the whole profile; `{}` is the default Piper voice)."""
        character = await voices.set_profile(character_id, body, caller.name)
        return voice_out(character_id, character.name, voices.profile_of(character))

    @router.post(
        "/characters/{character_id}/voice/preview",
        status_code=202,
        responses={**SYNTHESIS_RESPONSES, **errors(404)},
        response_model=None,
    )
    async def preview(character_id: RowId, body: PreviewIn, caller: Caller) -> JSONResponse:
        """Speak a sample line in the character's voice (or in `profile`, to try it before saving)."""
        return _answer(await voices.request_preview(character_id, body.text, caller.name, body.profile))

    @router.post(
        "/shots/{shot_id}/dialogue/synthesize",
        status_code=202,
        responses={**SYNTHESIS_RESPONSES, **errors(404)},
        response_model=None,
    )
    async def synthesize_shot(shot_id: uuid.UUID, caller: Caller) -> JSONResponse:
        """Speak the shot's dialogue line in its speaker's voice (the narrator's when nobody says it)."""
        return _answer(await voices.request_shot_line(shot_id, caller.name))

    @router.get("/shots/{shot_id}/dialogue/audio", response_class=FileResponse, responses=errors(404))
    async def shot_audio(shot_id: uuid.UUID, _: Caller) -> Any:
        """The shot's current line in its speaker's current voice (WAV), once it is synthesized."""
        path = await voices.cached_shot_line(shot_id)
        if path is None:
            raise NotFound(f"not synthesized yet: POST /api/shots/{shot_id}/dialogue/synthesize")
        return FileResponse(path, media_type="audio/wav")

    return router

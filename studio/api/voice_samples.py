"""REST routes for voice ingestion: sources (a URL, an upload or a folder) found as jobs, their speaker groups and
segments, decisions with Undo, and each character's voice samples, reference and GPT-SoVITS export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from services.errors import Invalid
from services.voice_samples.views import Decision, DecisionChange, SegmentChanges
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.api.jobs import JobOut
from studio.api.uploads import chunks_of
from studio.auth import Principal
from studio.ids import MAX_ROW_ID, RowId
from studio.models import VoiceSource
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
MAX_BULK = 5000


class SourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    kind: str = Field(description="url, upload or folder.")
    origin: str = Field(description="The URL, the uploaded file's name or the file's path.")
    title: str
    job_id: int | None
    state: str = Field(description="queued, running, done, failed or cancelled (as its job).")
    duration_seconds: float | None
    language: str
    summary: dict[str, Any] = Field(description="What the ingestion found: segments, speakers, dropped_short...")
    error: str | None = Field(description="Why it failed or was cancelled.")
    created_by: str
    created_at: datetime
    deleted_at: datetime | None


class SourceAddedOut(BaseModel):
    source: SourceOut
    job: JobOut


class FolderAddedOut(BaseModel):
    added: list[SourceAddedOut]
    skipped: list[str] = Field(description="Files of the folder that are not usable, each with why.")


class UrlSourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: RowId
    url: str = Field(min_length=1, max_length=2000, description="A video page or an audio or video file (http/https).")


class FolderSourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: RowId
    folder: str = Field(min_length=1, max_length=1000, description="A folder inside the import folders.")


class SegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    speaker_id: int | None
    start: float
    end: float
    duration: float
    transcript: str
    snr_db: float
    speaker_confidence: float
    quality: float = Field(description="0-1: SNR 0.4, length 0.3 (3-10 s ideal), speaker confidence 0.3.")
    character_id: int | None
    decision: str
    url: str = Field(description="Where its WAV is served.")


class SpeakerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    label: int = Field(description="1-based, in order of first appearance: Speaker 1, Speaker 2...")
    character_id: int | None
    character_name: str | None
    proposed_character_id: int | None = Field(description="Who the studio thinks it is; a person confirms.")
    proposed_character_name: str | None
    proposal_reason: str
    segments: list[SegmentOut]


class SpeakerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    character_id: RowId | None = Field(description="The character the group is; null: nobody.")


class DecisionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    segment_ids: list[RowId] = Field(min_length=1, max_length=MAX_BULK)
    decision: Decision


class DecisionsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    decision: str
    changed: int
    previous: dict[int, str] = Field(description="Each changed segment's decision before: POST it to /undo.")


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    previous: dict[Annotated[int, Field(ge=1, le=MAX_ROW_ID)], Decision] = Field(
        max_length=MAX_BULK, description="The `previous` of a decisions answer."
    )


class CharacterSamplesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    character_id: int
    approved: list[SegmentOut] = Field(description="Approved samples, best first.")
    reference_id: int | None = Field(description="The sample the cloned voice uses as its reference.")
    reference_reason: str
    total_seconds: float


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    segment_id: RowId


class ClonedVoiceOut(BaseModel):
    character_id: int
    engine: str


_UPLOAD_FORM = {
    "type": "object",
    "properties": {
        "project_id": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
        "file": {"type": "string", "format": "binary"},
    },
    "required": ["project_id", "file"],
}
_ADD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": UrlSourceIn.model_json_schema()},
            "multipart/form-data": {"schema": _UPLOAD_FORM},
        },
    }
}


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message, "input": None}])


def voice_samples_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["voice samples"])
    sources, samples = studio.voice_sources, studio.voice_samples

    async def added(source: VoiceSource) -> SourceAddedOut:
        job = await studio.jobs.get(source.job_id)  # type: ignore[arg-type]
        return SourceAddedOut(source=SourceOut.model_validate(source), job=JobOut.model_validate(job))

    @router.post(
        "/voice-sources",
        status_code=202,
        response_model=SourceAddedOut,
        responses=errors(404, 409, 422),
        openapi_extra=_ADD_BODY,
    )
    async def add_source(request: Request, caller: Caller) -> SourceAddedOut:
        """Find the speech in a video or audio: JSON `{project_id, url}` (yt-dlp, audio only) or a multipart
        upload (`project_id`, `file`; checked with ffprobe, at most max_video_upload_mb and
        voice_source_max_minutes). Answers the source and its `voice.ingest` job."""
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind == "multipart/form-data":
            async with request.form(max_files=1, max_fields=5) as form:
                upload, project = form.get("file"), str(form.get("project_id") or "")
                if not project.isdigit() or not 1 <= int(project) <= MAX_ROW_ID:
                    raise _invalid("project_id", "give the project's id (a whole number)")
                if not isinstance(upload, UploadFile):
                    raise _invalid("file", "attach the video or audio file as `file`")
                name = upload.filename or "upload"
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise _invalid("file", "the file name is not valid Unicode text") from exc
                return await added(await sources.add_upload(int(project), name, chunks_of(upload), caller.name))
        if kind and kind != "application/json" and not kind.endswith("+json"):
            raise _invalid("body", "send JSON {project_id, url} or a multipart upload (project_id, file)")
        try:
            body = UrlSourceIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from exc
        if any(not ch.isprintable() for ch in body.url):
            raise Invalid("url", "the address has control characters or text that is not Unicode")
        return await added(await sources.add_url(body.project_id, body.url, caller.name))

    @router.post(
        "/voice-sources/folder", status_code=202, response_model=FolderAddedOut, responses=errors(404, 409, 422)
    )
    async def add_folder(body: FolderSourceIn, caller: Caller) -> FolderAddedOut:
        """Find the speech in every audio and video file of a folder inside the import folders (one source each)."""
        result = await sources.add_folder(body.project_id, body.folder, caller.name)
        return FolderAddedOut(added=[await added(s) for s in result.sources], skipped=result.skipped)

    @router.get("/voice-sources", response_model=list[SourceOut], responses=errors(404))
    async def list_sources(
        project_id: Annotated[RowId, Query()],
        _: Caller,
        deleted: Annotated[bool, Query(description="The deleted sources (restorable) instead.")] = False,
    ) -> list[VoiceSource]:
        """A project's voice sources, newest first."""
        return await sources.list(project_id, deleted)

    @router.get("/voice-sources/{source_id}", response_model=SourceOut, responses=errors(404))
    async def get_source(source_id: RowId, _: Caller) -> VoiceSource:
        return await sources.get(source_id)

    @router.delete("/voice-sources/{source_id}", response_model=SourceOut, responses=errors(404, 409))
    async def delete_source(source_id: RowId, caller: Caller) -> VoiceSource:
        """Hide a source and its samples (a running ingestion is cancelled); restorable, its files are kept."""
        return await sources.delete(source_id, caller.name)

    @router.post("/voice-sources/{source_id}/restore", response_model=SourceOut, responses=errors(404, 409))
    async def restore_source(source_id: RowId, caller: Caller) -> VoiceSource:
        """Undo a delete."""
        return await sources.restore(source_id, caller.name)

    @router.post("/voice-sources/{source_id}/cancel", response_model=SourceOut, responses=errors(404, 409))
    async def cancel_source(source_id: RowId, caller: Caller) -> VoiceSource:
        """Stop a queued or running ingestion."""
        return await sources.cancel(source_id, caller.name)

    @router.get("/voice-sources/{source_id}/speakers", response_model=list[SpeakerOut], responses=errors(404))
    async def speakers(source_id: RowId, _: Caller) -> list[SpeakerOut]:
        """The speaker groups found in the source, each with its proposal and segments."""
        return [SpeakerOut.model_validate(v, from_attributes=True) for v in await samples.speakers(source_id)]

    @router.patch("/voice-speakers/{speaker_id}", response_model=SpeakerOut, responses=errors(404, 409, 422))
    async def assign_speaker(speaker_id: RowId, body: SpeakerIn, caller: Caller) -> SpeakerOut:
        """Name a speaker group after a character (null: nobody); every segment of the group follows."""
        view = await samples.assign_speaker(speaker_id, body.character_id, caller.name)
        return SpeakerOut.model_validate(view, from_attributes=True)

    @router.get("/voice-segments/{segment_id}/audio", response_class=FileResponse, responses=errors(404))
    async def segment_audio(segment_id: RowId, _: Caller) -> Any:
        """The segment's WAV (mono, 16-bit, 32 kHz)."""
        return FileResponse(await samples.segment_file(segment_id), media_type="audio/wav")

    @router.patch("/voice-segments/{segment_id}", response_model=SegmentOut, responses=errors(404, 409, 422))
    async def update_segment(segment_id: RowId, body: SegmentChanges, caller: Caller) -> SegmentOut:
        """Change a segment's transcript, character or decision (fields left out stay as they are)."""
        return SegmentOut.model_validate(await samples.update_segment(segment_id, body, caller.name))

    @router.post("/voice-segments/decisions", response_model=DecisionsOut, responses=errors(404, 409, 422))
    async def decide(body: DecisionsIn, caller: Caller) -> DecisionsOut:
        """Approve, reject or reset many segments at once; `previous` undoes it (POST it to .../decisions/undo)."""
        return DecisionsOut.model_validate(await samples.decide(body.segment_ids, body.decision, caller.name))

    @router.post("/voice-segments/decisions/undo", response_model=DecisionsOut, responses=errors(404, 409, 422))
    async def undo(body: UndoIn, caller: Caller) -> DecisionsOut:
        """Put back the decisions a bulk decision changed; the answer's `previous` redoes it."""
        change = DecisionChange(decision="undo", changed=len(body.previous), previous=dict(body.previous))
        return DecisionsOut.model_validate(await samples.undo(change, caller.name))

    @router.get("/characters/{character_id}/voice-samples", response_model=CharacterSamplesOut, responses=errors(404))
    async def character_samples(character_id: RowId, _: Caller) -> CharacterSamplesOut:
        """The character's approved samples, the reference its cloned voice uses and why."""
        return CharacterSamplesOut.model_validate(await samples.samples(character_id))

    @router.put(
        "/characters/{character_id}/voice-reference", response_model=CharacterSamplesOut, responses=errors(404, 422)
    )
    async def choose_reference(character_id: RowId, body: ReferenceIn, caller: Caller) -> CharacterSamplesOut:
        """Make an approved 3-10 s sample the reference of the character's cloned voice."""
        return CharacterSamplesOut.model_validate(
            await samples.choose_reference(character_id, body.segment_id, caller.name)
        )

    @router.post(
        "/characters/{character_id}/cloned-voice", response_model=ClonedVoiceOut, responses=errors(404, 409, 422, 503)
    )
    async def use_cloned_voice(character_id: RowId, caller: Caller) -> ClonedVoiceOut:
        """Let the voice-cloning server speak the character's lines from its reference sample."""
        character = await samples.use_cloned_voice(character_id, caller.name)
        return ClonedVoiceOut(character_id=character_id, engine=str(character.voice_profile.get("engine", "piper")))

    @router.get(
        "/characters/{character_id}/voice-samples/export.zip",
        response_class=FileResponse,
        responses={**errors(404, 422), 200: {"content": {"application/zip": {}}}},
    )
    async def export_zip(character_id: RowId, _: Caller) -> Any:
        """The approved samples as a GPT-SoVITS training set: `<slug>.list` (`wavs/<file>|<speaker>|<lang>|
        <text>`) and `wavs/`."""
        path = await samples.export_zip(character_id)
        return FileResponse(path, media_type="application/zip", filename=path.name)

    return router

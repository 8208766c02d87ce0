"""REST routes for the creative bible: projects, story, world, styles, characters, prompt previews."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from services.bible.schemas import (
    CharacterChanges,
    CharacterDraft,
    ProfileDraft,
    ProjectChanges,
    ProjectDraft,
    SpeciesRuleDraft,
    StorylineDraft,
    StyleDraft,
    WorldDraft,
    require_address_name,
)
from services.errors import Invalid
from services.imaging import MAX_UPLOAD_BYTES
from studio.api.deps import IMMUTABLE_CACHE, current_principal
from studio.api.errors import errors
from studio.api.uploads import chunks_of
from studio.auth import Principal
from studio.ids import RowId
from studio.models import (
    Character,
    GenerationStyle,
    ModelProfileRow,
    Project,
    ReferenceImage,
    SpeciesRuleRow,
    Storyline,
    WorldSettings,
)
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]


class ProjectOut(BaseModel):
    project: Project
    characters: int


class CharacterOut(BaseModel):
    character: Character
    references: list[ReferenceImage]
    dataset: dict[str, int]
    non_human: bool


class ImportOut(BaseModel):
    project: Project
    renamed_from: str | None
    styles_added: list[str]
    styles_kept: list[str]
    library_added: list[str]
    library_kept: list[str]


class ExplanationOut(BaseModel):
    part: str
    action: str
    text: str
    because: str


class PromptPreview(BaseModel):
    positive: str
    negative: str
    profile: str
    architecture: str
    prompt_format: str
    params: dict[str, Any]
    param_sources: dict[str, str]
    non_human: bool
    species_rules: list[str]
    verification_questions: list[str]
    ip_adapter_model: str | None
    explanations: list[ExplanationOut]


async def read_upload(upload: UploadFile, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """Read at most `limit` bytes: a larger upload is refused without holding it all in memory."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise Invalid("file", f"the file is larger than {limit // 1_000_000} MB")
    return data


def bible_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["bible"])
    projects, styles, characters, library = studio.projects, studio.styles, studio.characters, studio.library

    # --- projects ---------------------------------------------------------------------------------

    @router.get("/projects", response_model=list[ProjectOut])
    async def list_projects(_: Caller, include_archived: bool = False) -> list[ProjectOut]:
        """Projects with their character counts; archived ones only when asked."""
        return [ProjectOut(project=s.project, characters=s.characters) for s in await projects.list(include_archived)]

    @router.post("/projects", response_model=Project, status_code=status.HTTP_201_CREATED, responses=errors(409))
    async def create_project(body: ProjectDraft, caller: Caller) -> Project:
        return await projects.create(body, caller.name)

    @router.get("/projects/{project_id}", response_model=Project, responses=errors(404))
    async def get_project(project_id: RowId, _: Caller) -> Project:
        return await projects.get(project_id)

    @router.patch("/projects/{project_id}", response_model=Project, responses=errors(404, 409))
    async def update_project(project_id: RowId, body: ProjectChanges, caller: Caller) -> Project:
        """Change fields; `{"archived": false}` restores an archived project."""
        return await projects.update(project_id, body, caller.name)

    @router.delete("/projects/{project_id}", response_model=Project, responses=errors(404))
    async def archive_project(project_id: RowId, caller: Caller) -> Project:
        """Archive (soft delete): nothing is lost; PATCH `{"archived": false}` undoes it."""
        return await projects.archive(project_id, caller.name)

    @router.get("/projects/{project_id}/export", response_class=Response, responses=errors(404))
    async def export_project(project_id: RowId, _: Caller) -> Response:
        """The whole bible (story, world, styles, profiles, species rules, characters, references) as a zip."""
        name, data = await studio.archives.export(project_id)
        return Response(
            data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @router.post("/projects/import", response_model=ImportOut, status_code=status.HTTP_201_CREATED)
    async def import_project(caller: Caller, file: Annotated[UploadFile, File()]) -> ImportOut:
        """Create a project from an exported archive; a taken name gets ' (imported)' appended."""
        report = await studio.archives.import_archive(chunks_of(file), caller.name)
        return ImportOut(**vars(report))

    @router.get("/projects/{project_id}/storyline", response_model=Storyline, responses=errors(404))
    async def get_storyline(project_id: RowId, _: Caller) -> Storyline:
        return await projects.storyline(project_id)

    @router.put("/projects/{project_id}/storyline", response_model=Storyline, responses=errors(404))
    async def put_storyline(project_id: RowId, body: StorylineDraft, caller: Caller) -> Storyline:
        return await projects.save_storyline(project_id, body, caller.name)

    @router.get("/projects/{project_id}/world-settings", response_model=WorldSettings, responses=errors(404))
    async def get_world(project_id: RowId, _: Caller) -> WorldSettings:
        return await projects.world(project_id)

    @router.put("/projects/{project_id}/world-settings", response_model=WorldSettings, responses=errors(404))
    async def put_world(project_id: RowId, body: WorldDraft, caller: Caller) -> WorldSettings:
        return await projects.save_world(project_id, body, caller.name)

    # --- generation styles, profiles, species rules -----------------------------------------------

    @router.get("/generation-styles", response_model=list[GenerationStyle])
    async def list_styles(_: Caller) -> list[GenerationStyle]:
        return await styles.list()

    @router.post(
        "/generation-styles", response_model=GenerationStyle, status_code=status.HTTP_201_CREATED, responses=errors(409)
    )
    async def create_style(body: StyleDraft, caller: Caller) -> GenerationStyle:
        return await styles.create(body, caller.name)

    @router.get("/generation-styles/{name}", response_model=GenerationStyle, responses=errors(404))
    async def get_style(name: str, _: Caller) -> GenerationStyle:
        return await styles.get(name)

    @router.put("/generation-styles/{name}", response_model=GenerationStyle, responses=errors(404, 409))
    async def put_style(name: str, body: StyleDraft, caller: Caller) -> GenerationStyle:
        return await styles.put(name, body, caller.name)

    @router.delete("/generation-styles/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
    async def delete_style(name: str, caller: Caller) -> Response:
        """Refused (409) while a project uses the style as its default."""
        await styles.delete(name, caller.name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/model-profiles", response_model=list[ModelProfileRow])
    async def list_profiles(_: Caller) -> list[ModelProfileRow]:
        """Checkpoint families in matching order (lowest priority number first)."""
        return await library.profiles()

    @router.put("/model-profiles/{name}", response_model=ModelProfileRow, responses=errors(404, 409))
    async def put_profile(name: str, body: ProfileDraft, caller: Caller) -> ModelProfileRow:
        require_address_name(name, body.name)
        return await library.save_profile(body, caller.name)

    @router.delete("/model-profiles/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
    async def delete_profile(name: str, caller: Caller) -> Response:
        await library.delete_profile(name, caller.name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/model-profiles/{name}/reset", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
    async def reset_profile(name: str, caller: Caller) -> Response:
        """Put a built-in profile back to the values the studio ships with."""
        await library.reset_builtin("model_profile", name, caller.name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/species-rules", response_model=list[SpeciesRuleRow])
    async def list_rules(_: Caller) -> list[SpeciesRuleRow]:
        return await library.rules()

    @router.put("/species-rules/{name}", response_model=SpeciesRuleRow, responses=errors(404, 409))
    async def put_rule(name: str, body: SpeciesRuleDraft, caller: Caller) -> SpeciesRuleRow:
        require_address_name(name, body.name)
        return await library.save_rule(body, caller.name)

    @router.delete("/species-rules/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
    async def delete_rule(name: str, caller: Caller) -> Response:
        await library.delete_rule(name, caller.name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/species-rules/{name}/reset", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
    async def reset_rule(name: str, caller: Caller) -> Response:
        await library.reset_builtin("species_rule", name, caller.name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # --- characters -------------------------------------------------------------------------------

    @router.get("/projects/{project_id}/characters", response_model=list[CharacterOut], responses=errors(404))
    async def list_characters(
        project_id: RowId, _: Caller, species: str | None = None, include_deleted: bool = False
    ) -> list[CharacterOut]:
        cards = await characters.cards(project_id, species=species, include_deleted=include_deleted)
        return [
            CharacterOut(character=c.character, references=c.references, dataset=c.dataset, non_human=c.non_human)
            for c in cards
        ]

    @router.post(
        "/projects/{project_id}/characters",
        response_model=Character,
        status_code=status.HTTP_201_CREATED,
        responses=errors(404, 409),
    )
    async def create_character(project_id: RowId, body: CharacterDraft, caller: Caller) -> Character:
        return await characters.create(project_id, body, caller.name)

    @router.get("/characters/{character_id}", response_model=Character, responses=errors(404))
    async def get_character(character_id: RowId, _: Caller) -> Character:
        return await characters.get(character_id)

    @router.patch("/characters/{character_id}", response_model=Character, responses=errors(404, 409))
    async def update_character(character_id: RowId, body: CharacterChanges, caller: Caller) -> Character:
        """Change fields; `{"deleted": false}` restores a deleted character."""
        return await characters.update(character_id, body, caller.name)

    @router.delete("/characters/{character_id}", response_model=Character, responses=errors(404))
    async def delete_character(character_id: RowId, caller: Caller) -> Character:
        """Soft delete: PATCH `{"deleted": false}` undoes it."""
        return await characters.delete(character_id, caller.name)

    @router.get("/characters/{character_id}/references", response_model=list[ReferenceImage], responses=errors(404))
    async def list_references(character_id: RowId, _: Caller) -> list[ReferenceImage]:
        await characters.get(character_id)
        return await characters.references(character_id)

    @router.post(
        "/characters/{character_id}/references",
        response_model=ReferenceImage,
        status_code=status.HTTP_201_CREATED,
        responses=errors(404, 409),
    )
    async def add_reference(character_id: RowId, caller: Caller, file: Annotated[UploadFile, File()]) -> ReferenceImage:
        """Upload a PNG, JPEG or WebP reference image (at most 25 MB and 40 megapixels)."""
        data = await read_upload(file)
        return await characters.add_reference(character_id, data, file.filename or "", caller.name)

    @router.get("/references/{reference_id}/image", response_class=FileResponse, responses=errors(404))
    async def reference_image(reference_id: RowId, _: Caller) -> FileResponse:
        reference = await characters.reference(reference_id)
        path = studio.media.path_of(reference.file_path)
        return FileResponse(path, media_type=reference.media_type, headers=IMMUTABLE_CACHE)

    @router.delete("/references/{reference_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
    async def delete_reference(reference_id: RowId, caller: Caller) -> Response:
        await characters.remove_reference(reference_id, caller.name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/characters/{character_id}/prompt-preview", response_model=PromptPreview, responses=errors(404))
    async def prompt_preview(
        character_id: RowId,
        _: Caller,
        style: Annotated[str | None, Query(description="style name; the project's default when omitted")] = None,
        pose: Annotated[str, Query(max_length=500)] = "",
    ) -> PromptPreview:
        """The exact positive and negative prompt for this character and style, and why."""
        plan = await characters.prompt_preview(character_id, style, pose)
        params = plan.params
        return PromptPreview(
            positive=plan.positive,
            negative=plan.negative,
            profile=plan.profile.name,
            architecture=plan.architecture,
            prompt_format=plan.prompt_format,
            params={
                "cfg": params.cfg,
                "steps": params.steps,
                "sampler": params.sampler,
                "scheduler": params.scheduler,
                "width": params.width,
                "height": params.height,
                "prediction_type": params.prediction_type,
                "rescale_cfg": params.rescale_cfg,
            },
            param_sources=dict(params.sources),
            non_human=plan.non_human,
            species_rules=[r.name for r in plan.species_rules],
            verification_questions=list(plan.verification_questions),
            ip_adapter_model=plan.ip_adapter_model,
            explanations=[
                ExplanationOut(part=e.part, action=e.action, text=e.text, because=e.because) for e in plan.explanations
            ],
        )

    return router

"""Story to scenes: ask the LLM for a plan (a preview nothing is saved from), then save it when accepted."""

from __future__ import annotations

from services.bible import Characters, Projects
from services.errors import BackendUnavailable, Conflict, Invalid
from services.llm import LLM_DEVICE_EXAMPLE, configured_llm
from services.scenes.events import SceneChanged
from services.scenes.scenes import Scenes
from services.scenes.schemas import SceneChanges, SceneDraft, ShotDraft
from services.scenes.story import StoryContext, StoryPlan, plan_scenes, validate_against_cast
from studio.config import Settings
from studio.events import EventBus
from studio.models import Scene
from studio.secrets import SecretStore


class StoryPlanner:
    def __init__(
        self,
        *,
        settings: Settings,
        secrets: SecretStore,
        events: EventBus,
        projects: Projects,
        characters: Characters,
        scenes: Scenes,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._events = events
        self._projects = projects
        self._characters = characters
        self._scenes = scenes

    async def preview(self, project_id: int, scenes_wanted: tuple[int, int] = (3, 8)) -> StoryPlan:
        """Ask the LLM for scenes and shots from the storyline, world and cast; nothing is saved.

        BackendUnavailable: no LLM configured. StoryPlanError: the server failed, took longer than
        `story_timeout_seconds`, or the model gave no valid plan (it was asked again).
        """
        context = await self._context(project_id, scenes_wanted)
        seconds = self._settings.story_timeout_seconds
        # A plan is not streamed: the wait for the reply is the whole answer, bounded by `seconds` in plan_scenes.
        client = configured_llm(self._settings, self._secrets, timeout=seconds)
        if client is None:
            raise BackendUnavailable(
                "llm", f"story to scenes needs an LLM; add a device with an llm_url, e.g. {LLM_DEVICE_EXAMPLE}"
            )
        try:
            return await plan_scenes(client, self._settings.story_model, context, seconds=seconds)
        finally:
            await client.aclose()

    async def apply(self, project_id: int, plan: StoryPlan, *, replace: bool, actor: str) -> list[Scene]:
        """Save a plan as scenes and shots (after the project's scenes, or instead of them: soft-deleted, so
        they can be restored). Invalid: the plan names characters the project does not have."""
        context = await self._context(project_id, (1, 12))
        problems = validate_against_cast(plan, context.cast, scenes_wanted=(1, 12))
        if problems:
            raise Invalid("plan", "; ".join(problems))
        ids = {c.character.name.lower(): c.character.id for c in await self._characters.cards(project_id)}
        existing = await self._scenes.list(project_id)
        generating = [s.scene for s in existing if s.scene.generation_status == "generating"]
        if replace and generating:  # refuse before anything changes, not half-way through
            raise Conflict(f"scene {generating[0].scene_number} is generating; cancel it before replacing the scenes")
        if replace:
            for summary in existing:
                await self._scenes.update(summary.scene.id, SceneChanges(deleted=True), actor)
        created = []
        for planned in plan.scenes:
            scene = await self._scenes.create(
                project_id,
                SceneDraft(
                    title=planned.title,
                    description=planned.description,
                    location=planned.location,
                    time_of_day=planned.time_of_day,
                    mood=planned.mood,
                    target_duration_seconds=sum(s.duration_seconds for s in planned.shots),
                ),
                actor,
            )
            for shot in planned.shots:
                present = [ids[name.lower()] for name in shot.characters]
                speaker = ids.get((shot.speaking_character or "").lower())
                await self._scenes.add_shot(
                    scene.id,
                    ShotDraft(
                        shot_type=shot.shot_type,
                        camera_angle=shot.camera_angle,
                        duration_seconds=shot.duration_seconds,
                        description=shot.description,
                        motion_prompt=shot.motion_prompt,
                        characters_present=present,  # type: ignore[arg-type]
                        dialogue_text=shot.dialogue_text if speaker else "",
                        dialogue_character_id=speaker,
                    ),
                    actor,
                )
            created.append(scene)
        await self._events.emit(
            SceneChanged(
                actor=actor,
                scene_id=str(created[0].id),
                project_id=project_id,
                change="planned",
                label=f"{len(created)} scenes from the story",
            )
        )
        return created

    async def _context(self, project_id: int, scenes_wanted: tuple[int, int]) -> StoryContext:
        project = await self._projects.get(project_id)
        storyline = await self._projects.storyline(project_id)
        world = await self._projects.world(project_id)
        cast = [card.character for card in await self._characters.cards(project_id)]
        context = StoryContext.from_records(project, storyline, world, cast)
        return StoryContext(**{**context.__dict__, "scenes_wanted": scenes_wanted})

"""Story to scenes: ask the LLM to break a storyline into scenes and shots, and check what it answers.

The earlier system parsed the model's JSON once, filled in defaults and threw the result away on any
problem. Here the answer is validated twice — its shape by pydantic, its content against the project's
cast — and every problem goes back to the model so it can fix its answer, up to `attempts` times.
`plan_scenes` never returns a plan that failed a check. It writes nothing: the studio shows the plan as
a preview and saves it only when the user accepts it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from services.errors import StudioError
from services.llm import AnswerCut, ChatMessage, LlmClient, LlmError
from services.llm.replies import ReplyError, extract_json, field_problems
from services.scenes.presets import (
    CAMERA_ANGLES,
    MOTION_PRESETS,
    SHOT_TYPES,
    TIMES_OF_DAY,
    CameraAngle,
    ShotType,
    TimeOfDay,
)
from studio.models.story import Character, Project, Storyline, WorldSettings

log = logging.getLogger(__name__)

__all__ = [
    "CAMERA_ANGLES",
    "PLAN_SCHEMA",
    "SHOT_TYPES",
    "TIMES_OF_DAY",
    "PlanReplyError",
    "PlannedScene",
    "PlannedShot",
    "StoryContext",
    "StoryPlan",
    "StoryPlanError",
    "parse_plan",
    "plan_scenes",
    "planner_messages",
    "validate_against_cast",
]

MAX_SCENES = 12
MAX_SHOTS = 8
# A planned shot's length: a clip video models render well, within what the scenes service accepts (0.5-60 s).
MIN_SHOT_SECONDS, MAX_SHOT_SECONDS = 1, 10
TEMPERATURE = 0.7
MAX_TOKENS = 4096

# --- the model's answer ----------------------------------------------------------------------------


def _squash(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text.lower())


def _choice(options: Sequence[str]) -> BeforeValidator:
    # Models write "Close Up", "extreme close-up", "Eye level", "NIGHT": match ignoring case, spaces,
    # hyphens and underscores, and keep the studio's spelling. Anything else fails the Literal check.
    by_key = {_squash(option): option for option in options}

    def pick(value: Any) -> Any:
        if isinstance(value, str):
            return by_key.get(_squash(value), value.strip())
        return value

    return BeforeValidator(pick)


def _names(value: Any) -> Any:
    # A lone name, or "Mario, Peach", where a list was asked for; null for none.
    if value is None:
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return value


def _blank_to_none(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _none_to_empty(value: Any) -> Any:
    return "" if value is None else value


def _required(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


def _optional(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, max_length=max_length)


CharacterName = Annotated[str, _required(200)]
Names = Annotated[list[CharacterName], BeforeValidator(_names)]
Title = Annotated[str, _required(200)]
ShotDescription = Annotated[str, _required(500)]
MotionPrompt = Annotated[str, _required(300)]
Dialogue = Annotated[str, _optional(300), BeforeValidator(_none_to_empty)]
SceneDescription = Annotated[str, _optional(2000), BeforeValidator(_none_to_empty)]
Location = Annotated[str, _optional(200), BeforeValidator(_none_to_empty)]
Mood = Annotated[str, _optional(50), BeforeValidator(_none_to_empty)]


class PlannedShot(BaseModel):
    """One shot the model proposes; characters are named, not yet resolved to ids."""

    model_config = ConfigDict(extra="ignore")

    shot_type: Annotated[ShotType, _choice(SHOT_TYPES)]
    camera_angle: Annotated[CameraAngle, _choice(CAMERA_ANGLES)] = "eye_level"
    description: ShotDescription = Field(description="what the shot shows, for the image generator")
    motion_prompt: MotionPrompt = Field(description="the movement in the clip: camera move and character motion")
    duration_seconds: float = Field(ge=MIN_SHOT_SECONDS, le=MAX_SHOT_SECONDS, description="2-5 seconds")
    characters: Names = Field(default_factory=list, max_length=6, description="names of the visible characters")
    dialogue_text: Dialogue = ""
    speaking_character: Annotated[CharacterName | None, BeforeValidator(_blank_to_none)] = None


class PlannedScene(BaseModel):
    """One scene the model proposes, with its shots in order."""

    model_config = ConfigDict(extra="ignore")

    title: Title
    description: SceneDescription = ""
    location: Location = ""
    time_of_day: Annotated[TimeOfDay, _choice(TIMES_OF_DAY)]
    mood: Mood = ""
    characters: Names = Field(default_factory=list)
    shots: list[PlannedShot] = Field(min_length=1, max_length=MAX_SHOTS)


class StoryPlan(BaseModel):
    """The scenes of a storyline as the model planned them; the JSON schema it is asked to fill."""

    model_config = ConfigDict(extra="ignore")

    scenes: list[PlannedScene] = Field(min_length=1, max_length=MAX_SCENES)


def _for_grammars(schema: Any) -> Any:
    """A schema as servers that sample through a grammar built from it (llama.cpp, behind Ollama and
    llama-server) enforce it well, so a weak model does not spend an attempt on what the grammar could forbid.

    - maxLength goes: llama.cpp turns it into a char{0,n} repetition, slow to sample and rejected outright
      from n = 2000 ("failed to parse grammar"). The caps stay in validation, and the prompt states them.
    - minLength stays: required text cannot come back empty.
    - A bounded number becomes a bounded integer: llama.cpp enforces an integer's minimum and maximum but
      not a number's, which let a shot last 0 or 45 s. Validation still accepts a fraction.
    """
    if isinstance(schema, list):
        return [_for_grammars(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    fitted = {key: _for_grammars(value) for key, value in schema.items() if key != "maxLength"}
    if fitted.get("type") == "number" and "minimum" in fitted and "maximum" in fitted:
        fitted["type"] = "integer"
    return fitted


# What the server is asked to fill: StoryPlan's schema, fitted to grammars (the rest is left to validation).
PLAN_SCHEMA: dict[str, Any] = _for_grammars(StoryPlan.model_json_schema())

# --- what the model is told ------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryContext:
    """Everything the planner is told about the story: project, storyline, world and cast (name, design)."""

    project_name: str
    genre: str
    premise: str
    storyline_title: str
    summary: str
    tone: str
    themes: tuple[str, ...]
    arcs: tuple[str, ...]
    world: dict[str, str]
    characters: tuple[tuple[str, str], ...]
    scenes_wanted: tuple[int, int] = (3, 8)

    def __post_init__(self) -> None:
        low, high = self.scenes_wanted
        if not 1 <= low <= high <= MAX_SCENES:
            raise ValueError(f"scenes_wanted must be 1 <= low <= high <= {MAX_SCENES}, not {self.scenes_wanted}")

    @property
    def cast(self) -> set[str]:
        """The character names the plan may use."""
        return {name for name, _ in self.characters}

    @classmethod
    def from_records(
        cls,
        project: Project,
        storyline: Storyline | None,
        world: WorldSettings | None,
        characters: Iterable[Character],
    ) -> StoryContext:
        """The context from the bible's rows; deleted characters are left out, missing rows give empty fields."""
        arcs: list[str] = []
        for arc in storyline.story_arcs if storyline is not None else []:
            # Arcs are {"title", "summary"} from the story page; hand-edited JSON may hold bare strings.
            fields = arc if isinstance(arc, Mapping) else {"title": arc}
            title, summary = str(fields.get("title") or "").strip(), str(fields.get("summary") or "").strip()
            if title or summary:
                arcs.append(f"{title}: {summary}" if title and summary else title or summary)
        world_facts: dict[str, str] = {}
        if world is not None:
            world_facts = {
                "art_style": world.art_style.strip(),
                "aesthetic": world.aesthetic.strip(),
                "location": _flatten(world.world_location),
                "time_period": world.time_period.strip(),
                "color_palette": _flatten(world.color_palette),
                "cinematography": _flatten(world.cinematography),
            }
            world_facts = {key: value for key, value in world_facts.items() if value}
        return cls(
            project_name=project.name,
            genre=project.genre.strip(),
            # The premise is what the planner needs; older projects only have a description.
            premise=project.premise.strip() or project.description.strip(),
            storyline_title=storyline.title.strip() if storyline is not None else "",
            summary=storyline.summary.strip() if storyline is not None else "",
            tone=storyline.tone.strip() if storyline is not None else "",
            themes=tuple(theme.strip() for theme in (storyline.themes if storyline else []) if theme.strip()),
            arcs=tuple(arcs),
            world=world_facts,
            characters=tuple(
                (c.name.strip(), c.design_prompt.strip()) for c in characters if c.deleted_at is None and c.name.strip()
            ),
        )


def _flatten(mapping: Mapping[str, Any]) -> str:
    # {"primary": "Mushroom Kingdom", "atmosphere": "bright"} -> "primary: Mushroom Kingdom; atmosphere: bright"
    return "; ".join(f"{key}: {value}" for key, value in mapping.items() if str(value or "").strip())


def _motion_examples() -> list[str]:
    return [
        f"  {shot_type}: " + "; ".join(f'"{p}"' for p in MOTION_PRESETS.get(shot_type, ())[:2])
        for shot_type in SHOT_TYPES
    ]


def _system_prompt(context: StoryContext) -> str:
    low, high = context.scenes_wanted
    lines = [
        "You are the scene planner of an anime studio. You break a story into scenes, and each scene into "
        "shots that become short animated video clips.",
        "Rules:",
        f"- Plan {low} to {high} scenes, in story order. Each scene has 2 to 5 shots.",
        f"- shot_type is one of: {', '.join(SHOT_TYPES)}.",
        f"- camera_angle is one of: {', '.join(CAMERA_ANGLES)}.",
        f"- time_of_day is one of: {', '.join(TIMES_OF_DAY)}.",
        "- duration_seconds is 2 to 5 whole seconds per shot.",
        "- Start a scene at a new place with an establishing shot; establishing shots show the place and have "
        "no characters.",
        "- Use only the characters listed by the user, spelled exactly as listed. A shot's characters are the "
        "ones visible in it (at most 6); a scene's characters are everyone who appears in it.",
        "- description: what the shot shows, as a picture (who, where, pose, expression), at most 500 characters.",
        "- motion_prompt: one short phrase for the movement in the clip (camera move and character motion), "
        "at most 300 characters. Examples that video models render well:",
        *_motion_examples(),
        '- dialogue_text: a line spoken in the shot, or "". speaking_character: the name of who speaks it, one '
        "of the shot's characters, or null when nobody speaks.",
        "- mood: one or two words (at most 50 characters). location: the place, briefly (at most 200 "
        "characters). A scene's description: at most 2000 characters. dialogue_text: at most 300 characters.",
        "Answer with one JSON object only, no other text, in this shape:",
        '{"scenes": [{"title": "...", "description": "...", "location": "...", "time_of_day": "...", '
        '"mood": "...", "characters": ["..."], "shots": [{"shot_type": "...", "camera_angle": "...", '
        '"description": "...", "motion_prompt": "...", "duration_seconds": 3, "characters": ["..."], '
        '"dialogue_text": "", "speaking_character": null}]}]}',
    ]
    return "\n".join(lines)


def _user_prompt(context: StoryContext) -> str:
    lines = [f"Project: {context.project_name}"]
    facts = (
        ("Genre", context.genre),
        ("Premise", context.premise),
        ("Storyline", context.storyline_title),
        ("Summary", context.summary),
        ("Tone", context.tone),
        ("Themes", ", ".join(context.themes)),
    )
    lines += [f"{label}: {value}" for label, value in facts if value]
    if context.arcs:
        lines.append("Story arcs:")
        lines += [f"- {arc}" for arc in context.arcs]
    if context.world:
        lines.append("World:")
        lines += [f"- {key.replace('_', ' ').capitalize()}: {value}" for key, value in context.world.items()]
    if context.characters:
        lines.append("Characters (name: design):")
        lines += [f"- {name}: {design or '(no design given)'}" for name, design in context.characters]
    else:
        lines.append("Characters: none yet. Leave every characters list empty and write no dialogue.")
    low, high = context.scenes_wanted
    lines.append(f"Plan {low} to {high} scenes for this story now.")
    return "\n".join(lines)


def planner_messages(context: StoryContext) -> list[ChatMessage]:
    """The system and user turns that ask for a plan of this story."""
    return [ChatMessage("system", _system_prompt(context)), ChatMessage("user", _user_prompt(context))]


# --- checking the answer ---------------------------------------------------------------------------


class StoryPlanError(StudioError):
    """No usable plan: the LLM server failed or the model kept answering invalid scenes; `problems` lists why."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class PlanReplyError(ReplyError):
    """A reply that is not a StoryPlan; `problems` are sent back to the model."""


def parse_plan(reply: str) -> StoryPlan:
    """The plan in a reply, tolerating ``` fences, text around the JSON and a bare scene array; PlanReplyError."""
    try:
        data = extract_json(reply, arrays=True)
    except ReplyError as exc:
        raise PlanReplyError([f"{problem}; answer complete JSON" for problem in exc.problems]) from exc
    if isinstance(data, list):
        data = {"scenes": data}  # the earlier prompt asked for a bare array; models still answer one
    if not isinstance(data, dict):
        raise PlanReplyError(["the reply's JSON is not an object with a scenes list"])
    try:
        return StoryPlan.model_validate(data)
    except ValidationError as exc:
        raise PlanReplyError(field_problems(exc)) from exc


def _by_key(cast: Iterable[str]) -> dict[str, str]:
    # Sorted so that two cast names differing only in case resolve the same way every time.
    return {name.strip().casefold(): name for name in sorted(cast, reverse=True)}


def _known(cast: Iterable[str]) -> str:
    names = sorted(cast, key=str.casefold)
    return f"the known characters are {', '.join(names)}" if names else "the project has no characters yet; name none"


def validate_against_cast(plan: StoryPlan, cast: set[str], *, scenes_wanted: tuple[int, int] = (3, 8)) -> list[str]:
    """The plan's content problems (unknown names, dialogue without a speaker, scene count), each said once: a
    name unknown in several places is one problem naming the places; [] when usable."""
    problems: list[str] = []
    known = _by_key(cast)
    # Unknown names (as first spelled) and where they appear, by scene. A weak model repeats one stray name in a
    # scene and its every shot; one line per place made the list (and the request to fix it) long and samey.
    strangers: dict[str, tuple[str, dict[str, list[str]]]] = {}

    def stranger(name: str, scene: str, place: str) -> None:
        strangers.setdefault(name.casefold(), (name, {}))[1].setdefault(scene, []).append(place)

    low, high = scenes_wanted
    if not low <= len(plan.scenes) <= high:
        count = len(plan.scenes)
        problems.append(f"the plan has {count} scene{'' if count == 1 else 's'}; plan {low} to {high} scenes")
    for s, scene in enumerate(plan.scenes, 1):
        where = f"scene {s} ({scene.title!r})"
        for name in scene.characters:
            if name.casefold() not in known:
                stranger(name, where, "its characters")
        for n, shot in enumerate(scene.shots, 1):
            at = f"{where}, shot {n}"
            for name in shot.characters:
                if name.casefold() not in known:
                    stranger(name, where, f"shot {n}")
            speaker = shot.speaking_character
            if speaker is not None:
                if speaker.casefold() not in known:
                    stranger(speaker, where, f"shot {n}'s speaking_character")
                elif speaker.casefold() not in {name.casefold() for name in shot.characters}:
                    problems.append(
                        f"{at}: speaking_character {speaker!r} is not among the shot's characters "
                        f"{shot.characters}; add them or choose a speaker who is in the shot"
                    )
            if shot.dialogue_text and speaker is None:
                problems.append(f"{at}: dialogue_text has no speaking_character; name who speaks or remove the line")
    for name, scenes in strangers.values():
        where = "; ".join(f"{scene} ({_listed(list(dict.fromkeys(places)))})" for scene, places in scenes.items())
        problems.append(f"unknown character {name!r} in {where} — {_known(cast)}")
    return list(dict.fromkeys(problems))


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _with_cast_spelling(plan: StoryPlan, cast: set[str]) -> StoryPlan:
    """The plan with names spelled as in the cast, no repeats, and every shot's characters in its scene."""
    known = _by_key(cast)

    def spelled(names: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(known[name.casefold()] for name in names))

    scenes: list[PlannedScene] = []
    for scene in plan.scenes:
        shots = [
            shot.model_copy(
                update={
                    "characters": spelled(shot.characters),
                    # A speaker without a line would become a dialogue character with nothing to say.
                    "speaking_character": (
                        known[shot.speaking_character.casefold()]
                        if shot.speaking_character is not None and shot.dialogue_text
                        else None
                    ),
                }
            )
            for shot in scene.shots
        ]
        everyone = spelled([*scene.characters, *(name for shot in shots for name in shot.characters)])
        scenes.append(scene.model_copy(update={"characters": everyone, "shots": shots}))
    return plan.model_copy(update={"scenes": scenes})


# --- asking ----------------------------------------------------------------------------------------

_MAX_LISTED = 15


def _retry_request(problems: Sequence[str]) -> str:
    listed = [f"- {problem}" for problem in problems[:_MAX_LISTED]]
    if len(problems) > _MAX_LISTED:
        listed.append(f"- and {len(problems) - _MAX_LISTED} more problems of the same kind")
    return "\n".join(
        [
            "Your plan cannot be used. Fix these problems:",
            *listed,
            "Answer again with the whole corrected plan as one JSON object only, no other text.",
        ]
    )


def _checked(reply: str, cast: set[str], scenes_wanted: tuple[int, int]) -> tuple[StoryPlan | None, list[str]]:
    """(the plan, []) when the reply holds a usable plan, else (None, its problems)."""
    try:
        plan = parse_plan(reply)
    except PlanReplyError as exc:
        return None, exc.problems
    problems = validate_against_cast(plan, cast, scenes_wanted=scenes_wanted)
    return (None, problems) if problems else (plan, [])


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


async def plan_scenes(
    client: LlmClient, model: str, context: StoryContext, *, attempts: int = 3, seconds: float | None = None
) -> StoryPlan:
    """A checked plan of the story's scenes, each answer written within `seconds`; StoryPlanError when the server
    fails, an answer takes longer (the message names STUDIO_STORY_TIMEOUT_SECONDS) or no answer passes the checks."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    cast = context.cast
    opening = planner_messages(context)
    messages = opening
    problems: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            reply = await client.chat(
                model,
                messages,
                schema=PLAN_SCHEMA,
                temperature=TEMPERATURE,
                max_tokens=MAX_TOKENS,
                total_seconds=seconds,
            )
        except AnswerCut as cut:
            if cut.reason == "time":
                raise StoryPlanError(
                    f"{model} did not finish a plan of {context.project_name!r} within {cut.limit:g} s — raise "
                    "STUDIO_STORY_TIMEOUT_SECONDS, or use a faster model"
                ) from cut
            # Too long a plan is a problem the model can fix, like any other.
            reply = cut.partial
            problems = [
                f"the plan stopped at the {MAX_TOKENS}-token limit before its JSON ended; write shorter descriptions "
                "and fewer shots"
            ]
        except LlmError as exc:
            raise StoryPlanError(f"could not plan the scenes of {context.project_name!r}: {exc}") from exc
        else:
            plan, problems = _checked(reply, cast, context.scenes_wanted)
            if plan is not None:
                return _with_cast_spelling(plan, cast)
        log.info(
            "story plan attempt %d of %d by %s: %d problems: %s", attempt, attempts, model, len(problems), problems
        )
        # Only the latest answer goes back: earlier rejected plans would crowd the model's context window
        # (a plan can be 4096 tokens) and teach it nothing the problem list does not say.
        messages = [*opening, ChatMessage("assistant", reply), ChatMessage("user", _retry_request(problems))]
    shown = "; ".join(problems[:_MAX_LISTED]) + (
        f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    )
    raise StoryPlanError(
        f"{model} answered invalid scenes {_times(attempts)}: {shown} — try again, or use a larger model",
        problems,
    )

"""What the studio knows about a production, as index entries: one per item a person would ask about.

Each entry's text is written the way the bible and the scene pages word it, so a question ("what does
Koopa's design say about the shell colour?") lands on the item that answers it. An overview entry lists
every scene with its music and assembly state, for questions about the whole production ("which scenes
still have no music?") that no single scene answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import col, select

from services.assistant.index import Entry
from services.scenes import scene_heading
from studio.db import Database
from studio.models import (
    AuditRecord,
    Character,
    CharacterLora,
    Episode,
    MusicTrack,
    Project,
    Scene,
    Shot,
    Storyline,
    WorldSettings,
)

# The latest audited events of a project that are indexed (approvals, failed jobs, publications …).
RECENT_EVENTS = 20
# How far back the audit trail is read to find them; busy studios have many events of other projects.
_EVENTS_SCANNED = 1000
# Events that say nothing a person would ask about.
_QUIET_EVENTS = {"preference.changed", "studio.started"}


async def production_entries(db: Database, project_id: int) -> list[Entry]:
    """Every entry of one project, read in one session. An unknown project has none."""
    async with db.session() as session:
        project = await session.get(Project, project_id)
        if project is None:
            return []
        storyline = (await session.exec(select(Storyline).where(Storyline.project_id == project_id))).first()
        world = (await session.exec(select(WorldSettings).where(WorldSettings.project_id == project_id))).first()
        characters = list(
            (
                await session.exec(
                    select(Character)
                    .where(Character.project_id == project_id, col(Character.deleted_at).is_(None))
                    .order_by(col(Character.name))
                )
            ).all()
        )
        # The LoRA each character's images load (the registry's "active", read in this same session).
        loras = {
            lora.character_id: lora
            for lora in (
                await session.exec(
                    select(CharacterLora).where(
                        col(CharacterLora.character_id).in_([c.id for c in characters]),
                        col(CharacterLora.active).is_(True),
                        col(CharacterLora.deleted_at).is_(None),
                    )
                )
            ).all()
        }
        scenes = list(
            (
                await session.exec(
                    select(Scene)
                    .where(Scene.project_id == project_id, col(Scene.deleted_at).is_(None))
                    .order_by(col(Scene.scene_number))
                )
            ).all()
        )
        shots = list(
            (
                await session.exec(
                    select(Shot)
                    .where(col(Shot.scene_id).in_([scene.id for scene in scenes]))
                    .order_by(col(Shot.shot_number))
                )
            ).all()
        )
        tracks = {
            track.id: track
            for track in (await session.exec(select(MusicTrack).where(MusicTrack.project_id == project_id))).all()
        }
        episodes = list(
            (
                await session.exec(
                    select(Episode)
                    .where(Episode.project_id == project_id, col(Episode.deleted_at).is_(None))
                    .order_by(col(Episode.episode_number))
                )
            ).all()
        )
        audit = list(
            (await session.exec(select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(_EVENTS_SCANNED))).all()
        )
    names = {character.id: character.name for character in characters}
    entries = [_project_entry(project)]
    if storyline is not None:
        entries.append(_storyline_entry(project_id, storyline))
    if world is not None:
        entries.append(_world_entry(project_id, world))
    entries += [_character_entry(character, loras.get(character.id)) for character in characters]
    scene_of = {scene.id: scene for scene in scenes}
    entries += [_scene_entry(scene, tracks.get(scene.music_track_id)) for scene in scenes]
    entries += [_shot_entry(project_id, scene_of[shot.scene_id], shot, names) for shot in shots]
    entries += [_episode_entry(episode) for episode in episodes]
    entries.append(_overview_entry(project, scenes, tracks, characters))
    entries += _event_entries(project_id, audit)
    return entries


def _lines(*pairs: tuple[str, Any]) -> str:
    """'Label: value' lines for the values that are set."""
    return "\n".join(f"{label}: {_plain(value)}" for label, value in pairs if _plain(value))


def _plain(value: Any) -> str:
    """A JSON-ish value as prose: lists joined by commas, dicts as 'key value' pairs."""
    if isinstance(value, dict):
        return "; ".join(f"{key.replace('_', ' ')} {_plain(item)}" for key, item in value.items() if _plain(item))
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value if _plain(item))
    if value is None:
        return ""
    return str(value).strip()


def _project_entry(project: Project) -> Entry:
    text = _lines(
        ("Project", project.name),
        ("Genre", project.genre),
        ("Premise", project.premise),
        ("Description", project.description),
        ("Content rating", project.content_rating),
        ("Frame", f"{project.frame_width}x{project.frame_height} at {project.frame_rate:g} fps"),
    )
    return Entry("project", project.id or 0, "project", f"{project.name} (project)", text, "/projects")


def _storyline_entry(project_id: int, storyline: Storyline) -> Entry:
    text = _lines(
        ("Storyline", storyline.title),
        ("Summary", storyline.summary),
        ("Tone", storyline.tone),
        ("Themes", storyline.themes),
        ("Humour", storyline.humor_style),
        ("Story arcs", [_plain(arc) for arc in storyline.story_arcs]),
    )
    return Entry("storyline", project_id, "storyline", "Storyline", text, f"/story?project={project_id}&tab=storyline")


def _world_entry(project_id: int, world: WorldSettings) -> Entry:
    text = _lines(
        ("World style preamble", world.style_preamble),
        ("Art style", world.art_style),
        ("Aesthetic", world.aesthetic),
        ("Colour palette", world.color_palette),
        ("Cinematography", world.cinematography),
        ("Location", world.world_location),
        ("Time period", world.time_period),
        ("Production notes", world.production_notes),
        ("Known issues", world.known_issues),
        ("Negative prompt guidance", world.negative_prompt_guidance),
    )
    return Entry("world", project_id, "world", "World settings", text, f"/story?project={project_id}&tab=world")


def _character_entry(character: Character, lora: CharacterLora | None) -> Entry:
    appearance = character.appearance_data or {}
    voice = character.voice_profile or {}
    text = _lines(
        ("Character", character.name),
        ("Design prompt", character.design_prompt),
        *((key.replace("_", " ").capitalize(), value) for key, value in appearance.items()),
        ("Voice", voice.get("engine")),
        ("LoRA", lora.file_name if lora is not None else "none registered yet"),
    )
    return Entry(
        f"character:{character.id}",
        character.project_id,
        "character",
        f"{character.name} (character)",
        text,
        f"/characters?project={character.project_id}&character={character.id}",
    )


def _scene_link(scene: Scene) -> str:
    return f"/scenes?project={scene.project_id}&scene={scene.id}"


def _music_of(scene: Scene, track: MusicTrack | None) -> str:
    if track is None:
        return "none yet"
    return track.title or track.caption or f"track {track.id}"


def _scene_entry(scene: Scene, track: MusicTrack | None) -> Entry:
    text = _lines(
        ("Scene", scene_heading(scene)),
        ("Description", scene.description),
        ("Location", scene.location),
        ("Time of day", scene.time_of_day),
        ("Weather", scene.weather),
        ("Mood", scene.mood),
        ("Music", _music_of(scene, track)),
        ("Shots", f"{scene.total_shots} ({scene.completed_shots} generated)"),
        ("Generation", scene.generation_status),
        ("Assembled", "yes" if scene.final_video_path else "not yet"),
    )
    return Entry(f"scene:{scene.id}", scene.project_id, "scene", scene_heading(scene), text, _scene_link(scene))


def _shot_entry(project_id: int, scene: Scene, shot: Shot, names: dict[int | None, str]) -> Entry:
    title = f"{scene_heading(scene)}, shot {shot.shot_number}"
    speaker = names.get(shot.dialogue_character_id, "someone")
    text = _lines(
        ("Shot", title),
        ("Type", f"{shot.shot_type.replace('_', ' ')}, {shot.camera_angle.replace('_', ' ')}"),
        ("Description", shot.description),
        ("Motion prompt", shot.motion_prompt),
        ("Characters", [names.get(cid, f"character {cid}") for cid in shot.characters_present]),
        ("Dialogue", f"{speaker}: {shot.dialogue_text}" if shot.dialogue_text else ""),
        ("Engine", shot.video_engine),
        ("Status", shot.status),
        ("Error", shot.error_message),
    )
    return Entry(f"shot:{shot.id}", project_id, "shot", title, text, _scene_link(scene))


def _episode_entry(episode: Episode) -> Entry:
    title = f"Episode {episode.episode_number}" + (f": {episode.title}" if episode.title else "")
    text = _lines(
        ("Episode", title),
        ("Description", episode.description),
        ("Story arc", episode.story_arc),
        ("Status", episode.status),
        ("Assembled", "yes" if episode.final_video_path else "not yet"),
        ("Published", "yes" if episode.published_at else "no"),
    )
    link = f"/episodes?project={episode.project_id}&episode={episode.id}"
    return Entry(f"episode:{episode.id}", episode.project_id, "episode", title, text, link)


def _overview_entry(
    project: Project, scenes: list[Scene], tracks: dict[int | None, MusicTrack], characters: list[Character]
) -> Entry:
    scene_lines = [
        f"- {scene_heading(scene)}: music {_music_of(scene, tracks.get(scene.music_track_id))}; "
        f"{'assembled' if scene.final_video_path else 'not assembled'}; {scene.total_shots} shots"
        for scene in scenes
    ]
    text = "\n".join(
        [
            f"Production overview of {project.name}: {len(scenes)} scenes, {len(characters)} characters.",
            "Characters: " + (", ".join(c.name for c in characters) or "none yet"),
            "Scenes, their music and assembly:",
            *(scene_lines or ["- no scenes yet"]),
        ]
    )
    return Entry("overview", project.id or 0, "overview", "Production overview", text, f"/scenes?project={project.id}")


def _event_entries(project_id: int, audit: Iterable[AuditRecord]) -> list[Entry]:
    entries: list[Entry] = []
    for record in audit:
        if record.event in _QUIET_EVENTS or (record.data or {}).get("project_id") != project_id:
            continue
        when = record.at.strftime("%Y-%m-%d %H:%M UTC")
        entries.append(
            Entry(
                f"event:{record.id}",
                project_id,
                "event",
                f"Activity {when}",
                f"Recent activity ({when}, {record.event}): {record.summary}",
                "/activity",
            )
        )
        if len(entries) == RECENT_EVENTS:
            break
    return entries

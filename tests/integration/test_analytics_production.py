"""The production reports over seeded histories with hand-computed answers, on SQLite and PostgreSQL: a three-level
lineage of corrections and regenerations asked from its middle, who appears with whom in shots, screen time per
episode, and a project's health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from services.analytics import Scope
from services.autonomy import AutopilotChanges
from services.errors import NotFound
from studio.models import (
    ApprovalState,
    Character,
    CharacterLora,
    Episode,
    EpisodeScene,
    Job,
    JobState,
    Project,
    Scene,
    Shot,
    TrainingRun,
)
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.learning_helpers import generated_image

MARCH_10 = datetime(2026, 3, 10, 12, tzinfo=UTC)
MARCH_1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
FROM_MARCH_5 = date(2026, 3, 5)


async def _project(studio: Studio, name: str, characters: list[str]) -> tuple[Project, list[Character]]:
    project = await studio.projects.create(GALAXY.model_copy(update={"name": name}), "local")
    made = [
        await studio.characters.create(project.id, KOOPA.model_copy(update={"name": n}), "local")  # type: ignore[arg-type]
        for n in characters
    ]
    return project, made


# --- lineage -----------------------------------------------------------------------------------------------


async def test_a_lineage_asked_from_its_middle_shows_the_root_every_ancestor_and_descendant(studio: Studio) -> None:
    _, [koopa] = await _project(studio, "Galaxy", ["Koopa King"])

    def at(hours: int) -> datetime:
        return MARCH_10 + timedelta(hours=hours)

    root = generated_image(
        koopa,
        approval_state=ApprovalState.REJECTED,
        rejection_categories=["bad_anatomy"],
        quality_score=0.3,
        decided_by="aiko",
        decided_at=at(1),
        created_at=at(0),
    )
    unrelated = generated_image(koopa, created_at=at(0))
    async with studio.db.session() as session:
        session.add_all([root, unrelated])
        await session.flush()
        middle = generated_image(
            koopa,
            derived_from_id=root.id,
            provenance={"checkpoint": "x", "correction": {"of": root.id, "strategies": ["fix_hands", "more_steps"]}},
            approval_state=ApprovalState.REJECTED,
            rejection_categories=["wrong_pose"],
            quality_score=0.5,
            decided_by="vision",
            decided_at=at(2),
            created_at=at(1),
        )
        sibling = generated_image(
            koopa,
            derived_from_id=root.id,
            provenance={"checkpoint": "x"},
            approval_state=ApprovalState.APPROVED,
            quality_score=0.9,
            decided_by="aiko",
            decided_at=at(3),
            created_at=at(2),
        )
        session.add_all([middle, sibling])
        await session.flush()
        # Inserted first but made later: children come oldest first, not by id.
        late_fix = generated_image(
            koopa,
            derived_from_id=middle.id,
            provenance={"correction": {"of": middle.id, "strategies": ["raise_cfg"]}},
            approval_state=ApprovalState.APPROVED,
            quality_score=0.8,
            decided_by="aiko",
            decided_at=at(6),
            created_at=at(5),
        )
        early_again = generated_image(koopa, derived_from_id=middle.id, created_at=at(3))
        session.add_all([late_fix, early_again])
        await session.flush()
        ids = (root.id, middle.id, sibling.id, late_fix.id, early_again.id)

    found = await studio.analytics.lineage(middle.id)  # type: ignore[arg-type]
    r, m, s, fix, again = ids
    assert (found.image_id, found.root_id, found.truncated) == (m, r, False)
    assert [(n.image_id, n.parent_id, n.kind, n.depth) for n in found.nodes] == [
        (r, None, "original", 0),
        (m, r, "correction", 1),
        (again, m, "regeneration", 2),
        (fix, m, "correction", 2),
        (s, r, "regeneration", 1),
    ]
    decisions = [
        (n.state, n.decided_by, n.decided_at, n.quality_score, n.categories, n.strategies) for n in found.nodes
    ]
    assert decisions == [
        ("rejected", "aiko", at(1), 0.3, ["bad_anatomy"], []),
        ("rejected", "vision", at(2), 0.5, ["wrong_pose"], ["fix_hands", "more_steps"]),
        ("pending", None, None, None, [], []),
        ("approved", "aiko", at(6), 0.8, [], ["raise_cfg"]),
        ("approved", "aiko", at(3), 0.9, [], []),
    ]
    assert {n.project_id for n in found.nodes} == {koopa.project_id}
    assert found.nodes[0].content_hash == root.content_hash
    assert found.csv_table()[1][1] == [m, r, "correction", 1, "rejected", "vision", at(2), 0.5]

    # Asked from a leaf or the root, the same tree; an image with no relatives is a tree of one.
    assert [n.image_id for n in (await studio.analytics.lineage(fix)).nodes] == [r, m, again, fix, s]
    assert [n.image_id for n in (await studio.analytics.lineage(r)).nodes] == [r, m, again, fix, s]
    alone = await studio.analytics.lineage(unrelated.id)  # type: ignore[arg-type]
    assert [(n.image_id, n.kind) for n in alone.nodes] == [(unrelated.id, "original")]
    with pytest.raises(NotFound, match="no image 999999"):
        await studio.analytics.lineage(999_999)


async def test_a_cycle_of_derived_images_ends_at_the_depth_bound_and_says_it_was_cut(studio: Studio) -> None:
    _, [koopa] = await _project(studio, "Galaxy", ["Koopa King"])
    first, second = generated_image(koopa, created_at=MARCH_1), generated_image(koopa, created_at=MARCH_10)
    async with studio.db.session() as session:
        session.add_all([first, second])
        await session.flush()
        first.derived_from_id, second.derived_from_id = second.id, first.id
        session.add_all([first, second])

    found = await studio.analytics.lineage(first.id)  # type: ignore[arg-type]
    assert found.truncated
    assert sorted(n.image_id for n in found.nodes) == sorted([first.id, second.id])  # type: ignore[type-var]
    assert [n.depth for n in found.nodes] == [0, 1]


# --- shots: who appears with whom, screen time -------------------------------------------------------------


@dataclass
class Production:
    galaxy: Project
    airship: Project
    bowser: Character
    koopa: Character
    peach: Character
    yoshi: Character  # the other project's


async def _production(studio: Studio) -> Production:
    """Galaxy's scenes (created March 10 unless said): S1 [K,Pe] 3s, [K] 2s, [K,Pe,B,Dry Bones (deleted)] 4s,
    [] 1s; S2 (deleted) [K,Pe] 3s; S3 (March 1) [K,B] 6s; S4 [Pe] 5s, [B,B] 2.5s. Airship: SQ [Yoshi] 7s.
    Episodes: Galaxy #1 "Pilot" (March 10) S1+S4, #2 "Stars" (March 1) S4+S2, #3 deleted S1; Airship #1 SQ."""
    galaxy, [bowser, koopa, peach, dry] = await _project(studio, "Galaxy", ["Bowser", "Koopa King", "Peach", "Dry"])
    airship, [yoshi] = await _project(studio, "Airship", ["Yoshi"])
    await studio.characters.delete(dry.id, "local")  # type: ignore[arg-type]
    b, k, pe, d, y = bowser.id, koopa.id, peach.id, dry.id, yoshi.id

    def scene(project: Project, number: int, shots: list[tuple[list[Any], float]], **fields: Any) -> Scene:
        made = Scene(
            project_id=project.id, scene_number=number, created_at=fields.pop("created_at", MARCH_10), **fields
        )  # type: ignore[arg-type]
        made_shots.extend(
            Shot(scene_id=made.id, shot_number=n, characters_present=present, duration_seconds=seconds)
            for n, (present, seconds) in enumerate(shots, start=1)
        )
        return made

    made_shots: list[Shot] = []
    s1 = scene(galaxy, 1, [([k, pe], 3), ([k], 2), ([k, pe, b, d], 4), ([], 1)])
    s2 = scene(galaxy, 2, [([k, pe], 3)], deleted_at=MARCH_10)
    s3 = scene(galaxy, 3, [([k, b], 6)], created_at=MARCH_1)
    s4 = scene(galaxy, 4, [([pe], 5), ([b, b], 2.5)])
    sq = scene(airship, 1, [([y], 7)])
    episodes = [
        (Episode(project_id=galaxy.id, episode_number=1, title="Pilot", created_at=MARCH_10), [s1, s4]),  # type: ignore[arg-type]
        (Episode(project_id=galaxy.id, episode_number=2, title="Stars", created_at=MARCH_1), [s4, s2]),  # type: ignore[arg-type]
        (Episode(project_id=galaxy.id, episode_number=3, title="Gone", deleted_at=MARCH_10), [s1]),  # type: ignore[arg-type]
        (Episode(project_id=airship.id, episode_number=1, title="Other"), [sq]),  # type: ignore[arg-type]
    ]
    async with studio.db.session() as session:
        session.add_all([s1, s2, s3, s4, sq])
        await session.flush()
        session.add_all(made_shots)
        session.add_all(episode for episode, _ in episodes)
        await session.flush()
        session.add_all(
            EpisodeScene(episode_id=episode.id, scene_id=s.id, position=position)
            for episode, scenes in episodes
            for position, s in enumerate(scenes)
        )
    return Production(galaxy, airship, bowser, koopa, peach, yoshi)


async def test_co_occurrence_counts_shots_with_both_characters_and_each_alone(studio: Studio) -> None:
    p = await _production(studio)
    galaxy = await studio.analytics.co_occurrence(Scope(project_id=p.galaxy.id))
    assert [c.name for c in galaxy.characters] == ["Bowser", "Koopa King", "Peach"]  # Dry Bones is deleted
    assert galaxy.counts == [[3, 2, 1], [2, 4, 2], [1, 2, 3]]
    assert galaxy.shots == 7  # the deleted scene's shot is not one

    recent = await studio.analytics.co_occurrence(Scope(project_id=p.galaxy.id, since=FROM_MARCH_5))
    assert (recent.counts, recent.shots) == ([[2, 1, 1], [1, 3, 2], [1, 2, 3]], 6)

    two = await studio.analytics.co_occurrence(Scope(project_id=p.galaxy.id, character_ids=(p.peach.id, p.koopa.id)))  # type: ignore[arg-type]
    assert ([c.name for c in two.characters], two.counts, two.shots) == (["Koopa King", "Peach"], [[4, 2], [2, 3]], 7)
    assert two.csv_table() == (["character", "Koopa King", "Peach"], [["Koopa King", 4, 2], ["Peach", 2, 3]])

    everywhere = await studio.analytics.co_occurrence(Scope())
    assert [c.name for c in everywhere.characters] == ["Bowser", "Koopa King", "Peach", "Yoshi"]
    assert everywhere.counts[3] == [0, 0, 0, 1]
    assert everywhere.shots == 8

    before = await studio.analytics.co_occurrence(Scope(until=date(2026, 2, 28)))
    assert (before.characters, before.counts, before.shots) == ([], [], 0)


async def test_screen_time_sums_each_characters_shots_per_episode(studio: Studio) -> None:
    p = await _production(studio)

    def rows(found: Any) -> list[tuple[int, str, str, float, int]]:
        return [(r.episode_number, r.episode_title, r.character.name, r.seconds, r.shots) for r in found.rows]

    galaxy = await studio.analytics.screen_time(Scope(project_id=p.galaxy.id))
    assert rows(galaxy) == [
        (1, "Pilot", "Peach", 12.0, 3),
        (1, "Pilot", "Koopa King", 9.0, 3),
        (1, "Pilot", "Bowser", 6.5, 2),  # [B, B] is one shot of Bowser
        (2, "Stars", "Peach", 5.0, 1),  # the deleted scene's shot does not count
        (2, "Stars", "Bowser", 2.5, 1),
    ]
    recent = await studio.analytics.screen_time(Scope(project_id=p.galaxy.id, since=FROM_MARCH_5))
    assert [r[:3] for r in rows(recent)] == [(1, "Pilot", "Peach"), (1, "Pilot", "Koopa King"), (1, "Pilot", "Bowser")]
    bowser = await studio.analytics.screen_time(Scope(project_id=p.galaxy.id, character_ids=(p.bowser.id,)))  # type: ignore[arg-type]
    assert rows(bowser) == [(1, "Pilot", "Bowser", 6.5, 2), (2, "Stars", "Bowser", 2.5, 1)]
    everywhere = await studio.analytics.screen_time(Scope())
    assert [(r[0], r[2]) for r in rows(everywhere)] == [
        (1, "Peach"),
        (1, "Koopa King"),
        (1, "Bowser"),
        (1, "Yoshi"),  # the other project's first episode, after the older project's
        (2, "Peach"),
        (2, "Bowser"),
    ]
    assert bowser.csv_table()[1][0] == [1, "Pilot", p.bowser.id, "Bowser", 6.5, 2]


# --- project health -----------------------------------------------------------------------------------------


async def test_project_health_counts_datasets_against_targets_production_and_gpu_hours_per_device(
    studio: Studio,
) -> None:
    galaxy, [koopa, peach, dry] = await _project(studio, "Galaxy", ["Koopa King", "Peach", "Dry"])
    airship, _ = await _project(studio, "Airship", [])
    await studio.autonomy.config.update(
        galaxy.id,  # type: ignore[arg-type]
        AutopilotChanges(default_target=20, targets={koopa.id: 10}),  # type: ignore[dict-item]
        "local",
    )
    await studio.characters.delete(dry.id, "local")  # type: ignore[arg-type]
    approved, pending, rejected = ApprovalState.APPROVED, ApprovalState.PENDING, ApprovalState.REJECTED
    states = [(koopa, [approved] * 3 + [pending] + [rejected] * 2), (peach, [approved]), (dry, [approved] * 5)]

    def shot(number: int, status: str, video: str | None) -> dict[str, Any]:
        return {"shot_number": number, "status": status, "output_video_path": video}

    scenes = [
        (
            Scene(project_id=galaxy.id, final_video_path="a.mp4"),
            [shot(1, "completed", "1.mp4"), shot(2, "accepted_best", "2.mp4")],
        ),  # type: ignore[arg-type]
        (Scene(project_id=galaxy.id), [shot(1, "completed", "1.mp4"), shot(2, "failed", None)]),  # type: ignore[arg-type]
        (Scene(project_id=galaxy.id), []),  # type: ignore[arg-type]
        (Scene(project_id=galaxy.id, final_video_path="d.mp4", deleted_at=MARCH_10), [shot(1, "completed", "1.mp4")]),  # type: ignore[arg-type]
    ]

    def job(state: JobState, finished: datetime | None, seconds: float | None, **fields: Any) -> Job:
        return Job(
            kind="image",
            project_id=fields.pop("project_id", galaxy.id),
            state=state,
            finished_at=finished,
            gpu_seconds=seconds,
            **fields,
        )

    async with studio.db.session() as session:
        session.add_all(generated_image(c, approval_state=s) for c, listed in states for s in listed)
        session.add_all(
            [
                CharacterLora(character_id=koopa.id, file_name="k1.safetensors", family="sdxl"),  # type: ignore[arg-type]
                CharacterLora(character_id=koopa.id, file_name="k0.safetensors", family="sdxl", deleted_at=MARCH_1),  # type: ignore[arg-type]
                CharacterLora(character_id=peach.id, file_name="p1.safetensors", family="sdxl"),  # type: ignore[arg-type]
                CharacterLora(character_id=dry.id, file_name="d1.safetensors", family="sdxl"),  # type: ignore[arg-type]
            ]
        )
        session.add_all(
            TrainingRun(character_id=c.id, project_id=galaxy.id, device="gpu-a", preset="sdxl", state=s, finished_at=at)  # type: ignore[arg-type]
            for c, s, at in [(koopa, "failed", MARCH_10), (koopa, "failed", MARCH_1), (peach, "succeeded", MARCH_10)]
        )
        session.add_all(s for s, _ in scenes)
        await session.flush()
        session.add_all(Shot(scene_id=s.id, **fields) for s, shots in scenes for fields in shots)
        session.add_all(
            [
                Episode(project_id=galaxy.id, episode_number=1, published_at=MARCH_10),  # type: ignore[arg-type]
                Episode(project_id=galaxy.id, episode_number=2),  # type: ignore[arg-type]
                Episode(project_id=galaxy.id, episode_number=3, published_at=MARCH_1, deleted_at=MARCH_10),  # type: ignore[arg-type]
                job(JobState.SUCCEEDED, MARCH_10, 3600, ran_on="gpu-a"),
                job(JobState.FAILED, MARCH_10, 1800, ran_on="gpu-a", device="gpu-a"),
                job(JobState.SUCCEEDED, MARCH_1, 9000, device="gpu-b"),  # pinned; ran_on never written
                job(JobState.FAILED, MARCH_10, None),  # failed in the queue: no device, no GPU time
                job(JobState.RUNNING, None, None, ran_on="gpu-a"),  # not ended: not counted
                job(JobState.SUCCEEDED, MARCH_10, 7200, ran_on="gpu-a", project_id=airship.id),
            ]
        )

    health = await studio.analytics.project_health(Scope(project_id=galaxy.id))
    [project] = health.projects
    assert (project.project_id, project.name) == (galaxy.id, "Galaxy")
    assert [(c.character.name, c.approved, c.pending, c.rejected, c.target) for c in project.characters] == [
        ("Koopa King", 3, 1, 2, 10),
        ("Peach", 1, 0, 0, 20),
    ]
    assert (project.loras_trained, project.training_runs_failed) == (2, 2)
    assert (project.scenes, project.scenes_generated, project.scenes_assembled) == (3, 1, 1)
    assert (project.episodes, project.episodes_published, project.jobs_failed) == (2, 1, 2)
    assert [(d.device, d.gpu_hours, d.jobs, d.failed) for d in project.devices] == [
        ("gpu-b", 2.5, 1, 0),
        ("gpu-a", 1.5, 2, 1),
    ]
    assert health.csv_table()[1] == [[galaxy.id, "Galaxy", 2, 4, 30, 2, 3, 1, 1, 2, 1, 2, 4.0]]

    recent = (await studio.analytics.project_health(Scope(project_id=galaxy.id, since=FROM_MARCH_5))).projects[0]
    assert (recent.training_runs_failed, recent.jobs_failed, recent.scenes, recent.loras_trained) == (1, 2, 3, 2)
    assert [(d.device, d.gpu_hours, d.jobs) for d in recent.devices] == [("gpu-a", 1.5, 2)]

    peach_only = (
        await studio.analytics.project_health(Scope(project_id=galaxy.id, character_ids=(peach.id,)))
    ).projects[0]  # type: ignore[arg-type]
    assert [c.character.name for c in peach_only.characters] == ["Peach"]
    assert (peach_only.loras_trained, peach_only.training_runs_failed, peach_only.jobs_failed) == (1, 0, 2)

    every = await studio.analytics.project_health(Scope())
    assert [p.name for p in every.projects] == ["Airship", "Galaxy"]
    airship_health = every.projects[0]
    assert airship_health.characters == []
    assert [(d.device, d.gpu_hours) for d in airship_health.devices] == [("gpu-a", 2.0)]

    with pytest.raises(NotFound):
        await studio.analytics.project_health(Scope(project_id=999_999))
    async with studio.db.session() as session:  # the report only read
        assert len((await session.exec(select(Job))).all()) == 6

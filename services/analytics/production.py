"""The production reports in portable SQL: an image's lineage, who appears with whom in shots, screen time per
episode, and each project's health.

The SQL returns flat rows and Python shapes them: a shot's characters are a JSON list, which SQLite and
PostgreSQL unnest differently, so the lists are read as they are and paired here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, func, literal
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from services.analytics.reports import (
    CharacterDataset,
    CharacterRef,
    CoOccurrence,
    DeviceHours,
    Health,
    Lineage,
    LineageKind,
    LineageNode,
    ProjectHealth,
    ScreenTime,
    ScreenTimeRow,
)
from services.analytics.scope import Scope
from services.autonomy.replenishment import character_targets_query
from services.errors import NotFound
from services.scenes.generation import DONE
from studio.db import Database
from studio.models import (
    ApprovalState,
    Character,
    CharacterLora,
    DatasetImage,
    Episode,
    EpisodeScene,
    Job,
    JobState,
    Project,
    Scene,
    Shot,
    TrainingRun,
)

# A lineage is walked this many steps up and down at most: a guard against a cycle (SQLite has no CYCLE clause)
# and against a runaway chain of regenerations.
MAX_DEPTH = 50
# The most images one lineage shows; the tree is cut (shallowest images kept) beyond it.
MAX_NODES = 500


# --- lineage -----------------------------------------------------------------------------------------------


async def lineage(db: Database, image_id: int) -> Lineage:
    """The tree of regenerations and corrections `image_id` belongs to: up `derived_from_id` to its root, then
    every image derived from the root, with each image's decision. NotFound: no such image."""
    async with db.session() as session:
        chain = (await session.exec(_ancestors_query(image_id))).all()
        if not chain:
            raise NotFound(f"there is no image {image_id}")
        root_id, root_parent, root_depth = max(chain, key=lambda row: row[2])
        # The asked image and its ancestors come first, so a cut keeps the path from the root to it.
        rows = (await session.exec(_tree_query(root_id, [row[0] for row in chain]))).all()
    # Above the depth bound the root still has a parent: the tree shown starts below the real one.
    truncated = root_parent is not None and root_depth >= MAX_DEPTH
    found: dict[int, Any] = {}
    for row in rows:
        if row.depth > MAX_DEPTH:
            truncated = True
        elif row.id not in found:  # a cycle walks an image again, deeper: the first sighting is its place
            found[row.id] = row
    if len(found) > MAX_NODES:
        truncated = True
        found = dict(list(found.items())[:MAX_NODES])
    children: dict[int, list[Any]] = defaultdict(list)
    for row in found.values():
        if row.id != root_id and row.derived_from_id in found:
            children[row.derived_from_id].append(row)
    nodes: list[LineageNode] = []
    stack: list[tuple[Any, int | None, int]] = [(found[root_id], None, 0)]
    seen: set[int] = set()
    while stack:
        row, parent_id, depth = stack.pop()
        if row.id in seen:
            continue
        seen.add(row.id)
        nodes.append(_node(row, parent_id, depth))
        # Pushed newest first, so the oldest child is walked first.
        for child in sorted(children[row.id], key=lambda r: (r.created_at, r.id), reverse=True):
            stack.append((child, row.id, depth + 1))
    return Lineage(image_id=image_id, root_id=root_id, nodes=nodes, truncated=truncated)


def _ancestors_query(image_id: int) -> Any:
    """(id, derived_from_id, steps up) of the image and each image above it, at most MAX_DEPTH steps up."""
    up = (
        select(
            col(DatasetImage.id).label("id"),
            col(DatasetImage.derived_from_id).label("parent"),
            literal(0).label("depth"),
        )
        .where(DatasetImage.id == image_id)
        .cte("ancestors", recursive=True)
    )
    above = aliased(DatasetImage)
    up = up.union_all(
        select(col(above.id), col(above.derived_from_id), up.c.depth + 1)
        .join(up, col(above.id) == up.c.parent)
        .where(up.c.depth < MAX_DEPTH)
    )
    return select(up.c.id, up.c.parent, up.c.depth)


def _tree_query(root_id: int, chain: list[int]) -> Any:
    """Every image below the root (ix_images_derived_from), one step past MAX_DEPTH so a cut is seen, with what a
    node shows; the chain to the asked image first, then shallowest first, oldest first."""
    down = (
        select(col(DatasetImage.id).label("id"), literal(0).label("depth"))
        .where(DatasetImage.id == root_id)
        .cte("tree", recursive=True)
    )
    below = aliased(DatasetImage)
    down = down.union_all(
        select(col(below.id), down.c.depth + 1)
        .join(down, col(below.derived_from_id) == down.c.id)
        .where(down.c.depth <= MAX_DEPTH)
    )
    in_chain = case((col(DatasetImage.id).in_(chain), 0), else_=1)
    return (
        select(
            DatasetImage.id,
            DatasetImage.derived_from_id,
            DatasetImage.project_id,
            DatasetImage.character_id,
            DatasetImage.file_path,
            DatasetImage.content_hash,
            DatasetImage.approval_state,
            DatasetImage.decided_by,
            DatasetImage.decided_at,
            DatasetImage.quality_score,
            DatasetImage.rejection_categories,
            # Only the correction's part of the provenance: the recipe beside it is large.
            DatasetImage.provenance["correction"].label("correction"),  # type: ignore[index]
            DatasetImage.created_at,
            down.c.depth,
        )
        .join(down, col(DatasetImage.id) == down.c.id)
        .order_by(in_chain, down.c.depth, col(DatasetImage.created_at), col(DatasetImage.id))
        .limit(MAX_NODES + len(chain) + 1)
    )


def _node(row: Any, parent_id: int | None, depth: int) -> LineageNode:
    correction = row.correction if isinstance(row.correction, dict) else None
    kind: LineageKind = (
        "correction" if correction is not None else "regeneration" if row.derived_from_id is not None else "original"
    )
    strategies = correction.get("strategies") if correction is not None else None
    return LineageNode(
        image_id=row.id,
        parent_id=parent_id,
        kind=kind,
        depth=depth,
        project_id=row.project_id,
        character_id=row.character_id,
        file_path=row.file_path,
        content_hash=row.content_hash,
        state=str(ApprovalState(row.approval_state).value),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        quality_score=row.quality_score,
        categories=list(row.rejection_categories or []),
        strategies=[str(s) for s in strategies] if isinstance(strategies, list) else [],
        created_at=row.created_at,
    )


# --- who appears with whom, and for how long --------------------------------------------------------------


async def co_occurrence(db: Database, scope: Scope) -> CoOccurrence:
    """Shots of the live scenes in scope and, for each pair of characters present, how many shots hold both
    (the diagonal: shots with the character at all). The range picks scenes by when they were created (a
    scene's shots are written with it); the character filter narrows the matrix, not the shots counted.
    Deleted characters are left out."""
    # Shots with the same list are counted in SQL (a JSON column groups on both: JSON text on SQLite, JSONB on
    # PostgreSQL): a studio's shots repeat a few casts, so few rows come back to pair.
    query = (
        select(Shot.characters_present, func.count())
        .join(Scene, col(Scene.id) == col(Shot.scene_id))
        .where(*_live_scenes(scope), *_in_range(Scene.created_at, scope))
        .group_by(col(Shot.characters_present))
    )
    async with db.session() as session:
        casts = [(list(present or []), int(count)) for present, count in (await session.exec(query)).all()]
        characters = await _characters(session, {cid for present, _ in casts for cid in present}, scope)
    index = {ref.id: position for position, ref in enumerate(characters)}
    counts = [[0] * len(characters) for _ in characters]
    for present, shots in casts:
        here = sorted({index[cid] for cid in present if cid in index})
        for i in here:
            for j in here:
                counts[i][j] += shots
    return CoOccurrence(characters=characters, counts=counts, shots=sum(shots for _, shots in casts))


async def screen_time(db: Database, scope: Scope) -> ScreenTime:
    """Per live episode in scope, per character present: the seconds of the shots they appear in (of the
    episode's live scenes) and how many shots. The range picks episodes by when they were created, so an
    episode counts whole or not at all. Deleted characters are left out."""
    live = [
        col(Episode.deleted_at).is_(None),
        *_project(Episode.project_id, scope),
        *_in_range(Episode.created_at, scope),
    ]
    # Grouped by cast in SQL, as co_occurrence does. An episode is its (project, number) here, unique to it
    # (uq_episodes_project_number): plain integers on each of the many rows, the rest read once per episode.
    query = (
        select(
            Episode.project_id,
            Episode.episode_number,
            Shot.characters_present,
            func.sum(Shot.duration_seconds),
            func.count(),
        )
        .join(EpisodeScene, col(EpisodeScene.episode_id) == col(Episode.id))
        .join(Scene, col(Scene.id) == col(EpisodeScene.scene_id))
        .join(Shot, col(Shot.scene_id) == col(Scene.id))
        .where(*live, col(Scene.deleted_at).is_(None))
        .group_by(col(Episode.project_id), col(Episode.episode_number), col(Shot.characters_present))
    )
    seconds: dict[tuple[int, int, int], float] = defaultdict(float)
    shots: dict[tuple[int, int, int], int] = defaultdict(int)
    async with db.session() as session:
        episodes = {
            (project_id, number): (episode_id, title)
            for project_id, number, episode_id, title in (
                await session.exec(
                    select(Episode.project_id, Episode.episode_number, Episode.id, Episode.title).where(*live)
                )
            ).all()
        }
        for project_id, number, present, duration, count in (await session.exec(query)).all():
            for cid in set(present or []):
                seconds[project_id, number, cid] += float(duration)
                shots[project_id, number, cid] += int(count)
        characters = {ref.id: ref for ref in await _characters(session, {key[2] for key in shots}, scope)}
    ordered = sorted(
        (key for key in shots if key[2] in characters),
        key=lambda key: (key[1], key[0], -seconds[key], characters[key[2]].name),
    )
    return ScreenTime(
        rows=[
            ScreenTimeRow(
                episode_id=episodes[project_id, number][0],
                episode_number=number,
                episode_title=episodes[project_id, number][1],
                character=characters[cid],
                seconds=seconds[project_id, number, cid],
                shots=shots[project_id, number, cid],
            )
            for project_id, number, cid in ordered
        ]
    )


# --- project health ---------------------------------------------------------------------------------------


async def project_health(db: Database, scope: Scope) -> Health:
    """Each project in scope (archived ones too: projects are archived, never deleted), by name: its live
    characters' datasets against their targets, LoRAs registered, scenes rendered and assembled, episodes
    published, and its jobs per device.

    The range applies to what happens at a time, by when it ended: jobs and training runs (`finished_at`).
    Datasets, LoRAs, scenes and episodes are the project's standing now. The character filter narrows the
    character parts (datasets, LoRAs, training runs); scenes, episodes and jobs are the project's."""
    projects_query = select(Project.id, Project.name).order_by(func.lower(Project.name), col(Project.id))
    if scope.project_id is not None:
        projects_query = projects_query.where(Project.id == scope.project_id)
    async with db.session() as session:
        projects = (await session.exec(projects_query)).all()
        project_ids = [pid for pid, _ in projects]
        if not project_ids:
            return Health(projects=[])
        character_ids = list((await session.exec(select(Character.id).where(*_live_characters(scope)))).all())
        characters = (await session.exec(character_targets_query(character_ids))).all() if character_ids else []
        images = (await session.exec(_image_counts_query(character_ids))).all() if character_ids else []
        loras = dict((await session.exec(_loras_query(scope))).all())
        runs_failed = dict((await session.exec(_runs_failed_query(scope))).all())
        scenes = {row[0]: row[1:] for row in (await session.exec(_scenes_query(project_ids))).all()}
        episodes = {row[0]: row[1:] for row in (await session.exec(_episodes_query(project_ids))).all()}
        jobs = (await session.exec(_jobs_query(project_ids, scope))).all()
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for character_id, state, count in images:
        counts[character_id][str(ApprovalState(state).value)] = int(count)
    datasets: dict[int, list[CharacterDataset]] = defaultdict(list)
    for cid, project_id, name, target in sorted(characters, key=lambda c: (c[2], c[0])):
        datasets[project_id].append(
            CharacterDataset(
                character=CharacterRef(id=cid, name=name, project_id=project_id),
                approved=counts[cid].get(ApprovalState.APPROVED.value, 0),
                pending=counts[cid].get(ApprovalState.PENDING.value, 0),
                rejected=counts[cid].get(ApprovalState.REJECTED.value, 0),
                target=int(target),
            )
        )
    failed_jobs: dict[int, int] = defaultdict(int)
    devices: dict[int, list[DeviceHours]] = defaultdict(list)
    for project_id, device, seconds, count, failed in jobs:
        failed_jobs[project_id] += int(failed or 0)
        if device is not None:  # a job that never reached a device used no GPU time
            devices[project_id].append(
                DeviceHours(device=device, gpu_hours=float(seconds or 0) / 3600, jobs=int(count), failed=int(failed))
            )
    return Health(
        projects=[
            ProjectHealth(
                project_id=project_id,
                name=name,
                characters=datasets[project_id],
                loras_trained=int(loras.get(project_id, 0)),
                training_runs_failed=int(runs_failed.get(project_id, 0)),
                scenes=int(scenes.get(project_id, (0, 0, 0))[0]),
                scenes_generated=int(scenes.get(project_id, (0, 0, 0))[1] or 0),
                scenes_assembled=int(scenes.get(project_id, (0, 0, 0))[2] or 0),
                episodes=int(episodes.get(project_id, (0, 0))[0]),
                episodes_published=int(episodes.get(project_id, (0, 0))[1] or 0),
                jobs_failed=failed_jobs[project_id],
                devices=sorted(devices[project_id], key=lambda d: (-d.gpu_hours, d.device)),
            )
            for project_id, name in projects
        ]
    )


def _image_counts_query(character_ids: list[int]) -> Any:
    # ix_images_character_state answers this from the index alone.
    return (
        select(DatasetImage.character_id, DatasetImage.approval_state, func.count())
        .where(col(DatasetImage.character_id).in_(character_ids))
        .group_by(col(DatasetImage.character_id), col(DatasetImage.approval_state))
    )


def _loras_query(scope: Scope) -> Any:
    return (
        select(Character.project_id, func.count())
        .select_from(CharacterLora)
        .join(Character, col(Character.id) == col(CharacterLora.character_id))
        .where(col(CharacterLora.deleted_at).is_(None), *_live_characters(scope))
        .group_by(col(Character.project_id))
    )


def _runs_failed_query(scope: Scope) -> Any:
    return (
        select(Character.project_id, func.count())
        .select_from(TrainingRun)
        .join(Character, col(Character.id) == col(TrainingRun.character_id))
        .where(TrainingRun.state == "failed", *_live_characters(scope), *_in_range(TrainingRun.finished_at, scope))
        .group_by(col(Character.project_id))
    )


def _scenes_query(project_ids: list[int]) -> Any:
    """(project, scenes, scenes with every shot rendered, scenes assembled) of the live scenes."""
    # A shot is rendered as the orchestrator's gates see it: done, with its video.
    rendered = col(Shot.status).in_(DONE) & col(Shot.output_video_path).is_not(None) & (Shot.output_video_path != "")
    shots = (
        select(
            col(Shot.scene_id).label("scene_id"),
            func.count().label("total"),
            func.sum(case((rendered, 1), else_=0)).label("rendered"),
        )
        .join(Scene, col(Scene.id) == col(Shot.scene_id))
        .where(col(Scene.project_id).in_(project_ids), col(Scene.deleted_at).is_(None))
        .group_by(col(Shot.scene_id))
        .subquery()
    )
    generated = case((shots.c.total == shots.c.rendered, 1), else_=0)
    assembled = case((col(Scene.final_video_path).is_not(None) & (Scene.final_video_path != ""), 1), else_=0)
    return (
        select(Scene.project_id, func.count(), func.sum(generated), func.sum(assembled))
        .outerjoin(shots, shots.c.scene_id == col(Scene.id))
        .where(col(Scene.project_id).in_(project_ids), col(Scene.deleted_at).is_(None))
        .group_by(col(Scene.project_id))
    )


def _episodes_query(project_ids: list[int]) -> Any:
    published = case((col(Episode.published_at).is_not(None), 1), else_=0)
    return (
        select(Episode.project_id, func.count(), func.sum(published))
        .where(col(Episode.project_id).in_(project_ids), col(Episode.deleted_at).is_(None))
        .group_by(col(Episode.project_id))
    )


def _jobs_query(project_ids: list[int], scope: Scope) -> Any:
    """(project, device, GPU seconds, jobs, failed) of the projects' ended jobs; the device is None for jobs
    that never reached one (failed or cancelled in the queue)."""
    device = func.coalesce(Job.ran_on, Job.device)
    failed = func.sum(case((Job.state == JobState.FAILED, 1), else_=0))
    return (
        select(Job.project_id, device, func.sum(Job.gpu_seconds), func.count(), failed)
        .where(
            col(Job.project_id).in_(project_ids),
            col(Job.finished_at).is_not(None),
            *_in_range(Job.finished_at, scope),
        )
        .group_by(col(Job.project_id), device)
    )


# --- conditions the reports share -------------------------------------------------------------------------


def _project(column: Any, scope: Scope) -> list[Any]:
    return [] if scope.project_id is None else [col(column) == scope.project_id]


def _in_range(column: Any, scope: Scope) -> list[Any]:
    """`column` within the scope's days (UTC); nothing when the range is open."""
    conditions = []
    if (start := scope.start) is not None:
        conditions.append(col(column) >= start)
    if (end := scope.end) is not None:
        conditions.append(col(column) < end)
    return conditions


def _live_scenes(scope: Scope) -> list[Any]:
    return [col(Scene.deleted_at).is_(None), *_project(Scene.project_id, scope)]


def _live_characters(scope: Scope) -> list[Any]:
    conditions = [col(Character.deleted_at).is_(None), *_project(Character.project_id, scope)]
    if scope.character_ids:
        conditions.append(col(Character.id).in_(scope.character_ids))
    return conditions


async def _characters(session: Any, ids: Iterable[int], scope: Scope) -> list[CharacterRef]:
    """The live characters among `ids` (a shot may name one deleted since), narrowed by the scope's filter, by
    name."""
    wanted = set(ids)
    if scope.character_ids:
        wanted &= set(scope.character_ids)
    if not wanted:
        return []
    query = (
        select(Character.id, Character.name, Character.project_id)
        .where(col(Character.id).in_(wanted), col(Character.deleted_at).is_(None))
        .order_by(col(Character.name), col(Character.id))
    )
    return [CharacterRef(id=cid, name=name, project_id=pid) for cid, name, pid in (await session.exec(query)).all()]

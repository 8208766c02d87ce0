"""Generating a scene: every shot in order, each continuing from the last frame of the one before, each
attempt scored and retried with looser gates until one passes or the best is kept.

A scene generation is one CPU job (`scene.generate`) that walks the shots. ComfyUI engines render each
attempt as its own GPU job on a device; the animatic engine renders in the scene job itself (ffmpeg), so a
scene never waits for a CPU slot it holds. Everything the walk has done is written on the shots (status,
attempts with their job ids, frames), so after a restart the requeued scene job skips finished shots and
waits again for the GPU job an attempt already queued instead of rendering it twice. When the scene job ends
without finishing its walk (cancelled, failed, lost twice, or while the studio was down), `_settle` closes
what it owned: no shot or scene is left "generating", and the GPU jobs its attempts wait for are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image
from sqlmodel import col, select

from services.errors import Conflict, Invalid, NotFound, StudioError
from services.generation.images import MAX_SEED
from services.jobs import FINISHED_STATES, JobChanged, JobDraft, JobQueue, ProgressSink, new_batch_id
from services.llm import configured_llm
from services.media import camera_move_for, grab_frame, render_animatic
from services.media_store import MediaStore
from services.scenes.events import SceneChanged, ShotProgressed
from services.scenes.framepack_gradio import FRAMEPACK_ENGINES, FRAMEPACK_GRADIO_JOB, app_for
from services.scenes.keyframes import keyframe_card
from services.scenes.scenes import row_or_404
from services.scenes.scoring import AttemptScore, score_attempt
from services.scenes.video_engines import ENGINE_LIMITS, check_shot, output_size
from services.scenes.video_job import VIDEO_JOB
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import Character, Job, JobPriority, JobState, Project, Scene, Shot
from studio.secrets import SecretStore

SCENE_JOB = "scene.generate"


class ShotCancelled(StudioError):
    """A person cancelled the shot while its scene rendered."""


# Progressive quality gates: each retry gets a new seed, more steps and a lower bar; the best attempt is
# kept when none passes (the earlier system's 0.6 -> 0.45 -> 0.3, +5 steps).
GATES = (0.6, 0.45, 0.3)
EXTRA_STEPS_PER_RETRY = 5
BASE_STEPS = 25
NEGATIVE = "low quality, blurry, distorted, watermark"
DONE = ("completed", "accepted_best")
CHILD_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class ShotPlan:
    """What one shot will be rendered with, checked before any GPU time is spent."""

    shot: Shot
    engine: str
    source: str | None  # relative data path of the first frame, or None (continues from the previous shot)
    continues: bool


class SceneGeneration:
    def __init__(
        self,
        *,
        settings: Settings,
        secrets: SecretStore,
        db: Database,
        events: EventBus,
        media: MediaStore,
        jobs: JobQueue,
        engines_ready: Any,
        comfy_engines_ready: Any = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._db = db
        self._events = events
        self._media = media
        self._jobs = jobs
        # async () -> set of engine names some device can run now (ComfyUI preflight, FramePack's Gradio app),
        # plus "animatic"; `comfy_engines_ready` is the ComfyUI part, which decides where FramePack renders.
        self._engines_ready = engines_ready
        self._comfy_engines_ready = comfy_engines_ready or engines_ready
        self._rng = random.SystemRandom()
        # (run, shot id) a person cancelled while their scene renders: the walk skips them. In memory only:
        # after a restart a cancelled shot is simply rendered.
        self._skipped: set[tuple[str, uuid.UUID]] = set()
        events.subscribe(JobChanged, self._job_changed)

    async def start(
        self,
        scene_id: uuid.UUID,
        actor: str,
        shot_ids: list[uuid.UUID] | None = None,
        seed: int | None = None,
        priority: int = JobPriority.INTERACTIVE,
    ) -> Job:
        """Queue the scene's generation (all shots, or only `shot_ids`; its GPU jobs take the scene job's
        `priority`: the autopilot's are background work). Conflict: it is already generating.
        `seed` (0 .. MAX_SEED) is every shot's first attempt's, for a run that renders the same each time;
        retries, and every attempt without it, draw a random one.

        Invalid: a shot cannot be rendered as set up (no source for an image-to-video engine, a duration
        the engine cannot make, an engine no device can run) — said before any GPU time is spent.
        """
        scene, shots = await self._scene_with_shots(scene_id)
        if scene.deleted_at is not None:
            raise Invalid("scene", "this scene is deleted; restore it first")
        if not shots:
            raise Invalid("shots", "add at least one shot before generating the scene")
        await self._check_not_running(scene)
        wanted = [s for s in shots if shot_ids is None or s.id in shot_ids]
        if shot_ids is not None and len(wanted) != len(set(shot_ids)):
            raise Invalid("shot_ids", "some shots are not in this scene")
        await self.plan(shots, wanted)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise Invalid("seed", f"give a seed from 0 to {MAX_SEED}, or none for random ones")
        run = uuid.uuid4().hex
        draft = JobDraft(
            kind=SCENE_JOB,
            payload={"scene_id": str(scene_id), "shot_ids": [str(s.id) for s in wanted], "run": run, "seed": seed},
            title=f"Scene {scene.scene_number}: {scene.title or 'untitled'}",
            priority=priority,
            project_id=scene.project_id,
            batch=new_batch_id(),  # shared by its GPU jobs, so a page can tell which jobs are this scene's
        )
        [job] = await self._jobs.submit([draft], actor)
        async with self._db.session() as session:
            row = await session.get(Scene, scene_id)
            row.generation_status, row.generation_job_id = "generating", job.id  # type: ignore[union-attr]
            row.total_shots, row.completed_shots = (
                len(shots),
                sum(1 for s in shots if s.status in DONE and s not in wanted),
            )  # type: ignore[union-attr]
            session.add(row)
            for shot in wanted:
                db_shot = await session.get(Shot, shot.id)
                db_shot.status, db_shot.error_message = "pending", None  # type: ignore[union-attr]
                session.add(db_shot)
        what = f"{len(wanted)} of {len(shots)} shots" if len(wanted) < len(shots) else f"{len(shots)} shots"
        await self._events.emit(
            SceneChanged(
                actor=actor,
                scene_id=str(scene_id),
                project_id=scene.project_id,
                change="generating",
                label=f"{scene.title or 'untitled'}: {what}",
            )
        )
        return job

    async def cancel(self, scene_id: uuid.UUID, actor: str) -> None:
        """Stop a scene generation; shots already finished keep their videos. Conflict: none is running."""
        scene = await self._scene(scene_id)
        job = await self._running_job(scene)
        if job is None:
            raise Conflict("this scene is not generating")
        await self._jobs.cancel(job.id, actor)  # type: ignore[arg-type]

    async def cancel_shot(self, shot_id: uuid.UUID, actor: str) -> None:
        """Stop one shot of a running scene generation; the other shots go on. Conflict: it is not rendering.

        A run that renders only this shot is cancelled as a whole. An animatic shot renders in seconds
        inside the scene job, so it is skipped when its turn comes rather than stopped half-way.
        """
        async with self._db.session() as session:
            shot = await row_or_404(session, Shot, shot_id, "shot")
        scene = await self._scene(shot.scene_id)
        job = await self._running_job(scene)
        if job is None or str(shot_id) not in job.payload.get("shot_ids", []):
            raise Conflict(f"shot {shot.shot_number} is not being generated")
        if job.payload["shot_ids"] == [str(shot_id)]:
            await self._jobs.cancel(job.id, actor)  # type: ignore[arg-type]
            return
        run = job.payload["run"]
        self._skipped.add((run, shot_id))
        for attempt in shot.attempts:
            if attempt.get("run") == run and attempt.get("pending") and attempt.get("job_id"):
                with contextlib.suppress(Conflict, NotFound):
                    await self._jobs.cancel(attempt["job_id"], actor)

    async def plan(self, shots: list[Shot], wanted: list[Shot]) -> list[ShotPlan]:
        """Decide each wanted shot's engine and first frame, refusing what cannot render."""
        ready = await self._engines_ready()
        await self._check_characters(wanted)
        plans = []
        previous: Shot | None = None
        for shot in shots:
            if shot in wanted:
                engine = shot.video_engine or "animatic"
                if engine not in ready:
                    raise Invalid(
                        "video_engine",
                        f"shot {shot.shot_number}: no device can run {ENGINE_LIMITS[engine].label} right now "
                        "(see the Status page for what it lacks); choose another engine or the animatic",
                    )
                continues = shot.source_image_path is None and previous is not None
                has_source = shot.source_image_path is not None or continues
                try:
                    check_shot(engine, shot.duration_seconds, has_source)
                except Invalid as exc:
                    raise Invalid(exc.field, f"shot {shot.shot_number}: {exc.message}") from exc
                plans.append(ShotPlan(shot, engine, shot.source_image_path, continues))
            previous = shot
        return plans

    async def _check_characters(self, shots: list[Shot]) -> None:
        """Every character a shot shows must still be in the project (not deleted since it was added)."""
        wanted = {c for shot in shots for c in shot.characters_present}
        if not wanted:
            return
        query = select(Character.id).where(col(Character.id).in_(wanted), col(Character.deleted_at).is_(None))
        async with self._db.session() as session:
            present = set((await session.exec(query)).all())
        for shot in shots:
            gone = [c for c in shot.characters_present if c not in present]
            if gone:
                raise Invalid(
                    "characters_present",
                    f"shot {shot.shot_number} shows deleted characters {gone}: restore them or edit the shot",
                )

    async def promote(self, shot_id: uuid.UUID, attempt: int, actor: str) -> Shot:
        """Use another attempt's video for the shot. Invalid: no such attempt with a video."""
        async with self._db.session() as session:
            shot = await row_or_404(session, Shot, shot_id, "shot")
            chosen = next((a for a in shot.attempts if a.get("n") == attempt and a.get("video")), None)
            if chosen is None:
                raise Invalid("attempt", f"shot {shot.shot_number} has no finished attempt {attempt}")
            _select(shot, chosen, promoted_by=actor)
            session.add(shot)
        await self._progress(shot, shot.status, attempt, chosen.get("score"), f"attempt {attempt} chosen by {actor}")
        return shot

    # --- the scene job ------------------------------------------------------------------------------

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        """Walk the scene's shots (the CPU worker calls this for `scene.generate` jobs)."""
        scene_id = uuid.UUID(job.payload["scene_id"])
        run = job.payload["run"]
        wanted = {uuid.UUID(s) for s in job.payload["shot_ids"]}
        scene, shots = await self._scene_with_shots(scene_id)
        async with self._db.session() as session:
            project = await session.get(Project, scene.project_id)
        assert project is not None
        finished = failed = 0
        skipped = 0
        try:
            previous: Shot | None = None
            for index, shot in enumerate(shots):
                if shot.id in wanted:
                    await progress(index / len(shots), f"Shot {shot.shot_number} of {len(shots)}")
                    if shot.status in DONE and _attempts_of(shot, run):
                        finished += 1  # rendered before a restart
                    elif (run, shot.id) in self._skipped:
                        skipped += 1
                        await self._skip_shot(shot, run)
                    else:
                        try:
                            shot = await self._render_shot(job, run, project, shot, previous)
                            finished += 1
                        except ShotCancelled:
                            skipped += 1
                            await self._skip_shot(shot, run)
                        except Invalid as exc:
                            failed += 1
                            await self._fail_shot(shot, exc.message)
                reloaded = await self._reload(shot)
                # The chain continues from the last shot that has a last frame (a skipped one may have none).
                previous = reloaded if reloaded.last_frame_path or previous is None else previous
        except asyncio.CancelledError:
            # Settled here too (not only on the "cancelled" event): this is after the walk's last write.
            # A shutdown leaves the job running, to be requeued on the next start, and the rows to it.
            ended = await self._jobs.get(job.id)  # type: ignore[arg-type]
            if ended.state in FINISHED_STATES:
                await self._settle(ended)
            raise
        status = "completed" if failed == 0 else ("partial" if finished else "failed")
        await self._finish_scene(scene_id, status, run)
        await progress(1.0, f"{finished} shot(s) rendered, {failed} failed, {skipped} cancelled")
        return {"scene_id": str(scene_id), "rendered": finished, "failed": failed, "skipped": skipped, "status": status}

    async def _render_shot(self, job: Job, run: str, project: Project, shot: Shot, previous: Shot | None) -> Shot:
        engine = shot.video_engine or "animatic"
        first_frame = await self._first_frame(project, shot, previous)
        check_shot(engine, shot.duration_seconds, first_frame is not None or engine == "animatic")
        await self._set_status(shot, "generating")
        folder = f"projects/{project.id}/scenes/{shot.scene_id}/shots/{shot.id}"
        attempts = _attempts_of(shot, run)
        gates = (1.0,) if engine == "animatic" else GATES  # an animatic is deterministic: one render
        # Attempts are numbered across runs (a regenerated shot keeps its earlier attempts to promote);
        # within a run, the try decides the gate. The numbers are fixed per run, so a resumed run finds its own.
        base = max((a.get("n", 0) for a in shot.attempts if a.get("run") != run), default=0)
        for trial in range(len(attempts) + 1, len(gates) + 1):
            threshold = gates[trial - 1] if engine != "animatic" else 0.0
            n = base + trial
            chosen = job.payload.get("seed") if trial == 1 else None
            attempt = await self._attempt(job, run, project, shot, engine, n, threshold, first_frame, folder, chosen)
            attempts.append(attempt)
            await self._save_attempts(shot, run, attempts)
            await self._progress(shot, "generating", n, attempt.get("score"), _attempt_message(attempt))
            if attempt.get("passed"):
                break
        best = _best(attempts)
        if best is None:
            raise Invalid("attempts", "; ".join(str(a.get("error")) for a in attempts if a.get("error")) or "no video")
        async with self._db.session() as session:
            row = await session.get(Shot, shot.id)
            assert row is not None
            _select(row, best)
            session.add(row)
        await self._progress(row, row.status, best["n"], best.get("score"), f"kept attempt {best['n']}")
        return row

    async def _attempt(
        self,
        job: Job,
        run: str,
        project: Project,
        shot: Shot,
        engine: str,
        n: int,
        threshold: float,
        first_frame: str | None,
        folder: str,
        seed: int | None,
    ) -> dict[str, Any]:
        queued = _pending_attempt(shot, run, n)  # queued before a restart: same seed, same job
        if queued:
            seed = queued["seed"]
        elif seed is None:
            seed = self._rng.randint(0, MAX_SEED)
        steps = BASE_STEPS + EXTRA_STEPS_PER_RETRY * (n - 1)
        record: dict[str, Any] = {"n": n, "run": run, "engine": engine, "seed": seed, "steps": steps}
        record["threshold"] = threshold
        try:
            if engine == "animatic":
                video = await self._render_animatic(project, shot, first_frame, f"{folder}/animatic-{run[:8]}.mp4")
            else:
                video = await self._render_on_comfyui(job, project, shot, engine, n, seed, steps, first_frame, record)
        except Invalid as exc:
            return {**record, "error": exc.message, "passed": False}
        record["video"] = video
        path = self._media.path_of(video)
        stem = PurePosixPath(video).stem
        first = f"{folder}/{stem}-first.png"
        last = f"{folder}/{stem}-last.png"
        await grab_frame(path, "first", self._media.path_of(first))
        await grab_frame(path, "last", self._media.path_of(last))
        record["first_frame"], record["last_frame"] = first, last
        source = await self._media.read(first_frame) if first_frame else None
        score = await self._score(path, folder, source, shot)
        record.update(score=round(score.score, 3), method=score.method, reasons=score.reasons, issues=score.issues)
        record["passed"] = engine == "animatic" or score.score >= threshold
        return record

    async def _render_animatic(self, project: Project, shot: Shot, first_frame: str | None, out: str) -> str:
        width, height = project.frame_width, project.frame_height
        if first_frame is None:
            card = keyframe_card(width, height, f"{shot.shot_type} · shot {shot.shot_number}", shot.description)
            first_frame = out.removesuffix(".mp4") + "-card.png"
            await self._media.write(first_frame, card)
        target = self._media.path_of(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        await render_animatic(
            self._media.path_of(first_frame),
            target,
            seconds=shot.duration_seconds,
            fps=project.frame_rate,
            width=width,
            height=height,
            move=camera_move_for(shot.motion_prompt, shot.shot_type),
        )
        return out

    async def _render_on_comfyui(
        self,
        job: Job,
        project: Project,
        shot: Shot,
        engine: str,
        n: int,
        seed: int,
        steps: int,
        first_frame: str | None,
        record: dict[str, Any],
    ) -> str:
        source_size = None
        if first_frame is not None:
            source_size = await asyncio.to_thread(_picture_size, self._media.path_of(first_frame))
        width, height = output_size(engine, source_size, (project.frame_width, project.frame_height))
        payload = {
            "engine": engine,
            "project_id": project.id,
            "scene_id": str(shot.scene_id),
            "shot_id": str(shot.id),
            "attempt": n,
            "prompt": ", ".join(p for p in (shot.description.strip(), shot.motion_prompt.strip()) if p),
            "negative": NEGATIVE,
            "seed": seed,
            "steps": steps,
            "seconds": shot.duration_seconds,
            "width": width,
            "height": height,
            "source": {"path": first_frame} if first_frame else None,
        }
        kind, device = await self._video_backend(engine)
        draft = JobDraft(
            kind=kind,
            payload=payload,
            title=f"Shot {shot.shot_number} · attempt {n} · {ENGINE_LIMITS[engine].label}",
            device=device,
            priority=job.priority,
            project_id=project.id,
            batch=job.batch,
        )
        queued = _pending_attempt(shot, record["run"], n)
        child_id = queued.get("job_id") if queued else None
        if child_id is None:  # not queued before a restart
            [child] = await self._jobs.submit([draft], job.created_by)
            child_id = child.id
            record["job_id"] = child_id
            await self._save_pending_attempt(shot, record)
        else:
            record["job_id"] = child_id
        finished = await self._wait_for(child_id)  # type: ignore[arg-type]
        if finished.state == JobState.CANCELLED and (record["run"], shot.id) in self._skipped:
            raise ShotCancelled(f"shot {shot.shot_number} was cancelled")
        if finished.state != JobState.SUCCEEDED:
            raise Invalid("video", finished.error or f"the video job ended {finished.state.value}")
        return str((finished.result or {})["video"])

    async def _video_backend(self, engine: str) -> tuple[str, str | None]:
        """(job kind, pinned device): ComfyUI when a device there is ready, else FramePack's own Gradio app."""
        if engine in FRAMEPACK_ENGINES and engine not in await self._comfy_engines_ready():
            device = app_for(self._settings.framepack_devices, engine)
            if device is not None:
                return FRAMEPACK_GRADIO_JOB, device
        return VIDEO_JOB, None

    async def _wait_for(self, job_id: int) -> Job:
        """Wait for a GPU job to finish (when the scene job ends first, `_settle` cancels it)."""
        changed = asyncio.Event()

        def wake(event: JobChanged) -> None:
            if event.job_id == job_id:
                changed.set()

        unsubscribe = self._events.subscribe(JobChanged, wake)
        try:
            while True:
                job = await self._jobs.get(job_id)
                if job.state in FINISHED_STATES:
                    return job
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CHILD_POLL_SECONDS * 10):
                        await changed.wait()
                changed.clear()
        finally:
            unsubscribe()

    async def _score(self, video: Path, folder: str, source: bytes | None, shot: Shot) -> AttemptScore:
        client = configured_llm(self._settings, self._secrets)
        llm = (client, self._settings.vision_model) if client is not None else None
        try:
            work = self._media.path_of(f"{folder}/review")
            description = ", ".join(p for p in (shot.description, shot.motion_prompt) if p.strip())
            return await score_attempt(video, work, source, description, llm)
        finally:
            if client is not None:
                await client.aclose()

    async def _first_frame(self, project: Project, shot: Shot, previous: Shot | None) -> str | None:
        """The shot's own source image, else the previous shot's last frame (the continuity chain)."""
        if shot.source_image_path:
            return shot.source_image_path
        if previous is not None and previous.last_frame_path:
            return previous.last_frame_path
        return None

    # --- bookkeeping ------------------------------------------------------------------------------

    async def _scene(self, scene_id: uuid.UUID) -> Scene:
        async with self._db.session() as session:
            scene = await row_or_404(session, Scene, scene_id, "scene")
        return scene

    async def _scene_with_shots(self, scene_id: uuid.UUID) -> tuple[Scene, list[Shot]]:
        scene = await self._scene(scene_id)
        query = select(Shot).where(Shot.scene_id == scene_id).order_by(col(Shot.shot_number))
        async with self._db.session() as session:
            return scene, list((await session.exec(query)).all())

    async def _running_job(self, scene: Scene) -> Job | None:
        return await self._jobs.unfinished(scene.generation_job_id)

    async def _check_not_running(self, scene: Scene) -> None:
        if await self._running_job(scene) is not None:
            raise Conflict("this scene is already generating; cancel it first to start again")

    async def _reload(self, shot: Shot) -> Shot:
        async with self._db.session() as session:
            row = await session.get(Shot, shot.id)
        return row or shot

    async def _set_status(self, shot: Shot, status: str, error: str | None = None) -> None:
        async with self._db.session() as session:
            row = await session.get(Shot, shot.id)
            if row is not None:
                row.status, row.error_message = status, error
                session.add(row)
        await self._progress(shot, status, None, None, error or "")

    async def _skip_shot(self, shot: Shot, run: str) -> None:
        """A cancelled shot keeps what it had (its earlier video, if any)."""
        async with self._db.session() as session:
            row = await session.get(Shot, shot.id)
            if row is None:
                return
            row.attempts = [_closed(a, run) for a in row.attempts]
            row.status = _settled_status(row)
            row.error_message = None
            session.add(row)
        await self._progress(row, row.status, None, row.quality_score, "cancelled")

    async def _fail_shot(self, shot: Shot, message: str) -> None:
        await self._set_status(shot, "failed", message)

    async def _save_attempts(self, shot: Shot, run: str, attempts: list[dict[str, Any]]) -> None:
        async with self._db.session() as session:
            row = await session.get(Shot, shot.id)
            if row is not None:
                earlier = [a for a in row.attempts if a.get("run") != run]
                row.attempts = [*earlier, *attempts]
                session.add(row)

    async def _save_pending_attempt(self, shot: Shot, record: dict[str, Any]) -> None:
        """Write the attempt with its job id before waiting: a restart then waits for the same job."""
        async with self._db.session() as session:
            row = await session.get(Shot, shot.id)
            if row is not None:
                others = [a for a in row.attempts if not (a.get("run") == record["run"] and a["n"] == record["n"])]
                row.attempts = [*others, {**record, "pending": True}]
                session.add(row)

    async def reconcile(self) -> int:
        """On start: scenes left generating whose job ended while the studio was down (or before it settled
        them) are settled. Returns how many."""
        query = (
            select(Job)
            .join(Scene, col(Scene.generation_job_id) == Job.id)
            .where(Scene.generation_status == "generating", col(Job.state).in_(list(FINISHED_STATES)))
        )
        async with self._db.session() as session:
            ended = list((await session.exec(query)).all())
        for job in ended:
            await self._settle(job)
        return len(ended)

    async def _job_changed(self, event: JobChanged) -> None:
        if event.kind != SCENE_JOB or event.change not in ("failed", "cancelled", "retried"):
            return
        with contextlib.suppress(NotFound):  # the project (its scene, its jobs) was deleted meanwhile
            job = await self._jobs.get(event.job_id)
            if event.change == "retried":
                await self._generating_again(job)
            else:
                await self._settle(job)

    async def _settle(self, job: Job) -> None:
        """The scene job ended before its walk did (cancelled, failed, lost twice): the GPU jobs its attempts
        still wait for are cancelled, its shots go back to what they had, the scene's status follows them."""
        scene_id, run = uuid.UUID(job.payload["scene_id"]), job.payload["run"]
        scene, shots = await self._scene_with_shots(scene_id)
        if scene.generation_job_id != job.id:
            return  # a later generation owns the scene now
        waiting = [a.get("job_id") for s in shots for a in s.attempts if a.get("run") == run and a.get("pending")]
        for child_id in filter(None, waiting):
            with contextlib.suppress(Conflict, NotFound):
                await self._jobs.cancel(child_id, "studio")
        if scene.generation_status == "generating" or any(s.status in ("generating", "pending") for s in shots):
            await self._finish_scene(scene_id, "cancelled" if job.state == JobState.CANCELLED else "stopped", run)

    async def _generating_again(self, job: Job) -> None:
        """A person retried the scene job: the scene is generating again (editing waits for it)."""
        async with self._db.session() as session:
            scene = await session.get(Scene, uuid.UUID(job.payload["scene_id"]))
            if scene is None or scene.generation_job_id != job.id or scene.generation_status == "generating":
                return
            scene.generation_status = "generating"
            session.add(scene)
        await self._events.emit(
            SceneChanged(
                actor=job.created_by,
                scene_id=str(scene.id),
                project_id=scene.project_id,
                change="generating",
                label=f"{scene.title or 'untitled'}: generating again",
            )
        )

    async def _finish_scene(self, scene_id: uuid.UUID, status: str, run: str) -> None:
        """Close a run: a shot it did not finish goes back to what it had (its earlier video, if any), an
        attempt whose GPU job it cancelled is marked so, and the scene's status follows its shots. `status`
        is the walk's outcome, or "cancelled" / "stopped" (the job failed) when the walk did not end."""
        changed: list[Shot] = []
        async with self._db.session() as session:
            scene = await session.get(Scene, scene_id)
            if scene is None:
                return
            shots = list((await session.exec(select(Shot).where(Shot.scene_id == scene_id))).all())
            for shot in shots:
                if shot.status in ("generating", "pending"):
                    shot.status = _settled_status(shot)
                    shot.attempts = [_closed(a, run) for a in shot.attempts]
                    session.add(shot)
                    changed.append(shot)
            done = sum(1 for s in shots if s.status in DONE)
            scene.completed_shots = done
            if status in ("cancelled", "stopped"):
                unfinished = "draft" if status == "cancelled" else "failed"
                status = "completed" if done == len(shots) else ("partial" if done else unfinished)
            scene.generation_status = status
            session.add(scene)
        for shot in changed:
            await self._progress(shot, shot.status, None, shot.quality_score, f"scene generation {status}")
        await self._events.emit(
            SceneChanged(
                scene_id=str(scene_id),
                project_id=scene.project_id,
                change="generated",
                label=f"{scene.title or 'untitled'}: {status}, {done} of {len(shots)} shots",
            )
        )

    async def _progress(self, shot: Shot, status: str, attempt: int | None, score: float | None, message: str) -> None:
        await self._events.emit(
            ShotProgressed(
                scene_id=str(shot.scene_id),
                shot_id=str(shot.id),
                status=status,
                attempt=attempt,
                score=score,
                message=message,
            )
        )


def _picture_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as opened:  # reads the header only
        return opened.size


def _settled_status(shot: Shot) -> str:
    """What a shot is when no run renders it: its kept attempt's outcome, else waiting for one."""
    kept = next((a for a in shot.attempts if a.get("n") == shot.selected_attempt and a.get("video")), None)
    if kept is None or not shot.output_video_path:
        return "pending"
    return "completed" if kept.get("passed") else "accepted_best"


def _closed(attempt: dict[str, Any], run: str) -> dict[str, Any]:
    """An attempt of `run` still waiting for its GPU job when the run ended: it never finished."""
    if attempt.get("run") == run and attempt.get("pending"):
        return {**attempt, "pending": False, "passed": False, "error": "the scene generation stopped first"}
    return attempt


def _attempts_of(shot: Shot, run: str) -> list[dict[str, Any]]:
    """This run's finished attempts (a pending one, whose job a restart interrupted, is taken up again)."""
    return [a for a in shot.attempts if a.get("run") == run and not a.get("pending")]


def _pending_attempt(shot: Shot, run: str, n: int) -> dict[str, Any] | None:
    """The attempt a GPU job was queued for before the scene job was interrupted, if any."""
    return next((a for a in shot.attempts if a.get("run") == run and a.get("n") == n and a.get("pending")), None)


def _best(attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    rendered = [a for a in attempts if a.get("video")]
    passed = [a for a in rendered if a.get("passed")]
    if passed:
        return passed[0]
    return max(rendered, key=lambda a: a.get("score") or 0.0, default=None)


def _select(shot: Shot, attempt: dict[str, Any], promoted_by: str | None = None) -> None:
    shot.selected_attempt = attempt["n"]
    shot.output_video_path = attempt["video"]
    shot.first_frame_path = attempt.get("first_frame")
    shot.last_frame_path = attempt.get("last_frame")
    shot.quality_score = attempt.get("score")
    shot.seed, shot.steps = attempt.get("seed"), attempt.get("steps")
    shot.status = "completed" if attempt.get("passed") or promoted_by else "accepted_best"
    shot.error_message = None


def _attempt_message(attempt: dict[str, Any]) -> str:
    if attempt.get("error"):
        return f"attempt {attempt['n']} failed: {attempt['error']}"
    verdict = "passed" if attempt.get("passed") else "below"
    return f"attempt {attempt['n']} scored {attempt.get('score')} ({verdict} the {attempt['threshold']} gate)"


class SceneJobHandler:
    """Runs `scene.generate` jobs on the built-in cpu device."""

    kind = SCENE_JOB

    def __init__(self, generation: SceneGeneration) -> None:
        self._generation = generation

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        return await self._generation.run(job, progress)

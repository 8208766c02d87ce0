"""The production orchestrator: each character from training data to a LoRA, then the project from its story to a
published episode, as a state machine whose gates are read from the database.

A tick evaluates every phase's gate in order; the first that fails is the entity's current phase, and its action
(services.autonomy.actions) launches at most the next thing through the studio's own services, or says why it
waits. Project phases wait while any live character is not ready. A character is ready once it has an active
LoRA, even if its approved images later fall below the target: a rejected image must not stall a production.

Where each entity stands (phase, status, sentence, the job it launched, how often) is kept in PipelineState, and
every change of it is a decision in the log; a tick that finds the same situation logs nothing. Gates passed since
the last tick are logged once each, so the log tells the whole story. A person's override (skip, mark complete)
makes a gate count as passed; a reset removes the overrides from a phase on and its attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlmodel import col, delete, select

from services.assembly import SceneAssembly
from services.autonomy.actions import ACTIONS, LOOP, Actions, Step, blocked_by, launches
from services.autonomy.config import AutopilotConfig, AutopilotView
from services.autonomy.events import AutopilotChanged
from services.autonomy.gates import CharacterReading, Gate, ProjectGates, read_characters, read_project
from services.autonomy.log import DecisionLog
from services.autonomy.pipeline import (
    CHARACTER_PHASES,
    PHASE_LABELS,
    PROJECT_PHASES,
    Entity,
    EntityPipeline,
    OverrideMode,
    PhaseView,
    PipelineView,
)
from services.autonomy.replenishment import GENERATING, PENDING, Replenishment
from services.bible import Characters
from services.episodes import EpisodeAssembly, EpisodePublishing, Episodes
from services.errors import Invalid, StudioError, report_unexpected
from services.jobs import JobQueue
from services.scenes import SceneGeneration, Scenes, StoryPlanner
from services.training import LoraRegistry, TrainingRuns
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import AutonomyDecision, Character, PipelineOverride, PipelineState, Project, Shot

log = logging.getLogger(__name__)

OVERRIDE_MODES = ("skip", "reset", "complete")
# The decision log's outcome for an entity's status when nothing was launched.
_OUTCOMES = {"acting": "waiting", "waiting": "waiting", "blocked": "blocked", "failed": "failed", "done": "done"}
Key = tuple[str, int]


@dataclass(frozen=True)
class Evaluation:
    """An entity's gates up to its current phase (the first that fails) and the overrides it has."""

    phase: str
    gates: dict[str, Gate] = field(default_factory=dict)
    overrides: dict[str, PipelineOverride] = field(default_factory=dict)


class Orchestrator:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        log: DecisionLog,
        config: AutopilotConfig,
        replenishment: Replenishment,
        jobs: JobQueue,
        characters: Characters,
        training: TrainingRuns,
        loras: LoraRegistry,
        story_planner: StoryPlanner,
        scenes: Scenes,
        scene_generation: SceneGeneration,
        scene_assembly: SceneAssembly,
        episodes: Episodes,
        episode_assembly: EpisodeAssembly,
        episode_publishing: EpisodePublishing,
        engine_proposal: Callable[[Shot], Awaitable[tuple[str, str]]],
        events: EventBus,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._log = log
        self._config = config
        self._replenishment = replenishment
        self._jobs = jobs
        self._characters = characters
        self._loras = loras
        self._scene_assembly = scene_assembly
        self._episode_assembly = episode_assembly
        # Announces overrides (AutopilotChanged), so the Autopilot page and Activity follow them.
        self._events = events
        self._actions = Actions(
            settings=settings,
            db=db,
            clock=clock,
            log=log,
            training=training,
            story_planner=story_planner,
            scenes=scenes,
            scene_generation=scene_generation,
            scene_assembly=scene_assembly,
            episodes=episodes,
            episode_assembly=episode_assembly,
            episode_publishing=episode_publishing,
            engine_proposal=engine_proposal,
        )

    # --- the tick -----------------------------------------------------------------------------------------

    async def tick(self, project_ids: list[int]) -> None:
        """Evaluate every gate of these projects (orchestrator on) and launch at most the next action each."""
        project_ids = list(dict.fromkeys(project_ids))
        if not project_ids:
            return
        characters = await read_characters(self._db, self._replenishment, self._loras, project_ids)
        states, overrides = await self._memory(project_ids)
        for project_id in project_ids:
            try:
                await self._advance(project_id, characters.get(project_id, []), states, overrides)
            except StudioError as exc:  # a read the project's own data refused (deleted meanwhile...)
                log.warning("orchestrator: project %s skipped this tick: %s", project_id, exc)
            except Exception as exc:  # a bug in one project must not stop the others
                report_unexpected(log, exc, f"the orchestrator's tick of project {project_id} failed")

    async def _advance(
        self,
        project_id: int,
        characters: list[CharacterReading],
        states: dict[Key, PipelineState],
        overrides: dict[Key, dict[str, PipelineOverride]],
    ) -> None:
        paused = False
        waiting: list[tuple[str, str, str]] = []
        for reading in characters:
            key = ("character", reading.character_id)
            evaluation = _character_evaluation(reading, overrides.get(key, {}))
            if evaluation.phase != "ready":
                gate = evaluation.gates[evaluation.phase]
                waiting.append((reading.name, PHASE_LABELS[evaluation.phase], gate.sentence))
            if paused:
                continue
            state = states.get(key)
            await self._passed(key, project_id, reading.character_id, evaluation, state)
            step, paused = await self._guarded(
                project_id, evaluation.phase, reading.name, self._character_step(reading, evaluation, state)
            )
            paused = paused or step.status == "failed"  # replenishment's refusal paused the project itself
            await self._record(key, project_id, reading.character_id, evaluation, step, state, states)
        key = ("project", project_id)
        state = states.get(key)
        if waiting:
            phase = state.phase if state is not None and state.phase in PROJECT_PHASES else PROJECT_PHASES[0]
            await self._record(
                key, project_id, None, Evaluation(phase), Step("blocked", blocked_by(waiting)), state, states
            )
            return
        if paused:
            return
        gates = await self._project_gates(project_id, state)
        evaluation = await _project_evaluation(gates, overrides.get(key, {}))
        await self._passed(key, project_id, None, evaluation, state)
        step, _ = await self._guarded(
            project_id, evaluation.phase, "the project", self._project_step(gates, evaluation, state)
        )
        await self._record(key, project_id, None, evaluation, step, state, states)

    async def _character_step(
        self, reading: CharacterReading, evaluation: Evaluation, state: PipelineState | None
    ) -> Step:
        if evaluation.phase == "ready":
            return Step("done", reading.gate("ready").sentence)
        if evaluation.phase == "lora_training":
            return await self._actions.lora_training(reading, state)
        return await self._top_up(reading, evaluation.gates["training_data"])

    async def _top_up(self, reading: CharacterReading, gate: Gate) -> Step:
        """Training data comes from replenishment, through every one of its guards (the earlier orchestrator
        generated a batch every tick, past the cooldown and the daily limit)."""
        held = reading.standing.held
        if held is not None:
            status = "acting" if held.guard in (GENERATING, PENDING) else held.outcome
            return Step(status if status in _OUTCOMES else "waiting", f"{gate.sentence}; {held.reason}")
        decision = await self._replenishment.consider(
            reading.character_id, trigger="orchestrator", phase="training_data"
        )
        if decision is None:  # nothing new to say: its guard is the one it logged before
            return Step("waiting", gate.sentence, logged=True)
        if decision.outcome == "acted":
            return Step("acting", decision.reason, action="generate", acted=True, job_id=decision.job_id, logged=True)
        status = decision.outcome if decision.outcome in _OUTCOMES else "waiting"
        return Step(status, decision.reason, action="generate", logged=True)

    async def _project_step(self, gates: ProjectGates, evaluation: Evaluation, state: PipelineState | None) -> Step:
        phase = evaluation.phase
        if phase == "published":
            return Step("done", evaluation.gates["published"].sentence)
        if phase == "scene_planning":
            return await self._actions.scene_planning(gates.reading.project_id)
        if phase == "shot_preparation":
            return await self._actions.shot_preparation(gates)
        busy = gates.reading.busy()  # one action at a time per project, whoever started it
        if busy is not None:
            job, what = busy
            return Step("acting", f"job {job.id} {what}", job_id=job.id)
        if phase == "video_generation":
            return await self._actions.video_generation(gates, state)
        if phase == "video_qc":
            return await self._actions.video_qc(gates)
        if phase == "scene_assembly":
            return await self._actions.scene_assembly(gates, state)
        if phase == "episode_assembly":
            return await self._actions.episode_assembly(gates, state)
        return await self._actions.publishing(gates, state)

    async def _guarded(self, project_id: int, phase: str, what: str, action: Awaitable[Step]) -> tuple[Step, bool]:
        """Run an action; a refusal is logged as failed and pauses the project, so it is not asked again every
        tick. (step, whether it paused)."""
        try:
            return await action, False
        except StudioError as exc:
            reason = _sentence(exc)
            minutes = self._settings.autopilot_failure_pause_minutes
            await self._config.pause(project_id, f"{what}, {PHASE_LABELS[phase]}: {reason}", minutes)
            step = Step("failed", f"{reason} (the autopilot pauses for {minutes:g} min)", action=ACTIONS[phase])
            return step, True

    async def _project_gates(self, project_id: int, state: PipelineState | None) -> ProjectGates:
        reading = await read_project(
            self._db, project_id, state.job_id if state else None, lambda: self._qc_reset_after(project_id)
        )
        return ProjectGates(reading, self._settings, self._scene_assembly, self._episode_assembly)

    async def _qc_reset_after(self, project_id: int) -> int:
        """The newest decision resetting video QC (or an earlier phase) of the project: QC attempts count after."""
        query = select(AutonomyDecision.id, AutonomyDecision.data).where(
            AutonomyDecision.project_id == project_id,
            AutonomyDecision.loop == LOOP,
            AutonomyDecision.action == "override",
        )
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()
        qc = PROJECT_PHASES.index("video_qc")
        resets = [
            decision_id or 0
            for decision_id, data in rows
            if (data or {}).get("mode") == "reset"
            and (data or {}).get("entity") == "project"
            and (data or {}).get("phase") in PROJECT_PHASES[: qc + 1]
        ]
        return max(resets, default=0)

    # --- remembering and logging ------------------------------------------------------------------------

    async def _passed(
        self, key: Key, project_id: int, character_id: int | None, evaluation: Evaluation, state: PipelineState | None
    ) -> None:
        """Log each gate passed since the entity's state, once, before the current phase acts: the log reads in
        the order things happened."""
        phases = CHARACTER_PHASES if key[0] == "character" else PROJECT_PHASES
        index = phases.index(evaluation.phase)
        before = phases.index(state.phase) if state is not None and state.phase in phases else -1
        for phase in phases[max(before, 0) : index] if index > before else ():
            gate, override = evaluation.gates.get(phase), evaluation.overrides.get(phase)
            if override is not None:
                reason = f"{_override_words(override.mode)} by {override.actor}"
            elif gate is not None:
                reason = gate.sentence
            else:
                continue
            await self._log.record(
                loop=LOOP,
                action="gate",
                outcome="done",
                reason=f"{PHASE_LABELS[phase]} passed: {reason}",
                project_id=project_id,
                character_id=character_id,
                phase=phase,
            )

    async def _record(
        self,
        key: Key,
        project_id: int,
        character_id: int | None,
        evaluation: Evaluation,
        step: Step,
        state: PipelineState | None,
        states: dict[Key, PipelineState],
    ) -> None:
        """Log the entity's new verdict or action when it changed since its state, and keep the new state."""
        same_phase = state is not None and state.phase == evaluation.phase
        changed = not same_phase or (state.status, state.detail) != (step.status, step.detail)  # type: ignore[union-attr]
        # A failure is logged every time: each one was a new attempt (after a pause).
        if (changed or step.acted or step.status == "failed") and not step.logged:
            action = step.action if step.action != "gate" or step.status in ("done", "blocked") else "wait"
            await self._log.record(
                loop=LOOP,
                action=action,
                outcome="acted" if step.acted else _OUTCOMES[step.status],
                reason=step.detail,
                project_id=project_id,
                character_id=character_id,
                phase=evaluation.phase,
                job_id=step.job_id,
                image_id=step.image_id,
                data={**step.data, **({"subject": step.subject} if step.subject else {})},
            )
        job_id = step.job_id if step.job_id is not None else (state.job_id if same_phase else None)  # type: ignore[union-attr]
        subject = step.subject if step.subject is not None else (state.subject if same_phase else None)  # type: ignore[union-attr]
        if step.attempts is not None:
            attempts = step.attempts
        elif step.acted and step.subject is not None:
            attempts = launches(state, evaluation.phase, step.subject) + 1
        else:
            attempts = state.attempts if same_phase and state.subject == subject else 0  # type: ignore[union-attr]
        values = {
            "phase": evaluation.phase,
            "status": step.status,
            "detail": step.detail,
            "job_id": job_id,
            "subject": subject,
            "attempts": attempts,
        }
        if state is not None and all(getattr(state, name) == value for name, value in values.items()):
            return
        async with self._db.session() as session:
            row = (
                await session.exec(
                    select(PipelineState).where(PipelineState.entity == key[0], PipelineState.entity_id == key[1])
                )
            ).first()
            if row is None:
                row = PipelineState(project_id=project_id, entity=key[0], entity_id=key[1], **values)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = self._clock.now()
            session.add(row)
        states[key] = row

    async def _memory(
        self, project_ids: Sequence[int]
    ) -> tuple[dict[Key, PipelineState], dict[Key, dict[str, PipelineOverride]]]:
        """Every state and override of these projects, in two queries."""
        async with self._db.session() as session:
            states = (
                await session.exec(select(PipelineState).where(col(PipelineState.project_id).in_(project_ids)))
            ).all()
            rows = (
                await session.exec(select(PipelineOverride).where(col(PipelineOverride.project_id).in_(project_ids)))
            ).all()
        overrides: dict[Key, dict[str, PipelineOverride]] = {}
        for row in rows:
            overrides.setdefault((row.entity, row.entity_id), {})[row.phase] = row
        return {(s.entity, s.entity_id): s for s in states}, overrides

    # --- the page's view ----------------------------------------------------------------------------------

    async def pipeline(self, project_id: int) -> PipelineView:
        """Where the project and each of its characters stand, phase by phase. NotFound: no such project."""
        autopilot = await self._config.get(project_id)
        characters = (await read_characters(self._db, self._replenishment, self._loras, [project_id])).get(
            project_id, []
        )
        states, overrides = await self._memory([project_id])
        views, waiting = [], []
        for reading in characters:
            key = ("character", reading.character_id)
            evaluation = _character_evaluation(reading, overrides.get(key, {}))
            gates = {phase: reading.gate(phase) for phase in CHARACTER_PHASES}
            evaluation = Evaluation(evaluation.phase, gates, evaluation.overrides)
            if evaluation.phase != "ready":
                waiting.append((reading.name, PHASE_LABELS[evaluation.phase], gates[evaluation.phase].sentence))
            views.append(_entity_view(key, reading.name, CHARACTER_PHASES, evaluation, states.get(key), autopilot))
        key = ("project", project_id)
        state = states.get(key)
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
        name = project.name if project is not None else f"project {project_id}"
        if waiting:
            phase = state.phase if state is not None and state.phase in PROJECT_PHASES else PROJECT_PHASES[0]
            evaluation = Evaluation(phase, {}, overrides.get(key, {}))
            blocked = Step("blocked", blocked_by(waiting))
            view = _entity_view(key, name, PROJECT_PHASES, evaluation, state, autopilot, blocked)
        else:
            evaluation = await _project_evaluation(await self._project_gates(project_id, state), overrides.get(key, {}))
            view = _entity_view(key, name, PROJECT_PHASES, evaluation, state, autopilot)
        return PipelineView(project_id=project_id, autopilot=autopilot, project=view, characters=views)

    # --- overrides ----------------------------------------------------------------------------------------

    async def override(
        self, project_id: int, entity: Entity, entity_id: int, phase: str, mode: OverrideMode, actor: str
    ) -> PipelineView:
        """Skip a phase or mark it complete (its gate then counts as passed), or reset it: the overrides of it and
        the phases after it go, and its attempts start again. NotFound: no such project. Invalid: an entity not
        of this project, a phase it does not have (or its last one, where nothing is left to do), a mode other
        than skip, reset, complete."""
        await self._config.get(project_id)
        name = await self._entity_name(project_id, entity, entity_id)
        phases = CHARACTER_PHASES if entity == "character" else PROJECT_PHASES
        if phase not in phases:
            raise Invalid("phase", f"a {entity}'s phases are {', '.join(phases)}")
        if phase == phases[-1]:
            raise Invalid("phase", f"{phase} is where a {entity}'s pipeline ends; override one of the phases before it")
        if mode not in OVERRIDE_MODES:
            raise Invalid("mode", f"an override is one of {', '.join(OVERRIDE_MODES)}")
        now = self._clock.now()
        async with self._db.session() as session:
            if mode == "reset":
                later = list(phases[phases.index(phase) :])
                await session.exec(
                    delete(PipelineOverride).where(
                        col(PipelineOverride.entity) == entity,
                        col(PipelineOverride.entity_id) == entity_id,
                        col(PipelineOverride.phase).in_(later),
                    )
                )
                state = (
                    await session.exec(
                        select(PipelineState).where(
                            PipelineState.entity == entity, PipelineState.entity_id == entity_id
                        )
                    )
                ).first()
                if state is not None:
                    state.attempts, state.updated_at = 0, now
                    session.add(state)
            else:
                row = (
                    await session.exec(
                        select(PipelineOverride).where(
                            PipelineOverride.entity == entity,
                            PipelineOverride.entity_id == entity_id,
                            PipelineOverride.phase == phase,
                        )
                    )
                ).first()
                if row is None:
                    row = PipelineOverride(
                        project_id=project_id,
                        entity=entity,
                        entity_id=entity_id,
                        phase=phase,
                        mode=mode,
                        actor=actor,
                        at=now,
                    )
                row.mode, row.actor, row.at = mode, actor, now
                session.add(row)
        label = PHASE_LABELS[phase]
        if mode == "reset":
            reason = f"{actor} reset {label} of {name} and the phases after it"
        else:
            reason = f"{actor} {'skipped' if mode == 'skip' else 'marked complete'} {label} of {name}"
        await self._log.record(
            loop=LOOP,
            action="override",
            outcome="done",
            reason=reason,
            project_id=project_id,
            character_id=entity_id if entity == "character" else None,
            phase=phase,
            actor=actor,
            data={"mode": mode, "entity": entity, "entity_id": entity_id, "phase": phase},
        )
        await self._events.emit(AutopilotChanged(actor=actor, project_id=project_id, change="override", detail=reason))
        return await self.pipeline(project_id)

    async def _entity_name(self, project_id: int, entity: str, entity_id: int) -> str:
        async with self._db.session() as session:
            if entity == "project":
                project = await session.get(Project, project_id)
                if entity_id != project_id or project is None:
                    raise Invalid("entity_id", f"the project's own pipeline is entity project {project_id}")
                return project.name
            if entity != "character":
                raise Invalid("entity", "an override is of the project or of one of its characters")
            character = await session.get(Character, entity_id)
        if character is None or character.project_id != project_id or character.deleted_at is not None:
            raise Invalid("entity_id", f"character {entity_id} is not a live character of this project")
        return character.name


def _character_evaluation(reading: CharacterReading, own: dict[str, PipelineOverride]) -> Evaluation:
    gates = {phase: reading.gate(phase) for phase in CHARACTER_PHASES[:-1]}

    def passed(phase: str) -> bool:
        return gates[phase].passed or phase in own

    if passed("lora_training"):
        phase = "ready"  # a LoRA makes the character ready, whatever its image count does later
    else:
        phase = "lora_training" if passed("training_data") else "training_data"
    return Evaluation(phase, gates, own)


async def _project_evaluation(gates: ProjectGates, own: dict[str, PipelineOverride]) -> Evaluation:
    """Gates in order up to the first that fails (an overridden phase counts as passed; its gate is not read)."""
    found: dict[str, Gate] = {}
    for phase in PROJECT_PHASES:
        if phase in own:
            continue
        gate = await gates.gate(phase)
        found[phase] = gate
        if not gate.passed:
            return Evaluation(phase, found, own)
    return Evaluation(PROJECT_PHASES[-1], found, own)


def _entity_view(
    key: Key,
    name: str,
    phases: Sequence[str],
    evaluation: Evaluation,
    state: PipelineState | None,
    autopilot: AutopilotView,
    blocked: Step | None = None,
) -> EntityPipeline:
    index = phases.index(evaluation.phase)
    views = []
    for i, phase in enumerate(phases):
        gate, override = evaluation.gates.get(phase), evaluation.overrides.get(phase)
        if override is not None and i != index:
            words = f"{_override_words(override.mode)} by {override.actor}"
            status = "skipped" if override.mode == "skip" else "done"
            views.append(
                PhaseView(phase, PHASE_LABELS[phase], status, gate.sentence if gate else words, True, override.mode)
            )
        elif i < index:
            views.append(PhaseView(phase, PHASE_LABELS[phase], "done", gate.sentence if gate else "", True))
        elif i == index:
            terminal = i == len(phases) - 1
            passed = True if terminal else (gate.passed if gate else False)
            sentence = gate.sentence if gate else (blocked.detail if blocked else "")
            views.append(PhaseView(phase, PHASE_LABELS[phase], "done" if terminal else "current", sentence, passed))
        else:
            views.append(PhaseView(phase, PHASE_LABELS[phase], "pending", "", None))
    status, detail, job_id = _standing(evaluation, state, autopilot, blocked, phases)
    return EntityPipeline(
        entity=key[0],  # type: ignore[arg-type]
        entity_id=key[1],
        name=name,
        phase=evaluation.phase,
        status=status,  # type: ignore[arg-type]
        detail=detail,
        job_id=job_id,
        phases=views,
        updated_at=state.updated_at if state is not None else None,
    )


def _standing(
    evaluation: Evaluation,
    state: PipelineState | None,
    autopilot: AutopilotView,
    blocked: Step | None,
    phases: Sequence[str],
) -> tuple[str, str, int | None]:
    """(status, sentence, job) as the page shows them: the last tick's when it found the same phase."""
    terminal = evaluation.phase == phases[-1]
    gate = evaluation.gates.get(evaluation.phase)
    if terminal:
        return "done", gate.sentence if gate else "", None
    settings = autopilot.settings
    if not settings.orchestrator:
        return "off", "the orchestrator is off for this project: switch it on to let the autopilot work", None
    if blocked is not None:  # the project's own gate first: a pause is about what its characters do
        return "blocked", blocked.detail, None
    if autopilot.paused and settings.paused_until is not None:
        return "waiting", f"paused until {settings.paused_until:%H:%M} UTC: {settings.paused_reason}", None
    if state is not None and state.phase == evaluation.phase:
        return state.status, state.detail, state.job_id
    return (
        "waiting",
        f"{gate.sentence if gate else PHASE_LABELS[evaluation.phase]}; the autopilot acts at its next pass",
        None,
    )


def _override_words(mode: str) -> str:
    return "skipped" if mode == "skip" else "marked complete"


def _sentence(exc: StudioError) -> str:
    return exc.message if isinstance(exc, Invalid) else str(exc)

"""One shot of a scene as its generation goes: its state, the attempt in progress with its live frame, and every
attempt kept with its gate, score, video and the choice to use it instead."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from nicegui import ui

from components.job_progress import CANCELLABLE, LiveProgress, live_progress, state_chip
from services.jobs import JobProgressed
from services.scenes import ENGINE_LIMITS
from studio.models import Job, JobState, Shot

# status: (chip colour, icon, words, what it means)
SHOT_STATUS: dict[str, tuple[str, str, str, str]] = {
    "pending": ("grey-7", "schedule", "pending", "not rendered in this run yet"),
    "generating": ("primary", "autorenew", "generating", "an attempt is rendering"),
    "completed": ("positive", "check_circle", "completed", "an attempt passed its gate, or a person chose one"),
    "accepted_best": ("teal", "verified", "best kept", "no attempt passed its gate; the best scoring one is used"),
    "failed": ("negative", "error", "failed", "no attempt produced a video"),
}


@dataclass(frozen=True)
class ShotState:
    """What a shot card shows: the shot and what the scene's generation is doing around it."""

    shot: Shot
    run: str | None  # the run of the generation that renders this shot now, if one does
    jobs: dict[int, Job]  # the GPU jobs of attempts still marked pending
    busy: bool  # a generation of the scene runs, so another cannot start
    in_run: bool  # that generation renders this shot: it can be cancelled alone
    message: str  # the shot's latest progress message

    def signature(self) -> str:
        """Changes exactly when the card would look different (a redraw restarts its video players)."""
        shot = self.shot
        jobs = sorted((job_id, job.state.value) for job_id, job in self.jobs.items())
        return repr(
            (
                shot.shot_number,
                shot.shot_type,
                shot.video_engine,
                shot.duration_seconds,
                shot.description,
                shot.status,
                shot.error_message,
                shot.output_video_path,
                shot.first_frame_path,
                shot.last_frame_path,
                shot.attempts,
                self.run,
                jobs,
                self.busy,
                self.in_run,
                self.message,
            )
        )


@dataclass(frozen=True)
class ShotActions:
    regenerate: Callable[[Shot], Awaitable[None]]
    promote: Callable[[Shot, int], Awaitable[None]]
    cancel_shot: Callable[[Shot], Awaitable[None]]


def engine_label(engine: str | None) -> str:
    limits = ENGINE_LIMITS.get(engine or "animatic")
    return limits.label if limits else str(engine)


def is_selected(shot: Shot, attempt: dict[str, Any]) -> bool:
    return bool(attempt.get("video")) and attempt.get("video") == shot.output_video_path


def first_with_number(shot: Shot, index: int, *, with_video: bool = False) -> bool:
    """Whether the attempt at `index` is the one its number names: the API and `promote` take the first
    attempt with a number (promote: the first with a video), and each run numbers its attempts from 1."""
    number = shot.attempts[index].get("n")
    for position, other in enumerate(shot.attempts):
        if other.get("n") == number and (other.get("video") or not with_video):
            return position == index
    return False


def attempt_video_src(shot: Shot, index: int) -> str | None:
    attempt = shot.attempts[index]
    if not attempt.get("video"):
        return None
    if first_with_number(shot, index):
        return f"/api/shots/{shot.id}/video?attempt={attempt['n']}"
    if is_selected(shot, attempt):  # the shot's own video; `v` keeps a browser from showing the one it replaced
        return f"/api/shots/{shot.id}/video?v={quote(PurePosixPath(attempt['video']).stem)}"
    return None


def frame_src(shot: Shot, which: str, path: str) -> str:
    # The address stays the same when another attempt is chosen; `v` names the file so the picture changes too.
    return f"/api/shots/{shot.id}/frames/{which}?v={quote(PurePosixPath(path).stem)}"


def status_chip(shot: Shot) -> ui.chip:
    color, icon, words, meaning = SHOT_STATUS.get(shot.status, ("grey-7", "help", shot.status, ""))
    chip = ui.chip(words, icon=icon, color=color).props("dense text-color=white").mark(f"shot-status-{shot.id}")
    if meaning:
        chip.tooltip(meaning)
    return chip


def verdict(shot: Shot, attempt: dict[str, Any], jobs: dict[int, Job]) -> tuple[str, str]:
    """(words, colour class) for how an attempt ended, or where it is."""
    if attempt.get("pending"):
        job = jobs.get(attempt.get("job_id") or -1)
        if job is None or job.state in CANCELLABLE:
            return ("queued on a GPU" if job is None or job.state == JobState.QUEUED else "rendering"), "text-primary"
        return f"interrupted: its GPU job was {job.state.value}", "text-warning"
    if attempt.get("error"):
        return f"failed: {attempt['error']}", "text-negative"
    words = "passed" if attempt.get("passed") else "below the gate"
    if is_selected(shot, attempt):
        words += " · in use"
    return words, "text-positive" if attempt.get("passed") else "text-warning"


def attempt_facts(attempt: dict[str, Any]) -> str:
    facts = [engine_label(attempt.get("engine"))]
    if attempt.get("seed") is not None and attempt.get("engine") != "animatic":
        facts.append(f"seed {attempt['seed']} · {attempt.get('steps')} steps")
    threshold = attempt.get("threshold")
    facts.append("no gate" if not threshold else f"gate {threshold:.2f}")
    if attempt.get("score") is not None:
        facts.append(f"score {attempt['score']:.2f} ({attempt.get('method') or 'unknown'})")
    return " · ".join(facts)


class ShotCard:
    """One shot. `render` redraws it after its state changed; `progress` follows its attempt's GPU job."""

    def __init__(self, actions: ShotActions) -> None:
        self.actions = actions
        self.signature = ""
        self.live: LiveProgress | None = None
        self.live_job: int | None = None
        self.box = ui.card().classes("w-full gap-2 p-3")

    def render(self, state: ShotState) -> None:
        self.signature = state.signature()
        self.live, self.live_job = None, None
        shot = state.shot
        self.box.clear()
        self.box.mark(f"shot-{shot.id}")
        with self.box:
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(f"Shot {shot.shot_number}").classes("text-lg font-semibold")
                ui.label(
                    f"{shot.shot_type.replace('_', ' ')} · {engine_label(shot.video_engine)} · "
                    f"{shot.duration_seconds:g} s"
                ).classes("opacity-80").mark(f"shot-facts-{shot.id}")
                ui.space()
                status_chip(shot)
            if shot.description:
                ui.label(shot.description).classes("text-sm opacity-70 break-words")
            if shot.error_message:
                ui.label(shot.error_message).classes("text-sm text-negative break-words").mark(f"shot-error-{shot.id}")
            if state.message:
                ui.label(state.message).classes("text-xs opacity-70").mark(f"shot-message-{shot.id}")
            with ui.column().classes("w-full gap-1").mark(f"shot-current-{shot.id}"):
                self._current(state)
            with ui.row().classes("gap-2"):
                ui.button("Regenerate this shot", icon="replay", on_click=lambda: self.actions.regenerate(shot)).props(
                    "flat dense"
                ).mark(f"regenerate-{shot.id}").set_enabled(not state.busy)
                if state.busy and state.in_run and shot.status in ("pending", "generating"):
                    ui.button("Cancel this shot", icon="cancel", on_click=lambda: self.actions.cancel_shot(shot)).props(
                        "flat dense color=negative"
                    ).mark(f"cancel-shot-{shot.id}")
            if shot.attempts:
                ui.separator()
                self._attempts(state)

    def progress(self, event: JobProgressed) -> None:
        if self.live is not None and event.job_id == self.live_job:
            self.live.show(event)

    # --- parts --------------------------------------------------------------------------------------

    def _current(self, state: ShotState) -> None:
        shot = state.shot
        on_gpu = [
            a
            for a in shot.attempts
            if a.get("pending") and a.get("job_id") in state.jobs and state.jobs[a["job_id"]].state in CANCELLABLE
        ]
        if on_gpu:
            attempt = on_gpu[-1]
            job = state.jobs[attempt["job_id"]]
            with ui.row().classes("items-center gap-2"):
                ui.label(f"Attempt {attempt['n']} · {engine_label(attempt.get('engine'))} · job {job.id}").classes(
                    "font-medium"
                )
                state_chip(job)
            self.live, self.live_job = live_progress(job, with_preview=True), job.id
        elif shot.status == "generating":
            done = sum(1 for a in shot.attempts if a.get("run") == state.run and not a.get("pending"))
            ui.label(f"Rendering attempt {done + 1} · {engine_label(shot.video_engine)}").classes("font-medium")
            ui.linear_progress(show_value=False).props("indeterminate rounded size=8px")
        elif shot.status == "pending" and state.run is not None:
            ui.label("Waiting for the shots before it").classes("opacity-70")
        selected = next((a for a in shot.attempts if is_selected(shot, a)), None)
        if selected is not None:
            score = selected.get("score")
            ui.label(f"Using attempt {selected['n']}" + (f" · score {score:.2f}" if score is not None else "")).classes(
                "font-medium"
            ).mark(f"shot-selected-{shot.id}")
        with ui.row().classes("gap-3"):
            for which, path in (("first", shot.first_frame_path), ("last", shot.last_frame_path)):
                if path:
                    with ui.column().classes("gap-0"):
                        ui.image(frame_src(shot, which, path)).classes("w-40 rounded").mark(f"{which}-frame-{shot.id}")
                        ui.label(f"{which} frame").classes("text-xs opacity-60")

    def _attempts(self, state: ShotState) -> None:
        shot = state.shot
        runs: dict[str, int] = {}
        for attempt in shot.attempts:
            runs.setdefault(str(attempt.get("run")), len(runs) + 1)
        count = len(shot.attempts)
        with (
            ui.expansion(f"{count} attempt{'' if count == 1 else 's'}", value=True)
            .classes("w-full")
            .mark(f"attempts-{shot.id}")
        ):
            for index, attempt in enumerate(shot.attempts):
                self._attempt(state, index, attempt, runs[str(attempt.get("run"))] if len(runs) > 1 else None)

    def _attempt(self, state: ShotState, index: int, attempt: dict[str, Any], run: int | None) -> None:
        shot = state.shot
        key = f"{shot.id}-{index + 1}"  # by position: attempt numbers repeat across runs
        with ui.row().classes("w-full items-start gap-3 no-wrap py-1").mark(f"attempt-{key}"):
            src = attempt_video_src(shot, index)
            if src is not None:
                ui.video(src, controls=True, muted=True).props('preload="metadata"').classes(
                    "w-56 shrink-0 rounded"
                ).mark(f"attempt-video-{key}")
            with ui.column().classes("gap-1 min-w-0"):
                title = f"Attempt {attempt.get('n')}" + (f" · run {run}" if run else "")
                ui.label(title).classes("font-medium")
                ui.label(attempt_facts(attempt)).classes("text-sm").mark(f"attempt-facts-{key}")
                words, colour = verdict(shot, attempt, state.jobs)
                ui.label(words).classes(f"text-sm break-words {colour}").mark(f"attempt-verdict-{key}")
                if attempt.get("video") and src is None:
                    ui.label(
                        f"An earlier run also made an attempt {attempt.get('n')}, and the studio finds attempts "
                        "by number: this one cannot be played or chosen here."
                    ).classes("text-xs opacity-70")
                reasons, issues = attempt.get("reasons") or [], attempt.get("issues") or []
                if reasons or issues:
                    with ui.expansion("Why this score").props("dense").classes("text-sm").mark(f"attempt-why-{key}"):
                        for reason in reasons:
                            ui.label(str(reason)).classes("text-sm break-words")
                        if issues:
                            ui.label("Issues: " + ", ".join(str(i) for i in issues)).classes("text-sm text-warning")
                if (
                    attempt.get("video")
                    and not is_selected(shot, attempt)
                    and first_with_number(shot, index, with_video=True)
                ):
                    ui.button(
                        "Use this attempt", icon="done", on_click=lambda: self.actions.promote(shot, attempt["n"])
                    ).props("flat dense color=primary").mark(f"promote-{key}").set_enabled(state.run is None)

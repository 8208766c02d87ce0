"""A training run as people follow it: its row (state, queue place, live step/epoch/speed/time left, actions) and
its detail (loss curve, the log's tail, the epoch x prompt sample grid with each epoch's score, the proposed epoch
and why, and Register per epoch)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from nicegui import ui

from components.character_references import problem_text
from components.confirm import confirm, throwaway_dialog
from components.image_detail import picture_lightbox
from components.job_kinds import span_text
from components.job_progress import STATE_COLOR, STATE_ICON
from components.sample_panel import tagged
from services.errors import Conflict, Invalid, NotFound
from services.training import TrainingRunProgressed
from services.training.epoch_scores import NOT_YET, EpochScore, propose
from studio.models import JobState, TrainingRun
from studio.root import Studio

LOG_LINES = 40
# The log's tail is read from its last bytes: a long run's log is never read whole.
LOG_TAIL_BYTES = 64 * 1024
# A loss curve of fewer points shows each point (one point alone draws nothing without its symbol).
SYMBOLS_UP_TO = 40
RunAction = Callable[[TrainingRun], Awaitable[None]]


def sample_src(run_id: int, epoch: int, index: int) -> str:
    """The REST route that serves one sample image (studio/api/training.py)."""
    return f"/api/training-runs/{run_id}/epochs/{epoch}/samples/{index}"


def run_state_chip(run: TrainingRun) -> ui.chip:
    state = JobState(run.state)  # a run's states are its job's
    return (
        ui.chip(run.state, icon=STATE_ICON[state], color=STATE_COLOR[state])
        .props("dense text-color=white")
        .mark(f"run-state-{run.id}")
    )


def progress_text(step: int, steps_total: int, epoch: int, epochs_total: int, speed: str, eta: float | None) -> str:
    parts = [f"step {step} of {steps_total}" if steps_total else "starting", f"epoch {epoch} of {epochs_total}"]
    if speed:
        parts.append(speed)
    if eta is not None:
        parts.append(f"{span_text(eta)} left")
    return " · ".join(parts)


def score_text(score: EpochScore) -> str:
    """An epoch's score as its row shows it: "0.82 · local measures", "not scored: <why>" or "scoring…"."""
    if score.score is not None:
        return f"{score.score:.2f} · {score.scored_by}"
    return "scoring…" if score.scored_by == NOT_YET else score.scored_by


class RunRow:
    """One run in the list. `show` moves a running run's progress without redrawing the row."""

    def __init__(self, run: TrainingRun, character: str, position: int | None, actions: RunActions) -> None:
        self.run = run
        self.bar: ui.linear_progress | None = None
        self.text: ui.label | None = None
        with ui.card().classes("w-full p-3 gap-1").mark(f"run-{run.id}"):
            with ui.row().classes("w-full items-center gap-3"):
                run_state_chip(run)
                ui.label(f"{character} · {run.preset} on {run.device}").classes("font-medium")
                if position is not None:
                    ui.badge(f"#{position} in {run.device}'s queue").props("outline").mark(f"run-position-{run.id}")
                ui.space()
                ui.label(f"{run.epochs_done} of {run.epochs_total} epochs saved").classes("text-sm opacity-70")
                details = ui.button("Details", icon="insights", on_click=lambda: actions.open(run))
                tagged(details.props("flat dense no-caps"), f"run-details-{run.id}")
                if run.state in ("queued", "running"):
                    ui.button("Cancel", icon="cancel", on_click=lambda: actions.cancel(run)).props(
                        "flat dense no-caps color=negative"
                    ).mark(f"run-cancel-{run.id}")
                if run.state in ("failed", "cancelled"):
                    label = f"Continue from epoch {run.epochs_done}" if run.epochs_done else "Retry"
                    ui.button(label, icon="replay", on_click=lambda: actions.retry(run)).props(
                        "flat dense no-caps color=primary"
                    ).mark(f"run-retry-{run.id}")
            if run.state == "running":
                epoch = min(run.epochs_done + 1, run.epochs_total)
                self.bar = ui.linear_progress(value=_share(run.step, run.steps_total), show_value=False)
                self.bar.props("rounded size=8px").mark(f"run-progress-{run.id}")
                self.text = ui.label(
                    progress_text(run.step, run.steps_total, epoch, run.epochs_total, run.speed, run.eta_seconds)
                )
                self.text.classes("text-xs opacity-70").mark(f"run-progress-text-{run.id}")
            if run.error:
                failed = run.state in ("failed", "cancelled")
                ui.label(run.error).classes(f"text-sm break-words {'text-negative' if failed else 'opacity-70'}").mark(
                    f"run-note-{run.id}"
                )

    def show(self, event: TrainingRunProgressed) -> None:
        if self.bar is None or self.text is None or self.bar.is_deleted:
            return
        self.bar.value = _share(event.step, event.steps_total)
        self.text.text = progress_text(
            event.step, event.steps_total, event.epoch, self.run.epochs_total, event.speed, event.eta_seconds
        )


class RunActions:
    """What a run's buttons do, with the service's refusals as notices (the list redraws from the events)."""

    def __init__(self, studio: Studio, actor: str, open_detail: RunAction) -> None:
        self.studio, self.actor, self.open = studio, actor, open_detail

    async def cancel(self, run: TrainingRun) -> None:
        saved = f" Its {run.epochs_done} saved epochs stay registrable." if run.epochs_done else ""
        if not await confirm(f"Cancel training run {run.id}?", f"The trainer stops.{saved}", "Cancel the run"):
            return
        try:
            await self.studio.training.cancel(run.id, self.actor)  # type: ignore[arg-type]
        except (Conflict, NotFound) as exc:
            ui.notify(str(exc), type="warning")

    async def retry(self, run: TrainingRun) -> None:
        try:
            await self.studio.training.retry(run.id, self.actor)  # type: ignore[arg-type]
        except (Invalid, Conflict, NotFound) as exc:
            ui.notify(problem_text(exc), type="warning", multi_line=True)


class RunDetail:
    """A run's dialog: loss curve, log tail, and the epoch x prompt samples with Register per epoch."""

    def __init__(self, studio: Studio, run: TrainingRun, actor: str) -> None:
        self.studio, self.run_id, self.actor = studio, run.id, actor
        self.dialog = throwaway_dialog().props("full-width")
        with self.dialog, ui.card().classes("w-full gap-3").mark("run-detail"):
            with ui.row().classes("w-full items-center"):
                self.title = ui.label().classes("text-lg font-semibold")
                ui.space()
                ui.button(icon="close", on_click=self.dialog.close).props("flat round dense").mark("run-detail-close")
            self.chart = ui.echart(
                {
                    "tooltip": {"trigger": "axis"},
                    "xAxis": {"type": "value", "name": "step", "minInterval": 1},
                    "yAxis": {"type": "value", "name": "loss", "scale": True},
                    "series": [{"type": "line", "name": "loss", "showSymbol": False, "data": []}],
                }
            ).classes("w-full h-56 shrink-0")  # the canvas has no height of its own: a full dialog would squash it
            self.chart.mark("loss-chart")
            self.message = tagged(ui.label().classes("text-sm whitespace-pre-line break-words"), "register-message")
            self.proposal = ui.label().classes("text-sm break-words").mark("proposal")
            self.grid = ui.column().classes("w-full gap-2").mark("sample-grid")
            ui.label("Log").classes("font-semibold")
            self.log = ui.label().classes("w-full font-mono text-xs whitespace-pre-wrap break-all")
            self.log.classes("max-h-72 overflow-auto").mark("run-log")

    @property
    def closed(self) -> bool:
        return self.dialog.is_deleted

    async def open(self) -> None:
        self.dialog.open()
        await self.refresh()

    async def refresh(self) -> None:
        """Read the run, its samples and its log again (after a saved epoch, a state change)."""
        run = await self.studio.training.get(self.run_id)  # type: ignore[arg-type]
        samples = await self.studio.training.samples(self.run_id)  # type: ignore[arg-type]
        log = await asyncio.to_thread(log_tail, run.log_path)
        if self.closed:
            return
        self.title.text = f"Training run {run.id} · {run.state} · {run.epochs_done} of {run.epochs_total} epochs"
        series = self.chart.options["series"][0]
        series["data"] = run.loss
        series["showSymbol"] = len(run.loss) < SYMBOLS_UP_TO  # a short run's few points would draw no line at all
        self.chart.update()
        self.log.text = log or "No log yet: the trainer has not started."
        self._proposal(run, samples)
        self._grid(run, samples)

    def _proposal(self, run: TrainingRun, samples: list[dict]) -> None:
        proposal = propose(run.epochs)
        if proposal is not None:
            self.proposal.text = f"Proposed: {proposal.reason}"
        elif any(entry["score"].scored_by == NOT_YET for entry in samples):
            self.proposal.text = "No epoch proposed yet: the saved epochs' samples are being scored."
        else:
            self.proposal.text = "No epoch proposed: no epoch could be scored (each epoch says why)." if samples else ""
        self.proposal.set_visibility(bool(self.proposal.text))

    def _grid(self, run: TrainingRun, samples: list[dict]) -> None:
        self.grid.clear()
        with self.grid:
            if not samples:
                ui.label("No epoch saved yet.").classes("opacity-70").mark("no-epochs")
                return
            prompts = run.params.get("sample_prompts") or []
            width = int(run.params.get("resolution") or 1024)
            columns = f"max-content repeat({max(len(prompts), 1)}, minmax(96px, 160px))"
            with ui.grid(columns=columns).classes("gap-2 items-center"):
                ui.label("Epoch").classes("font-semibold text-sm")
                for prompt in prompts:
                    ui.label(prompt).classes("text-xs opacity-70 line-clamp-3").tooltip(prompt)
                for entry in samples:
                    epoch = entry["epoch"]
                    with ui.column().classes("gap-1 max-w-60").mark(f"epoch-{epoch}"):
                        with ui.row().classes("items-center gap-2"):
                            ui.label(f"Epoch {epoch}").classes("font-medium")
                            if entry["proposed"]:
                                tagged(ui.badge("Proposed", color="positive"), f"proposed-{epoch}")
                        if entry.get("loss") is not None:
                            ui.label(f"loss {entry['loss']:.4f}").classes("text-xs opacity-70")
                        _score_line(epoch, entry["score"])
                        register = ui.button("Register this epoch", on_click=lambda e=epoch: self.register(e))
                        tagged(register.props("outline dense no-caps"), f"register-epoch-{epoch}")
                    for sample in entry["samples"]:
                        _sample_image(run.id, epoch, sample, width)  # type: ignore[arg-type]
                    for _missing in range(len(prompts) - len(entry["samples"])):
                        ui.label("no sample").classes("text-xs opacity-50")

    async def register(self, epoch: int) -> None:
        self.message.classes(remove="text-negative")
        try:
            result = await self.studio.training.register(self.run_id, epoch, self.actor)  # type: ignore[arg-type]
        except (Invalid, Conflict, NotFound) as exc:
            self.message.text = problem_text(exc)
            self.message.classes(add="text-negative")
            return
        lines = [f"Epoch {epoch} is now the character's LoRA ({result.lora.lora.file_name}).", result.message]
        if result.lora.warning:
            lines.append(result.lora.warning)
        self.message.text = "\n".join(lines)


def _score_line(epoch: int, score: EpochScore) -> None:
    """The epoch's score; its measures' reasons (likeness, diversity) on hover."""
    line = ui.label(score_text(score)).classes("text-xs break-words line-clamp-4").mark(f"epoch-score-{epoch}")
    line.classes("opacity-70" if score.score is not None else "opacity-60 italic")
    if score.reasons or score.score is None:
        line.tooltip("; ".join(score.reasons) or score_text(score))


def _sample_image(run_id: int, epoch: int, sample: dict, width: int) -> None:
    """A sample's thumbnail; a click opens it in the lightbox."""
    index = sample["index"]
    src, alt = sample_src(run_id, epoch, index), f"epoch {epoch} sample {index}"
    title = f"Epoch {epoch} · {sample['prompt']}"
    picture = ui.element("img").props(f'src="{src}" loading=lazy alt="{alt}"').tooltip(sample["prompt"])
    picture.classes("w-full aspect-square object-cover rounded cursor-pointer").mark(f"sample-{epoch}-{index}")
    picture.on("click", lambda: picture_lightbox(src, title, alt, width))


def log_tail(path: str, lines: int = LOG_LINES) -> str:
    """The last `lines` lines of a run's log ("" when it has none yet). Blocking: call in a thread."""
    if not path:
        return ""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(text.splitlines()[-lines:])


def _share(step: int, total: int) -> float:
    return round(step / total, 3) if total else 0.0

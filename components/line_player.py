"""Hearing a line in the page: ask for it (cached: it plays at once; otherwise a synthesis job makes it),
follow the job's progress, then play it; a failure is shown in words where the Play button is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui
from pydantic import ValidationError

from components.form_errors import explain
from services.errors import StudioError
from services.jobs import JobChanged, JobProgressed
from services.voice import LineRequest
from studio.models import JobState
from studio.root import Studio

# How often the player looks at what its job reported (events only set flags; the timer draws).
REDRAW_SECONDS = 0.2


class LinePlayer:
    """Plays synthesized lines; marks: `<marker>-status`, `-progress`, `-error` and `-audio`."""

    def __init__(self, studio: Studio, marker: str) -> None:
        self.studio, self.marker = studio, marker
        self.job_id: int | None = None
        self.what = ""
        self._job_moved = False
        self._progress: JobProgressed | None = None
        self.audio: ui.audio | None = None
        with ui.column().classes("w-full gap-1") as self.host:
            self.status = ui.label().classes("text-sm opacity-80").mark(f"{marker}-status")
            self.bar = ui.linear_progress(value=0, show_value=False).props("rounded size=6px")
            self.bar.mark(f"{marker}-progress").set_visibility(False)
            self.error = ui.label().classes("text-sm text-negative break-words").mark(f"{marker}-error")
            self.audio_host = ui.element("div").classes("w-full")
            ui.timer(REDRAW_SECONDS, self._redraw)
        self._unsubscribe = [
            studio.events.subscribe(JobChanged, self._job_changed),
            studio.events.subscribe(JobProgressed, self._job_progressed),
        ]
        for unsubscribe in self._unsubscribe:
            ui.context.client.on_delete(unsubscribe)

    @property
    def busy(self) -> bool:
        return self.job_id is not None

    async def play(self, ask: Callable[[], Awaitable[LineRequest]], what: str) -> None:
        """Ask for a line (`ask` returns the cached file or the job making it) and play it when it is there."""
        self.error.text = ""
        try:
            request = await ask()
        except (ValidationError, StudioError) as exc:
            self._fail(explain(exc))
            return
        self.what = what
        if request.job is None:
            self._play(request.url)
            return
        self.job_id = request.job.id
        self.status.text = f"Synthesizing {what}\N{HORIZONTAL ELLIPSIS}"
        self.bar.value = 0
        self.bar.set_visibility(True)
        self._job_moved = True  # it may have finished before this player heard of it

    # --- following the job ------------------------------------------------------------------------

    def _job_changed(self, event: JobChanged) -> None:
        if self.host.is_deleted:
            self._stop_listening()
        elif event.job_id == self.job_id:
            self._job_moved = True

    def _job_progressed(self, event: JobProgressed) -> None:
        if self.host.is_deleted:
            self._stop_listening()
        elif event.job_id == self.job_id:
            self._progress = event

    def _stop_listening(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    async def _redraw(self) -> None:
        progress, self._progress = self._progress, None
        if progress is not None and progress.job_id == self.job_id:
            self.bar.value = round(progress.progress, 3)
            self.status.text = progress.message
        if not self._job_moved or self.job_id is None:
            return
        self._job_moved = False
        try:
            job = await self.studio.jobs.get(self.job_id)
        except StudioError as exc:
            self.job_id = None
            self._fail(explain(exc))
            return
        if self.host.is_deleted or job.id != self.job_id:
            return
        if job.state == JobState.SUCCEEDED:
            self.job_id = None
            self._play(str((job.result or {}).get("url", "")))
        elif job.state in (JobState.FAILED, JobState.CANCELLED):
            self.job_id = None
            self._fail(job.error or f"the synthesis was {job.state.value}")

    # --- showing --------------------------------------------------------------------------------------

    def _play(self, url: str) -> None:
        self.bar.set_visibility(False)
        self.status.text = f"Playing {self.what}"
        if self.audio is None or self.audio.is_deleted:
            with self.audio_host:
                # autoplay: a new source plays as soon as it loads (the person clicked Play just before).
                self.audio = ui.audio(url, autoplay=True).classes("w-full").mark(f"{self.marker}-audio")
        elif self.audio.source == url:
            self.audio.seek(0)
            self.audio.play()
        else:
            self.audio.set_source(url)

    def _fail(self, message: str) -> None:
        self.bar.set_visibility(False)
        self.status.text = ""
        self.error.text = message


class LineButton:
    """A Play button for a line being written: it speaks the text as the form has it, in the chosen speaker's
    voice (the narrator's when nobody is chosen). Disabled, with a tooltip saying why, while the line is empty."""

    def __init__(
        self, studio: Studio, actor: str, project_id: int, text: ui.input, speaker: ui.select, marker: str = "play-line"
    ) -> None:
        self.studio, self.actor, self.project_id = studio, actor, project_id
        self.text, self.speaker, self.marker = text, speaker, marker
        self.player: LinePlayer | None = None
        # A disabled button shows no tooltip; the span around it does.
        with ui.element("span").classes("self-center"):
            self.button = (
                ui.button(icon="play_arrow", on_click=self._play)
                .props('flat round dense aria-label="Play line"')
                .mark(marker)
            )
            self.tooltip = ui.tooltip("")
        text.on_value_change(self._enable)
        self._enable()

    def follow(self) -> LinePlayer:
        """Place the player (status, progress, audio) here."""
        self.player = LinePlayer(self.studio, self.marker)
        return self.player

    def _enable(self) -> None:
        has_line = bool((self.text.value or "").strip())
        self.button.set_enabled(has_line)
        self.tooltip.text = "Hear this line in the speaker's voice" if has_line else "Write a dialogue line to hear it"

    async def _play(self) -> None:
        assert self.player is not None, "call follow() where the player should show"
        speaker_id = self.speaker.value
        names = self.speaker.options if isinstance(self.speaker.options, dict) else {}
        who = f"{names.get(speaker_id, 'the speaker')}'s" if speaker_id is not None else "the narrator's"
        text = self.text.value or ""
        await self.player.play(
            lambda: self.studio.voices.request_line(text, speaker_id, self.actor, project_id=self.project_id),
            f"{who} line",
        )

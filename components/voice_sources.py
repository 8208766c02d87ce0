"""Where voices come from on the Voices page: adding a source (a video address, an uploaded video or audio file,
or a folder inside the import folders) and the project's sources, each with its job's live progress, Cancel,
Retry, the summary of what was found or why it failed, and Delete with Undo."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import events, ui

from components.character_references import problem_text
from components.job_progress import STATE_COLOR, STATE_ICON, LiveProgress, retry_job
from components.page_level import page_level
from components.sample_panel import tagged
from components.undo import offer_undo
from services.errors import StudioError
from services.voice_samples import FolderSources
from studio.models import JobState, VoiceSource
from studio.root import Studio

MEDIA_TYPES = "audio/*,video/*,.mkv,.webm,.mp4,.mov,.wav,.mp3,.flac,.ogg,.opus,.m4a"
KIND_ICON = {"url": "link", "upload": "upload_file", "folder": "folder"}
# A source's states are its job's, named the way a person reads them.
SOURCE_JOB_STATE = {
    "queued": JobState.QUEUED,
    "running": JobState.RUNNING,
    "done": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
}
ACTIVE = frozenset({"queued", "running"})
SourceAction = Callable[[VoiceSource], Awaitable[None]]


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def summary_text(summary: dict[str, Any]) -> str:
    """What an ingestion found, in words: "14 segments · 2 voices · 3 bits under 1 s left out"."""
    segments, speakers = int(summary.get("segments") or 0), int(summary.get("speakers") or 0)
    if not segments:
        return "No speech found: the source is silent or holds only noise."
    parts = [f"{segments} segment{'s' * (segments != 1)}", f"{speakers} voice{'s' * (speakers != 1)}"]
    dropped = int(summary.get("dropped_short") or 0)
    if dropped:
        parts.append(f"{dropped} bit{'s' * (dropped != 1)} under 1 s left out")
    proposals = int(summary.get("proposals") or 0)
    if proposals:
        parts.append(f"{proposals} voice{'s' * (proposals != 1)} with a proposed character")
    return " · ".join(parts)


class AddSource:
    """The three ways in, as tabs; `on_added` runs once a source was accepted (its job is queued)."""

    def __init__(self, studio: Studio, project_id: int, actor: str, on_added: Callable[[], Awaitable[None]]) -> None:
        self.studio, self.project_id, self.actor, self.on_added = studio, project_id, actor, on_added
        with ui.card().classes("w-full gap-2").mark("add-source"):
            ui.label("Bring in speech").classes("text-lg font-semibold")
            with ui.tabs().classes("w-full").props("dense inline-label mobile-arrows outside-arrows") as tabs:
                url_tab = ui.tab("Video address", icon="link").mark("source-tab-url")
                file_tab = ui.tab("File", icon="upload_file").mark("source-tab-file")
                folder_tab = ui.tab("Folder", icon="folder").mark("source-tab-folder")
            with ui.tab_panels(tabs, value=url_tab).classes("w-full"):
                with ui.tab_panel(url_tab).classes("p-1 gap-2"):
                    self._url_panel()
                with ui.tab_panel(file_tab).classes("p-1 gap-2"):
                    self._file_panel()
                with ui.tab_panel(folder_tab).classes("p-1 gap-2"):
                    self._folder_panel()
            self.problem = tagged(ui.label().classes("text-sm text-negative break-words"), "source-problem")

    def _limits(self) -> str:
        settings = self.studio.settings
        return f"At most {settings.voice_source_max_minutes} minutes of sound."

    def _url_panel(self) -> None:
        ui.label(f"A video page or file: only its sound is downloaded (yt-dlp). {self._limits()}").classes(
            "text-sm opacity-70"
        )
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            self.url = ui.input("Address", placeholder="https://…").props("outlined dense").classes("grow")
            tagged(self.url, "source-url")
            self.url.on("keydown.enter", self._add_url)
            tagged(ui.button("Find voices", icon="download", on_click=self._add_url), "add-source-url")

    def _file_panel(self) -> None:
        settings = self.studio.settings
        ui.label(
            f"A video or audio file up to {settings.max_video_upload_mb} MB. {self._limits()} "
            "Checked before anything is kept."
        ).classes("text-sm opacity-70")

        async def uploaded(e: events.UploadEventArguments) -> None:
            name = e.file.name or "upload"
            await self._start(
                lambda: self.studio.voice_sources.add_upload(self.project_id, name, e.file.iterate(), self.actor)
            )
            e.sender.reset()  # type: ignore[attr-defined]

        ui.upload(
            auto_upload=True,
            max_file_size=settings.max_video_upload_mb * 2**20,
            label="Drop a video or audio file here or choose one",
            on_upload=uploaded,
            on_rejected=lambda: self._say(
                f"The file was refused before upload: at most {settings.max_video_upload_mb} MB"
            ),
        ).props(f'accept="{MEDIA_TYPES}" flat bordered').classes("w-full").mark("source-upload")

    def _folder_panel(self) -> None:
        roots = self.studio.ingestion.import_roots()
        ui.label(
            "Every video and audio file in the folder becomes a source of its own. Allowed folders: "
            + ", ".join(str(root) for root in roots)
        ).classes("text-sm opacity-70 break-words")
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            folder = ui.input("Folder", value=str(roots[0])).props("outlined dense").classes("grow")
            tagged(folder, "source-folder")
            tagged(
                ui.button(
                    "Find voices",
                    icon="folder_open",
                    on_click=lambda: self._start(
                        lambda: self.studio.voice_sources.add_folder(self.project_id, folder.value or "", self.actor)
                    ),
                ),
                "add-source-folder",
            )

    async def _add_url(self) -> None:
        address = (self.url.value or "").strip()
        if not address:
            self._say("Paste the address of a video or audio page first.")
            return
        if await self._start(lambda: self.studio.voice_sources.add_url(self.project_id, address, self.actor)):
            self.url.value = ""

    async def _start(self, submit: Callable[[], Awaitable[object]]) -> bool:
        self._say("")
        try:
            added = await submit()
        except StudioError as exc:
            self._say(problem_text(exc))
            return False
        if isinstance(added, FolderSources):
            count = len(added.sources)
            if added.skipped:
                self._say("Skipped: " + "; ".join(added.skipped[:10]) + (" …" if len(added.skipped) > 10 else ""))
            files = f"{count} file{'s' * (count != 1)}"
            ui.notify(f"Looking for voices in {files}", type="positive" if count else "warning")
        else:
            ui.notify("Looking for voices: the source is queued", type="positive")
        await self.on_added()
        return True

    def _say(self, text: str) -> None:
        self.problem.text = text


class SourceRow:
    """One source in the list. `show` moves its running job's progress without drawing the row again."""

    def __init__(self, source: VoiceSource, selected: bool, actions: SourceActions) -> None:
        self.source = source
        self.live: LiveProgress | None = None
        source_id = source.id
        state = SOURCE_JOB_STATE.get(source.state, JobState.QUEUED)
        self.card = ui.card().classes("w-full p-3 gap-1 voice-source").mark(f"source-{source_id}")
        self.mark_open(selected)
        with self.card:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon(KIND_ICON.get(source.kind, "graphic_eq")).classes("opacity-70 shrink-0")
                title = source.title or source.origin
                ui.label(title).classes("font-medium break-all min-w-0 grow line-clamp-2").tooltip(source.origin)
                ui.chip(source.state, icon=STATE_ICON[state], color=STATE_COLOR[state]).props(
                    "dense text-color=white"
                ).classes("shrink-0").mark(f"source-state-{source_id}")
            facts = [duration_text(source.duration_seconds), source.language]
            if any(facts):
                ui.label(" · ".join(f for f in facts if f)).classes("text-xs opacity-60")
            if source.state in ACTIVE:
                bar = ui.linear_progress(value=0, show_value=False).props("rounded size=8px")
                bar.mark(f"source-progress-{source_id}")
                waiting = "waiting for the CPU" if source.state == "queued" else ""
                message = ui.label(waiting).classes("text-xs opacity-70").mark(f"source-message-{source_id}")
                self.live = LiveProgress(bar, message)
            if source.state == "done":
                ui.label(summary_text(source.summary or {})).classes("text-sm").mark(f"source-summary-{source_id}")
            if source.error and source.state in ("failed", "cancelled"):
                ui.label(source.error).classes("text-sm text-negative break-words").mark(f"source-error-{source_id}")
            with ui.row().classes("gap-1 items-center"):
                if source.state == "done":
                    tagged(
                        ui.button("Speakers", icon="record_voice_over", on_click=lambda: actions.open(source)).props(
                            "flat dense no-caps color=primary"
                        ),
                        f"open-source-{source_id}",
                    )
                if source.job_id is not None and source.state in ACTIVE:
                    tagged(
                        ui.button("Cancel", icon="cancel", on_click=lambda: actions.cancel(source)).props(
                            "flat dense no-caps color=negative"
                        ),
                        f"cancel-source-{source_id}",
                    )
                if source.job_id is not None and source.state in ("failed", "cancelled"):
                    tagged(
                        ui.button("Retry", icon="replay", on_click=lambda: actions.retry(source)).props(
                            "flat dense no-caps"
                        ),
                        f"retry-source-{source_id}",
                    )
                if source.state not in ACTIVE:
                    tagged(
                        ui.button(icon="delete", on_click=lambda: actions.delete(source)).props(
                            'flat dense round aria-label="Delete this source"'
                        ),
                        f"delete-source-{source_id}",
                    ).tooltip("Delete this source and its segments")

    def mark_open(self, is_open: bool) -> None:
        """The source whose speakers show below is outlined."""
        if is_open:
            self.card.classes(add="voice-source--open")
        else:
            self.card.classes(remove="voice-source--open")

    def show(self, event: Any) -> None:
        if self.live is not None and not self.live.bar.is_deleted:
            self.live.show(event)


class SourceActions:
    """What a source's buttons do; refusals become notices (the list redraws from the events)."""

    def __init__(
        self, studio: Studio, actor: str, open_source: SourceAction, changed: Callable[[], Awaitable[None]]
    ) -> None:
        self.studio, self.actor, self.open, self.changed = studio, actor, open_source, changed
        # Notices and the undo bar go here: the row whose button asked for them is redrawn meanwhile.
        self.layout = page_level()

    async def cancel(self, source: VoiceSource) -> None:
        try:
            await self.studio.voice_sources.cancel(source.id, self.actor)  # type: ignore[arg-type]
        except StudioError as exc:  # it ended meanwhile: a notice, not an error page
            ui.notify(problem_text(exc), type="warning")
            return
        ui.notify(f"Stopped looking for voices in {(source.title or source.origin)[:60]}", type="info")

    async def retry(self, source: VoiceSource) -> None:
        await retry_job(self.studio, source.job_id, self.actor)  # type: ignore[arg-type]

    async def delete(self, source: VoiceSource) -> None:
        name = source.title or source.origin
        try:
            await self.studio.voice_sources.delete(source.id, self.actor)  # type: ignore[arg-type]
        except StudioError as exc:
            ui.notify(problem_text(exc), type="warning")
            return
        await self.changed()

        async def undo() -> None:
            try:
                await self.studio.voice_sources.restore(source.id, self.actor)  # type: ignore[arg-type]
            except StudioError as exc:
                with self.layout:
                    ui.notify(f"The source could not be put back: {problem_text(exc)}", type="warning")
                return
            await self.changed()

        with self.layout:
            offer_undo(f"Deleted {name[:60]}", undo)

"""Voices: bring in speech from a video address, an uploaded video or audio file or a folder; follow each source's
job; hear the voices found in a source, name them after characters (the studio proposes, a person confirms),
approve or reject their segments (keyboard first, with Undo); and per character its approved samples, the
reference its cloned voice uses, the cloned voice itself and the GPT-SoVITS export.

`/voices?project=ID&source=ID&character=ID` (source and character optional). Events only mark what changed; the
page reads again on a timer, so a burst of decisions from another tab costs one read, not one per decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from components.voice_audio import SampleAudio
from components.voice_samples_panel import CharacterSamplesPanel
from components.voice_sources import AddSource, SourceActions, SourceRow
from components.voice_speakers import SpeakerGroups
from services.jobs import JobChanged, JobProgressed
from services.voice import VoiceChanged
from services.voice_samples import VOICE_INGEST_JOB, VoiceSamplesChanged
from studio.models import Project, VoiceSource
from studio.root import Studio

PATH = "/voices"
VOICES_HEAD = '<link rel="stylesheet" href="/assets/voices.css">'
REDRAW_SECONDS = 0.3
# Changes to the source list itself (the rest only touches a source's groups or a character's samples).
SOURCE_CHANGES = frozenset({"added", "done", "failed", "cancelled", "deleted", "restored"})


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page(PATH)
    async def voices_page(request: Request) -> None:
        async with frame(studio, request, "Voices", areas, head=VOICES_HEAD) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3"):
                    await project_picker(studio, project, PATH)
                if project is None:
                    no_project_yet()
                    return
                view = VoicesView(studio, project, principal_of(request).name)
                await view.build(_number(request.query_params.get("character")))
            await view.reload_sources()
            await view.open_named(_number(request.query_params.get("source")))
            await view.samples_panel.load(None)


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class VoicesView:
    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.project_id: int = project.id  # type: ignore[assignment]
        self.rows: dict[int, SourceRow] = {}  # by source id
        self.sources: list[VoiceSource] = []
        self.progress: dict[int, JobProgressed] = {}  # by job id, drawn at the next redraw
        self.sources_dirty = self.groups_dirty = self.samples_dirty = False

    async def build(self, wanted_character: int | None) -> None:
        cards = await self.studio.characters.cards(self.project_id)
        self.characters = {card.character.id: card.character.name for card in cards}  # type: ignore[misc]
        with ui.element("div").classes("voices-layout"):
            with ui.column().classes("w-full gap-3 min-w-0"):
                AddSource(self.studio, self.project_id, self.actor, self.reload_sources)
                ui.label("Sources").classes("text-lg font-semibold")
                self.sources_host = ui.column().classes("w-full gap-2").mark("sources")
            with ui.column().classes("w-full gap-2 min-w-0"):
                with ui.column().classes("w-full gap-0 voice-player"):
                    self.audio = SampleAudio()
                self.groups = SpeakerGroups(self.studio, self.actor, self.characters, self.audio, self._samples_changed)
        self.actions = SourceActions(self.studio, self.actor, self.open_source, self.reload_sources)
        self._characters_section(wanted_character)
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        client.on_delete(self.studio.events.subscribe(JobProgressed, self.job_progressed))
        client.on_delete(self.studio.events.subscribe(VoiceSamplesChanged, self.samples_event))
        client.on_delete(self.studio.events.subscribe(VoiceChanged, self.voice_changed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    def _characters_section(self, wanted: int | None) -> None:
        ui.separator().classes("my-2")
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Characters' voices").classes("text-lg font-semibold")
            if not self.characters:
                ui.label("This project has no characters yet.").classes("opacity-70").mark("no-characters")
                ui.link("Create them on the Characters page", f"/characters?project={self.project_id}")
                self.samples_panel = CharacterSamplesPanel(self.studio, self.actor, self.project_id, self.audio)
                return
            chosen = wanted if wanted in self.characters else next(iter(self.characters))
            picker = ui.select(self.characters, value=chosen, label="Character").props("outlined dense")
            picker.classes("w-56").mark("samples-character")
        self.samples_panel = CharacterSamplesPanel(self.studio, self.actor, self.project_id, self.audio)
        self.samples_panel.character_id, self.samples_panel.name = chosen, self.characters[chosen]
        picker.on_value_change(lambda e: self.samples_panel.load(e.value, self.characters.get(e.value, "")))

    # --- sources ---------------------------------------------------------------------------------------

    async def reload_sources(self) -> None:
        sources = await self.studio.voice_sources.list(self.project_id)
        if self.sources_host.is_deleted:
            return
        self.sources = sources
        self.sources_host.clear()
        self.rows = {}
        with self.sources_host:
            if not sources:
                ui.label(
                    "No sources yet: paste a video address, upload a video or audio file, or pick a folder above. "
                    "The studio finds the speech, transcribes it and groups it by voice."
                ).classes("opacity-70").mark("no-sources")
            for source in sources:
                selected = source.id == self.groups.source_id
                self.rows[source.id] = SourceRow(source, selected, self.actions)  # type: ignore[index]
        if self.groups.source_id is not None and self.groups.source_id not in self.rows:
            self.groups.close()  # the open source was deleted (here or elsewhere)

    async def open_source(self, source: VoiceSource) -> None:
        if await self.groups.open(source.id, source.title or source.origin):  # type: ignore[arg-type]
            for source_id, row in self.rows.items():
                row.mark_open(source_id == source.id)
            # The address names the open source, so a reload or a shared link opens it again.
            ui.navigate.history.replace(f"{PATH}?project={self.project_id}&source={source.id}")

    async def open_named(self, source_id: int | None) -> None:
        """Open the source an address names; one of another project, still running or gone opens nothing."""
        source = next((s for s in self.sources if s.id == source_id and s.state == "done"), None)
        if source is not None:
            await self.open_source(source)

    # --- live updates ------------------------------------------------------------------------------------

    async def _samples_changed(self) -> None:
        """A decision, assignment or transcript changed here: the character panel shows it at once."""
        await self.samples_panel.load(None)

    def job_changed(self, event: JobChanged) -> None:
        if event.kind == VOICE_INGEST_JOB and event.project_id in (None, self.project_id):
            self.sources_dirty = True

    def job_progressed(self, event: JobProgressed) -> None:
        self.progress[event.job_id] = event

    def samples_event(self, event: VoiceSamplesChanged) -> None:
        if event.project_id != self.project_id:
            return
        if event.change in SOURCE_CHANGES:
            self.sources_dirty = True
        if event.source_id is None or event.source_id == self.groups.source_id:
            self.groups_dirty = True
        self.samples_dirty = True

    def voice_changed(self, _event: VoiceChanged) -> None:
        # A voice saved in the character editor (or its Undo) moves the reference the panel shows.
        self.samples_dirty = True

    async def redraw(self) -> None:
        progress, self.progress = self.progress, {}
        if self.sources_dirty:
            self.sources_dirty = False
            await self.reload_sources()
        if progress:
            by_job = {row.source.job_id: row for row in self.rows.values()}
            for job_id, event in progress.items():
                row = by_job.get(job_id)
                if row is not None:
                    row.show(event)
        if self.groups_dirty:
            self.groups_dirty = False
            await self.groups.load()
        if self.samples_dirty:
            self.samples_dirty = False
            await self.samples_panel.load(None)

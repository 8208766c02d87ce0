"""A character's voice samples: the approved segments (best first), the one its cloned voice uses as reference
and why, Use as reference, Speak with the cloned voice, and the GPT-SoVITS training export.

The Voices page shows it in full; the character editor's Voice tab shows the reference and the samples' count,
with the way to the Voices page.
"""

from __future__ import annotations

from nicegui import ui

from components.character_references import problem_text
from components.line_player import LinePlayer
from components.page_level import page_level
from components.sample_panel import tagged
from components.voice_audio import SampleAudio
from components.voice_editor import sample_line
from components.voice_quality import REFERENCE_SECONDS, quality_chips
from components.voice_tab_samples import export_url, quoted, reference_of, samples_count
from services.errors import StudioError
from services.voice_samples import CharacterSamples, SegmentView
from studio.root import Studio

# The full panel lists this many samples (the export holds every one).
SAMPLES_SHOWN = 200


class CharacterSamplesPanel:
    """The full panel of one character on the Voices page; `load` draws it (again)."""

    def __init__(self, studio: Studio, actor: str, project_id: int, audio: SampleAudio) -> None:
        self.studio, self.actor, self.project_id, self.audio = studio, actor, project_id, audio
        self.layout = page_level()  # notices outlive the sample row whose button asked for them
        self.character_id: int | None = None
        self.name = ""
        self.host = ui.column().classes("w-full gap-2").mark("character-samples")
        self.player_host = ui.column().classes("w-full")
        with self.player_host:
            self.player = LinePlayer(studio, "cloned-voice")

    async def load(self, character_id: int | None, name: str = "") -> None:
        if character_id is not None:
            self.character_id, self.name = character_id, name or self.name
        if self.character_id is None:
            return
        try:
            samples = await self.studio.voice_samples.samples(self.character_id)
        except StudioError as exc:
            self._draw_problem(problem_text(exc))
            return
        if self.host.is_deleted or samples.character_id != self.character_id:
            return
        self._draw(samples)

    def _draw_problem(self, text: str) -> None:
        self.host.clear()
        with self.host:
            ui.label(text).classes("text-negative")

    def _draw(self, samples: CharacterSamples) -> None:
        character_id = samples.character_id
        self.host.clear()
        with self.host:
            tagged(ui.label(samples_count(samples)).classes("text-sm opacity-80"), "samples-count")
            if not samples.approved:
                ui.label(
                    f"No approved samples of {self.name} yet: assign a speaker group to {self.name} above and "
                    "approve its segments."
                ).classes("opacity-70").mark("no-samples")
                return
            reference = reference_of(samples)
            with ui.card().classes("w-full gap-1 p-3 voice-reference").mark("reference"):
                ui.label("Voice reference").classes("font-semibold")
                if reference is None:
                    low, high = REFERENCE_SECONDS
                    ui.label(
                        f"None yet: a reference must last {low:.0f}-{high:.0f} s. Approve a sample of that length."
                    ).classes("text-sm text-warning").mark("no-reference")
                else:
                    with ui.row().classes("w-full items-center gap-2 no-wrap"):
                        self._play_button(reference, "play-reference")
                        tagged(ui.label(quoted(reference)).classes("text-sm break-words min-w-0"), "reference-text")
                    ui.label(samples.reference_reason).classes("text-xs opacity-70").mark("reference-reason")
            with ui.row().classes("w-full items-center gap-2"):
                tagged(
                    ui.button("Speak with the cloned voice", icon="record_voice_over", on_click=self.speak).props(
                        "unelevated no-caps color=primary"
                    ),
                    "speak-cloned",
                ).set_enabled(reference is not None)
                tagged(
                    ui.link("Export for GPT-SoVITS (.zip)", export_url(character_id)).props("download"),
                    "export-samples",
                ).classes("text-sm")
            with ui.column().classes("w-full gap-1").mark("approved-samples"):
                for segment in samples.approved[:SAMPLES_SHOWN]:
                    self._sample_row(segment, segment.id == samples.reference_id)

    def _play_button(self, segment: SegmentView, marker: str) -> None:
        tagged(
            ui.button(icon="play_arrow", on_click=lambda: self.audio.play(segment.id, f"{self.name}'s sample")).props(
                'flat round dense aria-label="Play this sample"'
            ),
            marker,
        )

    def _sample_row(self, segment: SegmentView, is_reference: bool) -> None:
        with ui.row().classes("w-full items-center gap-2 voice-sample").mark(f"sample-{segment.id}"):
            self._play_button(segment, f"play-sample-{segment.id}")
            ui.label(quoted(segment)).classes("text-sm break-words min-w-0 grow")
            quality_chips(
                segment.snr_db,
                segment.duration,
                segment.speaker_confidence,
                segment.quality,
                f"sample-quality-{segment.id}",
            )
            if is_reference:
                tagged(ui.badge("Reference", color="primary"), f"is-reference-{segment.id}")
            else:
                # A disabled button shows no tooltip; the span around it does.
                with ui.element("span"):
                    use = tagged(
                        ui.button("Use as reference", on_click=lambda: self.choose(segment.id)).props(
                            "outline dense no-caps"
                        ),
                        f"use-reference-{segment.id}",
                    )
                    fits = segment.fits_reference
                    use.set_enabled(fits)
                    low, high = REFERENCE_SECONDS
                    ui.tooltip(
                        "Clone the voice from this sample"
                        if fits
                        else f"A reference must last {low:.0f}-{high:.0f} s: the voice service refuses others"
                    )

    async def choose(self, segment_id: int) -> None:
        if self.character_id is None:
            return
        try:
            await self.studio.voice_samples.choose_reference(self.character_id, segment_id, self.actor)
        except StudioError as exc:
            with self.layout:
                ui.notify(problem_text(exc), type="warning", multi_line=True)
            return
        with self.layout:
            ui.notify(f"{self.name}'s cloned voice now starts from this sample", type="positive")
        await self.load(self.character_id)

    async def speak(self) -> None:
        """Switch the character to its cloned voice (the voice service) and say a line with it."""
        if self.character_id is None:
            return
        character_id = self.character_id
        try:
            await self.studio.voice_samples.use_cloned_voice(character_id, self.actor)
        except StudioError as exc:
            ui.notify(problem_text(exc), type="warning", multi_line=True)
            return
        await self.player.play(
            lambda: self.studio.voices.request_line(
                sample_line(self.name), character_id, self.actor, project_id=self.project_id
            ),
            f"{self.name}'s cloned voice",
        )

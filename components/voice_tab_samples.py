"""The character editor's Voice tab's part about voice samples: how many are approved, the reference its cloned
voice starts from (with Play), and the way to the Voices page. The helpers here are shared with the Voices page's
character panel (components/voice_samples_panel.py)."""

from __future__ import annotations

from nicegui import ui

from components.character_references import problem_text
from components.voice_audio import segment_audio_url
from components.voice_quality import REFERENCE_SECONDS
from services.errors import StudioError
from services.voice_samples import CharacterSamples, SegmentView
from studio.root import Studio


def export_url(character_id: int) -> str:
    """The REST route that zips the character's samples as a GPT-SoVITS training list."""
    return f"/api/characters/{character_id}/voice-samples/export.zip"


def voices_address(project_id: int, character_id: int) -> str:
    return f"/voices?project={project_id}&character={character_id}"


def samples_count(samples: CharacterSamples) -> str:
    count = len(samples.approved)
    return f"{count} approved sample{'s' * (count != 1)} · {samples.total_seconds:.0f} s of speech"


def reference_of(samples: CharacterSamples) -> SegmentView | None:
    return next((s for s in samples.approved if s.id == samples.reference_id), None)


def quoted(segment: SegmentView) -> str:
    words = segment.transcript or "(no words)"
    return f"“{words[:160]}{'…' if len(words) > 160 else ''}” · {segment.duration:.1f} s"


async def voice_tab_samples(studio: Studio, project_id: int, character_id: int, name: str) -> None:
    """The character editor's Voice tab: the approved samples' count, the reference with Play, and the way to the
    Voices page (where samples are found, approved and chosen)."""
    with ui.column().classes("w-full gap-1").mark("voice-tab-samples"):
        ui.label("Voice samples").classes("font-semibold")
        try:
            samples = await studio.voice_samples.samples(character_id)
        except StudioError as exc:
            ui.label(problem_text(exc)).classes("text-sm text-negative")
            return
        ui.label(samples_count(samples)).classes("text-sm opacity-80").mark("voice-tab-samples-count")
        reference = reference_of(samples)
        if reference is not None:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.label("Reference:").classes("text-sm")
                ui.label(quoted(reference)).classes("text-sm break-words min-w-0").mark("voice-tab-reference")
            # A plain player: the tab is small, and the sample is short.
            ui.audio(segment_audio_url(reference.id)).classes("w-full").mark("voice-tab-reference-audio")
        elif samples.approved:
            low, high = REFERENCE_SECONDS
            ui.label(f"No reference yet: none of the approved samples lasts {low:.0f}-{high:.0f} s.").classes(
                "text-sm text-warning"
            )
        for segment in samples.approved[:5]:
            if segment.id != samples.reference_id:
                ui.label(quoted(segment)).classes("text-xs opacity-70 break-words")
        more = (
            "Find, approve and choose samples on the Voices page"
            if samples.approved
            else ("Find this character's voice in a video or audio file on the Voices page")
        )
        ui.link(more, voices_address(project_id, character_id)).classes("text-sm").mark("to-voices")

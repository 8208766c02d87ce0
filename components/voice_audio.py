"""One audio player for the voice samples of a page: Play on any segment (or Space on the current one) plays it
here, so two segments never talk over each other."""

from __future__ import annotations

from nicegui import ui

from services.voice_samples.views import SEGMENT_AUDIO_URL


def segment_audio_url(segment_id: int) -> str:
    """The REST route that serves a segment's WAV (studio/api/voice_samples.py)."""
    return SEGMENT_AUDIO_URL.format(id=segment_id)


class SampleAudio:
    def __init__(self, marker: str = "sample-audio") -> None:
        self.now_playing = ui.label().classes("text-xs opacity-70").mark(f"{marker}-what")
        # Hidden until something plays: an empty player is a control that does nothing.
        self.audio = ui.audio("", autoplay=True).classes("w-full max-w-md").mark(marker)
        self.audio.set_visibility(False)
        self.playing: int | None = None

    def play(self, segment_id: int, what: str) -> None:
        url = segment_audio_url(segment_id)
        self.playing = segment_id
        self.now_playing.text = f"Playing {what}"
        self.audio.set_visibility(True)
        if self.audio.source == url:
            # The same segment again starts over (autoplay plays only a new source).
            self.audio.seek(0)
            self.audio.play()
        else:
            self.audio.set_source(url)

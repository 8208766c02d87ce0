"""A character's voice in the character editor: the engine (those that cannot speak here are disabled, with
the reason), that engine's options, Save with Undo, and a preview line synthesized and played in the page.
Edits not saved yet show the unsaved marker, and the editor asks before they are lost."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from pydantic import ValidationError

from components.form_errors import explain
from components.line_player import LinePlayer
from components.undo import offer_undo
from components.unsaved import UnsavedMarker
from components.voice_tab_samples import voice_tab_samples
from services.errors import Conflict, Invalid, NotFound
from services.voice import DEFAULT_PROFILE, EngineStatus, VoiceProfile
from studio.models import Character
from studio.root import Studio

UNAVAILABLE = " (unavailable here)"
ENGINE_LABELS = {
    "piper": "Piper: natural US English voice",
    "espeak": "espeak-ng: robotic, many languages",
    "http": "Voice service: a cloned voice (GPT-SoVITS or XTTS)",
}


def sample_line(name: str) -> str:
    return f"Hello, my name is {name}. It is good to meet you."


async def voice_editor(studio: Studio, character: Character, actor: str) -> VoiceEditor:
    """Draw the voice editor of `character` here. espeak-ng's languages and variants (a subprocess each) fill
    their lists just after, so the editor around it is drawn without waiting for them."""
    editor = VoiceEditor(studio, character, actor)
    editor.build()
    ui.timer(0.01, editor.fill_espeak_lists, once=True)
    ui.timer(0.01, editor.fill_samples, once=True)
    return editor


class VoiceEditor:
    def __init__(self, studio: Studio, character: Character, actor: str) -> None:
        self.studio, self.character, self.actor = studio, character, actor
        self.character_id: int = character.id  # type: ignore[assignment]
        self.engines: dict[str, EngineStatus] = {s.engine: s for s in studio.voices.available_engines()}
        self.unreadable: str | None = None
        self.loaded: VoiceProfile | None = None
        try:
            self.saved = studio.voices.profile_of(character)
        except Invalid as exc:
            self.saved, self.unreadable = DEFAULT_PROFILE, exc.message

    def build(self) -> None:
        ui.label("How this character sounds when its lines are spoken.").classes("text-sm opacity-70")
        if self.unreadable:
            ui.label(f"{self.unreadable}. The form shows the default voice.").classes("text-warning text-sm").mark(
                "voice-unreadable"
            )
        options = {
            engine: ENGINE_LABELS[engine] + ("" if status.available else UNAVAILABLE)
            for engine, status in self.engines.items()
        }
        self.engine = (
            ui.select(options, label="Engine", value=self.saved.engine)
            .props("outlined dense")
            .classes("w-full")
            .mark("voice-engine")
        )
        # Engines that cannot speak here cannot be chosen (Quasar evaluates `:`-props as JavaScript).
        self.engine.props(f":option-disable=\"opt => opt.label.endsWith('{UNAVAILABLE}')\"")
        for status in self.engines.values():
            if not status.available:
                ui.label(f"{ENGINE_LABELS[status.engine].split(':')[0]}: {status.reason}").classes(
                    "text-xs opacity-70 break-words"
                ).mark(f"voice-unavailable-{status.engine}")

        with ui.column().classes("w-full gap-2").mark("voice-piper") as self.piper_box:
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.length_scale = self._number("Length (1 normal, 2 slow, 0.5 fast)", 0.5, 2.0, 0.05, "length-scale")
                self.noise_scale = self._number("Variability (empty: the voice's own)", 0.0, 1.5, 0.05, "noise-scale")
                self.noise_w_scale = self._number("Rhythm variability (empty: own)", 0.0, 1.5, 0.05, "noise-w-scale")
        with ui.column().classes("w-full gap-2").mark("voice-espeak") as self.espeak_box:
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.espeak_voice = (
                    ui.select(["en-us"], label="Language", with_input=True, new_value_mode="add-unique")
                    .props("outlined dense")
                    .classes("grow")
                    .mark("voice-espeak-voice")
                )
                self.variant = (
                    ui.select({"": "plain voice"}, label="Variant", with_input=True)
                    .props("outlined dense")
                    .classes("grow")
                    .mark("voice-variant")
                )
            with ui.row().classes("w-full gap-2 items-center no-wrap"):
                ui.label("Pitch").classes("text-sm")
                self.pitch = ui.slider(min=0, max=99, step=1).props("label").classes("grow").mark("voice-pitch")
                self.speed = self._number("Words per minute", 80, 450, 5, "speed").classes(replace="w-40")
        with ui.column().classes("w-full gap-2").mark("voice-http") as self.http_box:
            self.reference_sample = (
                ui.input("Reference sample")
                .props('outlined dense hint="The audio to clone, as the voice server names it (a path or speaker)"')
                .classes("w-full")
                .mark("voice-reference-sample")
            )
            self.reference_text = (
                ui.textarea("What the reference sample says")
                .props("outlined dense autogrow")
                .classes("w-full")
                .mark("voice-reference-text")
            )
            self.language = ui.input("Language").props("outlined dense").classes("w-32").mark("voice-language")
            ui.label(self.engines["http"].reason).classes("text-xs opacity-70")

        self.errors = ui.column().classes("w-full gap-1").mark("voice-errors")
        with ui.row().classes("w-full items-center gap-3"):
            ui.button("Save voice", icon="save", on_click=self.save).mark("voice-save")
            self.saved_label = ui.label().classes("text-sm opacity-70").mark("voice-saved")
            self.unsaved = UnsavedMarker(f"{self.character.name}'s voice", "voice-unsaved")
        ui.separator()
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            self.sample = (
                ui.input("Sample line", value=sample_line(self.character.name))
                .props("outlined dense")
                .classes("grow")
                .mark("voice-sample")
            )
            self.preview_button = ui.button("Preview voice", icon="play_arrow", on_click=self.preview).mark(
                "voice-preview"
            )
        self.player = LinePlayer(self.studio, "voice-preview")
        ui.separator()
        self.samples_host = ui.column().classes("w-full gap-1")
        self.load(self.saved)
        self.engine.on_value_change(self.engine_changed)
        # Every field of the profile; the sample line is only what a preview says, not part of the voice.
        self.unsaved.watch(
            self.engine, self.length_scale, self.noise_scale, self.noise_w_scale, self.espeak_voice, self.variant,
            self.pitch, self.speed, self.reference_sample, self.reference_text, self.language,
        )  # fmt: skip

    async def fill_espeak_lists(self) -> None:
        """Offer the languages and variants espeak-ng has here, keeping what the form holds."""
        voices = await self.studio.voices.espeak.voices()
        variants = await self.studio.voices.espeak.variants()
        if self.variant.is_deleted:
            return
        language, variant = self.espeak_voice.value, self.variant.value
        self.espeak_voice.set_options(sorted({*voices, *self.espeak_voice.options}), value=language)
        held = {v: v for v in self.variant.options if v}  # type: ignore[union-attr]
        self.variant.set_options({"": "plain voice", **{v: v for v in variants}, **held}, value=variant)

    async def fill_samples(self) -> None:
        """The character's voice samples and reference (read after the editor is drawn, like espeak's lists)."""
        if self.samples_host.is_deleted:
            return
        with self.samples_host:
            await voice_tab_samples(self.studio, self.character.project_id, self.character_id, self.character.name)

    def _number(self, label: str, low: float, high: float, step: float, marker: str) -> ui.number:
        return (
            ui.number(label, min=low, max=high, step=step)
            .props("outlined dense clearable")
            .classes("grow")
            .mark(f"voice-{marker}")
        )

    # --- the form ---------------------------------------------------------------------------------

    def load(self, profile: VoiceProfile) -> None:
        """Show a profile (the saved one, or the one Undo put back)."""
        self.loaded = profile
        self.engine.value = profile.engine
        self.length_scale.value = profile.length_scale
        self.noise_scale.value = profile.noise_scale
        self.noise_w_scale.value = profile.noise_w_scale
        if profile.espeak_voice not in self.espeak_voice.options:
            self.espeak_voice.set_options([*self.espeak_voice.options, profile.espeak_voice])
        self.espeak_voice.value = profile.espeak_voice
        if profile.variant and profile.variant not in self.variant.options:
            self.variant.set_options({**self.variant.options, profile.variant: profile.variant})  # type: ignore[dict-item]
        self.variant.value = profile.variant or ""
        self.pitch.value = profile.pitch
        self.speed.value = profile.speed
        self.reference_sample.value = profile.reference_sample or ""
        self.reference_text.value = profile.reference_text
        self.language.value = profile.language
        self.engine_changed()

    def engine_changed(self) -> None:
        engine = self.engine.value
        self.piper_box.set_visibility(engine == "piper")
        self.espeak_box.set_visibility(engine == "espeak")
        self.http_box.set_visibility(engine == "http")
        status = self.engines.get(engine)
        self.preview_button.set_enabled(status is not None and status.available)

    def profile(self) -> VoiceProfile:
        """The form as a profile; ValidationError names a field out of range."""
        values: dict[str, Any] = {"engine": self.engine.value}
        engine = self.engine.value
        if engine == "piper":
            values |= {
                "length_scale": 1.0 if self.length_scale.value is None else self.length_scale.value,
                "noise_scale": self.noise_scale.value,
                "noise_w_scale": self.noise_w_scale.value,
            }
        elif engine == "espeak":
            values |= {
                "espeak_voice": self.espeak_voice.value or "en-us",
                "variant": self.variant.value or None,
                "pitch": int(self.pitch.value if self.pitch.value is not None else 50),
                "speed": int(self.speed.value if self.speed.value is not None else 175),
            }
        elif engine == "http":
            values |= {
                "reference_sample": self.reference_sample.value or None,
                "reference_text": self.reference_text.value or "",
                "language": self.language.value or "en",
            }
        return VoiceProfile(**(values | self._sample_link(values)))

    def _sample_link(self, values: dict[str, Any]) -> dict[str, Any]:
        """The approved sample the saved reference comes from, kept while the form still names that sample (on any
        engine, so trying another engine and coming back keeps it); a path typed instead is the user's own."""
        loaded = self.loaded
        if loaded is None or loaded.sample_id is None:
            return {}
        if values.get("engine") == "http" and values.get("reference_sample") != loaded.reference_sample:
            return {}
        link = {"sample_id": loaded.sample_id, "reference_chosen": loaded.reference_chosen}
        if values.get("engine") != "http":
            link |= {"reference_sample": loaded.reference_sample, "reference_text": loaded.reference_text}
        return link

    def show_errors(self, lines: list[str]) -> None:
        self.errors.clear()
        with self.errors:
            for line in lines:
                ui.label(line).classes("text-negative text-sm break-words").mark("voice-error")

    # --- actions ----------------------------------------------------------------------------------

    async def save(self) -> None:
        self.saved_label.text = ""
        try:
            profile = self.profile()
            await self.studio.voices.set_profile(self.character_id, profile, self.actor)
        except ValidationError as exc:
            self.show_errors(explain(exc).split("\n"))
            return
        except (Invalid, Conflict, NotFound) as exc:
            self.show_errors([explain(exc)])
            return
        self.show_errors([])
        self.unsaved.saved()
        previous, self.saved = self.saved, profile
        self.saved_label.text = "Saved."
        if previous == profile:
            return

        async def undo() -> None:
            try:
                await self.studio.voices.set_profile(self.character_id, previous, self.actor)
            except (Invalid, Conflict, NotFound) as exc:
                ui.notify(f"The voice could not be put back: {explain(exc)}", type="warning")
                return
            self.saved = previous
            if not self.engine.is_deleted:
                # In the editor's context: Undo runs from its bar, which is gone by now.
                with self.errors:
                    self.load(previous)
                    self.unsaved.saved()
                self.saved_label.text = "Previous voice put back."
            ui.notify(f"{self.character.name}'s previous voice is back", type="info")

        offer_undo(f"{self.character.name}'s voice saved", undo)

    async def preview(self) -> None:
        try:
            profile = self.profile()
        except ValidationError as exc:
            self.show_errors(explain(exc).split("\n"))
            return
        self.show_errors([])
        text = self.sample.value or ""
        await self.player.play(
            lambda: self.studio.voices.request_preview(self.character_id, text, self.actor, profile),
            f"{self.character.name}'s voice",
        )

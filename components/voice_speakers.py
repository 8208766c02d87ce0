"""The speaker groups of one source on the Voices page: each voice the studio heard, with the character it proposes
and why, Assign/Confirm, and its segments (level strip, Play, the transcript edited in place, quality in words,
Approve/Reject), decided one by one, per group or per selection, with Undo.

Keyboard, as in the review station: ↑/↓ move between segments, A approves, R rejects, Space plays, Ctrl+Z undoes the
last decision. A text field keeps its own keys (typing an "a" in a transcript approves nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nicegui import events, ui

from components.character_references import problem_text
from components.page_level import page_level
from components.sample_panel import tagged
from components.undo import offer_undo
from components.unsaved import UnsavedMarker
from components.voice_audio import SampleAudio
from components.voice_levels import LevelStrip, levels_of
from components.voice_quality import quality_chips
from components.voice_sources import duration_text
from services.errors import NotFound, StudioError
from services.voice_samples import DecisionChange, SegmentChanges, SegmentView, SpeakerView
from studio.root import Studio

DECISION_COLOR = {"pending": "grey-7", "approved": "positive", "rejected": "negative"}
DECISION_ICON = {"pending": "help_outline", "approved": "check_circle", "rejected": "cancel"}
# Ctrl+Z walks back this many decisions (each a bulk change or a single one).
UNDO_DEPTH = 50


def time_span(segment: SegmentView) -> str:
    return f"{duration_text(segment.start)} to {duration_text(segment.end)}"


def speaker_name(speaker: SpeakerView) -> str:
    return f"Speaker {speaker.label}"


@dataclass
class SegmentRow:
    """One segment's elements that change in place (a decision never redraws the group)."""

    segment: SegmentView
    card: ui.element
    decision: ui.chip
    transcript: ui.input
    selected: ui.checkbox
    strip: LevelStrip

    def show(self, segment: SegmentView, *, keep_draft: bool) -> None:
        self.segment = segment
        self.decision.text = segment.decision
        self.decision.set_background_color(DECISION_COLOR[segment.decision])
        self.decision.set_icon(DECISION_ICON[segment.decision])
        for decision in DECISION_COLOR:
            self.card.classes(remove=f"voice-segment--{decision}")
        self.card.classes(add=f"voice-segment--{segment.decision}")
        if not keep_draft:
            self.transcript.value = segment.transcript


class SpeakerGroups:
    """The groups of the open source; `load` reads them (again), keeping the cursor, the selection and drafts."""

    def __init__(
        self,
        studio: Studio,
        actor: str,
        characters: dict[int, str],
        audio: SampleAudio,
        on_samples_changed: Callable[[], Awaitable[None]],
    ) -> None:
        self.studio, self.actor, self.characters, self.audio = studio, actor, characters, audio
        self.on_samples_changed = on_samples_changed
        self.source_id: int | None = None
        self.speakers: list[SpeakerView] = []
        self.rows: dict[int, SegmentRow] = {}
        self.order: list[int] = []  # segment ids as shown, for ↑/↓
        self.current: int | None = None
        self.selection: set[int] = set()
        self.drafts: dict[int, str] = {}  # transcripts typed but not saved yet
        self.history: list[DecisionChange] = []
        self.levels: dict[int, list[float]] = {}  # read once per segment: a redraw does not read the WAVs again
        self.headers: dict[int, ui.column] = {}
        # Notices and undo bars go here: the group whose button asked for them may be redrawn meanwhile.
        self.layout = page_level()
        with ui.row().classes("w-full items-center gap-2"):
            self.title = ui.label("Speakers").classes("text-lg font-semibold")
            ui.space()
            self.unsaved = UnsavedMarker("the transcripts", "transcripts-unsaved")
        ui.label("↑/↓ move · A approve · R reject · Space play · Ctrl+Z undo").classes("text-xs opacity-60 voice-keys")
        self.bulk = ui.row().classes("w-full items-center gap-2 voice-bulk").mark("selection-bar")
        self.bulk.set_visibility(False)
        self.host = ui.column().classes("w-full gap-3").mark("speaker-groups")
        with self.host:
            self._empty("Pick a source above to hear the voices found in it.", "no-source-open")
        ui.keyboard(self._key, ignore=["input", "select", "textarea"])

    # --- reading and drawing -----------------------------------------------------------------------

    async def open(self, source_id: int, title: str) -> bool:
        """Show another source's groups; False when the person kept unsaved transcripts instead."""
        if source_id != self.source_id and not await self.unsaved.discard_ok():
            return False
        if source_id != self.source_id:
            self.drafts.clear()
            self.selection.clear()
            self.history.clear()
            self.current = None
            self.unsaved.show(False)
        self.source_id = source_id
        self.title.text = f"Speakers in {title[:80]}"
        await self.load()
        return True

    def close(self) -> None:
        """The open source is gone (deleted): show nothing, keep nothing."""
        self.source_id, self.speakers = None, []
        self.drafts.clear()
        self.selection.clear()
        self.unsaved.show(False)
        self.title.text = "Speakers"
        self.rows, self.order = {}, []
        self._show_selection()
        self.host.clear()
        with self.host:
            self._empty("Pick a source above to hear the voices found in it.", "no-source-open")

    async def load(self) -> None:
        if self.source_id is None:
            return
        source_id = self.source_id
        try:
            speakers = await self.studio.voice_samples.speakers(source_id)
        except StudioError as exc:
            self._notify(problem_text(exc), type="warning")
            return
        if self.host.is_deleted or source_id != self.source_id:
            return
        same_shape = [(s.id, [g.id for g in s.segments]) for s in speakers] == [
            (s.id, [g.id for g in s.segments]) for s in self.speakers
        ]
        previous = {s.id: s for s in self.speakers}
        self.speakers = speakers
        if same_shape and self.rows:
            # Only decisions, transcripts or assignments moved: change those in place, keeping focus and scroll.
            for speaker in speakers:
                if _header_facts(previous.get(speaker.id)) != _header_facts(speaker):
                    self._draw_header(speaker)
                for segment in speaker.segments:
                    self.rows[segment.id].show(segment, keep_draft=segment.id in self.drafts)
            return
        self._draw()
        await self._fill_levels()

    def _draw(self) -> None:
        self.rows, self.order, self.headers = {}, [], {}
        known = {segment.id for speaker in self.speakers for segment in speaker.segments}
        self.selection &= known
        self.host.clear()
        with self.host:
            if not self.speakers:
                self._empty(
                    "No speech was found in this source: it is silent, or every bit of speech was shorter than "
                    "a second. Try another source.",
                    "no-speakers",
                )
            for speaker in self.speakers:
                with ui.card().classes("w-full gap-2 p-3").mark(f"speaker-{speaker.id}"):
                    self.headers[speaker.id] = ui.column().classes("w-full gap-1")
                    self._draw_header(speaker)
                    for segment in speaker.segments:
                        self._segment_row(speaker, segment)
        if self.current not in self.rows:
            self.current = self.order[0] if self.order else None
        self._mark_current()
        self._show_selection()

    def _draw_header(self, speaker: SpeakerView) -> None:
        host = self.headers[speaker.id]
        host.clear()
        with host:
            segments = speaker.segments
            seconds = sum(s.duration for s in segments)
            counts = {d: sum(1 for s in segments if s.decision == d) for d in DECISION_COLOR}
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(speaker_name(speaker)).classes("font-semibold")
                ui.label(
                    f"{len(segments)} segments · {seconds:.0f} s · {counts['approved']} approved · "
                    f"{counts['rejected']} rejected"
                ).classes("text-sm opacity-70").mark(f"speaker-counts-{speaker.id}")
            self._assignment(speaker)
            pending = [s.id for s in segments if s.decision == "pending"]
            with ui.row().classes("gap-2 items-center"):
                # An approved sample is always some character's: approving waits for the voice to be assigned.
                with ui.element("span"):
                    tagged(
                        ui.button(
                            f"Approve {len(pending)} pending",
                            icon="done_all",
                            on_click=lambda: self.decide(pending, "approved", f"{speaker_name(speaker)}'s segments"),
                        ).props("outline dense no-caps color=positive"),
                        f"approve-speaker-{speaker.id}",
                    ).set_enabled(bool(pending) and speaker.character_id is not None)
                    if speaker.character_id is None:
                        ui.tooltip("Assign the voice to a character first")
                tagged(
                    ui.button(
                        f"Reject {len(pending)} pending",
                        icon="remove_done",
                        on_click=lambda: self.decide(pending, "rejected", f"{speaker_name(speaker)}'s segments"),
                    ).props("outline dense no-caps color=negative"),
                    f"reject-speaker-{speaker.id}",
                ).set_enabled(bool(pending))
                ui.button(
                    "Select all", icon="checklist", on_click=lambda: self._select([s.id for s in segments])
                ).props("flat dense no-caps").mark(f"select-speaker-{speaker.id}")

    def _assignment(self, speaker: SpeakerView) -> None:
        """Whose voice this is: assigned, proposed (Confirm) or nobody's yet (Assign)."""
        speaker_id = speaker.id
        with ui.row().classes("w-full items-center gap-2"):
            if speaker.character_id is not None:
                tagged(
                    ui.label(f"Assigned to {speaker.character_name}").classes("text-positive font-medium"),
                    f"assigned-{speaker_id}",
                )
            elif speaker.proposed_character_id is not None:
                proposal = f"Proposed: {speaker.proposed_character_name} — {speaker.proposal_reason}"
                tagged(ui.label(proposal).classes("text-sm break-words"), f"proposal-{speaker_id}")
                tagged(
                    ui.button(
                        f"Confirm {speaker.proposed_character_name}",
                        icon="how_to_reg",
                        on_click=lambda: self.assign(speaker, speaker.proposed_character_id),
                    ).props("unelevated dense no-caps color=primary"),
                    f"confirm-speaker-{speaker_id}",
                )
            else:
                ui.label(
                    "Whose voice is this? Assigned, its approved segments become that character's samples."
                ).classes("text-sm opacity-70").mark(f"unassigned-{speaker_id}")
        if not self.characters:
            ui.label("The project has no characters yet: create them on the Characters page to assign voices.").classes(
                "text-sm text-warning"
            )
            return
        with ui.row().classes("items-center gap-2"):
            choice = (
                ui.select(
                    self.characters,
                    value=speaker.character_id or speaker.proposed_character_id,
                    label="Character",
                )
                .props("outlined dense")
                .classes("w-56")
            )
            tagged(choice, f"assign-choice-{speaker_id}")
            tagged(
                ui.button("Assign", icon="person_add", on_click=lambda: self.assign(speaker, choice.value)).props(
                    "outline dense no-caps"
                ),
                f"assign-speaker-{speaker_id}",
            )
            if speaker.character_id is not None:
                tagged(
                    ui.button("Unassign", on_click=lambda: self.assign(speaker, None)).props("flat dense no-caps"),
                    f"unassign-speaker-{speaker_id}",
                )

    def _segment_row(self, speaker: SpeakerView, segment: SegmentView) -> None:
        segment_id = segment.id
        card = ui.element("div").classes("w-full voice-segment").mark(f"segment-{segment_id}")
        with card:
            with ui.row().classes("w-full items-center gap-2 voice-segment-top"):
                selected = ui.checkbox(value=segment_id in self.selection).props("dense")
                selected.on_value_change(lambda e: self._toggle(segment_id, bool(e.value)))
                tagged(selected, f"select-{segment_id}")
                tagged(
                    ui.button(icon="play_arrow", on_click=lambda: self.play(segment_id)).props(
                        'flat round dense aria-label="Play this segment"'
                    ),
                    f"play-{segment_id}",
                )
                strip = LevelStrip(f"levels-{segment_id}")
                ui.label(time_span(segment)).classes("text-xs opacity-70 font-mono")
                decision = tagged(ui.chip(segment.decision).props("dense text-color=white"), f"decision-{segment_id}")
                ui.space()
                tagged(
                    ui.button(icon="check", on_click=lambda: self.decide_one(segment_id, "approved")).props(
                        'flat round dense color=positive aria-label="Approve"'
                    ),
                    f"approve-{segment_id}",
                ).tooltip("Approve (A)")
                tagged(
                    ui.button(icon="close", on_click=lambda: self.decide_one(segment_id, "rejected")).props(
                        'flat round dense color=negative aria-label="Reject"'
                    ),
                    f"reject-{segment_id}",
                ).tooltip("Reject (R)")
            transcript = (
                ui.input(value=self.drafts.get(segment_id, segment.transcript))
                .props('dense borderless placeholder="(no words heard: type what is said)"')
                .classes("w-full voice-transcript")
            )
            tagged(transcript, f"transcript-{segment_id}")
            transcript.on_value_change(lambda e: self._typed(segment_id, e.value))
            transcript.on("blur", lambda: self.save_transcript(segment_id))
            transcript.on("keydown.enter", lambda: self.save_transcript(segment_id))
            transcript.on("keydown.escape", lambda: self._revert(segment_id))
            transcript.on("focus", lambda: self._move_to(segment_id))
            quality_chips(
                segment.snr_db, segment.duration, segment.speaker_confidence, segment.quality, f"quality-{segment_id}"
            )
        card.on("click", lambda: self._move_to(segment_id))
        row = SegmentRow(segment, card, decision, transcript, selected, strip)
        row.show(segment, keep_draft=True)
        self.rows[segment_id] = row
        self.order.append(segment_id)
        if segment_id in self.levels:
            strip.show(self.levels[segment_id])

    async def _fill_levels(self) -> None:
        """Read the level strips of segments drawn without them, a group at a time (its files in one thread)."""
        for speaker in self.speakers:
            missing = [s.id for s in speaker.segments if s.id not in self.levels]
            if not missing:
                continue
            files = [await self._file_of(segment_id) for segment_id in missing]
            for segment_id, levels in zip(missing, await levels_of(files), strict=True):
                if self.host.is_deleted:
                    return
                self.levels[segment_id] = levels
                row = self.rows.get(segment_id)
                if row is not None:
                    row.strip.show(levels)

    async def _file_of(self, segment_id: int) -> Path | None:
        try:
            return await self.studio.voice_samples.segment_file(segment_id)
        except NotFound:
            return None  # its file is gone: the strip says the audio is unreadable

    def _notify(self, message: str, *, type: str) -> None:
        with self.layout:
            ui.notify(message, type=type)  # type: ignore[arg-type]

    def _empty(self, text: str, marker: str) -> None:
        ui.label(text).classes("opacity-70").mark(marker)

    # --- the cursor, selection and keys ------------------------------------------------------------

    def _move_to(self, segment_id: int) -> None:
        if segment_id in self.rows and segment_id != self.current:
            self.current = segment_id
            self._mark_current()

    def _mark_current(self) -> None:
        for segment_id, row in self.rows.items():
            if segment_id == self.current:
                row.card.classes(add="voice-segment--current")
            else:
                row.card.classes(remove="voice-segment--current")

    def _step(self, by: int) -> None:
        if not self.order:
            return
        index = self.order.index(self.current) if self.current in self.order else -1
        self.current = self.order[max(0, min(len(self.order) - 1, index + by))]
        self._mark_current()
        card = self.rows[self.current].card
        ui.run_javascript(f'document.getElementById("{card.html_id}")?.scrollIntoView({{block: "nearest"}})')

    async def _key(self, event: events.KeyEventArguments) -> None:
        if not event.action.keydown or self.source_id is None:
            return
        key, ctrl = event.key, event.modifiers.ctrl or event.modifiers.meta
        name = key.name.lower()
        if ctrl and name == "z":
            await self.undo_last()
        elif ctrl or event.modifiers.alt:
            return  # Ctrl+A selects text, Ctrl+R reloads: the browser's, not ours
        elif key.arrow_down:
            self._step(1)
        elif key.arrow_up:
            self._step(-1)
        elif event.action.repeat:
            return  # a held A or R decides once
        elif name == "a" and self.current is not None:
            await self.decide_one(self.current, "approved", advance=True)
        elif name == "r" and self.current is not None:
            await self.decide_one(self.current, "rejected", advance=True)
        elif key.space and self.current is not None:
            self.play(self.current)

    def _toggle(self, segment_id: int, on: bool) -> None:
        if on:
            self.selection.add(segment_id)
        else:
            self.selection.discard(segment_id)
        self._show_selection()

    def _select(self, segment_ids: Sequence[int]) -> None:
        everything = all(i in self.selection for i in segment_ids)
        for segment_id in segment_ids:
            row = self.rows.get(segment_id)
            if row is not None:
                row.selected.value = not everything  # its change handler updates the selection
        self._show_selection()

    def _show_selection(self) -> None:
        self.bulk.clear()
        self.bulk.set_visibility(bool(self.selection))
        if not self.selection:
            return
        chosen = sorted(self.selection)
        with self.bulk:
            ui.label(f"{len(chosen)} selected").classes("font-medium").mark("selection-count")
            tagged(
                ui.button(
                    "Approve", icon="done_all", on_click=lambda: self.decide(chosen, "approved", "the selection")
                ).props("unelevated dense no-caps color=positive"),
                "approve-selection",
            )
            tagged(
                ui.button(
                    "Reject", icon="remove_done", on_click=lambda: self.decide(chosen, "rejected", "the selection")
                ).props("unelevated dense no-caps color=negative"),
                "reject-selection",
            )
            ui.button("Clear", on_click=lambda: self._select(chosen)).props("flat dense no-caps").mark(
                "clear-selection"
            )

    # --- actions ---------------------------------------------------------------------------------------

    def play(self, segment_id: int) -> None:
        row = self.rows.get(segment_id)
        if row is None:
            return
        _release_focus()
        self._move_to(segment_id)
        speaker = next((s for s in self.speakers if s.id == row.segment.speaker_id), None)
        who = speaker_name(speaker) if speaker else "segment"
        self.audio.play(segment_id, f"{who} at {time_span(row.segment)}")

    async def decide_one(self, segment_id: int, decision: str, *, advance: bool = False) -> None:
        self._move_to(segment_id)
        _release_focus()
        if await self._apply([segment_id], decision) is not None and advance:
            self._step(1)

    async def decide(self, segment_ids: Sequence[int], decision: str, what: str) -> None:
        change = await self._apply(segment_ids, decision)
        if change is None:
            return
        if self.selection:
            self._select(sorted(self.selection & set(segment_ids)))  # a decided selection is done with
        verb = "approved" if decision == "approved" else "rejected"
        with self.layout:
            offer_undo(f"{change.changed} of {what} {verb}", lambda: self._undo(change))

    async def _apply(self, segment_ids: Sequence[int], decision: str) -> DecisionChange | None:
        if not segment_ids:
            return None
        try:
            change = await self.studio.voice_samples.decide(list(segment_ids), decision, self.actor)
        except StudioError as exc:
            self._notify(problem_text(exc), type="warning")
            return None
        self.history = [*self.history[-UNDO_DEPTH + 1 :], change]
        await self.load()
        await self.on_samples_changed()
        return change

    async def undo_last(self) -> None:
        if not self.history:
            self._notify("Nothing to undo", type="info")
            return
        await self._undo(self.history[-1])

    async def _undo(self, change: DecisionChange) -> None:
        try:
            await self.studio.voice_samples.undo(change, self.actor)
        except StudioError as exc:
            self._notify(f"The decisions could not be put back: {problem_text(exc)}", type="warning")
            return
        if change in self.history:
            self.history.remove(change)
        self._notify(f"{len(change.previous)} decision{'s' * (len(change.previous) != 1)} undone", type="info")
        await self.load()
        await self.on_samples_changed()

    async def assign(self, speaker: SpeakerView, character_id: int | None) -> None:
        before = speaker.character_id
        if character_id == before:
            return
        try:
            await self.studio.voice_samples.assign_speaker(speaker.id, character_id, self.actor)
        except StudioError as exc:
            self._notify(problem_text(exc), type="warning")
            return
        await self.load()
        await self.on_samples_changed()
        name = self.characters.get(character_id, "") if character_id is not None else ""
        said = f"{speaker_name(speaker)} is {name}" if name else f"{speaker_name(speaker)} is nobody's now"

        async def undo() -> None:
            try:
                await self.studio.voice_samples.assign_speaker(speaker.id, before, self.actor)
            except StudioError as exc:
                self._notify(f"The assignment could not be put back: {problem_text(exc)}", type="warning")
                return
            await self.load()
            await self.on_samples_changed()

        with self.layout:
            offer_undo(said, undo)

    # --- transcripts -------------------------------------------------------------------------------------

    def _typed(self, segment_id: int, value: str | None) -> None:
        row = self.rows.get(segment_id)
        if row is None:
            return
        if (value or "") != row.segment.transcript:
            self.drafts[segment_id] = value or ""
        else:
            self.drafts.pop(segment_id, None)
        self.unsaved.show(bool(self.drafts))

    def _revert(self, segment_id: int) -> None:
        row = self.rows.get(segment_id)
        if row is not None:
            self.drafts.pop(segment_id, None)
            row.transcript.value = row.segment.transcript

    async def save_transcript(self, segment_id: int) -> None:
        if segment_id not in self.drafts:
            return
        text = self.drafts[segment_id]
        try:
            saved = await self.studio.voice_samples.update_segment(
                segment_id, SegmentChanges(transcript=text), self.actor
            )
        except StudioError as exc:
            self._notify(problem_text(exc), type="warning")
            return
        if self.drafts.get(segment_id) == text:  # not typed on while it saved
            self.drafts.pop(segment_id, None)
        row = self.rows.get(segment_id)
        if row is not None:
            row.show(saved, keep_draft=segment_id in self.drafts)
        self.unsaved.show(bool(self.drafts))
        await self.on_samples_changed()


def _header_facts(speaker: SpeakerView | None) -> tuple[object, ...]:
    """What a group's header shows: when any of it moves, the header is drawn again."""
    if speaker is None:
        return ()
    decisions = tuple(s.decision for s in speaker.segments)
    return (speaker.character_id, speaker.proposed_character_id, speaker.proposal_reason, decisions)


def _release_focus() -> None:
    """A clicked button keeps the focus, and Space on a focused button clicks it again: after Approve, Space
    would approve once more instead of only playing. The keys are the page's, not the last button's."""
    ui.run_javascript("document.activeElement instanceof HTMLButtonElement && document.activeElement.blur()")

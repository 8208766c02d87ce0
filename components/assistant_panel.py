"""The assistant panel: a floating button on every page opens the project's thread in a side panel.

The thread comes from the database, so it is the same on every page and after a restart. An answer
being written streams in through a timer that copies the turn's text a few times a second (the
throttle: a fast model does not send a websocket message per token). Answers are Markdown, rendered
to HTML and sanitised on the server (no scripts, handlers or images that would call out). Suggestions
show as a word diff with Apply / Discard; nothing changes before Apply. Clear empties the thread (with
Undo): the assistant starts afresh, and the messages stay recorded.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Awaitable, Callable
from datetime import datetime

import nh3
from nicegui import app, ui
from starlette.requests import Request

from components.confirm import throwaway_dialog
from components.project_context import project_for_page
from components.undo import offer_undo
from services.assistant import HOW_TO_CONFIGURE, Turn
from services.errors import StudioError
from services.scenes import scene_heading
from studio.auth import Principal
from studio.models import AssistantMessage
from studio.root import Studio

OPEN_KEY = "assistant_open"
STREAM_INTERVAL = 0.15  # seconds between copies of a streaming answer to the page
# Answers may use Markdown's HTML, minus images: an <img> in an answer would fetch an outside address.
ALLOWED_TAGS = nh3.ALLOWED_TAGS - {"img"}
# Light bubbles with dark text in both modes: the diff's red and green must stay readable on them.
QUESTION_COLORS = "bg-color=deep-purple-1 text-color=black"
ANSWER_COLORS = "bg-color=blue-grey-1 text-color=black"
PANEL_CSS = """
.assistant-thread .q-message-text-content { overflow-wrap: anywhere; }
.assistant-thread .nicegui-markdown p { margin: 0.25rem 0; }
.suggestion del { background: rgba(198, 40, 40, 0.18); text-decoration: line-through; }
.suggestion ins { background: rgba(46, 125, 50, 0.22); text-decoration: none; }
"""


def sanitize(markup: str) -> str:
    return nh3.clean(markup, tags=ALLOWED_TAGS)


def word_diff(before: str, after: str) -> str:
    """`after` against `before` word by word, as escaped HTML with <del> and <ins>."""
    old, new = before.split(), after.split()
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            parts.append(f"<del>{html.escape(' '.join(old[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{html.escape(' '.join(new[j1:j2]))}</ins>")
        if op == "equal":
            parts.append(html.escape(" ".join(old[i1:i2])))
    return " ".join(parts)


def assistant_panel(studio: Studio, request: Request, principal: Principal) -> AssistantPanel:
    """The side panel, open if it was left open; the thread is read by `open`. Its button is `panel.button()`."""
    ui.add_css(PANEL_CSS, shared=True)
    panel = AssistantPanel(studio, request, principal)
    left_open = bool(app.storage.user.get(OPEN_KEY))
    with ui.right_drawer(value=left_open, bordered=True).props("width=440").classes("p-0") as drawer:
        panel.host = ui.column().classes("w-full h-full gap-2 p-3 no-wrap")
    panel.drawer = drawer
    return panel


class AssistantPanel:
    def __init__(self, studio: Studio, request: Request, principal: Principal) -> None:
        self.studio, self.request, self.actor = studio, request, principal.name
        self.host: ui.column
        self.drawer: ui.right_drawer
        self.project_id: int | None = None
        self.built = False
        self.turn: Turn | None = None
        self.live: ui.markdown | None = None

    def button(self) -> ui.button:
        """The header's button that opens and closes the panel (floating over the page, it covered the corner
        controls of the review station, the video menu and Assemble)."""
        return (
            ui.button(icon="forum", on_click=self.toggle)
            .props('flat round dense color=white aria-label="Assistant"')
            .tooltip("Assistant")
            .mark("assistant-button")
        )

    async def toggle(self) -> None:
        if self.drawer.value:
            self.drawer.value = False
            app.storage.user[OPEN_KEY] = False
        else:
            await self.open()

    async def open(self) -> None:
        app.storage.user[OPEN_KEY] = True
        self.drawer.value = True
        if not self.built:
            self.built = True
            await self.build()

    async def _project(self) -> tuple[int | None, str]:
        """The page's project, as the page itself finds it, and what the panel calls its thread."""
        project = await project_for_page(self.studio, self.request)
        return (project.id, project.name) if project is not None else (None, "Studio (no project)")

    async def build(self) -> None:
        self.project_id, scope = await self._project()
        who = self.studio.assistant.identity
        with self.host:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon("forum").classes("text-xl")
                ui.label("Assistant").classes("text-lg font-semibold")
                ui.space()
                if who.kind != "none":
                    ui.button(icon="delete_sweep", on_click=self.clear).props("flat round dense").tooltip(
                        "Clear the thread: the assistant starts afresh (Undo brings it back)"
                    ).mark("assistant-clear")
                ui.button(icon="close", on_click=self.toggle).props("flat round dense").tooltip("Close")
            with ui.row().classes("w-full items-center gap-2"):
                ui.chip(who.name, icon="smart_toy").props("outline dense").mark("assistant-identity").tooltip(
                    f"Answering: {who.name}" + (f" at {who.url}" if who.url else "")
                )
                ui.label(scope).classes("text-sm opacity-70").mark("assistant-scope")
            if who.kind == "none":
                with ui.card().classes("w-full bg-amber-1 text-black").mark("assistant-not-configured"):
                    ui.label(HOW_TO_CONFIGURE).classes("text-sm studio-wrap")
                    ui.link("Open Settings", "/settings").classes("text-sm")
            self.thread = ui.scroll_area().classes("w-full grow assistant-thread").mark("assistant-thread")
            with ui.row().classes("w-full items-center gap-2 no-wrap") as self.thinking:
                ui.spinner(size="sm")
                self.stage = ui.label().classes("text-sm opacity-80").mark("assistant-stage")
            self.thinking.set_visibility(False)
            if who.kind != "none":
                self._composer()
        await self._show_thread()
        running = self.studio.assistant.running(self.project_id)
        if running is not None:  # started on another page or tab, still answering
            self.follow(running)

    def _composer(self) -> None:
        with ui.row().classes("w-full items-end gap-1 no-wrap"):
            self.input = (
                ui.textarea(placeholder="Ask about the production…")
                .props("outlined dense autogrow maxlength=4000")
                .classes("grow")
                .mark("assistant-input")
            )
            self.input.on("keydown.enter.exact.prevent", self.send)
            self.send_button = ui.button(icon="send", on_click=self.send).props("round dense").mark("assistant-send")
            self.stop_button = (
                ui.button(icon="stop", on_click=self.stop).props("round dense color=negative").mark("assistant-stop")
            )
            self.stop_button.tooltip("Stop the answer (what was written is kept)")
            self.stop_button.set_visibility(False)
        with ui.row().classes("w-full gap-1"):
            ui.button("Enhance a prompt", icon="auto_fix_high", on_click=self.choose_enhance).props(
                "flat dense no-caps"
            ).mark("assistant-enhance")
            ui.button("Narrate a scene", icon="record_voice_over", on_click=self.choose_narrate).props(
                "flat dense no-caps"
            ).mark("assistant-narrate")
        if self.project_id is None:
            ui.label("Open a project to enhance its prompts or narrate its scenes.").classes("text-xs opacity-60")

    # --- showing messages ------------------------------------------------------------------------

    async def _show_thread(self) -> None:
        self.thread.clear()
        for message in await self.studio.assistant.history(self.project_id):
            self.show(message)

    async def clear(self) -> None:
        try:
            count, at = await self.studio.assistant.clear(self.project_id, self.actor)
        except StudioError as exc:
            ui.notify(str(exc), type="warning")
            return
        if at is None:
            ui.notify("The thread is already empty")
            return
        self.thread.clear()

        async def restore() -> None:
            await self.studio.assistant.restore(self.project_id, at, self.actor)
            await self._show_thread()

        offer_undo(f"Cleared the thread ({count} messages)", restore)

    def show(self, message: AssistantMessage) -> None:
        stamp = _stamp(message.created_at)
        with self.thread:
            if message.role == "user":
                ui.chat_message(message.text, name=message.author or "you", sent=True, stamp=stamp).props(
                    QUESTION_COLORS
                ).mark(f"assistant-message-{message.id}")
                return
            with (
                answer_bubble(message.author, stamp).mark(f"assistant-message-{message.id}"),
                ui.column().classes("w-full gap-1"),  # one bubble, not one per element
            ):
                self._answer(message)
        self.thread.scroll_to(percent=1.0)

    def _answer(self, message: AssistantMessage) -> None:
        if message.state == "failed":
            with ui.row().classes("items-start gap-1 no-wrap text-negative").mark("assistant-failure"):
                ui.icon("error_outline")
                ui.label(message.text)
            return
        if message.action:
            self._suggestion(message)
        else:
            ui.markdown(message.text, sanitize=sanitize).mark("assistant-answer")
        if message.state == "stopped":
            ui.label("Stopped").classes("text-xs opacity-70 italic").mark("assistant-stopped")
        elif message.state == "cut" and message.cut_reason:
            cut = message.cut_reason[:1].upper() + message.cut_reason[1:]
            ui.label(cut).classes("text-xs text-deep-orange-10 italic").mark("assistant-cut")
        with ui.row().classes("items-center gap-1"):
            for source in message.sources:
                if source.get("link"):
                    ui.link(source["title"], source["link"]).classes("text-xs").mark("assistant-source")
                else:
                    ui.chip(source["title"], icon="psychology").props("dense outline").classes("text-xs")
            ui.button(icon="content_copy", on_click=lambda text=message.text: self.copy(text)).props(
                "flat round dense size=sm"
            ).tooltip("Copy").mark("assistant-copy")

    def _suggestion(self, message: AssistantMessage) -> None:
        action = message.action or {}
        ui.label(f"Suggested {action.get('label', '')}:").classes("text-sm font-medium")
        ui.html(word_diff(action.get("before", ""), action.get("after", "")), sanitize=sanitize).classes(
            "suggestion text-sm"
        ).mark("suggestion-diff")
        if action.get("status") != "pending":
            ui.label(str(action.get("status", "")).capitalize()).classes("text-xs opacity-70").mark("suggestion-status")
            return
        with ui.row().classes("gap-1") as buttons:
            ui.button("Apply", icon="check", on_click=lambda: self.apply(message, buttons)).props(
                "dense no-caps color=positive"
            ).mark("suggestion-apply")
            ui.button("Discard", icon="close", on_click=lambda: self.discard(message, buttons)).props(
                "dense flat no-caps"
            ).mark("suggestion-discard")

    def copy(self, text: str) -> None:
        ui.clipboard.write(text)
        ui.notify("Copied")

    # --- asking and streaming --------------------------------------------------------------------

    async def send(self) -> None:
        question = (self.input.value or "").strip()
        if not question:
            return
        if await self._start(lambda: self.studio.assistant.ask(self.project_id, question, self.actor)):
            self.input.value = ""

    async def _start(self, starting: Callable[[], Awaitable[Turn]]) -> bool:
        try:
            turn = await starting()
        except StudioError as exc:
            ui.notify(str(exc), type="warning")
            return False
        self.show(turn.question)
        self.follow(turn)
        return True

    def follow(self, turn: Turn) -> None:
        """Stream a turn into the thread until it ends, then show the saved answer in its place."""
        self.turn = turn
        self._busy(True)
        with self.thread, answer_bubble(turn.assistant.name) as bubble:
            self.live = ui.markdown("", sanitize=sanitize).mark("assistant-streaming")
        self.thread.scroll_to(percent=1.0)

        def tick() -> None:
            if self.live is not None and self.live.content != turn.text:
                self.live.set_content(turn.text)
                self.thread.scroll_to(percent=1.0)
            self.stage.text = turn.stage
            if turn.finished.is_set():
                timer.cancel()
                bubble.delete()
                self.live = None
                self.turn = None
                self._busy(False)
                if turn.answer is not None:
                    self.show(turn.answer)

        with self.host:  # not the slot of whatever started the turn (a dialog that closes, say)
            timer = ui.timer(STREAM_INTERVAL, tick)

    def _busy(self, busy: bool) -> None:
        self.thinking.set_visibility(busy)
        self.stop_button.set_visibility(busy)
        self.send_button.set_enabled(not busy)

    def stop(self) -> None:
        if self.turn is not None:
            self.turn.stop()

    # --- suggestions ----------------------------------------------------------------------------

    async def apply(self, message: AssistantMessage, buttons: ui.row) -> None:
        settled = await self._settle(self.studio.assistant.apply, message, buttons, "Applied")
        if settled is not None:
            label = (settled.action or {}).get("label")
            offer_undo(
                f"Applied to {label}", lambda: self._settle(self.studio.assistant.revert, message, buttons, "Reverted")
            )

    async def discard(self, message: AssistantMessage, buttons: ui.row) -> None:
        await self._settle(self.studio.assistant.discard, message, buttons, "Discarded")

    async def _settle(
        self,
        settle: Callable[[int, str], Awaitable[AssistantMessage]],
        message: AssistantMessage,
        buttons: ui.row,
        status: str,
    ) -> AssistantMessage | None:
        """Apply, discard or revert a suggestion; the buttons give way to its new status."""
        assert message.id is not None
        try:
            settled = await settle(message.id, self.actor)
        except StudioError as exc:
            ui.notify(str(exc), type="negative")
            return None
        buttons.clear()
        with buttons:
            ui.label(status).classes("text-xs opacity-70").mark("suggestion-status")
        return settled

    # --- choosing what to enhance or narrate ------------------------------------------------------

    async def choose_enhance(self) -> None:
        if self.project_id is None:
            ui.notify("Open a project first", type="warning")
            return
        options: dict[str, str] = {}
        for summary in await self.studio.scenes.list(self.project_id):
            scene = summary.scene
            for shot in await self.studio.scenes.shots(scene.id):
                label = shot.motion_prompt or shot.description or "no motion prompt yet"
                options[f"shot:{shot.id}"] = f"Scene {scene.scene_number}, shot {shot.shot_number} — {label[:60]}"
        for card in await self.studio.characters.cards(self.project_id):
            options[f"character:{card.character.id}"] = f"{card.character.name} — design prompt"
        await self._choose("Enhance which prompt?", options, self._enhance)

    async def _enhance(self, choice: str) -> None:
        target, _, target_id = choice.partition(":")
        await self._start(lambda: self.studio.assistant.enhance(target, target_id, self.actor))  # type: ignore[arg-type]

    async def choose_narrate(self) -> None:
        if self.project_id is None:
            ui.notify("Open a project first", type="warning")
            return
        options = {str(s.scene.id): scene_heading(s.scene) for s in await self.studio.scenes.list(self.project_id)}
        await self._choose("Narrate which scene?", options, self._narrate)

    async def _narrate(self, scene_id: str) -> None:
        await self._start(lambda: self.studio.assistant.narrate(scene_id, self.actor))

    async def _choose(self, title: str, options: dict[str, str], then: Callable[[str], Awaitable[None]]) -> None:
        if not options:
            ui.notify("There is nothing to choose in this project yet", type="warning")
            return
        with throwaway_dialog() as dialog, ui.card().classes("w-[28rem]"):
            ui.label(title).classes("text-lg")
            pick = ui.select(options, value=next(iter(options))).classes("w-full").mark("assistant-choice")

            async def go() -> None:
                await then(str(pick.value))
                dialog.close()

            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Ask", on_click=go).mark("assistant-choice-go")
        dialog.open()


def answer_bubble(name: str, stamp: str | None = None) -> ui.chat_message:
    return ui.chat_message(name=name, stamp=stamp).classes("w-full").props(ANSWER_COLORS)


def _stamp(at: datetime) -> str:
    return at.astimezone().strftime("%H:%M")

"""The assistant: questions about the production, prompt enhancement and narration, one thread per project.

A question becomes a Turn that runs in its own task: the question is saved at once, the production's
notes are refreshed and searched, the answer streams into `Turn.text`, and the answer is saved when it
ends: done, stopped by the user or cut by a length or time limit (the text so far is kept), or failed (the
reason is the message). A turn outlives the page that started it, so the panel on the next page shows it
still answering.

A question goes with the thread's latest whole turns that fit in `assistant_history_chars`; enhancing a
prompt and narrating a scene go alone, with only the notes of what they are about. A person may clear a
thread: its messages stay recorded but leave the thread and what the assistant is told.

The assistant never changes the production: an enhanced prompt is a suggestion on the answer message
that the user applies (through the scenes or characters service, so the usual checks and events apply)
or discards.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, update
from sqlmodel import col, select

from services.assistant.events import ThreadCleared
from services.assistant.index import Entry, Hit, ProductionIndex
from services.assistant.knowledge import production_entries
from services.assistant.prompts import ENHANCE, NARRATE, ONLY_THE_PROMPT, cited, clean_suggestion, system_prompt
from services.assistant.responders import (
    HOW_TO_CONFIGURE,
    AssistantIdentity,
    Conversation,
    identity,
    reply,
)
from services.backends import BackendMonitor
from services.bible import Characters, Projects
from services.bible.schemas import CharacterChanges
from services.errors import Conflict, Invalid, NotFound, StudioError
from services.llm import AnswerCut, ChatMessage
from services.scenes import Scenes
from services.scenes.schemas import ShotChanges
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus, StudioEvent
from studio.models import AssistantMessage, Project, utcnow
from studio.secrets import SecretStore

log = logging.getLogger(__name__)

MAX_QUESTION = 4000
# Notes retrieved for a question, and at most this many earlier turns sent with it (fewer when they are
# long: `assistant_history_chars` bounds their size).
NOTES_PER_QUESTION = 6
EARLIER_TURNS = 8
# Events arriving together (a batch of approvals) refresh the index once, this long after the last.
REFRESH_DELAY = 1.0
# Fields a suggestion may change, with the limits their services enforce.
FIELD_LIMITS = {"motion_prompt": 1000, "design_prompt": 4000}
Target = Literal["shot", "character"]


class AssistantNotConfigured(StudioError):
    """Neither Echo Brain nor an LLM is set up; the message says how to set one up."""


@dataclass
class Turn:
    """One answer being written. The panel reads `stage` and `text` on a timer (that is the throttle)."""

    project_id: int | None
    kind: str
    question: AssistantMessage
    assistant: AssistantIdentity
    stage: str = "Reading the production…"
    text: str = ""
    answer: AssistantMessage | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Stop writing; what was written so far is kept, marked as stopped."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def wait(self) -> AssistantMessage:
        await self.finished.wait()
        assert self.answer is not None
        return self.answer


@dataclass(frozen=True)
class AssistantStatus:
    kind: str
    name: str
    url: str | None
    state: str  # "ok" | "down" | "not_configured"
    detail: str


@dataclass(frozen=True)
class _Request:
    """What a turn asks, after the notes are chosen."""

    kind: str
    question: str  # what the thread shows as the user's message
    prompt: str  # what the assistant is asked
    notes: Sequence[Entry]
    action: dict[str, Any] | None = None  # the suggestion's target, for enhance
    temperature: float = 0.4


class Assistant:
    def __init__(
        self,
        *,
        settings: Settings,
        secrets: SecretStore,
        db: Database,
        events: EventBus,
        backends: BackendMonitor,
        index: ProductionIndex,
        projects: Projects,
        scenes: Scenes,
        characters: Characters,
    ) -> None:
        self._settings, self._secrets, self._db, self._events = settings, secrets, db, events
        self._backends, self._index = backends, index
        self._projects, self._scenes, self._characters = projects, scenes, characters
        self._turns: dict[int | None, Turn] = {}
        self._fresh: set[int] = set()  # projects whose notes are indexed as they are now
        self._refreshing: dict[int, asyncio.Task[None]] = {}
        events.subscribe(StudioEvent, self._production_changed)

    # --- who answers --------------------------------------------------------------------------------

    @property
    def identity(self) -> AssistantIdentity:
        return identity(self._settings)

    async def status(self, max_age: float = 30.0) -> AssistantStatus:
        """Who answers and whether it is reachable (from the backend monitor's latest probe)."""
        who = self.identity
        if who.kind == "none":
            return AssistantStatus(who.kind, who.name, None, "not_configured", HOW_TO_CONFIGURE)
        # The monitor's row for this assistant: its kinds are the same words ("echo_brain", "llm").
        row = next((s for s in await self._backends.current(max_age) if (s.kind, s.url) == (who.kind, who.url)), None)
        if row is None:
            return AssistantStatus(who.kind, who.name, who.url, "down", "not probed yet")
        return AssistantStatus(who.kind, who.name, who.url, row.state, row.detail)

    # --- the thread ---------------------------------------------------------------------------------

    async def history(self, project_id: int | None, limit: int = 200) -> list[AssistantMessage]:
        """The thread of a project (None: work outside any project), oldest first, without cleared messages."""
        query = (
            select(AssistantMessage)
            .where(_thread(project_id), col(AssistantMessage.cleared_at).is_(None))
            .order_by(col(AssistantMessage.id).desc())
            .limit(limit)
        )
        async with self._db.session() as session:
            return list(reversed((await session.exec(query)).all()))

    async def clear(self, project_id: int | None, actor: str) -> tuple[int, datetime | None]:
        """Clear a thread: its messages stay recorded but leave the thread and what the assistant is told.
        (messages cleared, when: for `restore`; None when there was nothing to clear). NotFound: no such
        project; Conflict: the thread is still answering."""
        where = await self._thread_name(project_id)
        if self.running(project_id) is not None:
            raise Conflict("the assistant is still answering in this thread: wait for it or press Stop, then clear it")
        at = utcnow()
        count = await self._mark(project_id, col(AssistantMessage.cleared_at).is_(None), at)
        if not count:
            return 0, None
        await self._events.emit(
            ThreadCleared(actor=actor, thread=project_id, thread_name=where, change="cleared", messages=count)
        )
        return count, at

    async def restore(self, project_id: int | None, cleared_at: datetime, actor: str) -> int:
        """Take back the clearing made at `cleared_at`: its messages return to the thread. The number restored."""
        where = await self._thread_name(project_id)
        count = await self._mark(project_id, col(AssistantMessage.cleared_at) == cleared_at, None)
        if count:
            await self._events.emit(
                ThreadCleared(actor=actor, thread=project_id, thread_name=where, change="restored", messages=count)
            )
        return count

    async def _mark(self, project_id: int | None, which: Any, cleared_at: datetime | None) -> int:
        statement = update(AssistantMessage).where(_thread(project_id), which).values(cleared_at=cleared_at)
        async with self._db.session() as session:
            result = await session.exec(statement)  # type: ignore[call-overload]
            return int(result.rowcount or 0)

    async def _thread_name(self, project_id: int | None) -> str:
        """How a person calls a thread (NotFound: no such project)."""
        if project_id is None:
            return "work outside projects"
        return repr((await self._projects.get(project_id)).name)

    def running(self, project_id: int | None) -> Turn | None:
        """The turn still answering in this thread, if any."""
        turn = self._turns.get(project_id)
        return turn if turn is not None and not turn.finished.is_set() else None

    # --- asking ----------------------------------------------------------------------------------

    async def ask(self, project_id: int | None, question: str, actor: str) -> Turn:
        """Start answering a question. Invalid: empty or too long; Conflict: the thread is still answering;
        AssistantNotConfigured: nobody can answer."""
        question = question.strip()
        if not question:
            raise Invalid("question", "ask something first")
        if len(question) > MAX_QUESTION:
            raise Invalid("question", f"a question may have up to {MAX_QUESTION} characters, not {len(question)}")
        project = None if project_id is None else await self._projects.get(project_id)
        self._check_ready(project_id)

        async def notes() -> Sequence[Entry]:
            hits = await self._search(project_id, question)
            return [hit.entry for hit in hits]

        return await self._start(project, actor, "ask", question, question, notes)

    async def enhance(self, target: Target, target_id: str, actor: str) -> Turn:
        """Suggest a better motion prompt (shot) or design prompt (character); the answer carries the
        suggestion as an action to apply or discard."""
        if target == "shot":
            shot = await self._scenes.shot(_uuid(target_id, "shot"))
            scene = await self._scenes.get(shot.scene_id)
            project = await self._projects.get(scene.project_id)
            label = f"the motion prompt of scene {scene.scene_number}, shot {shot.shot_number}"
            item_key, fieldname, before = f"shot:{shot.id}", "motion_prompt", shot.motion_prompt
            related = [f"scene:{scene.id}", *(f"character:{cid}" for cid in shot.characters_present), "world"]
        elif target == "character":
            character = await self._characters.get(_int(target_id, "character"))
            project = await self._projects.get(character.project_id)
            label = f"the design prompt of {character.name}"
            item_key, fieldname, before = f"character:{character.id}", "design_prompt", character.design_prompt
            related = [item_key, "world"]
        else:
            raise Invalid("target", "enhance a 'shot' motion prompt or a 'character' design prompt")
        self._check_ready(project.id)
        current = before or "(empty)"
        prompt = f"{ENHANCE[fieldname]}\n\nThe current prompt of {label}:\n{current}\n\n{ONLY_THE_PROMPT}"
        action = {"target": target, "id": target_id, "field": fieldname, "label": label, "before": before}

        async def notes() -> Sequence[Entry]:
            return await self._entries(project.id, [item_key, *related])

        return await self._start(project, actor, "enhance", f"Enhance {label}", prompt, notes, action)

    async def narrate(self, scene_id: str, actor: str) -> Turn:
        """Write a narration of a scene, for the user to copy into the storyline."""
        scene = await self._scenes.get(_uuid(scene_id, "scene"))
        project = await self._projects.get(scene.project_id)
        self._check_ready(project.id)
        shots = await self._scenes.shots(scene.id)
        cast = {cid for shot in shots for cid in shot.characters_present}
        keys = [f"scene:{scene.id}", *(f"shot:{shot.id}" for shot in shots), *(f"character:{c}" for c in cast)]
        title = f"scene {scene.scene_number}" + (f" ({scene.title})" if scene.title else "")

        async def notes() -> Sequence[Entry]:
            return await self._entries(project.id, [*keys, "storyline", "world"])

        prompt = f"{NARRATE}\n\nThe scene to narrate is {title}; its notes are above."
        return await self._start(project, actor, "narrate", f"Narrate {title}", prompt, notes, temperature=0.7)

    # --- suggestions -------------------------------------------------------------------------------

    async def apply(self, message_id: int, actor: str) -> AssistantMessage:
        """Apply a pending suggestion to its shot or character. Conflict: already settled, or the prompt
        changed since the suggestion was made (applying would lose that edit)."""
        message, action = await self._suggestion(message_id, "pending")
        await self._replace(action, action["before"], action["after"], actor)
        return await self._settle(message, "applied", actor)

    async def revert(self, message_id: int, actor: str) -> AssistantMessage:
        """Undo an applied suggestion: the prompt goes back to what it was. Conflict: edited since."""
        message, action = await self._suggestion(message_id, "applied")
        await self._replace(action, action["after"], action["before"], actor)
        return await self._settle(message, "reverted", actor)

    async def discard(self, message_id: int, actor: str) -> AssistantMessage:
        message, _action = await self._suggestion(message_id, "pending")
        return await self._settle(message, "discarded", actor)

    async def _suggestion(self, message_id: int, status: str) -> tuple[AssistantMessage, dict[str, Any]]:
        async with self._db.session() as session:
            message = await session.get(AssistantMessage, message_id)
        if message is None or not message.action:
            raise NotFound(f"there is no suggestion {message_id}")
        if message.action.get("status") != status:
            raise Conflict(f"this suggestion is {message.action.get('status')}, not {status}")
        return message, message.action

    async def _replace(self, action: dict[str, Any], expected: str, value: str, actor: str) -> None:
        """Write `value` into the suggestion's prompt through its service, if it still holds `expected`."""
        if action["target"] == "shot":
            shot = await self._scenes.shot(uuid.UUID(action["id"]))
            current = shot.motion_prompt
        else:
            current = (await self._characters.get(int(action["id"]))).design_prompt
        if current != expected:
            raise Conflict(f"{action['label']} was changed in the meantime; ask for a new suggestion")
        if action["target"] == "shot":
            await self._scenes.update_shot(shot.id, ShotChanges(motion_prompt=value), actor)
        else:
            await self._characters.update(int(action["id"]), CharacterChanges(design_prompt=value), actor)

    async def _settle(self, message: AssistantMessage, status: str, actor: str) -> AssistantMessage:
        async with self._db.session() as session:
            row = await session.get(AssistantMessage, message.id)
            assert row is not None and row.action is not None
            row.action = {**row.action, "status": status, "by": actor}
            session.add(row)
        log.info("%s %s the assistant's suggestion for %s", actor, status, row.action["label"])
        return row

    # --- one turn ----------------------------------------------------------------------------------

    def _check_ready(self, project_id: int | None) -> None:
        if self.identity.kind == "none":
            raise AssistantNotConfigured(HOW_TO_CONFIGURE)
        if self.running(project_id) is not None:
            raise Conflict("the assistant is still answering in this thread: wait for it or press Stop")

    async def _start(
        self,
        project: Project | None,
        actor: str,
        kind: str,
        question: str,
        prompt: str,
        notes: Callable[[], Any],
        action: dict[str, Any] | None = None,
        temperature: float = 0.4,
    ) -> Turn:
        project_id = project.id if project is not None else None
        asked = await self._save(
            AssistantMessage(project_id=project_id, role="user", kind=kind, text=question, author=actor)
        )
        turn = Turn(project_id=project_id, kind=kind, question=asked, assistant=self.identity)
        self._turns[project_id] = turn
        turn.task = asyncio.create_task(self._run(turn, project, prompt, notes, action, temperature))
        return turn

    async def _run(
        self,
        turn: Turn,
        project: Project | None,
        prompt: str,
        notes: Callable[[], Any],
        action: dict[str, Any] | None,
        temperature: float,
    ) -> None:
        answer = AssistantMessage(
            project_id=turn.project_id, role="assistant", kind=turn.kind, author=turn.assistant.name
        )
        entries: Sequence[Entry] = []
        try:
            if turn.project_id is not None:
                turn.stage = "Searching the production notes…"
                entries = await notes()
            # Only questions continue the conversation: an enhanced prompt or a narration written with the chat
            # in view copies from it (a model returned an old chat answer as an "enhanced design prompt").
            chat = turn.kind == "ask"
            conversation = Conversation(
                system=system_prompt(project.name if project else None, entries),
                history=await self._earlier(turn.project_id, turn.question.id) if chat else [],
                question=prompt,
                session_id=await self._session(turn.project_id) if chat else None,
                temperature=temperature,
            )
            turn.stage = f"Asking {turn.assistant.name}…"
            try:
                async for piece in reply(self._settings, self._secrets, conversation):
                    if not turn.text:
                        turn.stage = f"{turn.assistant.name} is writing…"
                    turn.text += piece
            except AnswerCut as cut:
                answer.state, answer.cut_reason = "cut", self._cut_reason(cut)
                if not turn.text.strip():
                    raise _Empty(f"{turn.assistant.name} wrote nothing before it was {answer.cut_reason}") from cut
            answer.text = turn.text.strip()
            if not answer.text:
                raise _Empty(f"{turn.assistant.name} gave an empty answer; try again or rephrase the question")
            answer.sources = _sources(_drawn_on(turn.kind, answer.text, entries)) + conversation.found_sources
            if action is not None and answer.state != "cut":  # half a prompt is no suggestion to apply
                answer.action = _suggested(action, answer.text)
                answer.text = answer.action["after"]
            elif action is not None or turn.kind == "narrate":
                answer.text = clean_suggestion(answer.text)
        except asyncio.CancelledError:
            answer.text, answer.state = turn.text.strip(), "stopped"
            answer.sources = _sources(_drawn_on(turn.kind, answer.text, entries))
        except StudioError as exc:  # Echo Brain's, the LLM's, and ours (an empty answer, a missing model)
            answer.text, answer.state, answer.cut_reason = str(exc), "failed", None
        except Exception as exc:  # a bug must not leave the thread hanging; it is logged in full
            log.exception("the assistant's turn failed")
            answer.text, answer.state = (
                f"the assistant failed unexpectedly ({type(exc).__name__}); see the log",
                "failed",
            )
        finally:
            turn.answer = await asyncio.shield(self._save(answer))
            turn.stage = ""
            turn.finished.set()

    def _cut_reason(self, cut: AnswerCut) -> str:
        """Which limit ended an answer, and the setting that moves it."""
        if cut.reason == "tokens":
            return (
                f"cut at the {self._settings.assistant_max_tokens}-token limit — raise STUDIO_ASSISTANT_MAX_TOKENS "
                "for longer answers"
            )
        return (
            f"cut after {self._settings.assistant_max_seconds:g} s — raise STUDIO_ASSISTANT_MAX_SECONDS to give "
            "answers more time"
        )

    async def _earlier(self, project_id: int | None, before_id: int | None) -> list[ChatMessage]:
        """The thread's latest whole turns (a question and its answer) before this question, oldest first: newest
        first as long as they fit in `assistant_history_chars`, never part of one. Questions whose answer
        failed and cleared turns are left out."""
        query = (
            select(AssistantMessage)
            .where(_thread(project_id), col(AssistantMessage.id) < (before_id or 0))
            .where(col(AssistantMessage.cleared_at).is_(None), AssistantMessage.kind == "ask")
            .order_by(col(AssistantMessage.id).desc())
            .limit(2 * EARLIER_TURNS)
        )
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()
        room = self._settings.assistant_history_chars
        turns: list[ChatMessage] = []
        answer: AssistantMessage | None = None
        for row in rows:  # newest first: an answer, then the question it answers
            if row.role != "user":
                answer = row
                continue
            if answer is not None and answer.state != "failed" and row.text and answer.text:
                size = len(row.text) + len(answer.text)
                if size > room:  # the turns before this one would leave a gap in the conversation
                    break
                room -= size
                turns += [ChatMessage("assistant", answer.text), ChatMessage("user", row.text)]
            answer = None
        return turns[::-1]

    async def _session(self, project_id: int | None) -> str:
        """Echo Brain's session of a thread: a new one after each clearing, so its own memory of the
        conversation is cleared too."""
        query = select(func.max(AssistantMessage.id)).where(
            _thread(project_id), col(AssistantMessage.cleared_at).is_not(None)
        )
        async with self._db.session() as session:
            last_cleared = (await session.exec(query)).one()
        session_id = f"anime-studio-{project_id or 'studio'}"
        return session_id if last_cleared is None else f"{session_id}-{last_cleared}"

    async def _save(self, message: AssistantMessage) -> AssistantMessage:
        async with self._db.session() as session:
            session.add(message)
            await session.flush()
            await session.refresh(message)
        return message

    # --- the production's notes ----------------------------------------------------------------

    async def _search(self, project_id: int | None, question: str) -> list[Hit]:
        if project_id is None:
            return []
        await self._refresh(project_id)
        return await self._index.search(project_id, question, NOTES_PER_QUESTION)

    async def _entries(self, project_id: int | None, keys: Sequence[str]) -> list[Entry]:
        """The named entries of a project, in the order asked (for actions about known items)."""
        if project_id is None:
            return []
        by_key = {entry.key: entry for entry in await production_entries(self._db, project_id)}
        return [by_key[key] for key in dict.fromkeys(keys) if key in by_key]

    async def _refresh(self, project_id: int) -> None:
        if project_id in self._fresh:
            return
        report = await self._index.sync(project_id, await production_entries(self._db, project_id))
        self._fresh.add(project_id)
        log.info("assistant index of project %s: %s", project_id, report)

    def _production_changed(self, event: StudioEvent) -> None:
        """A change to an indexed project refreshes its notes shortly after (once per burst of events)."""
        project_id = getattr(event, "project_id", None)
        if not event.audited or project_id not in self._fresh:
            return
        self._fresh.discard(project_id)
        pending = self._refreshing.get(project_id)
        if pending is not None and not pending.done():
            pending.cancel()
        self._refreshing[project_id] = asyncio.create_task(self._refresh_later(project_id))

    async def _refresh_later(self, project_id: int) -> None:
        await asyncio.sleep(REFRESH_DELAY)
        try:
            await self._refresh(project_id)
        except StudioError as exc:  # the next question tries again, and says why if it fails then
            log.warning("could not refresh the assistant's notes of project %s: %s", project_id, exc)

    async def aclose(self) -> None:
        for turn in list(self._turns.values()):
            turn.stop()
        for task in self._refreshing.values():
            task.cancel()
        await self._index.aclose()


class _Empty(StudioError):
    pass


def _thread(project_id: int | None) -> Any:
    column = col(AssistantMessage.project_id)
    return column.is_(None) if project_id is None else column == project_id


def _drawn_on(kind: str, answer: str, entries: Sequence[Entry]) -> Sequence[Entry]:
    """The notes an answer drew on. A question's notes are what a search found near it: only those the answer
    cites. An enhanced prompt's or a narration's are the notes of the very item it is about, chosen by the
    studio as its material (and their answers carry no citations)."""
    return cited(answer, entries) if kind == "ask" else entries


def _sources(entries: Sequence[Entry]) -> list[dict[str, Any]]:
    return [{"title": entry.title, "link": entry.link, "kind": entry.kind} for entry in entries]


def _suggested(action: dict[str, Any], answer: str) -> dict[str, Any]:
    """The answer as a pending suggestion. _Empty: no change, or too long for the field."""
    after = clean_suggestion(answer)
    limit = FIELD_LIMITS[action["field"]]
    if not after or after == action["before"].strip():
        raise _Empty(f"the assistant suggested no change to {action['label']}")
    if len(after) > limit:
        raise _Empty(f"the suggestion has {len(after)} characters; {action['label']} may have up to {limit}")
    return {**action, "after": after, "status": "pending"}


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Invalid(f"{what}_id", f"{value!r} is not a {what} id") from exc


def _int(value: str, what: str) -> int:
    if not str(value).isdigit():
        raise Invalid(f"{what}_id", f"{value!r} is not a {what} id")
    return int(value)

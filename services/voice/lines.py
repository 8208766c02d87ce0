"""Dialogue voices: each character's line spoken in its voice, cached by content under the data folder.

A line's audio is keyed by everything that decides its sound (engine, the engine's profile fields, the
voice model or server, the text and the cache format), so the same line in the same voice is synthesized
once and every later scene assembly, preview or Play reuses the file. Files are written under a temp name
and renamed, so two studios asking for one line at once never leave half a file.

Synthesis asked for from the pages or the API runs as `voice.synthesize` jobs; scene assembly, already in
its own job, calls `line_audio` directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.errors import Conflict, Invalid, NotFound
from services.jobs import JobDraft, JobFilter, JobQueue, ProgressSink
from services.media_store import MediaStore
from services.voice.events import VoiceChanged
from services.voice.profile import DEFAULT_PROFILE, ENGINES, VoiceEngine, VoiceProfile
from services.voice.speech import EngineStatus, EspeakSpeech, HttpVoiceService, PiperSpeech, Speech
from services.voice.wav import NotAWav, wav_info
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import Character, Job, JobPriority, JobState, Project, Scene, Shot

VOICE_JOB = "voice.synthesize"
# Bump when the way a line becomes a file changes (say, resampling): every line is then made afresh.
CACHE_FORMAT = 1
CACHE_FOLDER = "voices"
MAX_LINE_CHARS = 2000
LINE_URL = "/api/voices/lines/{key}"
_KEY = re.compile(r"[0-9a-f]{64}")
NARRATOR = "the narrator"


@dataclass(frozen=True)
class LineRequest:
    """A line someone asked to hear: already cached (`job` is None), or being synthesized by `job`."""

    key: str
    relative: str  # the cached file, relative to the data folder (it exists once `job` succeeds)
    job: Job | None

    @property
    def cached(self) -> bool:
        return self.job is None

    @property
    def url(self) -> str:
        return LINE_URL.format(key=self.key)


def clean_line(text: str) -> str:
    """The line as it is spoken and keyed: whitespace runs become one space. Invalid: empty or too long."""
    line = " ".join(text.split())
    if not line:
        raise Invalid("text", "the line is empty: write what is said")
    if len(line) > MAX_LINE_CHARS:
        raise Invalid("text", f"a line is at most {MAX_LINE_CHARS} characters; split it across shots")
    return line


class DialogueVoices:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        events: EventBus,
        media: MediaStore,
        jobs: JobQueue,
    ) -> None:
        self._db = db
        self._events = events
        self._media = media
        self._jobs = jobs
        self.espeak = EspeakSpeech(settings.voice_timeout_seconds)
        self._speech: dict[VoiceEngine, Speech] = {
            "piper": PiperSpeech(),
            "espeak": self.espeak,
            "http": HttpVoiceService(
                settings.voice_service_url,
                settings.voice_service_api,
                settings.voice_timeout_seconds,
                samples_root=lambda: settings.voice_service_samples_path or str(settings.data_dir),
            ),
        }
        # One synthesis per line at a time in this process; the rename makes other processes safe too.
        self._locks: dict[str, asyncio.Lock] = {}

    # --- profiles ---------------------------------------------------------------------------------

    def profile_of(self, character: Character | None) -> VoiceProfile:
        """The character's voice (None: the narrator, the default Piper voice).

        Invalid("voice_profile"): the stored profile is not one this studio reads (set the voice again).
        """
        if character is None:
            return DEFAULT_PROFILE
        try:
            return VoiceProfile.model_validate(character.voice_profile or {})
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "profile"
            raise Invalid(
                "voice_profile",
                f"{character.name}'s saved voice is not readable ({where}: {problem['msg']}); set the voice again",
            ) from exc

    async def voice(self, character_id: int) -> tuple[Character, VoiceProfile]:
        """A character and its voice. NotFound: no such character."""
        return (character := await self._character(character_id)), self.profile_of(character)

    async def check_profile(self, profile: VoiceProfile) -> None:
        """Invalid when espeak-ng here lacks the profile's language or variant (what the UI also offers)."""
        if profile.engine == "espeak":
            await self.espeak.check(profile)

    async def set_profile(self, character_id: int, profile: VoiceProfile, actor: str) -> Character:
        """Give a character a new voice (announced with the previous one, so it can be undone).

        NotFound: no such character. Conflict: the character is deleted or its project archived. Invalid: an
        espeak language or variant espeak-ng here does not have.
        """
        await self.check_profile(profile)
        async with self._db.session() as session:
            character = await session.get(Character, character_id)
            if character is None:
                raise NotFound(f"there is no character {character_id}")
            project = await session.get(Project, character.project_id)
            if project is not None and project.archived_at is not None:
                raise Conflict(f"project '{project.name}' is archived; restore it before changing voices")
            if character.deleted_at is not None:
                raise Conflict(f"{character.name} is deleted; restore the character before changing its voice")
            previous = dict(character.voice_profile or {})
            stored = profile.stored()
            if stored == previous:
                return character
            character.voice_profile = stored
            session.add(character)
        await self._events.emit(
            VoiceChanged(
                actor=actor,
                character_id=character_id,
                project_id=character.project_id,
                label=character.name,
                engine=profile.engine,
                profile=stored,
                previous=previous,
            )
        )
        return character

    def available_engines(self) -> list[EngineStatus]:
        """Which engines can speak here (Piper importable, espeak-ng installed, a voice server configured)."""
        return [self._speech[engine].status() for engine in ENGINES]

    # --- the cache --------------------------------------------------------------------------------

    def line_key(self, text: str, character: Character | None, profile: VoiceProfile | None = None) -> str:
        """The cache key of a line in a voice (`profile` overrides the character's, for previews)."""
        profile = profile or self.profile_of(character)
        canonical = {
            "format": CACHE_FORMAT,
            "engine": profile.engine,
            "voice": profile.synthesis_settings(),
            "backed_by": self._speech[profile.engine].identity(),
            "text": clean_line(text),
        }
        encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()

    @staticmethod
    def relative_path(key: str) -> str:
        return f"{CACHE_FOLDER}/{key[:2]}/{key}.wav"

    def cached_file(self, key: str) -> Path | None:
        """The cached line with this key, or None. Invalid: not a key."""
        if not _KEY.fullmatch(key):
            raise Invalid("key", "a line key is 64 lower-case hex digits")
        path = self._media.path_of(self.relative_path(key))
        return path if path.is_file() else None

    def cached_line(self, text: str, character: Character | None) -> Path | None:
        """The cached audio of `text` in the character's voice, or None when it was never synthesized."""
        return self.cached_file(self.line_key(text, character))

    async def line_audio(self, text: str, character: Character | None, profile: VoiceProfile | None = None) -> Path:
        """The absolute path of `text` spoken in the character's voice (None: the narrator), synthesized first
        when it is not cached. `profile` overrides the character's voice (a preview of an unsaved one).

        Invalid: an empty or too long line, or an unreadable stored profile. SpeechFailed: the engine failed
        (the message names the engine and what to check).
        """
        profile = profile or self.profile_of(character)
        line = clean_line(text)
        key = self.line_key(line, character, profile)
        relative = self.relative_path(key)
        path = self._media.path_of(relative)
        if path.is_file():
            return path
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if not path.is_file():  # another caller made it while this one waited
                    data = await self._speech[profile.engine].synthesize(line, profile)
                    await self._media.write(relative, data)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)
        return path

    # --- asking for lines (jobs) --------------------------------------------------------------------

    async def request_line(
        self,
        text: str,
        character_id: int | None,
        actor: str,
        *,
        project_id: int | None = None,
        profile: VoiceProfile | None = None,
        shot_id: uuid.UUID | None = None,
    ) -> LineRequest:
        """Hear a line in a character's voice (None: the narrator): the cached file, or a job that makes it.

        A job already making the same line is shared, not repeated. NotFound: no such character. Invalid: an
        empty or too long line, or an unreadable stored profile.
        """
        character = await self._character(character_id) if character_id is not None else None
        line = clean_line(text)
        key = self.line_key(line, character, profile)
        relative = self.relative_path(key)
        if self._media.path_of(relative).is_file():
            return LineRequest(key, relative, None)
        running = await self._jobs.list(JobFilter(states=(JobState.QUEUED, JobState.RUNNING), kind=VOICE_JOB))
        for job in running:
            if job.payload.get("key") == key:
                return LineRequest(key, relative, job)
        if shot_id is not None:
            payload: dict[str, Any] = {"shot_id": str(shot_id)}
        else:
            payload = {"character_id": character_id, "text": line}
            if profile is not None:
                payload["profile"] = profile.model_dump(mode="json")
        who = character.name if character else NARRATOR
        quoted = line if len(line) <= 40 else line[:39] + "\N{HORIZONTAL ELLIPSIS}"
        draft = JobDraft(
            kind=VOICE_JOB,
            payload={**payload, "key": key},
            title=f"Voice of {who}: \N{LEFT DOUBLE QUOTATION MARK}{quoted}\N{RIGHT DOUBLE QUOTATION MARK}",
            priority=JobPriority.INTERACTIVE,
            project_id=character.project_id if character else project_id,
        )
        [job] = await self._jobs.submit([draft], actor)
        return LineRequest(key, relative, job)

    async def request_preview(
        self, character_id: int, text: str, actor: str, profile: VoiceProfile | None = None
    ) -> LineRequest:
        """Hear a sample line in a character's voice, or in `profile` before it is saved."""
        if profile is not None:
            await self.check_profile(profile)
        return await self.request_line(text, character_id, actor, profile=profile)

    async def shot_line(self, shot_id: uuid.UUID) -> tuple[Shot, Character | None]:
        """A shot and who says its line (None: the narrator). NotFound: no such shot. Invalid: it has no line."""
        async with self._db.session() as session:
            shot = await session.get(Shot, shot_id)
            if shot is None:
                raise NotFound(f"there is no shot {shot_id}")
            character = await session.get(Character, shot.dialogue_character_id) if shot.dialogue_character_id else None
        if not shot.dialogue_text.strip():
            raise Invalid("dialogue_text", f"shot {shot.shot_number} has no dialogue line to speak")
        return shot, character

    async def request_shot_line(self, shot_id: uuid.UUID, actor: str) -> LineRequest:
        """Hear a shot's line in its speaker's voice: the cached file, or a job that makes it."""
        shot, character = await self.shot_line(shot_id)
        async with self._db.session() as session:
            scene = await session.get(Scene, shot.scene_id)
        return await self.request_line(
            shot.dialogue_text,
            character.id if character else None,
            actor,
            project_id=scene.project_id if scene else None,
            shot_id=shot_id,
        )

    async def cached_shot_line(self, shot_id: uuid.UUID) -> Path | None:
        """The cached audio of the shot's current line in its speaker's current voice, or None."""
        shot, character = await self.shot_line(shot_id)
        return self.cached_line(shot.dialogue_text, character)

    async def line_seconds(self, path: Path) -> float:
        """How long a cached line plays."""
        try:
            return round(wav_info(await asyncio.to_thread(path.read_bytes)).seconds, 3)
        except NotAWav as exc:
            raise Invalid(
                "audio", f"the cached line {path.name} is damaged ({exc}); delete it to make it again"
            ) from exc

    # --- the job ------------------------------------------------------------------------------------

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        """Synthesize a job's line (the cpu worker calls this for `voice.synthesize` jobs)."""
        payload = job.payload
        profile = None
        if payload.get("shot_id"):
            shot, character = await self.shot_line(uuid.UUID(payload["shot_id"]))
            text = shot.dialogue_text
        else:
            character_id = payload.get("character_id")
            character = await self._character(int(character_id)) if character_id is not None else None
            text = str(payload.get("text", ""))
            if payload.get("profile") is not None:
                try:
                    profile = VoiceProfile.model_validate(payload["profile"])
                except ValidationError as exc:
                    raise Invalid("profile", f"the job's voice profile is not valid: {exc.errors()[0]['msg']}") from exc
        profile = profile or self.profile_of(character)
        who = character.name if character else NARRATOR
        label = self._speech[profile.engine].status().label
        await progress(0.1, f"Speaking {who}'s line with {label}")
        path = await self.line_audio(text, character, profile)
        seconds = await self.line_seconds(path)
        key = path.stem
        await progress(1.0, f"{who}'s line: {seconds:.1f} s")
        return {
            "path": self.relative_path(key),
            "seconds": seconds,
            "engine": profile.engine,
            "key": key,
            "url": LINE_URL.format(key=key),
        }

    async def _character(self, character_id: int) -> Character:
        async with self._db.session() as session:
            character = await session.get(Character, character_id)
        if character is None:
            raise NotFound(f"there is no character {character_id}")
        return character


class VoiceJobHandler:
    """Runs `voice.synthesize` jobs on the built-in cpu device."""

    kind = VOICE_JOB

    def __init__(self, voices: DialogueVoices) -> None:
        self._voices = voices

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        return await self._voices.run(job, progress)

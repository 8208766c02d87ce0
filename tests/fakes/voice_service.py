"""Fake voice-cloning server speaking both protocols the studio supports:

* GPT-SoVITS api_v2: `POST /tts` with JSON `{text, text_lang, ref_audio_path, prompt_text, prompt_lang,
  media_type, streaming_mode}`; a WAV on success, `{"message": ...}` (and `Exception`) with HTTP 400 on error;
* xtts-api-server: `POST /tts_to_audio/` with JSON `{text, speaker_wav, language}`; a WAV on success, FastAPI's
  `{"detail": ...}` with HTTP 400 on error.

The WAV is real speech: espeak-ng says the requested text, so Whisper can check what the studio asked for.
Like the real servers, a reference is a WAV file the server reads from its own disk (an existing path is
accepted), and GPT-SoVITS refuses one outside 3-10 s as api_v2 does. XTTS also takes a speaker name.

Knobs besides the base ones (`latency`, `fail_with`, `down`): `samples` (reference names or paths the server
has without a file here), `languages`, and `reply` / `reply_type` to answer something that is not a WAV.
Bodies are kept in `bodies`.
"""

from __future__ import annotations

import asyncio
import tempfile
import wave
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.fakes.base import FakeServer

DEFAULT_SAMPLES = frozenset({"/data/voices/rin_reference.wav", "rin"})
# GPT-SoVITS api_v2's own words for a reference outside 3-10 s (TTS_infer_pack/TTS.py).
REFERENCE_LENGTH_REFUSAL = "参考音频在3~10秒范围外，请更换！"  # noqa: RUF001
LANGUAGES = frozenset({"auto", "en", "zh", "ja", "ko", "yue", "all_ja", "all_zh"})


class FakeVoiceService(FakeServer):
    def __init__(
        self,
        *,
        samples: set[str] | frozenset[str] = DEFAULT_SAMPLES,
        latency: float = 0.0,
        fail_with: int | None = None,
    ) -> None:
        self.samples = set(samples)
        self.languages = set(LANGUAGES)
        self.reply: bytes | None = None
        self.reply_type = "audio/wav"
        self.bodies: list[dict[str, Any]] = []
        super().__init__(latency=latency, fail_with=fail_with)

    def register_routes(self, app: FastAPI) -> None:
        app.post("/tts")(self.tts)
        app.post("/tts_to_audio/")(self.tts_to_audio)

    def reset(self) -> None:
        self.samples = set(DEFAULT_SAMPLES)
        self.languages = set(LANGUAGES)
        self.reply = None
        self.reply_type = "audio/wav"
        self.bodies.clear()
        super().reset()

    # --- GPT-SoVITS api_v2 ------------------------------------------------------------------------

    async def tts(self, request: Request) -> Response:
        body = await request.json()
        self.bodies.append({"path": "/tts", **body})
        text, lang = body.get("text"), str(body.get("text_lang", "")).lower()
        if not text:
            return JSONResponse({"message": "text is required"}, 400)
        if not body.get("ref_audio_path"):
            return JSONResponse({"message": "ref_audio_path is required"}, 400)
        if lang not in self.languages:
            return JSONResponse({"message": f"text_lang: {lang} is not supported in version v2"}, 400)
        if str(body.get("prompt_lang", "")).lower() not in self.languages:
            return JSONResponse({"message": f"prompt_lang: {body.get('prompt_lang')} is not supported"}, 400)
        if body.get("media_type") not in ("wav", "raw", "ogg", "aac"):
            return JSONResponse({"message": f"media_type: {body.get('media_type')} is not supported"}, 400)
        reference = str(body["ref_audio_path"])
        if reference not in self.samples:
            seconds = await asyncio.to_thread(_wav_seconds, reference)
            if seconds is None:
                return JSONResponse({"message": "tts failed", "Exception": f"{reference} not exists"}, 400)
            if not 3.0 <= seconds <= 10.0:
                return JSONResponse({"message": "tts failed", "Exception": REFERENCE_LENGTH_REFUSAL}, 400)
        return await self._answer(text)

    # --- xtts-api-server ----------------------------------------------------------------------------

    async def tts_to_audio(self, request: Request) -> Response:
        body = await request.json()
        self.bodies.append({"path": "/tts_to_audio/", **body})
        missing = [key for key in ("text", "speaker_wav", "language") if key not in body]
        if missing:
            errors = [{"loc": ["body", key], "msg": "Field required", "type": "missing"} for key in missing]
            return JSONResponse({"detail": errors}, 422)
        speaker = str(body["speaker_wav"])
        if speaker not in self.samples and await asyncio.to_thread(_wav_seconds, speaker) is None:
            return JSONResponse({"detail": f"Speaker {body['speaker_wav']} not found"}, 400)
        if body["language"] not in self.languages:
            return JSONResponse({"detail": f"Language {body['language']} is not supported"}, 400)
        return await self._answer(body["text"])

    # --- the audio ----------------------------------------------------------------------------------

    async def _answer(self, text: str) -> Response:
        if self.reply is not None:
            return Response(self.reply, media_type=self.reply_type)
        return Response(await speak(text), media_type="audio/wav")


def _wav_seconds(path: str) -> float | None:
    """How long the WAV file at `path` on this machine plays; None when there is no readable WAV there."""
    try:
        with wave.open(path, "rb") as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (OSError, EOFError, ValueError, wave.Error):
        return None


async def speak(text: str) -> bytes:
    """`text` as a well-formed WAV, spoken by espeak-ng (written to a file, so its header is exact)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "line.wav"
        process = await asyncio.create_subprocess_exec(
            "espeak-ng", "-v", "en-us", "-w", str(out), stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, err = await process.communicate(text.encode("utf-8"))
        if process.returncode != 0:
            raise RuntimeError(f"espeak-ng failed in the fake voice service: {err.decode(errors='replace')}")
        return out.read_bytes()

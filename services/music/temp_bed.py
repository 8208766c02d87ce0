"""A temp bed: a soft chord pad synthesized locally for a mood, so a scene has music before any is made.

Each mood has its key, progression, tempo and brightness. The bed is exactly periodic, so scene assembly can
loop it (`-stream_loop -1`) without a click: every partial sits on a frequency that makes whole cycles in
the loop (a multiple of 1/loop length, built as one inverse FFT per chord and channel; the rounding is under
0.05 Hz, far below what an ear hears), and the chord crossfades, the swell and the beat pulse all wrap
around. Same mood, same bytes: the random phases are seeded by the mood's name.
"""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import dataclass

import numpy as np

from services.music.moods import check_mood

SAMPLE_RATE = 48_000
CHANNELS = 2
PEAK = 0.4  # about -8 dBFS: a bed under dialogue, far from clipping
VERSION = "v1"  # in the cache file's name: a change to the sound gets a new file, never a stale one
CROSSFADE = 0.4  # share of a chord spent fading in from the one before: the pad's slow attack

# Chords as semitones above the key's tonic, by their Roman numerals in the key.
CHORDS: dict[str, tuple[int, ...]] = {
    "I": (0, 4, 7),
    "Iadd9": (0, 4, 7, 14),
    "Imaj7": (0, 4, 7, 11),
    "Isus2": (0, 2, 7),
    "Isus2add9": (0, 2, 7, 14),
    "i": (0, 3, 7),
    "i7": (0, 3, 7, 10),
    "bII": (1, 5, 8),
    "ii": (2, 5, 9),
    "iii": (4, 7, 11),
    "IV": (5, 9, 12),
    "IVadd9": (5, 9, 12, 19),
    "IVmaj7": (5, 9, 12, 16),
    "IVsus2": (5, 7, 12),
    "iv": (5, 8, 12),
    "iv7": (5, 8, 12, 15),
    "V": (7, 11, 14),
    "V7": (7, 11, 14, 17),
    "Vadd9": (7, 11, 14, 21),
    "v7": (-5, -2, 2, 5),
    "vi": (-3, 0, 4),
    "vi7": (-3, 0, 4, 7),
    "vi7add9": (-3, 0, 4, 11),
    "bVI": (-4, 0, 3),
    "bVI7": (-4, 0, 3, 7),
    "bVII": (-2, 2, 5),
    "bVIIadd9": (-2, 2, 5, 9),
}


@dataclass(frozen=True)
class BedRecipe:
    tonic: int  # MIDI note of the key's tonic (57 = A3)
    progression: str  # chord names from CHORDS, space-separated
    bpm: float
    beats_per_chord: int
    brightness: float  # 0..1: more harmonics and a higher low-pass
    pulse: float = 0.0  # 0..1: how much the level dips between beats
    level: float = 1.0  # relative, before the bed is normalised

    @property
    def chords(self) -> list[tuple[int, ...]]:
        return [CHORDS[name] for name in self.progression.split()]

    @property
    def seconds(self) -> float:
        return len(self.chords) * self.beats_per_chord * 60.0 / self.bpm


RECIPES: dict[str, BedRecipe] = {
    "tense": BedRecipe(57, "i bVI iv V", 60, 3, 0.3, pulse=0.35),
    "romantic": BedRecipe(53, "I vi IV V", 72, 3, 0.55),
    "seductive": BedRecipe(50, "i7 iv7 bVIIadd9 v7", 64, 3, 0.35, pulse=0.2),
    "intimate": BedRecipe(48, "Imaj7 iii IVmaj7 V7", 66, 3, 0.4),
    "action": BedRecipe(52, "i bVI bVII i", 132, 6, 0.6, pulse=0.6),
    "melancholy": BedRecipe(47, "i iv bVI V", 56, 3, 0.3),
    "comedic": BedRecipe(55, "I IV V I", 112, 6, 0.75, pulse=0.45),
    "threatening": BedRecipe(45, "i bII i bVI", 50, 3, 0.2, pulse=0.3),
    "powerful": BedRecipe(50, "I bVII IV I", 84, 4, 0.7, pulse=0.25),
    "desperate": BedRecipe(54, "i bVII bVI V", 100, 4, 0.5, pulse=0.5),
    "vulnerable": BedRecipe(64, "Iadd9 vi7add9 IVadd9 Vadd9", 60, 3, 0.65, level=0.8),
    "peaceful": BedRecipe(55, "Iadd9 IV Imaj7 ii", 60, 3, 0.45),
    "dominant": BedRecipe(48, "i i bVI V", 90, 4, 0.45, pulse=0.55),
    "provocative": BedRecipe(57, "i7 bVII bVI7 V", 96, 4, 0.55, pulse=0.45),
    "ambient": BedRecipe(48, "Isus2 vi7 IVsus2 Isus2add9", 48, 3, 0.25),
}


def render_temp_bed(mood: str) -> bytes:
    """The mood's bed as a 48 kHz stereo 16-bit WAV (8-16 s, loops seamlessly). Invalid: unknown mood.

    CPU work of a fraction of a second: call it off the event loop.
    """
    mood = check_mood(mood)
    samples = _synthesize(RECIPES[mood], _seed(mood))
    pcm = np.round(samples * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(CHANNELS)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())  # frames interleaved L R L R
    return out.getvalue()


def _seed(mood: str) -> int:
    return int.from_bytes(hashlib.sha256(f"temp-bed:{mood}:{VERSION}".encode()).digest()[:8], "big")


def _synthesize(recipe: BedRecipe, seed: int) -> np.ndarray:
    """(frames, 2) float samples in -PEAK..PEAK, exactly periodic over the frames."""
    rng = np.random.default_rng(seed)
    # A whole number of tenths of a second (a tempo change under 1 %): FFT sizes with small factors only.
    frames = max(1, round(recipe.seconds * 10)) * SAMPLE_RATE // 10
    length = frames / SAMPLE_RATE  # the loop, in seconds; every partial makes whole cycles in it
    t = np.arange(frames) / frames  # position in the loop, 0..1
    progression = recipe.chords
    chords = len(progression)
    position = t * chords
    index = np.floor(position).astype(int)
    within = position - index
    mix = np.zeros((frames, CHANNELS))
    for n, chord in enumerate(progression):
        weight = _chord_weight(n, index, within, chords)
        for channel, detune in enumerate((1, -1)):
            mix[:, channel] += weight * _chord_tone(recipe, chord, length, frames, detune, rng)
    beats = chords * recipe.beats_per_chord
    swell = 1.0 + 0.08 * np.sin(2 * np.pi * 2 * t)  # two slow breaths per loop
    beat = (0.5 + 0.5 * np.cos(2 * np.pi * beats * t)) ** 3  # 1 on the beat, 0 between
    envelope = swell * (1.0 - recipe.pulse * (1.0 - beat))
    mix *= envelope[:, None]
    peak = float(np.max(np.abs(mix))) or 1.0
    return mix * (PEAK * recipe.level / peak)


def _chord_weight(n: int, index: np.ndarray, within: np.ndarray, chords: int) -> np.ndarray:
    """How loud chord n is at each frame: full in its own span after an equal-power fade in from the chord
    before, fading out as the next one fades in (wrapping from the last chord to the first)."""
    fade = np.clip(within / CROSSFADE, 0.0, 1.0) * (np.pi / 2)
    own = np.where(index == n, np.sin(fade), 0.0)
    following = np.where(index == (n + 1) % chords, np.cos(fade), 0.0)
    return own + following


def _chord_tone(
    recipe: BedRecipe, chord: tuple[int, ...], length: float, frames: int, detune: int, rng: np.random.Generator
) -> np.ndarray:
    """One channel of a sustained chord, every partial on a whole-cycle bin: a pair of slightly detuned voices
    per note (they beat slowly, like a string section), harmonics rolled off by the mood's brightness, and
    the chord's root an octave below as a soft bass."""
    spectrum = np.zeros(frames // 2 + 1, dtype=complex)
    harmonics = 2 + round(recipe.brightness * 6)
    cutoff = 600.0 + recipe.brightness * 3400.0
    rolloff = 2.2 - recipe.brightness
    notes = [(recipe.tonic + step, 1.0) for step in chord] + [(recipe.tonic + chord[0] - 12, 0.8)]
    for midi, gain in notes:
        fundamental = 440.0 * 2 ** ((midi - 69) / 12)
        base = round(fundamental * length)  # the whole-cycle bin nearest the note
        for voice in (base, base + detune):
            for h in range(1, harmonics + 1):
                k = voice * h
                frequency = k / length
                if k >= len(spectrum) - 1 or frequency > 16_000:
                    break
                amplitude = gain / h**rolloff / np.sqrt(1.0 + (frequency / cutoff) ** 4)
                phase = rng.uniform(0, 2 * np.pi)
                spectrum[k] += amplitude * frames / 2 * np.exp(1j * phase)
    return np.fft.irfft(spectrum, frames)

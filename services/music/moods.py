"""The fifteen moods music is made for, each with the instrumentation ACE-Step is asked for.

A scene's mood is free text ("tense, then hopeful"); `mood_of` finds the mood it names. The earlier system
always sent "ambient" (it read the mood from a row that had not selected it); here the scene's own words count.
"""

from __future__ import annotations

import re

from services.errors import Invalid

DEFAULT_MOOD = "ambient"
DEFAULT_GENRE = "orchestral anime soundtrack"

# mood -> instrumentation caption, in the earlier system's order (MOOD_PROMPTS).
MOOD_CAPTIONS: dict[str, str] = {
    "tense": "dark orchestral, low strings, minor key, ticking percussion, slow-building suspense",
    "romantic": "warm strings, solo piano, gentle harp, major key, tender flowing melody",
    "seductive": "slow sultry jazz, muted trumpet, brushed drums, warm upright bass, smoky late-night mood",
    "intimate": "soft solo piano, quiet fingerpicked acoustic guitar, close and warm, sparse arrangement",
    "action": "fast driving orchestral, pounding taiko drums, staccato brass, racing strings, high energy",
    "melancholy": "slow solo cello, sparse piano, minor key, soft rain-like textures, bittersweet",
    "comedic": "playful pizzicato strings, bouncy bassoon, light xylophone, quirky and bright",
    "threatening": "ominous low brass, deep drones, dissonant strings, heavy slow percussion",
    "powerful": "epic full orchestra, soaring brass, choir, thundering drums, triumphant",
    "desperate": "urgent tremolo strings, pulsing low synth, rising tension, minor key, racing tempo",
    "vulnerable": "fragile music box, soft felt piano, airy pads, hushed and exposed",
    "peaceful": "calm acoustic guitar, soft flute, gentle pads, major key, unhurried",
    "dominant": "heavy commanding brass, marching snare, low string ostinato, imposing and steady",
    "provocative": "sleek electronic groove, sultry synth bass, teasing saxophone, confident swagger",
    "ambient": "ambient atmospheric pads, soft evolving textures, slow drones, no percussion",
}
MOODS: tuple[str, ...] = tuple(MOOD_CAPTIONS)

_MOOD_WORDS = re.compile(r"\b(" + "|".join(MOODS) + r")\b", re.IGNORECASE)


def mood_of(text: str | None) -> str:
    """The mood a scene's free-text mood names (the earliest one in the text, as a whole word, any case);
    "ambient" when it names none of the fifteen."""
    found = _MOOD_WORDS.search(text or "")
    return found.group(1).lower() if found else DEFAULT_MOOD


def check_mood(mood: str) -> str:
    """The mood, lower-cased. Invalid("mood") when it is not one of the fifteen."""
    key = (mood or "").strip().lower()
    if key not in MOOD_CAPTIONS:
        raise Invalid("mood", f"'{mood}' is not a mood music is made for; choose one of {', '.join(MOODS)}")
    return key


def caption_for(mood: str, genre: str = DEFAULT_GENRE, bpm: int | None = None, key: str | None = None) -> str:
    """ACE-Step's caption: "{genre} style, {mood caption}[, {bpm} bpm][, key of {key}]". Invalid: unknown mood."""
    parts = [f"{genre.strip() or DEFAULT_GENRE} style", MOOD_CAPTIONS[check_mood(mood)]]
    if bpm is not None:
        parts.append(f"{bpm} bpm")
    if key:
        parts.append(f"key of {key.strip()}")
    return ", ".join(parts)

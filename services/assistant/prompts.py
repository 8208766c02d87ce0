"""What the assistant is told: the production notes it may draw on, and the instructions for each action.

Notes are numbered so an answer can cite them ("[2]"); the cited notes become the answer's sources.
Suggestions (an enhanced prompt, a narration) are cleaned of the chatter models wrap them in, because the
user applies or copies them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.assistant.index import Entry

ROLE = (
    "You are the assistant inside Anime Studio, a studio for making anime with AI. You help the user with "
    "their production{project}. Answer from the production notes below when they cover the question, and "
    "cite the notes you used by their numbers in square brackets, like [1]. When the notes do not cover "
    "the question, say so plainly instead of inventing details. Be brief; use Markdown for lists."
)

ENHANCE = {
    "motion_prompt": (
        "Improve the motion prompt of one shot for an image-to-video model (FramePack, LTX-Video or Wan 2.1). "
        "A good motion prompt says in one or two sentences what moves and how (the characters' action, "
        "hair and clothes, the background) and what the camera does, in concrete visual words. Keep the "
        "intent and every character of the current prompt, and stay under 400 characters."
    ),
    "design_prompt": (
        "Improve the design prompt of one character for an image model: comma-separated tags and short "
        "phrases that fix the character's look (species, build, hair, eyes, clothes, key colours and "
        "features) so every picture draws the same character. Keep every fact of the current prompt and "
        "of the appearance data; add no story, and stay under 600 characters."
    ),
}
ONLY_THE_PROMPT = "Reply with the improved prompt only: no preamble, no quotes, no explanation."

NARRATE = (
    "Write a narration of the scene below for the storyline: three to five sentences in the present tense, "
    "vivid but plain, true to the scene description, its shots and dialogue, and the characters' designs. "
    "Reply with the narration only: no title, no preamble."
)

_CITATION = re.compile(r"\[(\d{1,2})\]")
_FENCE = re.compile(r"^```[a-zA-Z]*\n?|\n?```$")
# Openings models put before the text asked for: "Sure!", "Certainly,", "Here is the improved prompt:".
_PREAMBLE = re.compile(
    r"^(?:(?:sure|certainly|of course|okay|ok)\b[!,.]*\s*|here(?:'s| is| are)\b[^:\n]*:\s*)", re.IGNORECASE
)
_TRAILING_NOTE = re.compile(r"\n\s*\n\s*(note|this (prompt|version|narration))\b.*$", re.IGNORECASE | re.DOTALL)
_QUOTES = ('"', "'", "“", "”", "«", "»")


def notes(entries: Sequence[Entry]) -> str:
    """The numbered production notes, as the model reads them."""
    return "\n\n".join(f"[{n}] {entry.title}\n{entry.text}" for n, entry in enumerate(entries, start=1))


def system_prompt(project_name: str | None, entries: Sequence[Entry]) -> str:
    role = ROLE.format(project=f" {project_name!r}" if project_name else "")
    if not entries:
        return role + "\n\nThere are no production notes for this question."
    return f"{role}\n\nProduction notes:\n\n{notes(entries)}"


def cited(answer: str, entries: Sequence[Entry]) -> list[Entry]:
    """The entries an answer cites by number, in the order first cited; none when it cites none.

    The notes sent with a question are only what a search found near it: an answer that cites none of them
    ("the notes do not say") did not draw on them, and listing them as sources would claim it did."""
    numbers = [int(found) for found in _CITATION.findall(answer)]
    return [entries[n - 1] for n in dict.fromkeys(numbers) if 1 <= n <= len(entries)]


def clean_suggestion(text: str) -> str:
    """The suggestion itself: without code fences, a preamble, a trailing note or wrapping quotes."""
    cleaned = _FENCE.sub("", text.strip()).strip()
    while (shorter := _PREAMBLE.sub("", cleaned, count=1).strip()) != cleaned:
        cleaned = shorter
    cleaned = _TRAILING_NOTE.sub("", cleaned).strip()
    if len(cleaned) >= 2 and cleaned[0] in _QUOTES and cleaned[-1] in _QUOTES:
        cleaned = cleaned[1:-1].strip()
    return cleaned

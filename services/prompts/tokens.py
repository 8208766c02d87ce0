"""Comma-separated prompt tokens: splitting, tag spelling and de-duplication keys."""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"\s+")


def split_tokens(text: str) -> list[str]:
    """Split a prompt on commas into trimmed, non-empty tokens.

    Commas inside brackets stay in their token, so weighted groups such as ``(red hair, blue eyes:1.2)``
    survive intact instead of being cut into two broken halves.
    """
    tokens: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            tokens.append("".join(current))
            current = []
        else:
            current.append(char)
    tokens.append("".join(current))
    return [cleaned for token in tokens if (cleaned := _WHITESPACE.sub(" ", token).strip())]


def token_key(token: str) -> str:
    """The identity of a token for de-duplication: case-, spacing- and underscore-insensitive.

    Booru models read ``silver_hair`` and ``silver hair`` as the same tag, so they count as duplicates.
    """
    return _WHITESPACE.sub(" ", token.replace("_", " ")).strip().lower()


def to_tag(text: str) -> str:
    """Spell a phrase as a booru tag: lower case, words joined by underscores (``Pointed Ears`` -> ``pointed_ears``)."""
    return _WHITESPACE.sub("_", text.strip().lower())


def join_tokens(*parts: str) -> str:
    """Comma-join prompt parts into one prompt, dropping empty and repeated tokens (first one wins)."""
    seen: set[str] = set()
    kept = []
    for part in parts:
        for token in split_tokens(part):
            if token_key(token) not in seen:
                seen.add(token_key(token))
                kept.append(token)
    return ", ".join(kept)

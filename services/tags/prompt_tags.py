"""Tags from a generation prompt: the booru comma list a generated image already carries in its provenance.

Understands the A1111 syntax people and the studio write: weights `(tag:1.2)`, emphasis `((tag))` and `[tag]`,
escaped brackets `\\(` that belong to the tag (`hatsune miku \\(cosplay\\)`), `BREAK`, and extra-network calls
`<lora:name:0.8>`, which are dropped, as are the model profile's quality and style tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.errors import Invalid
from services.prompts import ModelProfile

MAX_TAG_LENGTH = 200

# Escaped brackets become these while the real ones are stripped, then turn back into plain brackets.
_ESCAPES = {"\\(": "\x01", "\\)": "\x02", "\\[": "\x03", "\\]": "\x04"}
_UNESCAPE = str.maketrans({"\x01": "(", "\x02": ")", "\x03": "[", "\x04": "]"})
_EXTRA_NETWORK = re.compile(r"<[^<>]*>")
_SEPARATORS = re.compile(r",|\n|\bBREAK\b")
_BRACKETS = re.compile(r"[()\[\]{}]")
_WEIGHT = re.compile(r":\s*-?\d*\.?\d+\s*$")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+", re.IGNORECASE)


def normalise_tag(text: str) -> str:
    """A tag as the store keeps it: lower case, spaces instead of underscores, single spaces, stripped.

    Emoticons keep their underscore (`^_^`, `o_o`): there it is part of the face, which has no word of two or
    more letters or digits."""
    if max((len(word) for word in _WORD.findall(text)), default=0) > 1:
        text = text.replace("_", " ")
    return _SPACES.sub(" ", text).strip().lower()


def tags_from_prompt(prompt: str, drop: Iterable[str] = ()) -> list[str]:
    """The tags of a prompt in order, normalised and de-duplicated, without the tags in `drop`.

    Pieces longer than a tag may be (a prose sentence) are left out: they are not tags.
    """
    dropped = {normalise_tag(tag) for tag in drop}
    text = prompt
    for escaped, marker in _ESCAPES.items():
        text = text.replace(escaped, marker)
    text = _EXTRA_NETWORK.sub(",", text)
    tags: dict[str, None] = {}
    for piece in _SEPARATORS.split(text):
        bare = _BRACKETS.sub("", piece)
        bare = _WEIGHT.sub("", bare)
        tag = normalise_tag(bare.translate(_UNESCAPE))
        if tag and len(tag) <= MAX_TAG_LENGTH and tag not in dropped:
            tags.setdefault(tag, None)
    return list(tags)


def profile_tags(profile: ModelProfile) -> list[str]:
    """The quality and style tags a model profile adds to prompts: they describe the checkpoint, not the image."""
    return [*tags_from_prompt(profile.quality_prefix), *(normalise_tag(tag) for tag in profile.strip_style_tags)]


def clean_tag(text: str, field: str = "tag") -> str:
    """A tag as typed, normalised and checked. Invalid: empty, too long, or holding a comma or line break."""
    if "," in text or "\n" in text or "\r" in text:
        raise Invalid(field, f"'{text[:60]}' holds a comma or line break; give one tag at a time")
    tag = normalise_tag(text)
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise Invalid(field, f"a tag has 1 to {MAX_TAG_LENGTH} characters (after trimming spaces)")
    return tag


def clean_tags(texts: Iterable[str], field: str, limit: int) -> list[str]:
    tags = list(dict.fromkeys(clean_tag(text, field) for text in texts))
    if len(tags) > limit:
        raise Invalid(field, f"at most {limit} tags")
    return tags

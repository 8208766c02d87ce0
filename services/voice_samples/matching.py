"""Which character a speaker group may be: proposals a person confirms, never assignments.

In order of trust: (1) the group introduces a character of the project ("I'm Rin", "my name is Rin", "Rin
here"); (2) the group sounds like a character's approved samples (cosine of the voice centroids at least the
`voice_match_similarity` setting); (3) the group says a character's name most often (weak: people say the
names of those they talk to, so a character already proposed for another group by (1) or (2) is skipped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupLine:
    start: float  # seconds into the source
    text: str


@dataclass(frozen=True)
class SpeakerGroup:
    label: int
    lines: list[GroupLine]
    centroid: np.ndarray


@dataclass(frozen=True)
class CastMember:
    id: int
    name: str


@dataclass(frozen=True)
class Proposal:
    character_id: int
    reason: str


def propose(
    groups: Sequence[SpeakerGroup],
    cast: Sequence[CastMember],
    voices: Mapping[int, np.ndarray],
    similarity: float,
) -> dict[int, Proposal]:
    """A proposal per group label (groups without one are left out). `voices` holds each character's approved
    samples' centroid (unit vectors); `similarity` is the least cosine that counts as the same voice."""
    proposals: dict[int, Proposal] = {}
    for group in groups:
        found = _introduction(group, cast) or _sounds_like(group, cast, voices, similarity)
        if found is not None:
            proposals[group.label] = found
    strong = {p.character_id for p in proposals.values()}
    for group in groups:
        if group.label not in proposals:
            found = _most_mentioned(group, [c for c in cast if c.id not in strong])
            if found is not None:
                proposals[group.label] = found
    return proposals


def centroid(embeddings: Sequence[np.ndarray]) -> np.ndarray | None:
    """The unit mean of voice embeddings; None without any."""
    if not embeddings:
        return None
    mean = np.mean(np.stack([np.asarray(e, dtype=np.float32) for e in embeddings]), axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else None


def clock(seconds: float) -> str:
    """0:12, 1:05:03: where in the source a line is."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _names(member: CastMember) -> list[str]:
    """The full name, then its first word ("Rin Tohsaka" is introduced as "Rin" too)."""
    full = " ".join(member.name.split())
    first = full.split(" ")[0] if full else ""
    return [n for n in dict.fromkeys((full, first)) if len(n) >= 2]


def _name_pattern(name: str) -> str:
    return r"(?<!\w)" + r"\s+".join(re.escape(part) for part in name.split(" ")) + r"(?!\w)"


def _introduction(group: SpeakerGroup, cast: Sequence[CastMember]) -> Proposal | None:
    for line in group.lines:
        for member in cast:
            for name in _names(member):
                pattern = _name_pattern(name)
                said = re.search(
                    rf"(?<!\w)(?:i\s*'?\s*m|i\s+am|my\s+name\s*(?:is|'s)|call\s+me|this\s+is)\s+{pattern}"
                    rf"|{pattern},?\s+here(?!\w)",
                    line.text,
                    re.IGNORECASE,
                )
                if said:
                    quote = " ".join(said.group(0).split())
                    return Proposal(
                        member.id,
                        f"says \N{LEFT DOUBLE QUOTATION MARK}{quote}"
                        f"\N{RIGHT DOUBLE QUOTATION MARK} at {clock(line.start)}",
                    )
    return None


def _sounds_like(
    group: SpeakerGroup, cast: Sequence[CastMember], voices: Mapping[int, np.ndarray], similarity: float
) -> Proposal | None:
    norm = float(np.linalg.norm(group.centroid))
    if norm == 0:
        return None
    here = group.centroid / norm
    best: tuple[float, CastMember] | None = None
    for member in cast:
        voice = voices.get(member.id)
        if voice is None:
            continue
        score = float(np.dot(here, voice))
        if score >= similarity and (best is None or score > best[0]):
            best = (score, member)
    if best is None:
        return None
    return Proposal(best[1].id, f"sounds like {best[1].name}'s approved samples (similarity {best[0]:.2f})")


def _most_mentioned(group: SpeakerGroup, cast: Sequence[CastMember]) -> Proposal | None:
    counts: list[tuple[int, CastMember]] = []
    for member in cast:
        patterns = [_name_pattern(n) for n in _names(member)[-1:]]  # the shortest form counts every mention once
        count = sum(len(re.findall(p, line.text, re.IGNORECASE)) for p in patterns for line in group.lines)
        if count:
            counts.append((count, member))
    if not counts:
        return None
    counts.sort(key=lambda c: -c[0])
    if len(counts) > 1 and counts[0][0] == counts[1][0]:
        return None  # a tie says nothing
    count, member = counts[0]
    times = "once" if count == 1 else f"{count} times"
    return Proposal(
        member.id, f"mentions {member.name} {times} (a weak hint: people also say the names of those they talk to)"
    )

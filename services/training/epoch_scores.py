"""How good each saved epoch is, judged by its sample images, and which epoch the studio proposes.

An epoch's samples are drawn with the same prompts and seeds every epoch, so epochs compare. Two failures bracket
the good epochs (see the reference notes on the earlier trainer): an undertrained LoRA draws someone who is not
the character (low likeness); an overtrained one draws the training images again whatever the prompt asks, so
its samples are near copies of each other (low diversity). The score is the likeness (0..1):

- with a vision LLM configured, the dataset review (`VisionReviewer`, same prompt, the character's first reference
  image sent second) rates each sample's `character_match`;
- otherwise local measures against the character's reference images, those the shot scoring uses: shapes (gray
  correlation at 64 px) and colours (histogram overlap), the best reference per sample.

Diversity is always measured locally with the dataset's perceptual hash: the mean bits apart of every pair of
samples; a pair within the `dedup_hamming_threshold` setting is a near copy, as it is for dataset images. The
proposal is the best-scoring epoch whose samples are not near copies, with the reason in words.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from PIL import Image

from services.bible import Characters
from services.datasets.hashing import phash_of
from services.datasets.vision import ReviewSubject, VisionReviewer
from services.errors import Invalid
from services.llm import LlmClient, configured_llm
from services.media_store import MediaStore
from services.scenes.scoring import UNLIKE_BELOW, decode_picture, picture_similarity
from studio.config import Settings
from studio.models import Character
from studio.secrets import SecretStore

LOCAL = "local measures"
NOT_SCORED = "not scored"
NOT_YET = "not scored yet"
# The references compared locally: a character card rarely has more, and each one costs a comparison per sample.
MAX_REFERENCES = 4
# Unrelated pictures' 64-bit pHashes differ in about half their bits: that far apart counts as fully different.
DIFFERENT_BITS = 32
# An epoch whose sample pairs are near copies this often (or more) is overtrained: its prompts no longer matter.
NEAR_COPIES_FROM = 0.5
# The shot scoring weighs shapes 0.6 and colours 0.4 against a source of the same composition. Sample prompts ask
# for other views on purpose (front, portrait, another outfit), so shapes match a reference only loosely even for
# a good epoch, while the character's palette (hair, eyes, outfit) should hold in every view: colours weigh more.
SHAPES_WEIGHT, COLOURS_WEIGHT = 0.4, 0.6


@dataclass(frozen=True)
class EpochScore:
    """One epoch's score (None: not scored), how it was scored ("vision LLM <model>", "local measures" or
    "not scored: <reason>"), its measures and the reasons behind them. Kept as JSON in the epoch's entry."""

    score: float | None
    scored_by: str
    measures: dict[str, float | None] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @classmethod
    def not_scored(cls, reason: str) -> EpochScore:
        return cls(None, f"{NOT_SCORED}: {reason}")

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> EpochScore:
        """The score stored in an epoch entry; an epoch saved but not scored yet has none."""
        if not data:
            return cls(None, NOT_YET)
        measures, reasons = data.get("measures") or {}, data.get("reasons") or []
        return cls(data.get("score"), data.get("scored_by", NOT_YET), measures, reasons)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def diversity(self) -> float | None:
        return self.measures.get("diversity")

    @property
    def near_copies(self) -> bool:
        return (self.measures.get("near_copies") or 0.0) >= NEAR_COPIES_FROM


@dataclass(frozen=True)
class EpochProposal:
    """The epoch the studio proposes to register, its score and why."""

    epoch: int
    score: float
    reason: str


# --- measures (synchronous, CPU-bound: run in a worker thread) ------------------------------------------------


def diversity_measures(samples: Sequence[Image.Image], near_bits: int) -> dict[str, float | None]:
    """`diversity` (0 identical .. 1 unrelated: mean pHash bits apart of every pair over DIFFERENT_BITS) and
    `near_copies` (the share of pairs within `near_bits`); both None for fewer than two samples."""
    if len(samples) < 2:
        return {"diversity": None, "near_copies": None}
    hashes = [phash_of(picture.convert("L")) for picture in samples]
    distances = [(a ^ b).bit_count() for a, b in itertools.combinations(hashes, 2)]
    return {
        "diversity": round(min(1.0, sum(distances) / len(distances) / DIFFERENT_BITS), 4),
        "near_copies": round(sum(1 for d in distances if d <= near_bits) / len(distances), 4),
    }


def local_likeness(samples: Sequence[Image.Image], references: Sequence[Image.Image]) -> dict[str, float]:
    """`likeness` with its `shapes` and `colours`: per sample the most similar reference, averaged over samples."""
    best: list[tuple[float, float, float]] = []
    for sample in samples:
        candidates = []
        for reference in references:
            shapes, colours = picture_similarity(sample, reference)
            candidates.append((SHAPES_WEIGHT * shapes + COLOURS_WEIGHT * colours, shapes, colours))
        best.append(max(candidates))
    count = len(best)
    return {
        "likeness": round(sum(b[0] for b in best) / count, 4),
        "shapes": round(sum(b[1] for b in best) / count, 4),
        "colours": round(sum(b[2] for b in best) / count, 4),
    }


def decode_all(images: Sequence[bytes], name: str) -> list[Image.Image]:
    """Decoded RGB thumbnails (the measures look at 64 px or less). Invalid names an unreadable one ("sample 2")."""
    pictures = []
    for index, data in enumerate(images, start=1):
        picture = decode_picture(data, f"{name} {index}")
        picture.thumbnail((256, 256), Image.Resampling.BILINEAR)
        pictures.append(picture)
    return pictures


def score_locally(samples: Sequence[bytes], references: Sequence[bytes], near_bits: int) -> EpochScore:
    """An epoch scored by local measures against the references. Invalid: no samples or references, or an
    unreadable image (named)."""
    if not samples:
        raise Invalid("samples", "the epoch has no sample images")
    if not references:
        raise Invalid("references", "the character has no reference images")
    pictures = decode_all(samples, "sample")
    likeness = local_likeness(pictures, decode_all(references, "reference image"))
    measures: dict[str, float | None] = {**likeness, **diversity_measures(pictures, near_bits)}
    reasons = [
        f"likeness {likeness['likeness']:.2f} to the {len(references)} reference image(s) "
        f"(shapes {likeness['shapes']:.2f}, colours {likeness['colours']:.2f}), best reference per sample",
        _diversity_reason(measures),
    ]
    return EpochScore(likeness["likeness"], LOCAL, measures, reasons)


def _diversity_reason(measures: dict[str, float | None]) -> str:
    diversity, near = measures.get("diversity"), measures.get("near_copies")
    if diversity is None or near is None:
        return "diversity not measured: one sample"
    if near >= NEAR_COPIES_FROM:
        return f"samples are near copies of each other (diversity {diversity:.2f}, {near:.0%} of pairs): overtrained"
    return f"samples differ (diversity {diversity:.2f}, {near:.0%} of pairs near copies)"


# --- the proposal (pure) ------------------------------------------------------------------------------------


def propose(epochs: Sequence[dict[str, Any]]) -> EpochProposal | None:
    """The epoch to register among the scored ones (None: none scored yet): the best score whose samples are not
    near copies (the earlier epoch on a tie: it is less overtrained); when every one is near copies, the one
    whose samples differ most."""
    scored = [(int(e["epoch"]), s) for e in epochs if (s := EpochScore.of(e.get("score"))).score is not None]
    if not scored:
        return None
    varied = [(epoch, s) for epoch, s in scored if not s.near_copies]
    if not varied:
        epoch, best = max(scored, key=lambda item: (item[1].diversity or 0.0, -item[0]))
        return EpochProposal(
            epoch,
            best.score,  # type: ignore[arg-type]
            f"epoch {epoch}: every scored epoch's samples are near copies of each other (overtrained); its samples "
            f"differ most (diversity {best.diversity or 0.0:.2f}); train again with fewer epochs or a lower "
            "learning rate",
        )
    epoch, best = max(varied, key=lambda item: (item[1].score, -item[0]))
    score: float = best.score  # type: ignore[assignment]
    closest = "closest to the references" if best.scored_by == LOCAL else f"most like the character ({best.scored_by})"
    parts = [f"epoch {epoch}: {closest} ({score:.2f})"]
    if best.diversity is not None:
        parts[0] += f" while its samples still differ (diversity {best.diversity:.2f})"
    if len(scored) == 1:
        parts.append("the only scored epoch so far")
    parts += [
        f"epoch {other} scores {s.score:.2f} but its samples are near copies"
        for other, s in scored
        if s.near_copies and (s.score or 0.0) > score
    ]
    if score < UNLIKE_BELOW:
        parts.append(f"even so it looks little like the character (below {UNLIKE_BELOW:.2f}): train longer")
    return EpochProposal(epoch, score, "; ".join(parts))


# --- scoring an epoch ---------------------------------------------------------------------------------------


class EpochScorer:
    """Scores one epoch's samples of a character: by the configured vision LLM, else by local measures."""

    def __init__(self, settings: Settings, secrets: SecretStore, media: MediaStore, characters: Characters) -> None:
        self._settings = settings
        self._secrets = secrets
        self._media = media
        self._characters = characters

    async def score(self, character_id: int, samples: Sequence[str]) -> EpochScore:
        """Score the sample images (media paths). A problem the user can fix (no samples, no references without
        an LLM) is a "not scored" score; unexpected failures raise (the caller logs them and says so)."""
        if not samples:
            return EpochScore.not_scored("the epoch saved no sample images (the run has no sample prompts)")
        character = await self._characters.get(character_id)
        references = (await self._characters.references(character_id))[:MAX_REFERENCES]
        sample_bytes = [await self._media.read(path) for path in samples]
        reference_bytes = [await self._media.read(r.file_path) for r in references]
        near_bits = self._settings.dedup_hamming_threshold
        client = configured_llm(self._settings, self._secrets)
        note: str | None = None
        if client is not None:
            try:
                scored = await self._by_vision(client, character, sample_bytes, reference_bytes, near_bits)
            finally:
                await client.aclose()
            if isinstance(scored, EpochScore):
                return scored
            note = scored
        if not reference_bytes:
            why = f"{character.name} has no reference images; add one on the character's card"
            if client is None:
                why += " (or configure a vision LLM to judge the samples by the character's description)"
            return EpochScore.not_scored(why if note is None else f"{note}, and {why}")
        try:
            local = await asyncio.to_thread(score_locally, sample_bytes, reference_bytes, near_bits)
        except Invalid as exc:
            return EpochScore.not_scored(str(exc))  # "sample 2: not a readable image ..."
        if note is not None:
            return EpochScore(local.score, local.scored_by, local.measures, [note, *local.reasons])
        return local

    async def _by_vision(
        self,
        client: LlmClient,
        character: Character,
        samples: list[bytes],
        references: list[bytes],
        near_bits: int,
    ) -> EpochScore | str:
        """The vision review of each sample against the first reference; a string (why) when it failed."""
        model = self._settings.vision_model
        reviewer = VisionReviewer(client, model)
        subject = await self._subject(character, references[0] if references else None)
        matches: list[float] = []
        clarity: list[float] = []
        for index, sample in enumerate(samples):
            outcome = await reviewer.review(sample, subject)
            if outcome.verdict is None or outcome.error is not None:
                return (
                    f"the vision review by {model} failed on sample {index + 1} ({outcome.error}), so local "
                    "measures score it"
                )
            matches.append(float(outcome.verdict["character_match"]) / 10)
            clarity.append(float(outcome.verdict["clarity"]) / 10)
        pictures = await asyncio.to_thread(decode_all, samples, "sample")
        diversity = await asyncio.to_thread(diversity_measures, pictures, near_bits)
        likeness = round(sum(matches) / len(matches), 4)
        measures: dict[str, float | None] = {
            "likeness": likeness,
            "clarity": round(sum(clarity) / len(clarity), 4),
            **diversity,
        }
        against = "against its reference image" if references else "by its description (no reference image)"
        reasons = [
            f"{model} rated {len(samples)} sample(s) {against}: character match {likeness:.2f}",
            _diversity_reason(measures),
        ]
        return EpochScore(likeness, f"vision LLM {model}", measures, reasons)

    async def _subject(self, character: Character, reference: bytes | None) -> ReviewSubject:
        """Who the samples should show, as the dataset review describes a character (its style's hints when the
        project has a style)."""
        try:
            plan, _ = await self._characters.plan(character, None)
            non_human, rules, hint = plan.non_human, tuple(plan.species_rules), plan.profile.vision_hint
        except Invalid:  # no style: judged by the design alone
            non_human, rules, hint = False, (), ""
        return ReviewSubject(
            character_name=character.name,
            design_prompt=character.design_prompt,
            appearance=dict(character.appearance_data or {}),
            non_human=non_human,
            species_rules=rules,
            vision_hint=hint,
            threshold_offset=0.0,
            reference=reference,
        )

"""The quality score of one rendered shot attempt, from the three review frames of its clip.

With a vision model, each frame is rated on the four categories the earlier QC used (character, style,
motion, technical) and the weighted rating becomes a 0..1 score. Without one, or when the model fails,
local measurements stand in: sharpness, how much the frames change, and how much the first frame looks
like the source image. A failed model review, or a model that cannot see images, is never a failed attempt:
the local score is used and the model's error is kept in `error`, so the QC loop always has a number to decide on.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import numpy as np
from PIL import Image, ImageOps
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.datasets.triage import TriageThresholds, laplacian_variance
from services.errors import Invalid
from services.imaging import UNREADABLE, unreadable_image
from services.llm import AnswerCut, ChatMessage, LlmClient, LlmError
from services.llm.replies import ReplyError, parse_reply
from services.media.clips import review_frames

log = logging.getLogger(__name__)

ShotIssue = Literal[
    "artifact_flicker",
    "blurry",
    "wrong_character",
    "bad_anatomy",
    "frozen_motion",
    "wrong_action",
    "poor_lighting",
    "text_watermark",
    "color_shift",
]
SHOT_ISSUES: tuple[str, ...] = get_args(ShotIssue)
CATEGORIES = ("character_match", "style_match", "motion_execution", "technical_quality")

# The earlier QC's weights. With a source image the character and style can be checked against it, so they
# count more; without one the model can only judge motion and craft, so those carry the score.
WEIGHTS_WITH_SOURCE: dict[str, float] = {
    "character_match": 0.30,
    "style_match": 0.20,
    "motion_execution": 0.25,
    "technical_quality": 0.25,
}
WEIGHTS_WITHOUT_SOURCE: dict[str, float] = {
    "character_match": 0.20,
    "style_match": 0.15,
    "motion_execution": 0.30,
    "technical_quality": 0.35,
}


@dataclass(frozen=True)
class AttemptScore:
    """How good one rendered attempt is (0..1), how it was measured, and why."""

    score: float
    method: Literal["vision", "local"]
    per_frame: list[dict[str, float]]
    issues: list[str]
    reasons: list[str]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for the shot's QC record and the API)."""
        return asdict(self)


async def score_attempt(
    video: Path, work_dir: Path, source: bytes | None, description: str, llm: tuple[LlmClient, str] | None
) -> AttemptScore:
    """Score a rendered clip from its 3 review frames (saved in work_dir), by vision model or locally.

    `llm` is (client, model) for the vision review; None scores locally (in a thread). Invalid("video") when
    the clip cannot be read; a failing model never raises (see vision_score).
    """
    paths = await review_frames(video, work_dir)
    frames = await asyncio.to_thread(lambda: [path.read_bytes() for path in paths])
    if llm is None:
        return await asyncio.to_thread(local_score, frames, source)
    client, model = llm
    return await vision_score(client, model, frames, source, description)


# --- local measurements ------------------------------------------------------------------------------------

# The local score's weights. Motion counts most because a still-looking clip is the commonest failure of
# image-to-video models and the one thing a clip must add over its keyframe; similarity to the source catches
# an engine that wandered off the character; sharpness catches smeared, half-denoised output.
LOCAL_WEIGHTS_WITH_SOURCE: dict[str, float] = {"sharpness": 0.30, "motion": 0.35, "similarity": 0.35}
LOCAL_WEIGHTS_WITHOUT_SOURCE: dict[str, float] = {"sharpness": 0.45, "motion": 0.55}

# Sharpness is the triage's measure (variance of the Laplacian on 0-255 gray), on frames scaled down to at
# most 512 px (never up: upscaling would blur them). It maps to 0..1 on a log scale: 5 (a smear) is 0, 300
# (crisp line art) is 1; the triage's blur threshold (30) lands at 0.44.
SHARPNESS_SIDE = 512
BLUR_MIN = TriageThresholds().blur_min
_SHARP_FLOOR, _SHARP_FULL = 5.0, 300.0
# Motion is measured between consecutive review frames (gray, 0..1, at 64 px), two ways:
# - how much they change (mean absolute difference): below 0.5% the clip is frozen (only codec noise
#   differs), 2-20% is a living shot, and past that it fades to nothing at 45%;
# - whether they still show the same picture (correlation of the gray pixels): camera moves at double
#   strength keep 0.25 or more between frames 1.5 s apart, unrelated pictures (a collapse into noise, a
#   flicker between two images) measure about 0, so below 0.1 the change counts as chaos, not motion.
MOTION_SIDE = 64
FROZEN_BELOW, LIVELY_FROM, LIVELY_TO, CHANGE_FULL = 0.005, 0.02, 0.20, 0.45
INCOHERENT_BELOW, COHERENT_FROM = 0.1, 0.2
# Similarity of the first frame to the source (fitted to the frame's shape): 60% the correlation of the
# gray pictures at 64 px (layout and shapes), 40% the overlap of their colour histograms (palette).
SIMILARITY_SIDE = 64
UNLIKE_BELOW = 0.5
COLOUR_SHIFT_BELOW = 0.5


def local_score(frames: list[bytes], source: bytes | None) -> AttemptScore:
    """Score frames without a model: sharpness, change between frames, first frame against the source.

    Synchronous and CPU-bound (run it in a thread). Invalid("frames") when there are none or one is no image.
    """
    if not frames:
        raise Invalid("frames", "there are no frames to score; grab the review frames of the clip first")
    pictures = [decode_picture(data, f"frames[{index}]") for index, data in enumerate(frames)]
    per_frame: list[dict[str, float]] = [{} for _ in pictures]
    issues: list[str] = []
    reasons: list[str] = []
    parts: dict[str, float] = {}

    variances = []
    for picture, row in zip(pictures, per_frame, strict=True):
        variance = _sharpness(picture)
        variances.append(variance)
        row["sharpness"] = round(variance, 2)
        row["sharpness_score"] = round(_sharpness_score(variance), 4)
    parts["sharpness"] = sum(row["sharpness_score"] for row in per_frame) / len(per_frame)
    softest = min(variances)
    if softest < BLUR_MIN:
        issues.append("blurry")
        reasons.append(f"frames are blurry: sharpness {softest:.1f} is below {BLUR_MIN:g} in the softest frame")
    else:
        reasons.append(f"frames are sharp: sharpness {softest:.1f} or more (blurry below {BLUR_MIN:g})")

    if len(pictures) > 1:
        small = [_gray(picture, MOTION_SIDE) for picture in pictures]
        pairs = list(itertools.pairwise(small))
        changes = [_change(a, b) for a, b in pairs]
        kinship = [_correlation(a, b) for a, b in pairs]
        for row, change, related in zip(per_frame[1:], changes, kinship, strict=True):
            row["change"] = round(change, 5)
            row["correlation"] = round(related, 4)
        motion, coherence = sum(changes) / len(changes), min(kinship)
        parts["motion"] = _motion_score(motion) * _coherence_score(coherence)
        if motion < FROZEN_BELOW:
            issues.append("frozen_motion")
            reasons.append(f"frames are frozen: mean change {motion:.1%}")
        elif coherence < INCOHERENT_BELOW:
            issues.append("artifact_flicker")
            reasons.append(
                f"frames change chaotically: mean change {motion:.1%}, but neighbouring frames correlate only "
                f"{coherence:.2f}"
            )
        else:
            reasons.append(f"frames move: mean change {motion:.1%}, neighbouring frames correlate {coherence:.2f}")
    else:
        reasons.append("motion not measured: only one frame")

    if source is not None:
        structure, colours = picture_similarity(pictures[0], decode_picture(source, "source"))
        similarity = 0.6 * structure + 0.4 * colours
        per_frame[0]["source_similarity"] = round(similarity, 4)
        parts["similarity"] = similarity
        detail = f"similarity {similarity:.2f} (shapes {structure:.2f}, colours {colours:.2f})"
        if similarity < UNLIKE_BELOW:
            reasons.append(f"the first frame does not look like the source: {detail}")
        else:
            reasons.append(f"the first frame looks like the source: {detail}")
        if colours < COLOUR_SHIFT_BELOW:
            issues.append("color_shift")

    weights = LOCAL_WEIGHTS_WITH_SOURCE if source is not None else LOCAL_WEIGHTS_WITHOUT_SOURCE
    used = {name: weight for name, weight in weights.items() if name in parts}  # motion needs two frames
    score = sum(weight * parts[name] for name, weight in used.items()) / sum(used.values())
    summary = ", ".join(f"{name} {parts[name]:.2f} x {weight:.2f}" for name, weight in used.items())
    reasons.insert(0, f"local score {score:.2f} from {summary}")
    return AttemptScore(
        score=round(min(max(score, 0.0), 1.0), 4),
        method="local",
        per_frame=per_frame,
        issues=[issue for issue in SHOT_ISSUES if issue in issues],
        reasons=reasons,
    )


def decode_picture(data: bytes, name: str) -> Image.Image:
    """The picture in RGB; Invalid (named `name`) when the bytes are no readable image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            return opened.convert("RGB")
    except UNREADABLE as exc:
        raise Invalid(name, unreadable_image(exc)) from exc


def _fit_within(size: tuple[int, int], longer: int) -> tuple[int, int]:
    factor = min(1.0, longer / max(size))
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


def _sharpness(picture: Image.Image) -> float:
    gray = picture.convert("L")
    return laplacian_variance(gray.resize(_fit_within(gray.size, SHARPNESS_SIDE), Image.Resampling.BILINEAR))


def _sharpness_score(variance: float) -> float:
    if variance <= _SHARP_FLOOR:
        return 0.0
    return min(1.0, math.log(variance / _SHARP_FLOOR) / math.log(_SHARP_FULL / _SHARP_FLOOR))


def _gray(picture: Image.Image, side: int) -> np.ndarray:
    small = picture.convert("L").resize(_fit_within(picture.size, side), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _change(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 1.0  # frames of different sizes are not one continuous shot
    return float(np.abs(a - b).mean())


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two gray pictures, 0 when they differ in size; flat pictures count by colour."""
    if a.shape != b.shape:
        return 0.0
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 1.0 - min(1.0, abs(float(a.mean()) - float(b.mean())) * 4.0)  # 0 past a quarter of the range
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _motion_score(change: float) -> float:
    """1 for a living amount of change, falling to 0 towards a frozen clip and towards total change."""
    if change <= FROZEN_BELOW:
        return 0.0
    if change < LIVELY_FROM:
        return (change - FROZEN_BELOW) / (LIVELY_FROM - FROZEN_BELOW)
    if change <= LIVELY_TO:
        return 1.0
    return max(0.0, 1.0 - (change - LIVELY_TO) / (CHANGE_FULL - LIVELY_TO))


def _coherence_score(correlation: float) -> float:
    """1 while neighbouring frames still show the same picture, 0 when they are unrelated."""
    return min(1.0, max(0.0, (correlation - INCOHERENT_BELOW) / (COHERENT_FROM - INCOHERENT_BELOW)))


def picture_similarity(frame: Image.Image, source: Image.Image) -> tuple[float, float]:
    """(shapes, colours) of the frame against the source fitted to the frame's shape, each 0..1."""
    size = _fit_within(frame.size, SIMILARITY_SIDE)
    fitted = ImageOps.fit(source, frame.size, Image.Resampling.BILINEAR).resize(size, Image.Resampling.BOX)
    shown = frame.resize(size, Image.Resampling.BOX)
    a = np.asarray(shown.convert("L"), dtype=np.float32) / 255.0
    b = np.asarray(fitted.convert("L"), dtype=np.float32) / 255.0
    return max(0.0, _correlation(a, b)), _histogram_overlap(shown, fitted)


def _histogram_overlap(a: Image.Image, b: Image.Image) -> float:
    def histogram(picture: Image.Image) -> np.ndarray:
        pixels = np.asarray(picture, dtype=np.uint8).reshape(-1, 3) // 64  # 4 levels per channel, 64 bins
        counts = np.bincount(pixels[:, 0] * 16 + pixels[:, 1] * 4 + pixels[:, 2], minlength=64)
        return counts / counts.sum()

    return float(np.minimum(histogram(a), histogram(b)).sum())


# --- vision review -----------------------------------------------------------------------------------------


def _rating(value: Any) -> float:
    # Models answer 7, 7.5, "7" or now and then 0 or 11: keep the number, clamp it into the 1-10 scale.
    number = float(value)
    if number != number:  # NaN
        raise ValueError("rating is not a number")
    return min(10.0, max(1.0, number))


def _issues(value: Any) -> Any:
    # "Blurry", "frozen motion", "artifact-flicker" name known issues; anything else is not one we can act
    # on (the QC loop maps known issues to prompt fixes), so it is left out rather than failing the review.
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return value
    names = {re.sub(r"[\s-]+", "_", str(item).strip().lower()) for item in value}
    return [issue for issue in SHOT_ISSUES if issue in names]


Rating = Annotated[float, Field(ge=1, le=10), BeforeValidator(_rating)]


class FrameReview(BaseModel):
    """What the vision model says about one frame of a shot; the JSON schema it is asked to fill."""

    model_config = ConfigDict(extra="ignore")

    character_match: Rating = Field(description="1-10: the character looks like the design (and the source image)")
    style_match: Rating = Field(description="1-10: the art style matches (the source image's) anime style")
    motion_execution: Rating = Field(description="1-10: the pose and action fit the described motion")
    technical_quality: Rating = Field(description="1-10: sharp, clean lines, no artifacts or distortions")
    issues: Annotated[list[ShotIssue], BeforeValidator(_issues)] = Field(
        default_factory=list, description="problems seen, only from the known list"
    )


FRAME_REVIEW_SCHEMA: dict[str, Any] = FrameReview.model_json_schema()


def parse_frame_review(reply: str) -> FrameReview:
    """The review in a reply, tolerating ``` fences and text around the JSON object; ReplyError otherwise."""
    return parse_reply(reply, FrameReview)


def frame_review_prompt(description: str, where: str, comparative: bool) -> str:
    """The per-frame review prompt: what the shot should show, which image to judge, the JSON to answer with."""
    lines = ["You are the quality reviewer of one shot of an anime, rendered as a short video clip."]
    lines.append(f"The shot should show: {description.strip() or '(no description given)'}")
    if comparative:
        lines.append(
            "You get two images: the FIRST is the source image the clip was animated from (the reference for "
            f"the character and the art style); the SECOND is a frame of the clip, {where}. Judge only the "
            "SECOND, comparing it with the FIRST."
        )
    else:
        lines.append(f"You get one image: a frame of the clip, {where}.")
    lines += [
        "Answer with one JSON object only, no other text, with these fields (scores: 1 = very bad, 10 = perfect):",
        '- "character_match": the character looks right'
        + (" (same character as in the source image)" if comparative else " for the description"),
        '- "style_match": the art style' + (" matches the source image" if comparative else " is clean anime art"),
        '- "motion_execution": the pose and action fit the described motion at this point of the clip',
        '- "technical_quality": sharp, clean lines, no flicker artifacts, distortions or melted shapes',
        f'- "issues": the problems you see, only from this list: {", ".join(SHOT_ISSUES)} ([] if none)',
    ]
    return "\n".join(lines)


def weighted_score(review: FrameReview, comparative: bool) -> float:
    """One frame's 0..1 score: the weighted 1-10 rating, (weighted - 1) / 9."""
    weights = WEIGHTS_WITH_SOURCE if comparative else WEIGHTS_WITHOUT_SOURCE
    weighted = sum(weight * getattr(review, name) for name, weight in weights.items())
    return (weighted - 1.0) / 9.0


def _positions(count: int) -> list[str]:
    if count == 3:
        return ["near its start", "in its middle", "near its end"]
    return [f"frame {index} of {count} taken across it" for index in range(1, count + 1)]


@dataclass(frozen=True)
class _Failure:
    error: str


async def vision_score(
    client: LlmClient, model: str, frames: list[bytes], source: bytes | None, description: str
) -> AttemptScore:
    """Score frames with a vision model, comparing each with the source image when there is one.

    Never raises for model trouble: a model that cannot see images, an unusable reply twice for a frame, or an
    LlmError gives the local score with the model's error in `error` and a reason saying so. Invalid("frames")
    when there are none.
    """
    if not frames:
        raise Invalid("frames", "there are no frames to score; grab the review frames of the clip first")
    # A text-only model behind a server that drops images would rate frames it never saw.
    try:
        sight = await client.sees_images(model)
    except LlmError as exc:
        return await _scored_locally(frames, source, model, str(exc))
    if sight.sees is False:
        return await _scored_locally(frames, source, model, sight.how)
    comparative = source is not None
    reviews: list[FrameReview] = []
    for index, (frame, where) in enumerate(zip(frames, _positions(len(frames)), strict=True), start=1):
        outcome = await _review_frame(client, model, frame, source, description, where)
        if isinstance(outcome, _Failure):
            return await _scored_locally(frames, source, model, f"frame {index}: {outcome.error}")
        reviews.append(outcome)

    scores = [weighted_score(review, comparative) for review in reviews]
    score = sum(scores) / len(scores)
    per_frame = [
        {**{name: getattr(review, name) for name in CATEGORIES}, "score": round(value, 4)}
        for review, value in zip(reviews, scores, strict=True)
    ]
    averages = {name: sum(getattr(review, name) for review in reviews) / len(reviews) for name in CATEGORIES}
    seen = {issue for review in reviews for issue in review.issues}
    against = " against the source image" if comparative else " without a source image"
    weakest = min(CATEGORIES, key=lambda name: averages[name])
    reasons = [
        f"{len(reviews)} frames reviewed by {model}{against}: score {score:.2f}",
        "category averages (1-10): " + ", ".join(f"{name} {averages[name]:.1f}" for name in CATEGORIES),
        f"weakest category: {weakest} ({averages[weakest]:.1f})",
    ]
    if seen:
        reasons.append("issues seen: " + ", ".join(issue for issue in SHOT_ISSUES if issue in seen))
    if sight.sees is None:
        reasons.append(sight.how)  # trusted, but the person should know it is unchecked
    return AttemptScore(
        score=round(min(max(score, 0.0), 1.0), 4),
        method="vision",
        per_frame=per_frame,
        issues=[issue for issue in SHOT_ISSUES if issue in seen],
        reasons=reasons,
    )


async def _scored_locally(frames: list[bytes], source: bytes | None, model: str, error: str) -> AttemptScore:
    log.warning("vision review of a shot fell back to the local score: %s", error)
    local = await asyncio.to_thread(local_score, frames, source)
    note = f"the vision review by {model} failed, so the clip was scored locally: {error}"
    return replace(local, error=error, reasons=[note, *local.reasons])


async def _review_frame(
    client: LlmClient, model: str, frame: bytes, source: bytes | None, description: str, where: str
) -> FrameReview | _Failure:
    """One frame's review, with one retry that tells the model what was wrong with its reply."""
    images = (frame,) if source is None else (source, frame)  # the source first, as the earlier QC sent them
    messages = [ChatMessage("user", frame_review_prompt(description, where, source is not None), images)]
    problem = ""
    for _ in range(2):
        try:
            reply = await client.chat(model, messages, schema=FRAME_REVIEW_SCHEMA, temperature=0.1, max_tokens=300)
            return parse_frame_review(reply)
        except AnswerCut as exc:  # it rambled past the limit: ask again like for any unusable reply
            reply, problem = exc.partial, str(exc)
        except LlmError as exc:
            return _Failure(str(exc))
        except ReplyError as exc:
            problem = str(exc)
        log.info("shot frame review: unusable reply (%s)", problem)
        retry = f"Your reply was not usable: {problem}. Answer again with one JSON object only, with every field."
        messages = [*messages, ChatMessage("assistant", reply), ChatMessage("user", retry)]
    return _Failure(f"{model} gave no usable review in 2 attempts: {problem}")

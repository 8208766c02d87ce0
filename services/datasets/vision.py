"""Vision review of one dataset image against its character: ask a vision LLM, then apply the score rules.

The model only describes what it sees (scores, flags, issues); the triage itself is pure and lives in
`decide`, so the thresholds and hard gates are testable without a model and explainable to the user.
A review the studio could not carry out (server down, unusable replies, a model that cannot see images) is
`needs_human`, never a rejection: the image is not at fault.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.datasets.categories import CATEGORY_BY_NAME, REJECTION_CATEGORIES
from services.llm import AnswerCut, ChatMessage, LlmClient, LlmError
from services.llm.replies import ask_json, parse_reply
from services.prompts.inputs import Appearance
from services.prompts.species import SpeciesRule, rule_keyword_in
from services.prompts.tokens import split_tokens

log = logging.getLogger(__name__)

Completeness = Literal["full", "upper", "face", "partial"]
Status = Literal["approved", "rejected", "pending", "needs_human"]

# --- the model's answer ----------------------------------------------------------------------------


def _score(value: Any) -> float:
    # Models answer 8, 8.5, "8" or now and then 11: keep the number, clamp it into the scale.
    number = float(value)
    if number != number:  # NaN
        raise ValueError("score is not a number")
    return min(10.0, max(0.0, number))


def _completeness(value: Any) -> Any:
    # "Full body", "upper-body", "FACE": the first word decides.
    if isinstance(value, str) and (words := re.findall(r"[a-z]+", value.lower())):
        return words[0]
    return value


def _text_list(value: Any) -> Any:
    # A lone string ("none", "blurry hands") where a list was asked for.
    if value is None:
        return []
    if isinstance(value, str):
        return [] if value.strip().lower() in ("", "none", "n/a") else [value.strip()]
    return value


Score = Annotated[float, Field(ge=0, le=10), BeforeValidator(_score)]
TextList = Annotated[list[str], BeforeValidator(_text_list)]


class VisionVerdict(BaseModel):
    """What the vision model says about one image; the JSON schema it is asked to fill."""

    model_config = ConfigDict(extra="ignore")

    character_match: Score = Field(description="0-10: how well the image matches the character design")
    is_human: bool = Field(description="true if the main subject is a human being")
    gender_match: bool = Field(True, description="true if the gender matches the expected gender")
    solo: bool = Field(description="true if exactly one character is in the image")
    clarity: Score = Field(description="0-10: sharpness and image quality")
    completeness: Annotated[Completeness, BeforeValidator(_completeness)] = Field(
        description="full body, upper body, face only, or partial (cut off)"
    )
    training_value: Score = Field(description="0-10: usefulness for training a LoRA of this character")
    has_anatomical_defects: bool = Field(False, description="extra or missing fingers or limbs, melted features")
    common_error_hits: TextList = Field(default_factory=list, description="listed common errors seen")
    caption: str = Field("", description="one-sentence training caption")
    issues: TextList = Field(default_factory=list, description="short problems seen")


VERDICT_SCHEMA: dict[str, Any] = VisionVerdict.model_json_schema()

# --- who the image should show ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewSubject:
    """The character an image is reviewed against, with the style hint and thresholds of its model profile.

    `species_rules` may be all rules or the ones `classify_species` matched: only rules whose keywords
    occur in the species text (or, without one, the design prompt) ask a species question.
    `reference` is an approved image of the character, sent as the second image.
    """

    character_name: str
    design_prompt: str
    appearance: dict[str, Any]
    non_human: bool
    species_rules: tuple[SpeciesRule, ...]
    vision_hint: str
    threshold_offset: float
    known_issues: tuple[str, ...] = ()
    reference: bytes | None = None


def _texts(value: Any) -> list[str]:
    # appearance_data is hand-edited or LLM-written: a list, a comma-separated string, or a {part: colour} map.
    if isinstance(value, str):
        return split_tokens(value)
    if isinstance(value, Mapping):
        return [f"{part}: {text}" for part, text in value.items() if str(text or "").strip()]
    if isinstance(value, list | tuple):
        return [text for item in value if item is not None and (text := str(item).strip())]
    return []


def build_checklist(appearance: dict[str, Any]) -> list[str]:
    """Readable checklist lines from appearance data: species, key colours, key features, errors to avoid."""
    lines: list[str] = []
    species = ", ".join(_texts(appearance.get("species")))
    if species:
        lines.append(f"Species: {species}")
    colours = _texts(appearance.get("key_colors"))
    if colours:
        lines.append(f"Key colours: {'; '.join(colours)}")
    lines += [f"Key feature: {feature}" for feature in _texts(appearance.get("key_features"))]
    lines += [f"Common error to avoid: {error}" for error in _texts(appearance.get("common_errors"))]
    return lines


_FEMALE_WORDS = re.compile(r"\b(?:1girl|1woman|1female|woman|girl|female|lady|princess|queen)\b", re.IGNORECASE)
_MALE_WORDS = re.compile(r"\b(?:1boy|1man|1male|man|boy|male|guy|prince|king)\b", re.IGNORECASE)


def expected_gender(subject: ReviewSubject) -> str:
    """ "male", "female" or "" (none expected): the appearance data first, then the design prompt's words."""
    gender = Appearance.from_data(subject.appearance).gender
    if gender in ("male", "female"):
        return gender
    if gender == "other" or subject.non_human:
        return ""
    female, male = _FEMALE_WORDS.search(subject.design_prompt), _MALE_WORDS.search(subject.design_prompt)
    if bool(female) != bool(male):
        return "female" if female else "male"
    return ""


def review_prompt(subject: ReviewSubject) -> str:
    """The per-image review prompt: who to expect, what to check, and the JSON fields to answer with."""
    gender = expected_gender(subject)
    lines = ["You are reviewing one generated image for the training dataset of an anime character."]
    if subject.reference is not None:
        lines.append(
            "You get two images: the FIRST is the candidate to review; the SECOND is an approved reference "
            "image of the same character. Judge only the first, comparing it with the reference."
        )
    lines += [f"Character: {subject.character_name}", f"Design: {subject.design_prompt or '(none given)'}"]
    lines.append(f"Expected gender: {gender}" if gender else "Expected gender: none (answer gender_match true)")
    if subject.non_human:
        species = ", ".join(_texts(subject.appearance.get("species"))) or "a creature"
        lines.append(
            f"This character is NOT human ({species}). A human, a humanoid child or a person in a costume "
            "is wrong: then set is_human true and character_match low."
        )
    if subject.vision_hint:
        lines.append(f"Expected art style: {subject.vision_hint}. Judge the image within this style.")
    checklist = build_checklist(subject.appearance)
    if checklist:
        lines.append("Feature checklist:")
        lines += [f"- {item}" for item in checklist]
    if subject.known_issues:
        lines.append("Known problems of earlier images of this character (look for them):")
        lines += [f"- {issue}" for issue in subject.known_issues]
    lines += [
        "Answer with one JSON object only, no other text, with these fields:",
        '- "character_match": 0-10, how well the image matches the design and the checklist',
        '- "is_human": true if the main subject is a human being',
        '- "gender_match": true if the subject has the expected gender',
        '- "solo": true if exactly one character is in the image',
        '- "clarity": 0-10, sharpness and image quality',
        '- "completeness": "full" (whole body), "upper" (waist up), "face" (head only) or "partial" (cut off)',
        '- "training_value": 0-10, how useful the image is for training this character',
        '- "has_anatomical_defects": true for extra or missing fingers or limbs, melted or fused features',
        '- "common_error_hits": the checklist\'s common errors visible in the image ([] if none)',
        '- "caption": one sentence describing the character, pose and setting, for training',
        '- "issues": short descriptions of any problems ([] if none)',
    ]
    return "\n".join(lines)


def _species_text(subject: ReviewSubject) -> str:
    return ", ".join(_texts(subject.appearance.get("species"))) or subject.design_prompt


def _matching_rules(subject: ReviewSubject) -> list[SpeciesRule]:
    text = _species_text(subject)
    return [rule for rule in subject.species_rules if rule.non_human and rule_keyword_in(text, rule) is not None]


_ANSWER_SUFFIX = re.compile(r"\s*answer (?:with )?yes or no\.?\s*$", re.IGNORECASE)


def species_question(subject: ReviewSubject) -> str | None:
    """A focused yes/no question from the matching species rules; None for humans or when no rule matches."""
    if not subject.non_human:
        return None
    rules = [rule for rule in _matching_rules(subject) if rule.verification_question or rule.look_for]
    if not rules:
        return None
    questions = [_ANSWER_SUFFIX.sub("", rule.verification_question) for rule in rules if rule.verification_question]
    look_for = list(dict.fromkeys(item for rule in rules for item in rule.look_for))
    wrong_if = list(dict.fromkeys(item for rule in rules for item in rule.wrong_if))
    lines = [f"Look at the main character in this image. Its species should be: {_species_text(subject)}."]
    lines += questions
    if look_for:
        lines.append(f"Look for: {', '.join(look_for)}.")
    if wrong_if:
        lines.append(f"It is wrong if you see: {', '.join(wrong_if)}.")
    lines.append("Answer with one word: yes or no.")
    return "\n".join(lines)


_YES = frozenset({"yes", "yeah", "yep", "correct", "true"})
_NO = frozenset({"no", "nope", "false"})


def parse_yes_no(reply: str) -> bool | None:
    """True/False for a whole-word yes/no answer (the first word wins); None when there is none or both."""
    words = re.findall(r"[a-z]+", reply.lower())
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    # "Answer: yes" or "The answer is no." — but never "snout", "nose" or "not" (substring matches did that).
    has_yes, has_no = any(word in _YES for word in words), any(word in _NO for word in words)
    return has_yes if has_yes != has_no else None


# --- triage ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisionThresholds:
    """Score limits before the model profile's offset: below `reject_below` rejects, `approve_at` approves."""

    reject_below: float = 0.4
    approve_at: float = 0.8


DEFAULT_THRESHOLDS = VisionThresholds()


@dataclass(frozen=True)
class VisionOutcome:
    """The review of one image: the triage status, why, and what the model said."""

    status: Status
    score: float | None
    verdict: dict[str, Any] | None
    species_ok: bool | None
    categories: list[str]
    reasons: list[str]
    model: str
    attempts: int
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for the image's metadata and the API)."""
        return asdict(self)


# Issue text → category. Word-start matches ("pose" must not hit "exposed"), any ending ("fingers").
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("not_solo", ("multiple characters", "two characters", "more than one", "several characters", "second character",
                  "crowd", "group", "duplicate character")),
    ("bad_quality", ("blurry", "blur", "low quality", "low resolution", "lowres", "pixelat", "jpeg", "artifact",
                     "noisy", "noise", "out of focus", "watermark", "grainy")),
    ("bad_anatomy", ("extra finger", "missing finger", "extra limb", "extra arm", "extra leg", "anatomy",
                     "anatomical", "deformed", "malformed", "mutated", "fused", "bad hands")),
    ("wrong_pose", ("pose", "cropped", "cut off", "out of frame")),
    ("wrong_expression", ("expression", "distorted face")),
    ("wrong_style", ("style", "3d", "realistic", "photorealistic", "photo", "render", "western cartoon")),
    ("wrong_appearance", ("off-model", "wrong colo", "outfit", "costume", "clothing", "hair colo", "missing accessor")),
)  # fmt: skip
OTHER = CATEGORY_BY_NAME["other"].name
# For a creature, any person in the issues means the model drew (or saw) a human instead.
_HUMAN_WORDS = ("human", "person", "people", "child", "children", "boy", "girl", "man", "men", "woman", "women")


def _word_start(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(keyword)}", re.IGNORECASE)


_PATTERNS = tuple((name, tuple(_word_start(k) for k in keywords)) for name, keywords in _KEYWORDS)
_HUMAN_PATTERNS = tuple(re.compile(rf"(?<!\w){word}(?:s|oid)?(?!\w)", re.IGNORECASE) for word in _HUMAN_WORDS)


def categories_of(verdict: VisionVerdict, species_ok: bool | None, *, non_human: bool = False) -> list[str]:
    """Rejection category names the verdict points at, in category order, without repeats."""
    found: set[str] = set()
    if not verdict.solo:
        found.add("not_solo")
    if verdict.clarity < 5:
        found.add("bad_quality")
    if verdict.character_match < 4 or not verdict.gender_match or verdict.common_error_hits:
        found.add("wrong_appearance")
    if verdict.has_anatomical_defects:
        found.add("bad_anatomy")
    if species_ok is False or (non_human and species_ok is None and verdict.is_human):
        found.add("wrong_species")
    for text in [*verdict.issues, *verdict.common_error_hits]:
        for name, patterns in _PATTERNS:
            if any(pattern.search(text) for pattern in patterns):
                found.add(name)
        if non_human and any(pattern.search(text) for pattern in _HUMAN_PATTERNS):
            found.add("wrong_species")
    return _in_category_order(found)


def _in_category_order(names: set[str]) -> list[str]:
    return [category.name for category in REJECTION_CATEGORIES if category.name in names]


def _offset_note(offset: float) -> str:
    return f" (profile offset {offset:+.2f})" if offset else ""


def decide(
    verdict: VisionVerdict,
    subject: ReviewSubject,
    species_ok: bool | None,
    thresholds: VisionThresholds,
    face_count: int | None,
    model: str,
    attempts: int,
) -> VisionOutcome:
    """Apply the hard gates and thresholds to a verdict (pure): approved, rejected or pending, with reasons."""
    match, clarity, value = verdict.character_match, verdict.clarity, verdict.training_value
    reasons: list[str] = []
    if subject.non_human and species_ok is None and verdict.is_human:
        # No usable species answer, but the review itself saw a human: the same failure.
        species_ok = False
        reasons.append(f"the review says the subject is human, but {subject.character_name} is not human")
    if species_ok is False:
        match = value = 0.0
        reasons.append("species check failed: character match and training value count as 0")
    if not verdict.gender_match:
        match = value = 0.0
        gender = expected_gender(subject) or "the expected one"
        reasons.append(f"wrong gender (expected {gender}): character match and training value count as 0")
    if verdict.has_anatomical_defects or verdict.common_error_hits:
        value = min(value, 2.0)
        seen = ["anatomical defects"] if verdict.has_anatomical_defects else []
        seen += [f"common error '{hit}'" for hit in verdict.common_error_hits]
        reasons.append(f"{', '.join(seen)}: training value capped at 2")
    score = round((match + clarity + value) / 30, 4)
    offset = subject.threshold_offset
    reject_below, approve_at = thresholds.reject_below + offset, thresholds.approve_at + offset
    note = _offset_note(offset)
    solo = verdict.solo and (face_count is None or face_count <= 1)

    status: Status
    if score < reject_below:
        status = "rejected"
        reasons.append(f"score {score:.2f} is below the reject threshold {reject_below:.2f}{note}")
    elif score >= approve_at and solo and not subject.non_human:
        status = "approved"
        reasons.append(f"score {score:.2f} reaches the approve threshold {approve_at:.2f}{note} and the image is solo")
    else:
        status = "pending"
        if score < approve_at:
            reasons.append(
                f"score {score:.2f} is between the reject threshold {reject_below:.2f} and the approve "
                f"threshold {approve_at:.2f}{note}: a human decides"
            )
        if not verdict.solo:
            reasons.append("not auto-approved: the review says the image is not solo")
        elif not solo:
            reasons.append(f"not auto-approved: {face_count} faces were detected, so the image is not solo")
        if subject.non_human:
            reasons.append("not auto-approved: non-human characters always need a human")

    # Approved images teach nothing; a rejection always names at least one category.
    categories: list[str] = []
    if status != "approved":
        found = set(categories_of(verdict, species_ok, non_human=subject.non_human))
        if not solo:
            found.add("not_solo")
        if status == "rejected" and not found:
            found.add(OTHER)
        categories = _in_category_order(found)
    return VisionOutcome(
        status=status,
        score=score,
        verdict=verdict.model_dump(),
        species_ok=species_ok,
        categories=categories,
        reasons=reasons,
        model=model,
        attempts=attempts,
        error=None,
    )


# --- talking to the model --------------------------------------------------------------------------


def parse_verdict(reply: str) -> VisionVerdict:
    """The verdict in a reply, tolerating ``` fences and text around the JSON object; ReplyError otherwise."""
    return parse_reply(reply, VisionVerdict)


class VisionReviewer:
    """Reviews dataset images with one vision model. `review` never raises for server or reply problems."""

    def __init__(self, client: LlmClient, model: str, thresholds: VisionThresholds = DEFAULT_THRESHOLDS) -> None:
        self.client = client
        self.model = model
        self.thresholds = thresholds

    async def review(self, image: bytes, subject: ReviewSubject, face_count: int | None = None) -> VisionOutcome:
        """Review one image; `needs_human` (with `error`) when the model cannot see images, the server fails, or
        replies are unusable twice."""
        # A text-only model behind a server that drops images invents a verdict: never ask one.
        try:
            sight = await self.client.sees_images(self.model)
        except LlmError as exc:
            return self._needs_human(str(exc), 0)
        if sight.sees is False:
            return self._needs_human(sight.how, 0)
        images = (image,) if subject.reference is None else (image, subject.reference)
        messages = [ChatMessage("user", review_prompt(subject), images)]
        try:
            answer = await ask_json(
                self.client, self.model, messages, VisionVerdict, schema=VERDICT_SCHEMA, temperature=0.3, max_tokens=400
            )
        except LlmError as exc:
            return self._needs_human(str(exc), 1)
        verdict, attempts = answer.value, answer.attempts
        if verdict is None:
            problem = answer.problem
            return self._needs_human(f"{self.model} gave no usable review in {attempts} attempts: {problem}", attempts)

        species_ok: bool | None = None
        unclear: str | None = None
        question = species_question(subject)
        if question is not None:
            try:
                answer = await self.client.chat(
                    self.model, [ChatMessage("user", question, (image,))], temperature=0.1, max_tokens=30
                )
            except AnswerCut as exc:
                answer = exc.partial  # "Yes, it has a shell and..." still starts with the answer
            except LlmError as exc:
                return self._needs_human(f"species check: {exc}", attempts, verdict)
            species_ok = parse_yes_no(answer)
            if species_ok is None:
                unclear = f"species check answer was unclear ({answer.strip()[:80]!r}); not counted"
        outcome = decide(verdict, subject, species_ok, self.thresholds, face_count, self.model, attempts)
        first = [unclear] if unclear is not None else []
        last = [sight.how] if sight.sees is None else []  # trusted, but the person should know it is unchecked
        return replace(outcome, reasons=[*first, *outcome.reasons, *last])

    def _needs_human(self, error: str, attempts: int, verdict: VisionVerdict | None = None) -> VisionOutcome:
        log.warning("vision review failed: %s", error)
        return VisionOutcome(
            status="needs_human",
            score=None,
            verdict=verdict.model_dump() if verdict is not None else None,
            species_ok=None,
            categories=[],
            reasons=[f"the review could not be done, a human decides: {error}"],
            model=self.model,
            attempts=attempts,
            error=error,
        )

"""The pure part of vision review: score rules, rejection categories, yes/no answers, prompts, reply parsing."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from services.datasets.categories import CATEGORY_NAMES
from services.datasets.vision import (
    ReviewSubject,
    VisionThresholds,
    VisionVerdict,
    build_checklist,
    categories_of,
    decide,
    parse_verdict,
    parse_yes_no,
    review_prompt,
    species_question,
)
from services.llm.replies import ReplyError
from services.prompts.species import BUILTIN_SPECIES_RULES, classify_species
from tests.fakes.ollama import DEFAULT_REVIEW

THRESHOLDS = VisionThresholds()

MARIO = ReviewSubject(
    character_name="Mario",
    design_prompt="1man, plumber, red cap with M emblem, blue overalls, thick mustache",
    appearance={
        "species": "human",
        "gender": "male",
        "key_colors": {"cap": "red", "overalls": "blue"},
        "key_features": ["M emblem on the cap", "thick black mustache"],
        "common_errors": "green cap, missing mustache",
    },
    non_human=False,
    species_rules=(),
    vision_hint="anime illustration from a booru-tag model; flat cel shading is expected",
    threshold_offset=0.0,
)

_KOOPA_SPECIES = "NOT human, koopa turtle"
KOOPA = ReviewSubject(
    character_name="Kamek Jr",
    design_prompt="1creature, small koopa with a green shell and round glasses",
    appearance={"species": _KOOPA_SPECIES, "key_colors": ["green shell", "yellow skin"], "key_features": "glasses"},
    non_human=True,
    species_rules=classify_species(_KOOPA_SPECIES, BUILTIN_SPECIES_RULES)[1],
    vision_hint="",
    threshold_offset=0.0,
)


def verdict(**overrides: Any) -> VisionVerdict:
    values: dict[str, Any] = {**DEFAULT_REVIEW, "caption": "Mario waving"}
    values.update(overrides)
    return VisionVerdict.model_validate(values)


def judge(v: VisionVerdict, subject: ReviewSubject = MARIO, species_ok: bool | None = None, faces: int | None = None):
    return decide(v, subject, species_ok, THRESHOLDS, faces, "gemma3:12b", 1)


# --- decide --------------------------------------------------------------------------------------


def test_a_good_solo_image_of_a_human_is_approved() -> None:
    outcome = judge(verdict())
    assert outcome.status == "approved"
    assert outcome.score == pytest.approx(0.9)
    assert outcome.categories == []
    assert outcome.reasons == ["score 0.90 reaches the approve threshold 0.80 and the image is solo"]
    assert (outcome.model, outcome.attempts, outcome.error) == ("gemma3:12b", 1, None)
    assert outcome.verdict is not None and outcome.verdict["caption"] == "Mario waving"


def test_the_approve_threshold_itself_approves() -> None:
    assert judge(verdict(character_match=8, clarity=8, training_value=8)).status == "approved"


def test_a_low_score_is_rejected_and_the_reason_names_threshold_and_offset() -> None:
    subject = replace(MARIO, threshold_offset=0.05)
    outcome = decide(verdict(character_match=3, clarity=4, training_value=2), subject, None, THRESHOLDS, None, "m", 1)
    assert outcome.status == "rejected"
    assert outcome.score == pytest.approx(0.3)
    assert "score 0.30 is below the reject threshold 0.45 (profile offset +0.05)" in outcome.reasons
    assert outcome.categories == ["wrong_appearance", "bad_quality"]


def test_a_negative_offset_lowers_both_thresholds() -> None:
    subject = replace(MARIO, threshold_offset=-0.05)
    v = verdict(character_match=8, clarity=8, training_value=7.5)  # 0.783
    assert judge(v).status == "pending"
    assert decide(v, subject, None, THRESHOLDS, None, "m", 1).status == "approved"
    low = verdict(character_match=4, clarity=4, training_value=4)  # 0.40
    assert judge(low).status == "pending"
    assert decide(low, replace(MARIO, threshold_offset=0.05), None, THRESHOLDS, None, "m", 1).status == "rejected"


def test_between_the_thresholds_a_human_decides() -> None:
    outcome = judge(verdict(character_match=6, clarity=7, training_value=6))
    assert outcome.status == "pending"
    assert outcome.reasons == [
        "score 0.63 is between the reject threshold 0.40 and the approve threshold 0.80: a human decides"
    ]


def test_a_failed_species_check_zeroes_match_and_value() -> None:
    outcome = judge(verdict(is_human=False), KOOPA, species_ok=False)
    assert outcome.status == "rejected"
    assert outcome.score == pytest.approx(0.3)  # clarity 9 alone
    assert outcome.species_ok is False
    assert "wrong_species" in outcome.categories
    assert any("species check failed" in reason for reason in outcome.reasons)


def test_a_non_human_seen_as_human_without_a_species_answer_fails_the_species_gate() -> None:
    outcome = judge(verdict(is_human=True), KOOPA, species_ok=None)
    assert outcome.status == "rejected"
    assert outcome.species_ok is False
    assert outcome.categories[-1] == "wrong_species"
    assert "the review says the subject is human, but Kamek Jr is not human" in outcome.reasons


def test_a_passed_species_check_outweighs_the_is_human_flag() -> None:
    outcome = judge(verdict(is_human=True), KOOPA, species_ok=True)
    assert outcome.status == "pending"
    assert "wrong_species" not in outcome.categories


def test_wrong_gender_zeroes_match_and_value() -> None:
    outcome = judge(verdict(gender_match=False))
    assert outcome.status == "rejected"
    assert outcome.score == pytest.approx(0.3)
    assert "wrong gender (expected male): character match and training value count as 0" in outcome.reasons
    assert outcome.categories == ["wrong_appearance"]


def test_anatomical_defects_cap_the_training_value() -> None:
    outcome = judge(verdict(has_anatomical_defects=True))
    assert outcome.score == pytest.approx((9 + 9 + 2) / 30, abs=1e-4)
    assert outcome.status == "pending"
    assert "anatomical defects: training value capped at 2" in outcome.reasons
    assert outcome.categories == ["bad_anatomy"]


def test_a_common_error_hit_caps_the_training_value() -> None:
    outcome = judge(verdict(common_error_hits=["green cap"], training_value=1))
    assert outcome.score == pytest.approx((9 + 9 + 1) / 30, abs=1e-4)  # a cap, not a floor
    assert "common error 'green cap': training value capped at 2" in outcome.reasons
    assert outcome.categories == ["wrong_appearance"]


def test_non_human_characters_are_never_auto_approved() -> None:
    outcome = judge(verdict(is_human=False), KOOPA, species_ok=True)
    assert outcome.status == "pending"
    assert outcome.score == pytest.approx(0.9)
    assert "not auto-approved: non-human characters always need a human" in outcome.reasons


def test_non_human_characters_can_still_be_auto_rejected() -> None:
    outcome = judge(verdict(is_human=False, character_match=2, clarity=3, training_value=2), KOOPA, species_ok=True)
    assert outcome.status == "rejected"


def test_not_solo_by_the_review_or_by_face_count_blocks_approval() -> None:
    by_review = judge(verdict(solo=False))
    assert by_review.status == "pending"
    assert "not auto-approved: the review says the image is not solo" in by_review.reasons
    assert by_review.categories == ["not_solo"]
    by_faces = judge(verdict(), faces=2)
    assert by_faces.status == "pending"
    assert "not auto-approved: 2 faces were detected, so the image is not solo" in by_faces.reasons
    assert by_faces.categories == ["not_solo"]
    assert judge(verdict(), faces=1).status == "approved"
    assert judge(verdict(), faces=0).status == "approved"  # creatures and back views have no detectable face


def test_every_rejection_names_a_category() -> None:
    outcome = judge(verdict(character_match=5, clarity=5, training_value=1))
    assert outcome.status == "rejected"
    assert outcome.categories == ["other"]


def test_outcome_to_json_is_plain_json() -> None:
    data = judge(verdict(issues=["blurry"]), faces=3).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["status"] == "pending" and data["verdict"]["issues"] == ["blurry"]


# --- categories_of -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issue", "category"),
    [
        ("multiple characters in the background", "not_solo"),
        ("a second character is partly visible", "not_solo"),
        ("slightly blurry", "bad_quality"),
        ("low quality, jpeg artifacts", "bad_quality"),
        ("extra fingers on the left hand", "bad_anatomy"),
        ("odd anatomy of the legs", "bad_anatomy"),
        ("awkward pose", "wrong_pose"),
        ("feet cropped at the bottom", "wrong_pose"),
        ("blank expression", "wrong_expression"),
        ("3D render look", "wrong_style"),
        ("looks photorealistic", "wrong_style"),
        ("wrong style for the project", "wrong_style"),
        ("wrong colour on the overalls", "wrong_appearance"),
    ],
)
def test_issue_keywords_map_to_categories(issue: str, category: str) -> None:
    assert categories_of(verdict(issues=[issue]), None) == [category]


def test_keywords_match_whole_word_starts_only() -> None:
    assert categories_of(verdict(issues=["exposed shoulder", "unrealistic shading", "photogenic"]), None) == [
        "wrong_style"  # "photo" starts "photogenic": a known, harmless over-match
    ]
    assert categories_of(verdict(issues=["exposed shoulder", "unrealistic shading"]), None) == []


def test_direct_rules_and_keywords_combine_in_category_order_without_repeats() -> None:
    v = verdict(
        solo=False,
        clarity=3,
        character_match=2,
        has_anatomical_defects=True,
        issues=["blurry", "multiple characters", "extra fingers", "bad pose", "blurry face"],
    )
    result = categories_of(v, False)
    assert result == ["wrong_appearance", "bad_quality", "not_solo", "wrong_pose", "wrong_species", "bad_anatomy"]
    assert set(result) <= CATEGORY_NAMES


def test_human_words_mean_wrong_species_only_for_non_human_characters() -> None:
    v = verdict(issues=["looks like a human child in a costume"])
    assert "wrong_species" in categories_of(v, None, non_human=True)
    assert "wrong_species" not in categories_of(v, None, non_human=False)


# --- parse_yes_no --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Yes", True),
        ("yes.", True),
        ("Yes, it has a shell", True),
        ("**Yes**", True),
        ("No.", False),
        ("no", False),
        ("NO - it is a human child", False),
        ("Answer: yes", True),
        ("The answer is no.", False),
        ("It has a snout", None),
        ("nose", None),
        ("The character has a snout and a nose, not a beak", None),
        ("I cannot tell.", None),
        ("", None),
        ("Not sure", None),
        ("It has a shell: yes. Human face: no.", None),
    ],
)
def test_parse_yes_no_reads_whole_words_only(reply: str, expected: bool | None) -> None:
    assert parse_yes_no(reply) is expected


# --- prompts -------------------------------------------------------------------------------------


def test_checklist_reads_lists_strings_and_colour_maps() -> None:
    assert build_checklist(MARIO.appearance) == [
        "Species: human",
        "Key colours: cap: red; overalls: blue",
        "Key feature: M emblem on the cap",
        "Key feature: thick black mustache",
        "Common error to avoid: green cap",
        "Common error to avoid: missing mustache",
    ]
    assert build_checklist({}) == []
    assert build_checklist({"key_colors": "green shell, yellow skin", "key_features": None}) == [
        "Key colours: green shell; yellow skin"
    ]


def test_review_prompt_names_the_character_checklist_style_gender_and_fields() -> None:
    prompt = review_prompt(replace(MARIO, known_issues=("green cap instead of red",)))
    for expected in (
        "Character: Mario",
        "Design: 1man, plumber",
        "Expected gender: male",
        "Expected art style: anime illustration from a booru-tag model",
        "- Key feature: thick black mustache",
        "- Common error to avoid: green cap",
        "- green cap instead of red",
        '"character_match"',
        '"common_error_hits"',
        '"completeness": "full"',
        "one JSON object only",
    ):
        assert expected in prompt
    assert "SECOND" not in prompt
    assert "NOT human" not in prompt


def test_review_prompt_for_a_creature_and_a_reference_image() -> None:
    prompt = review_prompt(replace(KOOPA, reference=b"\x89PNG\r\n\x1a\nref"))
    assert "the FIRST is the candidate to review; the SECOND is an approved reference" in prompt
    assert "This character is NOT human (NOT human, koopa turtle)" in prompt
    assert "Expected gender: none" in prompt


def test_expected_gender_falls_back_to_the_design_prompt() -> None:
    peach = replace(MARIO, character_name="Peach", design_prompt="1woman, pink dress", appearance={})
    assert "Expected gender: female" in review_prompt(peach)


def test_species_question_uses_the_matching_rules() -> None:
    question = species_question(KOOPA)
    assert question is not None
    assert "Is the character a Koopa" in question
    assert "turtle shell on its back" in question  # the turtle rule matches "koopa turtle" too
    assert question.startswith("Look at the main character in this image. Its species should be: NOT human, koopa")
    assert "Look for: shell on the back, scaly reptile skin, beaked turtle head, beaked reptile face" in question
    assert "It is wrong if you see: no shell, human face" in question
    assert question.count("no shell") == 1  # shared by both rules, asked once
    assert question.count("Answer yes or no") == 0 and question.endswith("Answer with one word: yes or no.")


def test_species_question_ignores_rules_that_do_not_match() -> None:
    subject = replace(KOOPA, species_rules=BUILTIN_SPECIES_RULES)  # all rules, not only the matched ones
    question = species_question(subject)
    assert question is not None and "mouse" not in question and "dragon" not in question


def test_no_species_question_for_humans_or_without_a_rule() -> None:
    assert species_question(MARIO) is None
    ghost = replace(KOOPA, appearance={"species": "NOT human, ghost"}, species_rules=BUILTIN_SPECIES_RULES)
    assert species_question(ghost) is None


# --- reply parsing -------------------------------------------------------------------------------


def test_parse_verdict_tolerates_fences_and_chatter_and_clamps_scores() -> None:
    reply = (
        'Here is my review:\n```json\n{"character_match": 11, "is_human": true, "solo": true, "clarity": "7.5", '
        '"completeness": "Full body", "training_value": -1, "issues": "none", "note": "extra"}\n```\nHope {this} helps'
    )
    v = parse_verdict(reply)
    assert (v.character_match, v.clarity, v.training_value, v.completeness) == (10.0, 7.5, 0.0, "full")
    assert v.issues == [] and v.gender_match is True


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("Looks great!", "no JSON object"),
        ('{"character_match": 9, "solo": tru', "the JSON is invalid"),
        ('{"character_match": "high", "is_human": true, "clarity": 3, "completeness": "torso", "training_value": 1}',
         "character_match: Value error"),
    ],
)  # fmt: skip
def test_parse_verdict_says_what_is_wrong(reply: str, message: str) -> None:
    with pytest.raises(ReplyError, match=message) as caught:
        parse_verdict(reply)
    if "high" in reply:
        assert "solo: Field required" in str(caught.value)

"""Scoring rendered shot attempts: local measurements on real animatic clips, and the vision review against the
fake Ollama over loopback (with its fallback to the local score when the model fails)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFilter

from services.errors import Invalid
from services.llm import LlmClient
from services.media.animatic import CameraMove, render_animatic
from services.media.clips import review_frames
from services.scenes.scoring import SHOT_ISSUES, AttemptScore, local_score, score_attempt, vision_score
from tests.fakes import FakeOllama
from tests.integration.test_animatic import drawing

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)")

MODEL = "gemma3:12b"


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A still, an unrelated still, and two tiny animatics of the first (one frozen, one moving) with their
    review frames."""
    folder = tmp_path_factory.mktemp("attempts")
    still = folder / "still.png"
    drawing(320, 180, 1).save(still)

    async def prepare() -> dict[str, Any]:
        made: dict[str, Any] = {"source": still.read_bytes(), "other": png(drawing(320, 180, 7)), "videos": {}}
        for name, move in (("frozen", CameraMove("static")), ("moving", CameraMove("push_in", 1.5))):
            video = await render_animatic(
                still, folder / f"{name}.mp4", seconds=1.5, fps=8, width=160, height=90, move=move
            )
            made["videos"][name] = video
            made[name] = [path.read_bytes() for path in await review_frames(video, folder / name)]
        return made

    return asyncio.run(prepare())


# --- local score ---------------------------------------------------------------------------------------------


def test_a_frozen_clip_scores_lower_than_a_moving_one(clips: dict[str, Any]) -> None:
    frozen = local_score(clips["frozen"], clips["source"])
    moving = local_score(clips["moving"], clips["source"])

    assert frozen.method == moving.method == "local"
    assert moving.score > frozen.score + 0.25
    assert "frozen_motion" in frozen.issues and "frozen_motion" not in moving.issues
    assert any(reason.startswith("frames are frozen: mean change 0.") for reason in frozen.reasons)
    assert any(reason.startswith("frames move: mean change") for reason in moving.reasons)
    assert 0.0 <= frozen.score <= 1.0 and 0.0 <= moving.score <= 1.0
    assert len(moving.per_frame) == 3 and "change" not in moving.per_frame[0] and "change" in moving.per_frame[1]


def test_a_clip_unlike_the_source_scores_lower(clips: dict[str, Any]) -> None:
    alike = local_score(clips["moving"], clips["source"])
    unlike = local_score(clips["moving"], clips["other"])

    assert alike.per_frame[0]["source_similarity"] > 0.8
    assert unlike.per_frame[0]["source_similarity"] < 0.5
    assert unlike.score < alike.score - 0.2
    assert any(reason.startswith("the first frame does not look like the source") for reason in unlike.reasons)


def test_blurred_frames_are_blurry(clips: dict[str, Any]) -> None:
    def blurred(data: bytes) -> bytes:
        with Image.open(io.BytesIO(data)) as picture:
            return png(picture.convert("RGB").filter(ImageFilter.GaussianBlur(3)))

    sharp = local_score(clips["moving"], None)
    soft = local_score([blurred(frame) for frame in clips["moving"]], None)

    assert "blurry" in soft.issues and "blurry" not in sharp.issues
    assert soft.score < sharp.score
    assert soft.per_frame[0]["sharpness"] < 30 < sharp.per_frame[0]["sharpness"]


def test_unrelated_frames_are_chaos_not_motion(clips: dict[str, Any]) -> None:
    jumbled = [png(drawing(160, 90, seed)) for seed in (11, 12, 13)]

    chaos = local_score(jumbled, None)

    assert "artifact_flicker" in chaos.issues
    assert chaos.score < local_score(clips["moving"], None).score - 0.3


def test_without_a_source_the_weights_leave_similarity_out(clips: dict[str, Any]) -> None:
    score = local_score(clips["moving"], None)

    assert "source_similarity" not in score.per_frame[0]
    assert score.reasons[0].startswith("local score") and "similarity" not in score.reasons[0]
    assert json.loads(json.dumps(score.to_json()))["method"] == "local"


def test_frames_that_are_not_images_are_invalid(clips: dict[str, Any]) -> None:
    with pytest.raises(Invalid) as none:
        local_score([], None)
    with pytest.raises(Invalid) as garbage:
        local_score([clips["moving"][0], b"not a png"], None)

    assert none.value.field == "frames"
    assert garbage.value.field == "frames[1]"


# --- vision score against the fake Ollama ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
async def ollama(shared_ollama: FakeOllama) -> AsyncIterator[tuple[FakeOllama, LlmClient]]:
    shared_ollama.reset()
    client = LlmClient(shared_ollama.url, "ollama", timeout=5)
    try:
        yield shared_ollama, client
    finally:
        await client.aclose()


def review(**overrides: Any) -> str:
    ratings = {"character_match": 8, "style_match": 6, "motion_execution": 7, "technical_quality": 9, "issues": []}
    return json.dumps({**ratings, **overrides})


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def sent_images(chat: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(item) for message in chat["messages"] for item in message.get("images", [])]


async def test_a_comparative_review_sends_the_source_first_and_weighs_like_the_earlier_qc(
    ollama: tuple[FakeOllama, LlmClient], clips: dict[str, Any]
) -> None:
    fake, client = ollama
    fake.reply_for = lambda body: review()

    score = await vision_score(client, MODEL, clips["moving"], clips["source"], "Aiko draws her sword")

    assert score.method == "vision" and score.error is None
    # .30 x 8 + .20 x 6 + .25 x 7 + .25 x 9 = 7.6; (7.6 - 1) / 9
    assert score.score == pytest.approx(6.6 / 9, abs=1e-4)
    assert [frame["score"] for frame in score.per_frame] == pytest.approx([6.6 / 9] * 3, abs=1e-4)
    assert len(fake.chats) == 3
    for chat, frame in zip(fake.chats, clips["moving"], strict=True):
        assert sent_images(chat) == [clips["source"], frame]
        assert chat["options"]["temperature"] == 0.1
        assert chat["format"]["properties"]["issues"]["items"]["enum"] == list(SHOT_ISSUES)
        prompt = chat["messages"][0]["content"]
        assert "Aiko draws her sword" in prompt and "the FIRST is the source image" in prompt
    assert "near its start" in fake.chats[0]["messages"][0]["content"]
    assert "near its end" in fake.chats[2]["messages"][0]["content"]


async def test_without_a_source_one_image_goes_and_the_weights_change(
    ollama: tuple[FakeOllama, LlmClient], clips: dict[str, Any]
) -> None:
    fake, client = ollama
    fake.replies = [
        review(issues=["Frozen motion", "blurry", "cosmic rays"]),
        review(issues=["blurry"]),
        review(motion_execution=2, issues=[]),
    ]

    score = await vision_score(client, MODEL, clips["moving"], None, "Aiko draws her sword")

    # .20 x 8 + .15 x 6 + .30 x 7 + .35 x 9 = 7.75 twice; with motion 2: 6.25
    assert score.score == pytest.approx(((6.75 + 6.75 + 5.25) / 3) / 9, abs=1e-4)
    assert score.issues == ["blurry", "frozen_motion"]  # known names only, in the list's order
    assert [sent_images(chat) for chat in fake.chats] == [[frame] for frame in clips["moving"]]
    assert "weakest category: motion_execution (5.3)" in score.reasons


async def test_an_unusable_reply_is_retried_once_with_what_was_wrong(
    ollama: tuple[FakeOllama, LlmClient], clips: dict[str, Any]
) -> None:
    fake, client = ollama
    fake.replies = ["What a dynamic shot!", review(), review(), review()]

    score = await vision_score(client, MODEL, clips["moving"], clips["source"], "a duel")

    assert score.method == "vision"
    assert len(fake.chats) == 4
    retry = fake.chats[1]["messages"]
    assert [message["role"] for message in retry] == ["user", "assistant", "user"]
    assert "the reply contains no JSON object" in retry[2]["content"]


async def test_two_unusable_replies_fall_back_to_the_local_score(
    ollama: tuple[FakeOllama, LlmClient], clips: dict[str, Any]
) -> None:
    fake, client = ollama
    fake.replies = ['{"character_match": 9}', "```json\n{nope}\n```"]

    score = await vision_score(client, MODEL, clips["moving"], clips["source"], "a duel")

    assert score.method == "local"
    assert score.error is not None
    assert score.error.startswith(f"frame 1: {MODEL} gave no usable review in 2 attempts: the JSON is invalid")
    assert score.reasons[0].startswith(f"the vision review by {MODEL} failed, so the clip was scored locally")
    assert score.score == local_score(clips["moving"], clips["source"]).score
    assert len(fake.chats) == 2
    assert "fields are wrong: style_match: Field required" in fake.chats[1]["messages"][2]["content"]


async def test_a_server_that_is_down_falls_back_to_the_local_score(
    ollama: tuple[FakeOllama, LlmClient], clips: dict[str, Any]
) -> None:
    fake, client = ollama
    fake.down = True

    score = await vision_score(client, MODEL, clips["frozen"], clips["source"], "a duel")

    assert score.method == "local"
    assert score.error is not None and "connection refused" in score.error
    assert "frozen_motion" in score.issues
    assert score.score == local_score(clips["frozen"], clips["source"]).score


async def test_a_missing_model_falls_back_and_names_the_fix(
    ollama: tuple[FakeOllama, LlmClient], clips: dict[str, Any]
) -> None:
    _, client = ollama

    score = await vision_score(client, "llava:34b", clips["moving"], None, "a duel")

    assert score.method == "local"
    assert score.error is not None and "ollama pull llava:34b" in score.error


async def test_a_model_that_cannot_see_is_not_asked_and_the_clip_is_scored_locally(
    clips: dict[str, Any],
) -> None:
    # A text-only model behind a server that drops images would rate frames it never saw.
    with FakeOllama(models=["qwen2.5:7b"], drops_images=True, reply_for=lambda body: review()) as fake:
        client = LlmClient(fake.url, "ollama", timeout=5)
        try:
            score = await vision_score(client, "qwen2.5:7b", clips["moving"], clips["source"], "a duel")
        finally:
            await client.aclose()
    assert score.method == "local" and fake.chats == []
    assert score.error is not None and score.error.startswith("qwen2.5:7b cannot see images")
    assert "STUDIO_VISION_MODEL" in score.reasons[0]
    assert score.score == local_score(clips["moving"], clips["source"]).score


async def test_a_frame_review_cut_at_its_token_limit_is_asked_again(
    ollama: tuple[FakeOllama, LlmClient], clips: dict[str, Any]
) -> None:
    fake, client = ollama
    fake.replies = ["This frame shows " * 150, review(), review(), review()]

    score = await vision_score(client, MODEL, clips["moving"], clips["source"], "a duel")

    assert score.method == "vision" and len(fake.chats) == 4
    assert "the answer stopped at the 300-token limit" in fake.chats[1]["messages"][2]["content"]


# --- a whole attempt -------------------------------------------------------------------------------------------


async def test_score_attempt_reviews_three_frames_locally_or_by_model(
    ollama: tuple[FakeOllama, LlmClient], clips: dict[str, Any], tmp_path: Path
) -> None:
    fake, client = ollama
    fake.reply_for = lambda body: review()
    video = clips["videos"]["moving"]

    local = await score_attempt(video, tmp_path / "local", clips["source"], "a duel", None)
    vision = await score_attempt(video, tmp_path / "vision", clips["source"], "a duel", (client, MODEL))

    assert isinstance(local, AttemptScore) and local.method == "local" and local.score > 0.7
    assert vision.method == "vision" and vision.score == pytest.approx(6.6 / 9, abs=1e-4)
    assert len(fake.chats) == 3
    assert files_in(tmp_path / "vision") == [
        "moving_review_1.png",
        "moving_review_2.png",
        "moving_review_3.png",
    ]


@pytest.fixture
def broken_clip(tmp_path: Path) -> Path:
    broken = tmp_path / "attempt.mp4"
    broken.write_bytes(b"\x00" * 2048)
    return broken


async def test_score_attempt_on_a_broken_clip_is_invalid(broken_clip: Path, tmp_path: Path) -> None:
    broken = broken_clip

    with pytest.raises(Invalid) as caught:
        await score_attempt(broken, tmp_path / "frames", None, "a duel", None)
    assert caught.value.field == "video"

"""Each saved epoch's samples scored and the best epoch proposed, on SQLite and PostgreSQL, through the real job
queue with the training runs' test trainer (tests.integration.test_training_runs.FakeTrainer) drawing the samples:
local measures against the character's reference image, the vision review on the fake Ollama, and the ways an
epoch ends up "not scored" without harming the run.

The pictures are drawn with PIL: a figure (round red head, yellow body) on a light blue ground is the reference.
Epoch 1 draws unrelated blocks (undertrained), epoch 2 the figure in other colours, epoch 3 the figure in four
poses (the good one), epoch 4 the reference itself for every prompt (overtrained: near copies).
"""

from __future__ import annotations

import io
import logging
import random
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from services.training.epoch_scores import LOCAL, EpochScore, propose
from studio.config import DeviceSettings, Settings
from studio.models import Character, TrainingRun
from studio.root import Studio
from tests.fakes.ollama import FakeOllama
from tests.integration.test_api import guarded_api
from tests.integration.test_training_runs import LOOPBACK, FakeTrainer, character, started, state_is
from tests.integration.test_vision_review import sent_images

PROMPTS = ["front view", "upper body", "smiling", "casual clothes"]
FOUR_EPOCHS = {"epochs": 4, "sample_prompts": PROMPTS}
POSES: list[dict[str, Any]] = [
    {"dx": -30, "dy": 10, "arm": 40},
    {"dx": 30, "dy": -5, "scale": 0.7, "arm": -30},
    {"dy": 25, "scale": 1.3},
    {"dx": -10, "dy": -15, "scale": 0.8, "arm": 60},
]


def figure(
    dx: int = 0,
    dy: int = 0,
    scale: float = 1.0,
    arm: int = 0,
    ground: tuple[int, int, int] = (170, 210, 240),
    head: tuple[int, int, int] = (220, 40, 40),
    body: tuple[int, int, int] = (240, 200, 40),
) -> bytes:
    picture = Image.new("RGB", (128, 128), ground)
    pen = ImageDraw.Draw(picture)
    x, y, r = 64 + dx, 40 + dy, int(22 * scale)
    pen.ellipse([x - r, y - r, x + r, y + r], fill=head, outline=(0, 0, 0), width=2)
    pen.rectangle([x - r, y + r, x + r, y + r + int(50 * scale)], fill=body, outline=(0, 0, 0), width=2)
    pen.line([x + r, y + r + 10, x + r + 25, y + r + 10 - arm], fill=(0, 0, 0), width=4)
    return _png(picture)


def blocks(seed: int) -> bytes:
    """Something that is not the character: coloured blocks on green."""
    rnd = random.Random(seed)
    picture = Image.new("RGB", (128, 128), (30, 120, 40))
    pen = ImageDraw.Draw(picture)
    for _ in range(12):
        x, y = rnd.randrange(128), rnd.randrange(128)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        pen.rectangle([x, y, x + rnd.randrange(10, 50), y + rnd.randrange(10, 50)], fill=colour)
    return _png(picture)


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


REFERENCE = figure()


def learning(epoch: int, index: int) -> bytes:
    """Undertrained, closer, good, then collapsed onto the reference."""
    if epoch == 1:
        return blocks(index)
    if epoch == 2:
        return figure(**POSES[index], ground=(120, 160, 120), head=(150, 90, 200), body=(90, 90, 90))
    if epoch == 3:
        return figure(**POSES[index])
    return REFERENCE


def kohya_device(tmp_path: Path, **more: Any) -> DeviceSettings:
    sd_scripts = tmp_path / "sd-scripts"
    sd_scripts.mkdir(exist_ok=True)
    (sd_scripts / "train_network.py").write_text("# sd-scripts\n")
    return DeviceSettings(name="gpu2", kohya_dir=sd_scripts, kohya_python=Path(sys.executable), **more)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[kohya_device(tmp_path)],
        training_min_images=3,
        job_claim_poll_seconds=0.2,
    )


@pytest.fixture
async def studio_and_trainer(settings: Settings) -> AsyncIterator[tuple[Studio, FakeTrainer]]:
    studio, trainer = await started(settings)
    yield studio, trainer
    await studio.stop()


@pytest.fixture
async def api(studio_and_trainer: tuple[Studio, FakeTrainer]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio_and_trainer[0]), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


async def trained(studio: Studio, koopa: Character, params: dict[str, Any] = FOUR_EPOCHS) -> int:
    """A run of `koopa` trained to its end, its epochs scored."""
    run = await studio.training.start(koopa.id, "gpu2", "noobai-12gb", params, "aiko")  # type: ignore[arg-type]
    run_id: int = run.id  # type: ignore[assignment]
    await state_is(studio, run_id, "succeeded")
    await studio.training.scoring_settled(run_id)
    return run_id


async def test_the_good_middle_epoch_is_proposed_over_overtrained_copies(
    studio_and_trainer: tuple[Studio, FakeTrainer], api: httpx.AsyncClient
) -> None:
    studio, trainer = studio_and_trainer
    trainer.draw = learning
    koopa = await character(studio)
    await studio.characters.add_reference(koopa.id, REFERENCE, "koopa.png", "aiko")  # type: ignore[arg-type]
    run_id = await trained(studio, koopa)

    entries = await studio.training.samples(run_id)
    scores: list[EpochScore] = [entry["score"] for entry in entries]
    assert [s.scored_by for s in scores] == [LOCAL] * 4
    likeness = [s.score for s in scores]
    assert likeness[0] < likeness[1] < likeness[2] < likeness[3] == 1.0  # closer to the reference every epoch
    assert likeness[0] < 0.2 and likeness[2] > 0.5
    assert [s.near_copies for s in scores] == [False, False, False, True]
    assert scores[3].measures["diversity"] == 0.0 and scores[2].measures["diversity"] > 0.5  # type: ignore[operator]
    assert "near copies of each other" in scores[3].reasons[1]
    assert [entry["proposed"] for entry in entries] == [False, False, True, False]

    proposal = await studio.training.proposal(run_id)
    assert proposal is not None and proposal.epoch == 3 and proposal.score == likeness[2]
    assert proposal.reason.startswith(f"epoch 3: closest to the references ({likeness[2]:.2f}) while its samples")
    assert "epoch 4 scores 1.00 but its samples are near copies" in proposal.reason

    run = (await api.get(f"/training-runs/{run_id}")).json()
    assert run["proposal"] == {"epoch": 3, "score": likeness[2], "reason": proposal.reason}
    assert [e["score"]["score"] for e in run["epochs"]] == likeness
    assert set(run["epochs"][2]["score"]["measures"]) == {"likeness", "shapes", "colours", "diversity", "near_copies"}
    samples = (await api.get(f"/training-runs/{run_id}/samples")).json()
    assert [(e["epoch"], e["proposed"], e["score"]["scored_by"]) for e in samples] == [
        (1, False, LOCAL),
        (2, False, LOCAL),
        (3, True, LOCAL),
        (4, False, LOCAL),
    ]


async def test_without_references_epochs_are_not_scored_and_nothing_is_proposed(
    studio_and_trainer: tuple[Studio, FakeTrainer], api: httpx.AsyncClient
) -> None:
    studio, trainer = studio_and_trainer
    trainer.draw = learning
    koopa = await character(studio)
    run_id = await trained(studio, koopa, {"epochs": 2, "sample_prompts": PROMPTS})

    for entry in await studio.training.samples(run_id):
        score: EpochScore = entry["score"]
        assert score.score is None and not entry["proposed"]
        assert score.scored_by == (
            "not scored: Koopa King has no reference images; add one on the character's card (or configure a "
            "vision LLM to judge the samples by the character's description)"
        )
    assert await studio.training.proposal(run_id) is None
    run = (await api.get(f"/training-runs/{run_id}")).json()
    assert run["proposal"] is None and run["state"] == "succeeded"
    assert [e["score"]["scored_by"][:11] for e in run["epochs"]] == ["not scored:"] * 2


async def test_a_scoring_failure_keeps_the_run_and_its_epochs(
    studio_and_trainer: tuple[Studio, FakeTrainer], api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    studio, trainer = studio_and_trainer
    trainer.draw = learning
    koopa = await character(studio)
    reference = await studio.characters.add_reference(koopa.id, REFERENCE, "koopa.png", "aiko")  # type: ignore[arg-type]
    studio.media.path_of(reference.file_path).unlink()  # the reference's file is gone: reading it fails
    with caplog.at_level(logging.ERROR, logger="services.training.runs"):
        run_id = await trained(studio, koopa, {"epochs": 2, "sample_prompts": PROMPTS})

    run = await studio.training.get(run_id)
    assert (run.state, run.epochs_done, [e["epoch"] for e in run.epochs]) == ("succeeded", 2, [1, 2])
    for entry in run.epochs:
        assert len(entry["samples"]) == 4 and studio.media.path_of(entry["file"]).is_file()
        score = EpochScore.of(entry["score"])
        assert score.score is None and score.scored_by.startswith("not scored: scoring failed:")
    assert "scoring epoch 1 of training run" in caplog.text
    assert await studio.training.proposal(run_id) is None
    response = await api.post(f"/training-runs/{run_id}/register", json={"epoch": 2})  # still registrable
    assert response.status_code == 200, response.text


async def test_an_unreadable_sample_is_named(studio_and_trainer: tuple[Studio, FakeTrainer]) -> None:
    studio, trainer = studio_and_trainer
    trainer.draw = lambda epoch, index: b"not a picture" if index == 1 else learning(epoch, index)
    koopa = await character(studio)
    await studio.characters.add_reference(koopa.id, REFERENCE, "koopa.png", "aiko")  # type: ignore[arg-type]
    run_id = await trained(studio, koopa, {"epochs": 1, "sample_prompts": PROMPTS})
    [entry] = await studio.training.samples(run_id)
    assert entry["score"].scored_by.startswith("not scored: sample 2: not a readable image")


async def test_epochs_left_unscored_by_a_stop_are_scored_at_the_next_start(
    studio_and_trainer: tuple[Studio, FakeTrainer],
) -> None:
    studio, trainer = studio_and_trainer
    trainer.draw = learning
    koopa = await character(studio)
    await studio.characters.add_reference(koopa.id, REFERENCE, "koopa.png", "aiko")  # type: ignore[arg-type]
    run_id = await trained(studio, koopa)
    async with studio.db.session() as session:  # as the studio leaves them when it stops mid-scoring
        run = await session.get(TrainingRun, run_id)
        assert run is not None
        run.epochs = [{k: v for k, v in entry.items() if k != "score"} for entry in run.epochs]
        session.add(run)
    assert await studio.training.proposal(run_id) is None

    await studio.training.reconcile()
    await studio.training.scoring_settled(run_id)
    proposal = await studio.training.proposal(run_id)
    assert proposal is not None and proposal.epoch == 3
    assert all(entry["score"].scored_by == LOCAL for entry in await studio.training.samples(run_id))


@pytest.fixture
def llm() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


async def test_a_vision_llm_rates_the_samples_against_the_reference(
    tmp_path: Path, database_url: str, llm: FakeOllama
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[kohya_device(tmp_path, llm_url=llm.url)],
        training_min_images=3,
        job_claim_poll_seconds=0.2,
    )
    studio, trainer = await started(settings)
    try:
        trainer.draw = learning
        koopa = await character(studio)
        await studio.characters.add_reference(koopa.id, REFERENCE, "koopa.png", "aiko")  # type: ignore[arg-type]
        run_id = await trained(studio, koopa, {"epochs": 1, "sample_prompts": PROMPTS[:2]})
        [entry] = await studio.training.samples(run_id)
    finally:
        await studio.stop()
    score: EpochScore = entry["score"]
    assert (score.score, score.scored_by) == (0.9, "vision LLM gemma3:12b")  # the fake rates character_match 9
    assert score.measures["clarity"] == 0.9 and score.measures["near_copies"] == 0.0
    reviews = [chat for chat in llm.chats if len(sent_images(chat, "ollama")) == 2]
    assert [sent_images(chat, "ollama")[1] for chat in reviews] == [REFERENCE, REFERENCE]  # the reference second
    assert sent_images(reviews[0], "ollama")[0] == learning(1, 0)
    proposal = propose([{"epoch": 1, "score": score.to_json()}])
    assert proposal is not None and proposal.reason.startswith("epoch 1: most like the character (vision LLM")
    assert "the only scored epoch so far" in proposal.reason


def test_when_every_epoch_is_near_copies_the_most_varied_is_proposed() -> None:
    def scored(epoch: int, score: float, diversity: float, near: float) -> dict[str, Any]:
        measures = {"likeness": score, "diversity": diversity, "near_copies": near}
        return {"epoch": epoch, "score": EpochScore(score, LOCAL, measures).to_json()}

    proposal = propose([scored(1, 0.9, 0.05, 1.0), scored(2, 0.95, 0.12, 0.67), {"epoch": 3}])
    assert proposal is not None and proposal.epoch == 2
    assert "every scored epoch's samples are near copies" in proposal.reason
    assert propose([{"epoch": 1}, {"epoch": 2, "score": EpochScore.not_scored("no references").to_json()}]) is None
    tie = propose([scored(1, 0.7, 0.6, 0.0), scored(2, 0.7, 0.5, 0.0)])
    assert tie is not None and tie.epoch == 1  # the earlier of equals: less overtrained

"""Auto-correction: a rejected generated image is generated again from its own recipe, corrected, linked back to
it and reviewed like any other; limited per character per day; off by default."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel import col, select

from services.datasets.decisions import Verdict
from services.generation import IMAGE_JOB, ImageBatchDraft
from studio.models import ApprovalState, DatasetImage, Job, JobPriority
from studio.root import Studio
from tests.integration import test_replenishment as replenishment
from tests.integration.test_replenishment import Rig, decisions, land, settled

# The replenishment tests' studio with a fake ComfyUI device and a driven clock.
shared_comfy = replenishment.shared_comfy
comfy = replenishment.comfy
rigs = replenishment.rigs


async def reject(studio: Studio, image_id: int, *categories: str) -> None:
    await studio.decisions.decide(image_id, Verdict(ApprovalState.REJECTED, categories=categories), "aiko")


async def corrections(studio: Studio) -> list[Job]:
    query = select(Job).where(Job.kind == IMAGE_JOB, Job.created_by == "autopilot").order_by(col(Job.id))
    async with studio.db.session() as session:
        return list((await session.exec(query)).all())


async def test_a_rejected_image_is_generated_again_corrected_and_linked_to_it(
    rigs: Callable[..., Awaitable[Rig]],
) -> None:
    rig = await rigs(autopilot={"enabled": False, "auto_correction": True})
    [koopa] = rig.characters
    studio = rig.studio
    [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1, seed_policy="fixed", seed=77), "aiko")
    await settled(studio)
    [rejected] = await studio.images.images((await studio.jobs.get(job.id)).result["image_ids"])  # type: ignore[arg-type,index]
    before = rejected.provenance["recipe"]["request"]

    async with studio.db.session() as session:
        # Triage found it small (the fake draws by seed and size alone, so a same-size correction would be an
        # exact duplicate of it here).
        rejected.triage_flags = ",small,"
        session.add(rejected)
    await reject(studio, rejected.id, "bad_quality")  # type: ignore[arg-type]

    [correction] = await corrections(studio)
    request = correction.payload["request"]
    # Its own recipe, corrected, with a new seed (the same seed would draw nearly the same picture again).
    assert request["seed"] != 77 and request["steps"] == before["steps"] + 10
    assert (request["width"], request["height"]) == (384, 384)
    assert correction.priority == JobPriority.BACKGROUND and correction.payload["derived_from_id"] == rejected.id
    [decision] = await decisions(studio, koopa, "correction")
    assert (decision.outcome, decision.image_id, decision.job_id, decision.count) == (
        "acted",
        rejected.id,
        correction.id,
        1,
    )
    assert "fix_quality" in decision.reason and "fix_resolution" in decision.reason and "bad_quality" in decision.reason
    await settled(studio)
    async with studio.db.session() as session:
        [fixed] = (await session.exec(select(DatasetImage).where(DatasetImage.derived_from_id == rejected.id))).all()
    assert fixed.source == "generated" and fixed.provenance["seed"] == request["seed"]
    assert fixed.approval_state == "pending"  # reviewed like any other (no vision model here: by a person)
    assert fixed.provenance["correction"] == {"of": rejected.id, "strategies": ["fix_quality", "fix_resolution"]}
    assert fixed.provenance["steps"] == before["steps"] + 10


async def test_strategies_come_from_categories_flags_and_the_limit_holds(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, correction_daily_limit=2, autopilot={"enabled": False, "auto_correction": True})
    [koopa] = rig.characters
    studio = rig.studio
    await studio.images.generate(koopa, ImageBatchDraft(count=4), "aiko")
    small_dark, other, crowd, pose = await land(studio)
    async with studio.db.session() as session:
        image = await session.get(DatasetImage, small_dark)
        assert image is not None
        image.triage_flags = ",small,dark,"  # what triage measured
        session.add(image)

    await reject(studio, small_dark, "bad_quality")
    await reject(studio, other, "other")
    await reject(studio, crowd, "not_solo")
    await reject(studio, pose, "wrong_pose")

    first, second = (j for j in await corrections(studio))
    assert first.payload["correction"] == {
        "of": small_dark,
        "strategies": ["fix_quality", "fix_resolution", "fix_brightness"],
    }
    assert first.payload["request"]["width"] == 384 and "well-lit" in first.payload["request"]["positive"]  # 256 x 1.5
    assert second.payload["correction"]["strategies"] == ["fix_solo"]
    log = {d.image_id: d for d in await decisions(studio, koopa, "correction")}
    assert log[other].outcome == "blocked" and "no strategy corrects other" in log[other].reason
    assert log[pose].outcome == "waiting" and "daily correction limit reached (2 of 2)" in log[pose].reason

    # Rejected again after an undo: never corrected twice, and nothing logged twice.
    [history] = [h for h in await studio.decisions.history(small_dark) if h.state == ApprovalState.REJECTED]
    await studio.decisions.undo(history.id, "aiko")  # type: ignore[arg-type]
    await reject(studio, small_dark, "bad_quality")
    assert len(await corrections(studio)) == 2 and len(await decisions(studio, koopa, "correction")) == 4

    # The next day the limit starts again.
    rig.advance(24 * 3600)
    await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
    late, *_corrections = await land(studio)  # the person's job first, then the two corrections
    await reject(studio, late, "wrong_appearance")
    assert len(await corrections(studio)) == 3


async def test_auto_correction_off_does_nothing(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, autopilot={"enabled": True})  # autonomy on, auto-correction left off
    [koopa] = rig.characters
    await rig.studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
    [image] = await land(rig.studio)
    await reject(rig.studio, image, "bad_quality")
    assert await corrections(rig.studio) == []
    assert await decisions(rig.studio, koopa, "correction") == []

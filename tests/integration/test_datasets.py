"""Dataset services on both databases: content-hash storage, dedup, triage, decisions, undo, reassign, feedback."""

from __future__ import annotations

import uuid

import pytest
from PIL import Image
from sqlmodel import select

from services.bible.schemas import CharacterDraft
from services.datasets import NewImage, Verdict
from services.errors import Conflict, Invalid
from studio.models import ApprovalState, Character, DatasetImage, Decider, DuplicateKind, ReviewDecision
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import add_drawings, drawing, reencoded


async def _cast(studio: Studio) -> tuple[Character, Character]:
    project = await studio.projects.create(GALAXY.model_copy(update={"name": f"Galaxy {uuid.uuid4().hex[:6]}"}), "aiko")
    koopa = await studio.characters.create(project.id, KOOPA, "aiko")  # type: ignore[arg-type]
    luma = await studio.characters.create(project.id, CharacterDraft(name="Luma"), "aiko")  # type: ignore[arg-type]
    return koopa, luma


async def _decisions(studio: Studio, image_id: int) -> list[ReviewDecision]:
    return await studio.decisions.history(image_id)


async def test_images_are_stored_by_content_with_thumbnail_and_hashes(studio: Studio) -> None:
    koopa, _ = await _cast(studio)
    (image,) = await add_drawings(studio, koopa, 1)
    assert image.file_path.endswith(f"{image.content_hash[:32]}.png")
    assert studio.media.path_of(image.file_path).read_bytes() == drawing(0)
    thumb = studio.media.path_of(f"thumbs/{image.content_hash[:2]}/{image.content_hash[:32]}.webp")
    with Image.open(thumb) as opened:
        assert opened.format == "WEBP" and max(opened.size) == 320
    assert len(image.perceptual_hash or "") == 16
    assert (image.width, image.height, image.approval_state) == (640, 640, ApprovalState.PENDING)


async def test_exact_and_near_duplicates_are_linked_within_a_character_and_across_the_project(studio: Studio) -> None:
    koopa, luma = await _cast(studio)
    original, other = await add_drawings(studio, koopa, 2)
    again = await studio.dataset_store.add(koopa, NewImage(drawing(0), "upload"), "aiko")
    assert again.outcome == "already_present" and again.image.id == original.id

    copied = await studio.dataset_store.add(luma, NewImage(drawing(0), "upload"), "aiko")
    assert copied.outcome == "duplicate"
    assert (copied.image.duplicate_of_id, copied.image.duplicate_kind) == (original.id, DuplicateKind.EXACT)

    near = await studio.dataset_store.add(koopa, NewImage(reencoded(drawing(1)), "upload"), "aiko")
    assert near.outcome == "duplicate"
    assert near.image.duplicate_of_id == other.id and near.image.duplicate_kind == DuplicateKind.NEAR
    assert 0 <= (near.image.duplicate_distance or 0) <= studio.settings.dedup_hamming_threshold

    fresh = await studio.dataset_store.add(koopa, NewImage(drawing(99), "upload"), "aiko")
    assert fresh.outcome == "added" and fresh.image.duplicate_of_id is None


async def test_curation_rejects_duplicates_and_triage_failures_with_reasons(studio: Studio) -> None:
    koopa, _ = await _cast(studio)
    good = await studio.dataset_store.add(koopa, NewImage(drawing(5), "upload"), "aiko")
    duplicate = await studio.dataset_store.add(koopa, NewImage(reencoded(drawing(5)), "upload"), "aiko")
    small = await studio.dataset_store.add(koopa, NewImage(drawing(6, (200, 200)), "upload"), "aiko")
    summary = await studio.curation.admit([good, duplicate, small], "aiko")
    assert (summary.added, summary.duplicates, summary.triage_rejected) == (3, 1, 1)
    assert summary.waiting_for_human == 1 and summary.review_job_id is None  # no LLM configured

    (dup_decision,) = await _decisions(studio, duplicate.image.id)  # type: ignore[arg-type]
    assert dup_decision.decider == Decider.DEDUP and dup_decision.categories == ["duplicate"]
    assert f"of image {good.image.id}" in dup_decision.reasons[0]
    (small_decision,) = await _decisions(studio, small.image.id)  # type: ignore[arg-type]
    assert small_decision.decider == Decider.TRIAGE and small_decision.state == ApprovalState.REJECTED
    assert "triage_min_side" in " ".join(small_decision.reasons)

    kept = await studio.images.image(good.image.id)  # type: ignore[arg-type]
    assert kept.approval_state == ApprovalState.PENDING
    assert kept.triage["values"]["width"] == 640 and "sharpness" in kept.triage["values"]
    assert kept.triage_flags in ("", ",no_face,") or "no_face" in kept.triage_flags


async def test_a_stale_decision_is_refused_and_nothing_is_decided_twice(studio: Studio) -> None:
    koopa, _ = await _cast(studio)
    (image,) = await add_drawings(studio, koopa, 1)
    first, decision = await studio.decisions.decide(
        image.id,  # type: ignore[arg-type]
        Verdict(ApprovalState.REJECTED, categories=("not_solo",)),
        "station-a",
        expected_version=image.version,
    )
    assert first.rejection_categories == ["not_solo"] and first.version == image.version + 1
    with pytest.raises(Conflict, match="already rejected by station-a"):
        await studio.decisions.decide(
            image.id,  # type: ignore[arg-type]
            Verdict(ApprovalState.APPROVED),
            "station-b",
            expected_version=image.version,
        )
    assert len(await _decisions(studio, image.id)) == 1  # type: ignore[arg-type]

    restored = await studio.decisions.undo(decision.id, "station-a")  # type: ignore[arg-type]
    assert restored.approval_state == ApprovalState.PENDING and restored.rejection_categories == []
    with pytest.raises(Conflict, match="already undone"):
        await studio.decisions.undo(decision.id, "station-a")  # type: ignore[arg-type]
    (undone,) = await _decisions(studio, image.id)  # type: ignore[arg-type]
    assert undone.undone_at is not None


async def test_undo_is_refused_once_someone_else_changed_the_image(studio: Studio) -> None:
    koopa, _ = await _cast(studio)
    (image,) = await add_drawings(studio, koopa, 1)
    _, mine = await studio.decisions.decide(image.id, Verdict(ApprovalState.APPROVED), "a")  # type: ignore[arg-type]
    await studio.decisions.decide(image.id, Verdict(ApprovalState.REJECTED, categories=("other",)), "b")  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="changed after this decision"):
        await studio.decisions.undo(mine.id, "a")  # type: ignore[arg-type]
    assert (await studio.images.image(image.id)).approval_state == ApprovalState.REJECTED  # type: ignore[arg-type]


async def test_unknown_categories_and_categories_on_approval_are_refused(studio: Studio) -> None:
    koopa, _ = await _cast(studio)
    (image,) = await add_drawings(studio, koopa, 1)
    with pytest.raises(Invalid, match="unknown rejection categories: ugly"):
        await studio.decisions.decide(image.id, Verdict(ApprovalState.REJECTED, categories=("ugly",)), "a")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="only a rejection"):
        await studio.decisions.decide(image.id, Verdict(ApprovalState.APPROVED, categories=("other",)), "a")  # type: ignore[arg-type]


async def test_bulk_decisions_and_reassignment(studio: Studio) -> None:
    koopa, luma = await _cast(studio)
    images = await add_drawings(studio, koopa, 4)
    ids = [i.id for i in images]
    changed = await studio.decisions.decide_many(ids[:3], Verdict(ApprovalState.APPROVED), "aiko")  # type: ignore[arg-type]
    assert [image.id for image, _ in changed] == ids[:3]
    assert await studio.decisions.decide_many(ids[:3], Verdict(ApprovalState.APPROVED), "aiko") == []  # type: ignore[arg-type]

    moved = await studio.decisions.reassign([ids[0], ids[3]], luma.id, "aiko")  # type: ignore[arg-type]
    assert {i.character_id for i in moved} == {luma.id}
    assert all(i.approval_state == ApprovalState.PENDING for i in moved)
    counts = await studio.datasets.counts(koopa.project_id)
    assert counts.by_character[koopa.id]["approved"] == 2  # type: ignore[index]
    assert counts.by_character[luma.id]["pending"] == 2  # type: ignore[index]

    other = await studio.projects.create(GALAXY.model_copy(update={"name": "Elsewhere"}), "aiko")
    stranger = await studio.characters.create(other.id, CharacterDraft(name="Stranger"), "aiko")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="another project"):
        await studio.decisions.reassign([ids[1]], stranger.id, "aiko")  # type: ignore[arg-type]


async def test_rejections_teach_negatives_for_the_next_generation(studio: Studio) -> None:
    koopa, _ = await _cast(studio)
    images = await add_drawings(studio, koopa, 3)
    for image, categories in zip(images, [("not_solo",), ("not_solo", "bad_anatomy"), ()], strict=True):
        await studio.decisions.decide(image.id, Verdict(ApprovalState.REJECTED, categories=categories), "aiko")  # type: ignore[arg-type]
    learned = await studio.feedback.learned_negatives(koopa.id)  # type: ignore[arg-type]
    assert learned.counts == {"not_solo": 2, "bad_anatomy": 1}
    assert learned.terms[:2] == ("multiple characters", "2girls") and "bad anatomy" in learned.terms


async def test_the_grid_query_filters_sorts_and_pages(studio: Studio) -> None:
    from services.datasets import ImageQuery

    koopa, luma = await _cast(studio)
    images = await add_drawings(studio, koopa, 5)
    await add_drawings(studio, luma, 2, first_seed=50)
    await studio.decisions.decide(images[0].id, Verdict(ApprovalState.APPROVED, quality_score=0.9), "a")  # type: ignore[arg-type]
    page = await studio.datasets.page(ImageQuery(project_id=koopa.project_id, character_id=koopa.id, limit=2))
    assert page.total == 5 and [i.id for i in page.items] == [images[4].id, images[3].id]
    approved = await studio.datasets.page(
        ImageQuery(project_id=koopa.project_id, states=(ApprovalState.APPROVED,), sort="score_high")
    )
    assert [i.id for i in approved.items] == [images[0].id]
    queue = await studio.datasets.review_queue(koopa.project_id, None, after_id=images[1].id, limit=3)
    assert [i.id for i in queue] == [images[2].id, images[3].id, images[4].id]
    with pytest.raises(Invalid, match="unknown triage flags"):
        await studio.datasets.page(ImageQuery(project_id=koopa.project_id, flags=("ugly",)))


async def test_rows_on_disk_match_the_database(studio: Studio) -> None:
    koopa, _ = await _cast(studio)
    await add_drawings(studio, koopa, 3)
    async with studio.db.session() as session:
        rows = (await session.exec(select(DatasetImage))).all()
    assert all(studio.media.path_of(row.file_path).is_file() for row in rows)

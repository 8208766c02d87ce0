"""The result of a tagging job: how many images were tagged, skipped (gone, or nothing to read) or failed (why)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.errors import Invalid, NotFound
from services.tags.store import MachineTag, TagStore
from studio.models import TagSource

MAX_FAILURES = 50  # failures listed in a job's result (all are counted)


def images_text(count: int) -> str:
    return "1 image" if count == 1 else f"{count} images"


@dataclass
class TagTally:
    """What a tagging job did, per image: its result and the summary its last progress message shows."""

    tagged: int = 0
    skipped: int = 0
    failed: int = 0
    tags: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    async def store(
        self, tags: TagStore, image_id: int, source: TagSource, found: Sequence[MachineTag], caption: str | None = None
    ) -> None:
        """Store one image's tags from `source` (replacing that source's earlier ones) and count it."""
        try:
            self.tags += await tags.set_machine_tags(image_id, source, found, caption)
        except NotFound:  # deleted between reading it and storing its tags
            self.skipped += 1
            return
        except Invalid as exc:  # a tag the store refuses: this image fails, the others go on
            self.fail(image_id, exc.message)
            return
        self.tagged += 1

    def fail(self, image_id: int, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES:
            self.failures.append({"image_id": image_id, "reason": reason})

    def summary(self) -> str:
        parts = [f"tagged {images_text(self.tagged)} with {self.tags} tag{'' if self.tags == 1 else 's'}"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return "; ".join(parts)

    def result(self) -> dict[str, Any]:
        return {
            "tagged": self.tagged,
            "skipped": self.skipped,
            "failed": self.failed,
            "tags": self.tags,
            "failures": self.failures,
        }

"""Generation services: image batches for character datasets (video shots follow in the scenes package)."""

from services.generation.images import IMAGE_JOB, ImageBatchDraft, ImageGeneration, ImageJobHandler, LoraChoice
from services.generation.provenance import embed_provenance, read_provenance

__all__ = [
    "IMAGE_JOB",
    "ImageBatchDraft",
    "ImageGeneration",
    "ImageJobHandler",
    "LoraChoice",
    "embed_provenance",
    "read_provenance",
]

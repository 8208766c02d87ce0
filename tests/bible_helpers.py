"""Small builders shared by the bible tests."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator

from PIL import Image

from services.bible.schemas import AppearanceData, CharacterDraft, ProjectDraft, StyleDraft


async def chunks(data: bytes, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    """`data` as an upload delivers it, in chunks."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def png(width: int = 64, height: int = 96, color: tuple[int, int, int] = (40, 160, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def noisy_png(width: int = 128, height: int = 128, seed: int = 1) -> bytes:
    """A picture that does not compress away, so cutting it really truncates pixel data."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(seed).randbytes(width * height * 3)).save(buffer, "PNG")
    return buffer.getvalue()


NOOB_VPRED = StyleDraft(
    name="noob-vpred",
    checkpoint_model="noobaiXLVpred_v10.safetensors",
    cfg_scale=4.5,
    steps=30,
    sampler="Euler",
    width=832,
    height=1216,
    negative_prompt_template="worst quality, low quality",
)
COUNTERFEIT = StyleDraft(
    name="counterfeit",
    checkpoint_model="counterfeitV30.safetensors",
    width=512,
    height=768,
    positive_prompt_template="masterpiece, best quality",
)
KOOPA = CharacterDraft(
    name="Koopa King",
    design_prompt="a huge turtle king with a spiked shell, in a neon-noir alley",
    appearance_data=AppearanceData(
        species="turtle (NOT human)",
        gender="male",
        key_colors={"shell": "green", "hair": "red"},
        key_features=["spiked shell", "horns"],
        common_errors=["depicted as a human"],
        negatives=["cute"],
    ),
)
PEACH = CharacterDraft(
    name="Princess Peach",
    design_prompt="a princess in a pink gown with a golden crown",
    appearance_data=AppearanceData(species="human", gender="female", key_colors={"hair": "blonde"}),
)
GALAXY = ProjectDraft(name="Mario Galaxy", genre="adventure", premise="Stars fall on the kingdom", default_style=None)

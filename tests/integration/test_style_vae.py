"""A style's VAE through generation on the fake ComfyUI: the graph decodes with it, the image's provenance says
which, and a VAE the device lacks fails before anything reaches the GPU."""

from __future__ import annotations

from pathlib import Path

from services.generation import ImageBatchDraft
from studio.models import JobState
from tests.bible_helpers import COUNTERFEIT
from tests.integration.test_comfy_worker import _character, _fake, _finished, _settings, _started

VAE = "sdxl_vae.safetensors"  # in the fake's vae folder


async def test_a_style_with_a_vae_decodes_with_it_and_a_missing_one_is_named(tmp_path: Path) -> None:
    with _fake() as fake:
        studio = await _started(_settings(tmp_path / "data", fake))
        try:
            koopa = await _character(studio)
            await studio.styles.put(COUNTERFEIT.name, COUNTERFEIT.model_copy(update={"vae": VAE}), "aiko")
            [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
            [done] = await _finished(studio, [job])
            assert done.state == JobState.SUCCEEDED, done.error
            [image] = await studio.images.images(done.result["image_ids"])  # type: ignore[index]
            assert image.provenance["vae"] == VAE
            graph = fake.history[image.provenance["prompt_id"]]["prompt"][2]  # what ComfyUI ran
            [loader] = [node for node in graph.values() if node["class_type"] == "VAELoader"]
            assert loader["inputs"]["vae_name"] == VAE

            await studio.styles.put(
                COUNTERFEIT.name, COUNTERFEIT.model_copy(update={"vae": "kl-f8-anime2.ckpt"}), "aiko"
            )
            [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
            [failed] = await _finished(studio, [job])
            assert failed.state == JobState.FAILED and failed.error is not None
            assert f"model file kl-f8-anime2.ckpt in vae (looked in {fake.url}/models/vae)" in failed.error
            assert len(fake.requests_to("/prompt")) == 1  # the second never reached the server
        finally:
            await studio.stop()

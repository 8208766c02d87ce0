"""The lineage view on the Analytics page through NiceGUI's simulated user: an address naming an image opens its
tree whole (the original, its correction, their regenerations), the image asked about focused with its decision
and the correction's strategies; a click focuses another image, with the link to it on the Datasets page; a
decision made elsewhere redraws the tree and the focus stays where the click put it."""

from __future__ import annotations

import asyncio

from nicegui.elements.mixins.text_element import TextElement
from nicegui.testing import User

from services.datasets.decisions import Verdict
from studio.models import ApprovalState
from tests.bible_helpers import GALAXY, KOOPA
from tests.lineage_helpers import three_generations
from tests.ui.test_characters_page import element
from tests.ui.test_datasets_page import running_studio

WAIT = 100  # retries 0.1 s apart for what the page reads after its first paint: a bound, not a pace


def _text(user: User, marker: str) -> str:
    """Everything the element says, its badges and labels together."""
    return " ".join(e.text for e in element(user, marker).descendants() if isinstance(e, TextElement))


async def test_an_images_lineage_opens_whole_and_a_click_focuses_another_image(user: User) -> None:
    studio = running_studio()
    project = await studio.projects.create(GALAXY, "local")
    koopa = await studio.characters.create(project.id, KOOPA, "local")  # type: ignore[arg-type]
    line = await three_generations(studio, koopa, studio.clock.now())

    await user.open(f"/analytics?image={line.correction}")
    for image_id in (line.root, line.correction, line.leaf, line.sibling):
        await user.should_see(marker=f"lineage-node-{image_id}", retries=WAIT)
    details = _text(user, "lineage-details")
    assert f"Image #{line.correction}" in details
    assert "the image asked about" in details
    assert f"corrected from #{line.root}" in details
    assert "decided by vision" in details
    assert "rejected for: Wrong pose" in details
    assert "the correction tried: more steps and guidance, a sharper sampler; the rejection's negative terms" in details
    assert "rejected" in _text(user, f"lineage-node-{line.root}")
    assert "Bad anatomy" in _text(user, f"lineage-node-{line.root}")

    user.find(marker=f"lineage-node-{line.leaf}").click()
    await user.should_see(f"regenerated from #{line.correction}")
    assert "not decided yet" in _text(user, "lineage-details")
    assert element(user, "lineage-open").props["href"] == f"/datasets?project={project.id}&image={line.leaf}"

    # Approved elsewhere: the open tree follows, still focused on the image clicked.
    await studio.decisions.decide(line.leaf, Verdict(state=ApprovalState.APPROVED), "aiko")
    for _ in range(WAIT):
        if "decided by aiko" in _text(user, "lineage-details"):
            break
        await user.should_see(marker="lineage-details")
        await asyncio.sleep(0.1)
    details = _text(user, "lineage-details")
    assert f"Image #{line.leaf}" in details and "decided by aiko" in details
    assert "approved" in _text(user, f"lineage-node-{line.leaf}")

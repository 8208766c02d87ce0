"""An image's lineage drawn as a tree: each image a card (thumbnail, how it was made, its decision) under the one
it was made from, the image asked about ringed. Clicking a card focuses it: beside the tree, who decided it and
when, why it was rejected, what a correction changed, and a link to the image on the Datasets page.

The tree is built from plain elements rather than QTree: a lineage is small and shown whole, and every card is
then an element of its own (a thumbnail, a click, a marker) for the page and its tests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from nicegui import ui

from components.sample_panel import tagged
from components.thumbnail_grid import STATE_COLOR, category_labels
from services.analytics.production import MAX_DEPTH, MAX_NODES
from services.analytics.reports import Lineage, LineageNode
from services.autonomy.strategies import STRATEGIES
from services.datasets import thumbnail_url
from services.errors import NotFound
from studio.models import ApprovalState
from studio.root import Studio

KIND_ICON = {"original": "image", "regeneration": "refresh", "correction": "healing"}
MADE = {"original": "the first of its line", "regeneration": "regenerated from", "correction": "corrected from"}

FOCUSED = "bg-blue-500/15"  # the card whose details show beside the tree

OnFocus = Callable[[int], None]


class LineageView:
    """`await show(image_id)` draws that image's lineage (again only when it changed) focused on it;
    `on_focus` hears which image a click focused."""

    def __init__(self, studio: Studio, on_focus: OnFocus | None = None) -> None:
        self.studio, self.on_focus = studio, on_focus
        self.lineage: Lineage | None = None
        self.focused: int | None = None
        self.cards: dict[int, ui.element] = {}
        with ui.row().classes("w-full items-start gap-4 no-wrap"):
            self.tree = tagged(ui.column().classes("grow gap-1 overflow-auto"), "lineage-tree")
            self.details = tagged(ui.column().classes("w-80 shrink-0 gap-1"), "lineage-details")

    async def show(self, image_id: int) -> None:
        try:
            found = await self.studio.analytics.lineage(image_id)
        except NotFound:
            found = None
        if self.tree.is_deleted or (found is not None and found == self.lineage):
            return
        # Drawn again for the same image (its images were decided since): the focus stays where a click put it.
        again = self.lineage is not None and found is not None and self.lineage.image_id == found.image_id
        self.lineage = found
        self.tree.clear()
        self.details.clear()
        self.cards = {}
        if found is None:
            self.focused = None
            with self.tree:
                tagged(ui.label(f"There is no image {image_id}.").classes("text-negative"), "lineage-none")
            return
        children: dict[int | None, list[LineageNode]] = defaultdict(list)
        for node in found.nodes:  # root first, depth first, oldest child first: the order to draw them in
            children[node.parent_id].append(node)
        with self.tree:
            if found.truncated:
                tagged(
                    ui.label(
                        f"This lineage is cut: it shows at most {MAX_NODES} images, {MAX_DEPTH} steps from the first."
                    ).classes("text-sm text-warning"),
                    "lineage-truncated",
                )
            self._branch(found.nodes[0], children, found.image_id)
        kept = again and any(node.image_id == self.focused for node in found.nodes)
        self._select(self.focused if kept and self.focused is not None else found.image_id)

    async def _clicked(self, image_id: int) -> None:
        self._select(image_id)
        if self.on_focus is not None:
            self.on_focus(image_id)

    def _select(self, image_id: int) -> None:
        """Show `image_id`'s decision beside the tree and mark its card."""
        assert self.lineage is not None
        node = next(n for n in self.lineage.nodes if n.image_id == image_id)
        for card_id, card in self.cards.items():
            if card_id == image_id:
                card.classes(add=FOCUSED)
            else:
                card.classes(remove=FOCUSED)
        self.focused = image_id
        self.details.clear()
        with self.details:
            _details(node, self.lineage)

    def _branch(self, node: LineageNode, children: dict[int | None, list[LineageNode]], asked: int) -> None:
        self._card(node, asked)
        below = children.get(node.image_id, [])
        if below:
            # Each generation one step in, along a line that shows which image they came from.
            with ui.column().classes("gap-1 pl-4 ml-8 border-l-2 border-gray-300"):
                for child in below:
                    self._branch(child, children, asked)

    def _card(self, node: LineageNode, asked: int) -> None:
        image_id = node.image_id
        ring = " ring-2 ring-blue-500" if image_id == asked else ""
        with (
            ui.row()
            .classes(f"items-center gap-2 p-1 rounded cursor-pointer hover:bg-gray-500/10{ring}")
            .on("click", lambda: self._clicked(image_id)) as card
        ):
            ui.element("img").props(
                f'src="{thumbnail_url(node.content_hash)}" loading=lazy alt="image {image_id}"'
            ).classes("w-16 h-16 object-cover rounded")
            with ui.column().classes("gap-0"):
                with ui.row().classes("items-center gap-1"):
                    ui.icon(KIND_ICON[node.kind]).classes("opacity-70")
                    ui.label(f"#{image_id}").classes("font-medium")
                    ui.label(node.kind).classes("text-xs opacity-70")
                with ui.row().classes("items-center gap-1"):
                    ui.badge(node.state).props(f"color={STATE_COLOR[ApprovalState(node.state)]}")
                    if node.quality_score is not None:
                        ui.label(f"{node.quality_score:.2f}").classes("text-xs")
                if node.categories:
                    ui.label(category_labels(node.categories)).classes("text-xs text-negative")
        self.cards[image_id] = tagged(card, f"lineage-node-{image_id}")


def _details(node: LineageNode, lineage: Lineage) -> None:
    image_id = node.image_id
    with ui.row().classes("items-center gap-2"):
        ui.label(f"Image #{image_id}").classes("text-base font-semibold")
        ui.badge(node.state).props(f"color={STATE_COLOR[ApprovalState(node.state)]}")
    if image_id == lineage.image_id:
        ui.label("the image asked about").classes("text-xs opacity-70")
    if node.parent_id is not None:
        made = f"{MADE[node.kind]} #{node.parent_id}"
    elif node.kind == "original":
        made = MADE["original"]
    else:  # the tree's first image, yet made from another: deleted since, or beyond the cut
        made = f"a {node.kind} of an image not shown"
    tagged(ui.label(made).classes("text-sm"), "lineage-made")
    if node.decided_at is not None:
        who = node.decided_by or "someone"
        ui.label(f"decided by {who}, {node.decided_at:%Y-%m-%d %H:%M} UTC").classes("text-sm")
    else:
        ui.label("not decided yet").classes("text-sm opacity-70")
    if node.quality_score is not None:
        ui.label(f"quality score {node.quality_score:.2f}").classes("text-sm")
    if node.categories:
        ui.label(f"rejected for: {category_labels(node.categories)}").classes("text-sm text-negative")
    if node.strategies:
        fixes = "; ".join(STRATEGIES[s].label if s in STRATEGIES else s for s in node.strategies)
        ui.label(f"the correction tried: {fixes}").classes("text-sm")
    ui.label(f"made {node.created_at:%Y-%m-%d %H:%M} UTC").classes("text-xs opacity-70")
    tagged(ui.link("Open in Datasets", f"/datasets?project={node.project_id}&image={image_id}"), "lineage-open")

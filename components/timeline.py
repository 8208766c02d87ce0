"""The scene timeline: shot cards left to right, each with its picture, length, engine and generation state.

Cards are reordered by dragging (assets/timeline.js turns a drop into a `timeline-order` event with the
new order of shot ids) or one step at a time with the ← → buttons, which also work by keyboard and touch.
A card updates in place when its shot's generation moves on.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import PurePosixPath

from nicegui import ui

from services.scenes import ENGINE_LIMITS
from studio.models import Shot

TIMELINE_JS = "/assets/timeline.js"
TIMELINE_CSS = "/assets/timeline.css"
# The drag and drop helper and the timeline's styles, for the `head` of a page's frame.
TIMELINE_HEAD = f'<link rel="stylesheet" href="{TIMELINE_CSS}"><script src="{TIMELINE_JS}"></script>'
ORDER_EVENT = "timeline-order"  # what timeline.js emits: {"scene_id": str, "shot_ids": [str, ...]}
STATUS_COLOR = {
    "pending": "grey-7",
    "generating": "primary",
    "completed": "positive",
    "accepted_best": "warning",
    "failed": "negative",
}
STATUS_TEXT = {"accepted_best": "best kept"}
SHOT_ICON = {
    "establishing": "landscape",
    "wide": "panorama",
    "medium": "person",
    "close-up": "face",
    "extreme_close-up": "visibility",
    "action": "bolt",
}

OpenShot = Callable[[uuid.UUID], Awaitable[None] | None]
MoveShot = Callable[[uuid.UUID, int], Awaitable[None] | None]


def shot_picture(shot: Shot) -> str | None:
    """The address of what the shot shows: its rendered first frame, else its source image, else nothing.

    The file's name goes into the address: a new render or another source image is a new address, so a
    browser never shows a cached picture of what the shot used to be.
    """
    if shot.first_frame_path:
        return f"/api/shots/{shot.id}/frames/first?v={PurePosixPath(shot.first_frame_path).stem}"
    if shot.source_image_path:
        return f"/api/shots/{shot.id}/frames/source?v={PurePosixPath(shot.source_image_path).stem}"
    return None


def status_text(status: str) -> str:
    return STATUS_TEXT.get(status, status)


def engine_label(engine: str) -> str:
    limits = ENGINE_LIMITS.get(engine)
    return limits.label if limits else engine


def kept_attempt(shot: Shot) -> str:
    """'attempt 2 of 3' for the attempt whose video the shot uses, '' before any."""
    finished = [a for a in shot.attempts if not a.get("pending")]
    if shot.selected_attempt is None:
        return f"{len(finished)} attempts, none kept" if finished else ""
    return f"attempt {shot.selected_attempt} of {len(finished)}"


class ShotCard:
    """One shot on the timeline. `show` updates it in place."""

    def __init__(self, shot: Shot, count: int, on_open: OpenShot, on_move: MoveShot) -> None:
        shot_id = shot.id
        self.shot_id = shot_id
        with (
            ui.element("div")
            .classes("timeline-card")
            .props(f'draggable=true data-shot-id="{shot_id}"')
            .mark(f"shot-card-{shot_id}") as self.box
        ):
            self.picture = (
                ui.element("div")
                .classes("timeline-picture")
                .on("click", lambda: on_open(shot_id))
                .mark(f"open-shot-{shot_id}")
            )
            self.picture.props(f'title="Edit shot {shot.shot_number}"')
            with ui.element("div").classes("timeline-card-body"):
                with ui.row().classes("w-full items-center gap-1 no-wrap"):
                    self.number = ui.label().classes("font-semibold").mark(f"shot-number-{shot_id}")
                    ui.space()
                    self.duration = ui.label().classes("timeline-duration").mark(f"shot-duration-{shot_id}")
                self.kind = ui.label().classes("text-xs").mark(f"shot-type-{shot_id}")
                self.engine = ui.label().classes("text-xs opacity-70").mark(f"shot-engine-{shot_id}")
                with ui.row().classes("w-full items-center gap-1 no-wrap"):
                    self.status = ui.badge().mark(f"shot-status-{shot_id}")
                    self.score = ui.label().classes("text-xs font-semibold").mark(f"shot-score-{shot_id}")
                self.attempt = ui.label().classes("text-xs opacity-70").mark(f"shot-attempt-{shot_id}")
                self.message = ui.label().classes("timeline-message").mark(f"shot-message-{shot_id}")
                with ui.row().classes("w-full items-center gap-0 no-wrap"):
                    self.left = (
                        ui.button(icon="chevron_left", on_click=lambda: on_move(shot_id, -1))
                        .props('flat dense round size=sm aria-label="Move earlier"')
                        .mark(f"move-left-{shot_id}")
                    )
                    ui.space()
                    ui.button(icon="edit", on_click=lambda: on_open(shot_id)).props(
                        'flat dense round size=sm aria-label="Edit shot"'
                    ).mark(f"edit-shot-{shot_id}")
                    ui.space()
                    self.right = (
                        ui.button(icon="chevron_right", on_click=lambda: on_move(shot_id, 1))
                        .props('flat dense round size=sm aria-label="Move later"')
                        .mark(f"move-right-{shot_id}")
                    )
        self.shown_picture: str | None = "unset"
        self.show(shot, count)

    def show(self, shot: Shot, count: int, message: str | None = None) -> None:
        """Show the shot as it is now; `message` is the latest word from its generation (kept when None)."""
        shot_id = self.shot_id
        picture = shot_picture(shot)
        if picture != self.shown_picture:  # a new <img> only when the picture changed: no flicker on progress
            self.shown_picture = picture
            self.picture.clear()
            with self.picture:
                if picture:
                    ui.element("img").props(
                        f'src="{picture}" loading=lazy draggable=false alt="shot {shot.shot_number}"'
                    ).classes("timeline-thumb").mark(f"shot-thumb-{shot_id}")
                else:
                    with ui.element("div").classes("timeline-placeholder").mark(f"shot-placeholder-{shot_id}"):
                        ui.icon(SHOT_ICON.get(shot.shot_type, "movie")).classes("text-4xl opacity-60")
                        ui.label(shot.shot_type.replace("_", " ")).classes("text-xs opacity-70")
        self.number.text = f"#{shot.shot_number}"
        self.duration.text = f"{shot.duration_seconds:g} s"
        angle = shot.camera_angle.replace("_", " ")
        self.kind.text = f"{shot.shot_type.replace('_', ' ')} · {angle}"
        self.engine.text = engine_label(shot.video_engine)
        self.status.text = status_text(shot.status)
        self.status.props(f"color={STATUS_COLOR.get(shot.status, 'grey-7')}")
        self.score.text = f"{shot.quality_score:.2f}" if shot.quality_score is not None else ""
        self.attempt.text = kept_attempt(shot)
        if shot.status == "failed" and shot.error_message:
            self.message.text = shot.error_message
        elif message is not None:
            self.message.text = message
        self.left.set_enabled(shot.shot_number > 1)
        self.right.set_enabled(shot.shot_number < count)


class Timeline:
    """The shots of one scene in a row, with Add shot at the end."""

    def __init__(self, on_open: OpenShot, on_move: MoveShot, on_add: Callable[[], Awaitable[None]]) -> None:
        self.on_open, self.on_move, self.on_add = on_open, on_move, on_add
        self.scene_id: uuid.UUID | None = None
        self.cards: dict[uuid.UUID, ShotCard] = {}
        self.order: list[uuid.UUID] = []
        self.host = ui.element("div").classes("w-full").mark("timeline")

    def render(self, scene_id: uuid.UUID, shots: Sequence[Shot], messages: dict[uuid.UUID, str]) -> None:
        self.scene_id = scene_id
        self.host.clear()
        self.cards = {}
        self.order = [shot.id for shot in shots]
        with self.host:
            running = sum(shot.duration_seconds for shot in shots)
            noun = "shot" if len(shots) == 1 else "shots"
            ui.label(f"{len(shots)} {noun} · {running:g} s").classes("text-sm opacity-70").mark("timeline-total")
            if shots:
                ui.label("Drag a shot onto another to take its place, or use ← →.").classes("text-xs opacity-60")
            with ui.element("div").classes("timeline-track").props(f'data-scene-id="{scene_id}"'):
                for shot in shots:
                    self.cards[shot.id] = ShotCard(shot, len(shots), self.on_open, self.on_move)
                    if shot.id in messages and shot.status != "failed":
                        self.cards[shot.id].message.text = messages[shot.id]
                with ui.element("div").classes("timeline-add"):
                    if not shots:
                        ui.label("No shots yet").classes("text-sm opacity-70").mark("no-shots")
                    ui.button("Add shot", icon="add", on_click=self.on_add).props("outline").mark("add-shot")

    def same_order(self, shots: Sequence[Shot]) -> bool:
        return [shot.id for shot in shots] == self.order

    def show(self, shot: Shot, message: str | None = None) -> None:
        card = self.cards.get(shot.id)
        if card is not None and not card.box.is_deleted:
            card.show(shot, len(self.order), message)

"""The kiosk review station: one image at a time, keyboard first (swipes on a phone), decisions saved in the
background.

The station itself runs in the browser (kiosk_station.js): a keypress must show the next image without a
server round trip, so the client holds the review queue, decodes the next images ahead of time and sends
each decision through the REST API with the image version it saw (the studio answers 409 when another
station decided first, and the station keeps that decision). This element only configures it and
forwards what happens elsewhere: other stations' decisions, new images, the pending count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nicegui import ui

from components.character_card import reference_src
from services.datasets import REJECTION_CATEGORIES, ImageDecided
from studio.api import API_PREFIX
from studio.models import ApprovalState

KIOSK_CSS = Path(__file__).resolve().parent.parent / "assets" / "kiosk.css"


@dataclass(frozen=True)
class StationCharacter:
    """What the station shows beside an image of this character."""

    name: str
    reference_id: int | None  # the primary reference image, if the character has one

    def as_config(self) -> dict[str, str | None]:
        return {"name": self.name, "reference": reference_src(self.reference_id) if self.reference_id else None}


class KioskStation(ui.element, component="kiosk_station.js"):
    def __init__(
        self,
        *,
        project_id: int,
        character_id: int | None,
        characters: Mapping[int, StationCharacter],
        pending: int,
        actor: str,
    ) -> None:
        """A station reviewing the pending images of a project, or of one of its characters."""
        super().__init__()
        ui.add_css(KIOSK_CSS)
        self.project_id = project_id
        self.character_id = character_id
        self._props["config"] = {
            "api": API_PREFIX,
            "project_id": project_id,
            "character_id": character_id,
            "characters": {str(cid): character.as_config() for cid, character in characters.items()},
            "categories": [{"key": c.key, "name": c.name, "label": c.label} for c in REJECTION_CATEGORIES],
            "pending": pending,
            # The REST API records decisions under this name; a retried decision whose first answer was
            # lost is recognised as this station's own by it.
            "actor": actor,
            "datasets_url": f"/datasets?project={project_id}"
            + (f"&character={character_id}" if character_id is not None else ""),
        }

    def covers(self, project_id: int, character_id: int | None) -> bool:
        """Whether images of this project and character are in this station's queue."""
        return project_id == self.project_id and (self.character_id is None or character_id == self.character_id)

    def image_decided(self, event: ImageDecided) -> None:
        """Drop an image another station (or an automatic check) decided from the queue.

        Images put back to pending (an undo) are left alone: the station that undid shows them again.
        The station tells its own decisions apart by the versions the API answered it.
        """
        if event.state == ApprovalState.PENDING.value or not self.covers(event.project_id, event.character_id):
            return
        self.run_method("taken", event.image_id, event.state, event.version)

    def images_arrived(self) -> None:
        """New pending images may lie beyond the end of the queue: look again."""
        self.run_method("imagesArrived")

    def show_pending(self, count: int) -> None:
        self.run_method("setPending", count)

"""The episode page's publishing card: choose a library, Publish with live progress and Cancel, then where
the episode went, whether the library confirmed it, and Unpublish (after asking)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nicegui import ui

from components.confirm import confirm
from components.episode_job import FollowedJob
from components.form_errors import explain
from services.errors import Conflict, Invalid, NotFound
from services.jobs import JobChanged
from services.publishing import Library
from studio.models import Episode
from studio.root import Studio


def published_file(publication: dict[str, Any]) -> str:
    """Where the library keeps the episode's video (its records name it relative to the library root)."""
    return str(Path(str(publication.get("root", ""))) / str(publication.get("episode_file", "")))


def library_choice(library: Library) -> str:
    """The library's label with the folder it writes to (which some labels already name)."""
    return library.label if str(library.root) in library.label else f"{library.label} — {library.root}"


class EpisodePublishCard:
    def __init__(self, studio: Studio, episode: Episode, actor: str, notify: Callable[..., None]) -> None:
        self.studio, self.episode, self.actor, self.notify = studio, episode, actor, notify
        self.libraries = {library.kind: library for library in studio.episode_publishing.libraries()}
        with ui.card().classes("w-full gap-2").mark("episode-publish-card"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Publishing").classes("text-lg font-semibold")
                ui.space()
                options = {kind: library_choice(lib) for kind, lib in self.libraries.items()}
                self.library = ui.select(options, value=next(iter(options), None), label="Library")
                self.library.props("outlined dense").classes("min-w-[320px]").mark("episode-library")
                self.publish_button = ui.button("Publish", icon="publish", on_click=self.publish)
                self.publish_button.props("unelevated").mark("episode-publish")
            self.reason = ui.label().classes("text-sm opacity-80").mark("episode-publish-reason")
            self.job = FollowedJob(studio, actor, "episode-publishing")
            self.problem = (
                ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("episode-publish-problem")
            )
            self.publication = ui.column().classes("w-full gap-1")

    async def publish(self) -> None:
        self.problem.text = ""
        try:
            job = await self.studio.episode_publishing.start(self.episode.id, str(self.library.value), self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.problem.text = explain(exc)
            return
        self.notify(f"Publishing episode {self.episode.episode_number}: job {job.id}", type="info")
        await self.show()

    async def unpublish(self) -> None:
        publication = self.episode.publication or {}
        message = (
            f"The files the last publish wrote under {publication.get('root', 'the library')} are removed. "
            "The assembled episode stays here and can be published again."
        )
        if not await confirm(f"Unpublish episode {self.episode.episode_number}?", message, "Unpublish"):
            return
        try:
            _, note = await self.studio.episode_publishing.unpublish(self.episode.id, self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning", multi_line=True)
            return
        self.notify(f"Unpublished: {note}" if note else "Unpublished", type="info", multi_line=True)
        await self.show()

    async def show(self, episode: Episode | None = None) -> None:
        episode = episode or await self.studio.episodes.get(self.episode.id)
        running = await self.studio.episode_publishing.running_job(episode)
        if self.publication.is_deleted:
            return
        self.episode = episode
        self.job.show(running)
        ready = bool(episode.final_video_path) and episode.deleted_at is None
        self.publish_button.set_enabled(ready and running is None and episode.assembly_job_id is None)
        self.publish_button.text = "Publish again" if episode.publication else "Publish"
        if not episode.final_video_path:
            self.reason.text = "Assemble the episode first: publishing copies the assembled video into a library."
        elif episode.assembly_job_id is not None:
            self.reason.text = "The episode is being assembled: publish it when that is done."
        else:
            self.reason.text = self.studio.episode_publishing.out_of_date(episode) or ""
        self.reason.set_visibility(bool(self.reason.text))
        self.publication.clear()
        with self.publication:
            self._publication(episode)

    def _publication(self, episode: Episode) -> None:
        publication = episode.publication
        if not publication:
            ui.label("Not published.").classes("text-sm opacity-70").mark("episode-not-published")
            return
        library = self.libraries.get(str(publication.get("library")))
        where = library.label if library else str(publication.get("library"))
        when = episode.published_at.strftime("%Y-%m-%d %H:%M") if episode.published_at else ""
        with ui.column().classes("w-full gap-1 text-sm").mark("episode-publication"):
            with ui.row().classes("items-center gap-2"):
                ui.icon("check_circle", color="positive")
                ui.label(f"Published to {where} {when}").classes("font-medium").mark("episode-published-where")
            ui.label(published_file(publication)).classes("font-mono break-all").mark("episode-published-file")
            verified = bool(publication.get("verified"))
            note = str(publication.get("note") or "")
            text = ("Verified" if verified else "Not verified") + (f": {note}" if note else "")
            ui.label(text).classes("" if verified else "text-warning").mark("episode-published-verified")
            with ui.row().classes("w-full justify-end"):
                ui.button("Unpublish", icon="unpublished", on_click=self.unpublish).props(
                    "outline color=negative"
                ).mark("episode-unpublish")

    def job_changed(self, event: JobChanged) -> None:
        error = self.job.failure(event)
        if error and not self.problem.is_deleted:
            self.problem.text = f"Publishing failed: {error}"

"""Episodes: a project's episodes, and the selected one's fields, its scenes in order with the transition at
each boundary, its assembly (progress, then the player) and its publishing. Everything follows live: other
tabs, workers and jobs only mark what changed, and the page reads it again at most every REDRAW_SECONDS.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from nicegui import events, ui
from pydantic import ValidationError
from starlette.requests import Request

from components.episode_assembly import EpisodeAssemblyCard
from components.episode_publishing import EpisodePublishCard
from components.episode_scenes import EpisodeSceneList
from components.form_errors import explain
from components.page_level import page_level
from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from components.timeline import ORDER_EVENT, TIMELINE_HEAD
from components.undo import offer_undo
from components.unsaved import UnsavedMarker, page_edits
from services.episodes import EPISODE_ASSEMBLY_JOB, EpisodeChanged, EpisodeChanges, EpisodeDraft, episode_label
from services.episodes.publishing import EPISODE_PUBLISH_JOB
from services.errors import Conflict, Invalid, NotFound
from services.jobs import JobChanged, JobProgressed
from services.scenes import SceneChanged
from studio.models import Episode, Project
from studio.root import Studio

REDRAW_SECONDS = 0.3
EPISODE_JOBS = frozenset({EPISODE_ASSEMBLY_JOB, EPISODE_PUBLISH_JOB})
STATUS_COLOR = {
    "draft": "grey-7",
    "assembling": "primary",
    "publishing": "primary",
    "assembled": "positive",
    "published": "accent",
    "deleted": "grey-5",
}


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/episodes")
    async def episodes_page(request: Request) -> None:
        async with frame(studio, request, "Episodes", areas, head=TIMELINE_HEAD) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3"):
                    await project_picker(studio, project, "/episodes")
                if project is None:
                    no_project_yet()
                    return
                view = EpisodesView(studio, project, principal_of(request).name)
                view.build()
            await view.load(_episode_id(request.query_params.get("episode", "")))


def _episode_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def episode_status(episode: Episode) -> str:
    """What the episode is doing or has become: a running job first, then its stored status."""
    if episode.deleted_at is not None:
        return "deleted"
    if episode.assembly_job_id is not None:
        return "assembling"
    if episode.publish_job_id is not None:
        return "publishing"
    return episode.status


def status_badge(episode: Episode, mark: str) -> ui.badge:
    status = episode_status(episode)
    return ui.badge(status, color=STATUS_COLOR.get(status, "grey-7")).mark(mark)


class EpisodesView:
    """The episode list on the left; the selected episode's editor, scenes, assembly and publishing on the right."""

    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.project_id: int = project.id  # type: ignore[assignment]
        self.episodes: list[Episode] = []
        self.episode_id: uuid.UUID | None = None
        self.scene_list: EpisodeSceneList | None = None
        self.assembly: EpisodeAssemblyCard | None = None
        self.publishing: EpisodePublishCard | None = None
        self.list_dirty = False
        self.editor_dirty = False

    # --- layout -------------------------------------------------------------------------------------

    def build(self) -> None:
        with ui.element("div").classes("w-full grid gap-4").style("grid-template-columns: 280px minmax(0, 1fr)"):
            with ui.card().classes("w-full gap-2 p-3"):
                with ui.row().classes("w-full items-center gap-1"):
                    ui.label("Episodes").classes("text-lg font-semibold")
                    ui.space()
                    ui.button(icon="add", on_click=self.new_episode).props(
                        'flat round dense aria-label="New episode"'
                    ).mark("new-episode").tooltip("New episode, numbered after the last")
                self.show_deleted = ui.switch("Show deleted", on_change=self.reload_list).props("dense")
                self.show_deleted.mark("show-deleted-episodes")
                self.list_host = ui.column().classes("w-full gap-1").mark("episode-list")
            self.editor_host = ui.column().classes("w-full gap-3 min-w-0")
        self.layout = page_level()
        ui.on(ORDER_EVENT, self.dropped)
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(EpisodeChanged, self.episode_changed))
        client.on_delete(self.studio.events.subscribe(SceneChanged, self.scene_changed))
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        client.on_delete(self.studio.events.subscribe(JobProgressed, self.job_progressed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    async def load(self, wanted: uuid.UUID | None) -> None:
        """Show `wanted`, else the first episode: at the start, or once the episode shown is deleted."""
        await self.reload_list()
        live = [e.id for e in self.episodes if e.deleted_at is None]
        await self.select(wanted if wanted in live else next(iter(live), None), ask=False)

    def notify(self, message: str, **options: Any) -> None:
        with self.layout:
            ui.notify(message, **options)

    # --- the episode list ---------------------------------------------------------------------------

    async def reload_list(self) -> None:
        self.episodes = await self.studio.episodes.list(self.project_id, include_deleted=bool(self.show_deleted.value))
        if self.list_host.is_deleted:
            return
        self.list_host.clear()
        with self.list_host:
            if not self.episodes:
                ui.label("No episodes yet.").classes("text-sm opacity-70").mark("no-episode-yet")
            for episode in self.episodes:
                self._episode_item(episode)

    def _episode_item(self, episode: Episode) -> None:
        deleted = episode.deleted_at is not None
        active = episode.id == self.episode_id
        with ui.row().classes("w-full items-center gap-1 no-wrap" + (" opacity-60" if deleted else "")):
            with (
                ui.item(on_click=None if deleted else lambda: self.select(episode.id))
                .props(f"clickable={'false' if deleted else 'true'} active={'true' if active else 'false'} dense")
                .props('active-class="studio-nav-active"')
                .classes("flex-grow rounded-lg min-w-0")
                .mark(f"episode-{episode.id}")
            ):
                with ui.item_section():
                    ui.item_label(episode_label(episode)).classes("truncate").mark(f"episode-title-{episode.id}")
                    seconds = episode.actual_duration_seconds
                    ui.item_label(f"{seconds:.1f} s" if seconds else "not assembled").props("caption").mark(
                        f"episode-meta-{episode.id}"
                    )
                with ui.item_section().props("side"):
                    status_badge(episode, f"episode-status-{episode.id}")
            if deleted:
                ui.button(icon="restore_from_trash", on_click=lambda: self.restore(episode)).props(
                    'flat round dense aria-label="Restore episode"'
                ).mark(f"restore-episode-{episode.id}").tooltip("Restore this episode")

    async def new_episode(self) -> None:
        with self.layout:
            if not await page_edits().discard_ok():  # the new episode replaces the form
                return
        try:
            episode = await self.studio.episodes.create(self.project_id, EpisodeDraft(), self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="negative")
            return
        await self.select(episode.id)
        self.notify(f"Episode {episode.episode_number} added: give it a title and scenes", type="positive")

    async def delete(self, episode_id: uuid.UUID) -> None:
        try:
            episode = await self.studio.episodes.delete(episode_id, self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning", multi_line=True)
            return
        await self.load(None)
        with self.layout:
            offer_undo(f"Episode {episode_label(episode)} deleted", lambda: self.restore(episode))

    async def restore(self, episode: Episode) -> None:
        try:
            episode = await self.studio.episodes.restore(episode.id, self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning")
            return
        self.notify(f"Episode {episode_label(episode)} restored", type="info")
        await self.select(episode.id)

    # --- the selected episode -----------------------------------------------------------------------

    async def select(self, episode_id: uuid.UUID | None, *, ask: bool = True) -> None:
        """Show `episode_id` in the form, after asking about the form's edits unless `ask` is False (the
        episode they edit is gone)."""
        # The list item or button that asked may be gone once the list redraws: work at page level.
        with self.layout:
            if ask and not await page_edits().discard_ok():
                return
            page_edits().discard()
            await self._select(episode_id)

    async def _select(self, episode_id: uuid.UUID | None) -> None:
        self.episode_id = episode_id
        self.scene_list = self.assembly = self.publishing = None
        await self.reload_list()
        params: dict[str, str | int] = {"project": self.project_id}
        if episode_id is not None:
            params["episode"] = str(episode_id)
        ui.navigate.history.replace(f"/episodes?{urlencode(params)}")
        self.editor_host.clear()
        if episode_id is None:
            await self._no_episodes()
            return
        try:
            episode = await self.studio.episodes.get(episode_id)
        except NotFound as exc:
            with self.editor_host:
                ui.label(explain(exc)).classes("text-negative")
            return
        with self.editor_host:
            self._form(episode)
            self.scene_list = EpisodeSceneList(self.studio, episode, self.actor, self.notify, self.scenes_saved)
            self.assembly = EpisodeAssemblyCard(self.studio, episode, self.actor, self.notify)
            self.publishing = EpisodePublishCard(self.studio, episode, self.actor, self.notify)
        await self.scene_list.load()
        await self.assembly.show(episode)
        await self.publishing.show(episode)

    async def _no_episodes(self) -> None:
        scenes = await self.studio.scenes.list(self.project_id)
        with self.editor_host, ui.card().classes("w-full items-center gap-2 p-8").mark("no-episodes"):
            ui.icon("live_tv").classes("text-5xl opacity-60")
            ui.label(f"{self.project.name} has no episodes yet.").classes("text-lg")
            if not scenes:
                ui.label("An episode plays assembled scenes in order: create scenes first.").classes("opacity-70")
                ui.button(
                    "Go to Scenes", icon="movie", on_click=lambda: ui.navigate.to(f"/scenes?project={self.project_id}")
                )
            else:
                ui.label("Create one, then add the project's scenes in the order they play.").classes("opacity-70")
            ui.button("New episode", icon="add", on_click=self.new_episode).mark("empty-new-episode")

    def _form(self, episode: Episode) -> None:
        with ui.card().classes("w-full gap-2").mark("episode-form"):
            with ui.row().classes("w-full items-center gap-2"):
                self.heading = ui.label(f"Episode {episode.episode_number}").classes("text-lg font-semibold")
                self.heading.mark("episode-heading")
                self.status = status_badge(episode, "episode-status")
                unsaved = UnsavedMarker(f"episode {episode.episode_number}", "episode-unsaved")
                ui.space()
                ui.button("Delete", icon="delete", on_click=lambda: self.delete(episode.id)).props(
                    "flat color=negative"
                ).mark("delete-episode").tooltip("Delete this episode (Undo brings it back)")
            with ui.row().classes("w-full gap-2 no-wrap"):
                number = ui.number("Number", value=episode.episode_number, min=1, max=999, precision=0)
                number.props("outlined dense").classes("w-28").mark("episode-number")
                title = ui.input("Title", value=episode.title).props("outlined dense").classes("flex-grow")
                title.mark("episode-title")
            description = ui.textarea("Description", value=episode.description).props("outlined dense autogrow")
            description.classes("w-full").mark("episode-description")
            problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("episode-problem")
            unsaved.watch(number, title, description)

            async def save() -> None:
                problem.text = ""
                try:
                    changes = EpisodeChanges.from_form(
                        {
                            "title": title.value or "",
                            "episode_number": number.value,
                            "description": description.value or "",
                        }
                    )
                    saved = await self.studio.episodes.update(episode.id, changes, self.actor)
                except (ValidationError, Invalid, Conflict, NotFound) as exc:
                    problem.text = explain(exc)
                    return
                unsaved.saved()
                self.notify(f"Episode {episode_label(saved)} saved", type="positive")
                await self.reload_list()

            with ui.row().classes("w-full justify-end"):
                ui.button("Save episode", icon="save", on_click=save).props("unelevated").mark("save-episode")

    async def refresh_editor(self) -> None:
        """Read the selected episode again: heading, status, scenes, assembly and publishing (not the form)."""
        if self.episode_id is None or self.scene_list is None or self.assembly is None or self.publishing is None:
            return
        try:
            episode = await self.studio.episodes.get(self.episode_id)
        except NotFound:
            return
        if self.heading.is_deleted:
            return
        self.heading.text = f"Episode {episode.episode_number}"
        status = episode_status(episode)
        self.status.text = status
        self.status.props(f"color={STATUS_COLOR.get(status, 'grey-7')}")
        await self.scene_list.load()
        await self.assembly.show(episode)
        await self.publishing.show(episode)

    async def scenes_saved(self) -> None:
        self.editor_dirty = True  # out of date reasons and the list's durations follow the new scene list

    async def dropped(self, event: events.GenericEventArguments) -> None:
        """timeline.js reports a drop as the track's id (here the episode's) and its cards' ids (scene ids)."""
        args: Any = event.args
        try:
            episode_id = uuid.UUID(str(args["scene_id"]))
            order = [uuid.UUID(str(scene_id)) for scene_id in args["shot_ids"]]
        except (KeyError, TypeError, ValueError):
            self.notify(f"The scene list sent an order the page cannot read: {args!r}", type="negative")
            return
        if episode_id == self.episode_id and self.scene_list is not None:
            await self.scene_list.dropped(order)

    # --- live updates -------------------------------------------------------------------------------

    def episode_changed(self, event: EpisodeChanged) -> None:
        if event.project_id == self.project_id:
            self.list_dirty = True
            if event.episode_id == str(self.episode_id):
                self.editor_dirty = True

    def scene_changed(self, event: SceneChanged) -> None:
        if event.project_id == self.project_id:
            self.editor_dirty = True  # a scene was renamed, assembled or deleted: rows and out of date change

    def job_changed(self, event: JobChanged) -> None:
        if event.kind in EPISODE_JOBS and event.project_id == self.project_id:
            self.list_dirty = self.editor_dirty = True
            for card in (self.assembly, self.publishing):
                if card is not None:
                    card.job_changed(event)

    def job_progressed(self, event: JobProgressed) -> None:
        for card in (self.assembly, self.publishing):
            if card is not None:
                card.job.progressed(event)

    async def redraw(self) -> None:
        if self.editor_host.is_deleted:
            return
        if self.list_dirty:
            self.list_dirty = False
            await self.reload_list()
            live = {e.id for e in self.episodes if e.deleted_at is None}
            if self.episode_id is not None and self.episode_id not in live:  # deleted elsewhere
                await self.load(None)
                return
        if self.editor_dirty:
            self.editor_dirty = False
            await self.refresh_editor()

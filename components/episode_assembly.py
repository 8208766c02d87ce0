"""The episode page's assembly card: Assemble with live progress and Cancel, then the player (poster and
subtitles), its length, how it was rendered, what the assembly left out, and why it is out of date."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from nicegui import ui

from components.episode_job import FollowedJob
from components.form_errors import explain
from components.out_of_date import out_of_date_notice
from services.errors import Conflict, Invalid, NotFound
from services.jobs import JobChanged
from studio.models import Episode
from studio.root import Studio

FULL_RENDER = "full render: "  # how the assembly's warnings start the reason it could not smart render


def episode_media_src(episode: Episode, what: str) -> str:
    """The address of the assembled episode's video, thumbnail or subtitles, naming this assembly."""
    version = quote(episode.assembled_at.isoformat()) if episode.assembled_at else "0"
    return f"/api/episodes/{episode.id}/{what}?v={version}"


def render_mode_text(episode: Episode) -> str:
    if episode.render_mode == "smart":
        return "Smart render: only the transitions were re-encoded, the scenes were copied as they are."
    why = [w.removeprefix(FULL_RENDER) for w in episode.assembly_warnings if w.startswith(FULL_RENDER)]
    return "Full render" + (f": {'; '.join(why)}." if why else ": every frame was encoded again.")


class EpisodeAssemblyCard:
    def __init__(self, studio: Studio, episode: Episode, actor: str, notify: Callable[..., None]) -> None:
        self.studio, self.episode, self.actor, self.notify = studio, episode, actor, notify
        self.shown_video: str | None = "unset"  # the player is drawn on the first show, then on a new assembly
        with ui.card().classes("w-full gap-2").mark("episode-assembly-card"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Assembly").classes("text-lg font-semibold")
                ui.space()
                self.assemble_button = ui.button("Assemble", icon="movie_edit", on_click=self.assemble)
                self.assemble_button.props("unelevated").mark("episode-assemble")
                self.assemble_button.tooltip("Join the assembled scenes in order, with the transitions between them")
            self.job = FollowedJob(studio, actor, "episode-assembly")
            self.problem = (
                ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("episode-assembly-problem")
            )
            self.player = ui.column().classes("w-full gap-1")
            self.facts = ui.column().classes("w-full gap-1")

    async def assemble(self) -> None:
        self.problem.text = ""
        try:
            job = await self.studio.episode_assembly.start(self.episode.id, self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.problem.text = explain(exc)
            return
        self.notify(f"Assembling episode {self.episode.episode_number}: job {job.id}", type="info")
        await self.show()

    async def show(self, episode: Episode | None = None) -> None:
        """Redraw from the episode row; the player only when there is a new assembly (a playing video plays on)."""
        episode = episode or await self.studio.episodes.get(self.episode.id)
        running = await self.studio.episode_assembly.running_job(episode)
        reasons = await self.studio.episode_assembly.out_of_date(episode.id)
        if self.facts.is_deleted:
            return
        self.episode = episode
        self.job.show(running)
        self.assemble_button.set_enabled(running is None and episode.deleted_at is None)
        self.assemble_button.text = "Assemble again" if episode.final_video_path else "Assemble"
        video = episode_media_src(episode, "video") if episode.final_video_path else None
        if video != self.shown_video:
            self.shown_video = video
            self.player.clear()
            with self.player:
                self._player(episode)
        self.facts.clear()
        with self.facts:
            self._facts(episode, reasons)

    def _player(self, episode: Episode) -> None:
        if not episode.final_video_path:
            ui.label("Not assembled yet: add assembled scenes, then press Assemble.").classes(
                "text-sm opacity-70"
            ).mark("episode-not-assembled")
            return
        player = ui.element("video").props(f'controls preload="metadata" src="{episode_media_src(episode, "video")}"')
        if episode.thumbnail_path:
            player.props(f'poster="{episode_media_src(episode, "thumbnail")}"')
        player.classes("w-full max-h-[480px] bg-black rounded").mark("episode-player")
        if episode.subtitles_path:
            subtitles = episode_media_src(episode, "subtitles.vtt")
            with player:
                ui.element("track").props(f'kind="subtitles" srclang="en" label="English" default src="{subtitles}"')

    def _facts(self, episode: Episode, reasons: list[str]) -> None:
        if not episode.final_video_path:
            return
        when = episode.assembled_at.strftime("%Y-%m-%d %H:%M") if episode.assembled_at else ""
        with ui.row().classes("w-full items-center gap-3 text-sm"):
            seconds = episode.actual_duration_seconds or 0
            ui.label(f"{seconds:.2f} s · assembled {when}").mark("episode-duration")
            ui.link("MP4", episode_media_src(episode, "video"), new_tab=True).mark("episode-download-video")
            if episode.subtitles_path:
                srt = episode_media_src(episode, "subtitles.srt")
                ui.link("Subtitles (SRT)", srt, new_tab=True).mark("episode-download-subtitles")
        ui.label(render_mode_text(episode)).classes("text-sm opacity-80").mark("episode-render-mode")
        left_out = [w for w in episode.assembly_warnings if not w.startswith(FULL_RENDER)]
        if left_out:
            with ui.column().classes("w-full gap-0").mark("episode-warnings"):
                for warning in left_out:
                    with ui.row().classes("items-start gap-1 no-wrap text-sm text-warning"):
                        ui.icon("warning", size="xs")
                        ui.label(warning)
        out_of_date_notice(reasons, "episode-out-of-date")

    def job_changed(self, event: JobChanged) -> None:
        error = self.job.failure(event)
        if error and not self.problem.is_deleted:
            self.problem.text = f"The assembly failed: {error}"

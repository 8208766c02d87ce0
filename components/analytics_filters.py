"""The Analytics page's filter bar: one project or all, some of its characters, a range of UTC days. It hands the
page a checked Scope, or shows why the filters make no range (the service's own message) beside them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from nicegui import ui

from components.form_errors import explain
from components.sample_panel import tagged
from services.analytics.scope import Scope
from services.errors import Invalid
from studio.root import Studio

# The project select's value for "every project" (Quasar options need a key that is not null).
ALL_PROJECTS = 0


def _day(field: str, text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(field, f"write the day as YYYY-MM-DD, not {text!r}") from None


class AnalyticsFilters:
    def __init__(self, studio: Studio, on_change: Callable[[], Awaitable[None]]) -> None:
        self.studio, self.on_change = studio, on_change

    async def build(self, project_id: int | None, since: str, until: str) -> None:
        """Draw the bar with these values; a project that does not exist is said so and every project shown. The
        character choices come with `fill_characters`, after the first paint."""
        self.summaries = await self.studio.projects.list(include_archived=True)
        projects = {ALL_PROJECTS: "All projects"} | {
            s.project.id: s.project.name + (" (archived)" if s.project.archived_at else "") for s in self.summaries
        }
        unknown = project_id is not None and project_id not in projects
        with tagged(ui.row().classes("w-full items-center gap-3"), "analytics-filters"):
            chosen = ALL_PROJECTS if unknown or project_id is None else project_id
            self.project = ui.select(projects, value=chosen, label="Project", on_change=self._project_changed)
            self.project.props("outlined dense").classes("w-56").mark("filter-project")
            self.characters = ui.select({}, value=[], multiple=True, label="Characters", on_change=self.on_change)
            self.characters.props("outlined dense use-chips clearable").classes("min-w-64").mark("filter-characters")
            self.since = ui.input("Since", value=since, on_change=self.on_change)
            self.since.props("outlined dense type=date stack-label clearable").classes("w-40").mark("filter-since")
            self.until = ui.input("Until", value=until, on_change=self.on_change)
            self.until.props("outlined dense type=date stack-label clearable").classes("w-40").mark("filter-until")
            self.message = tagged(ui.label().classes("text-negative text-sm"), "filter-message")
            if unknown:
                notice = f"There is no project {project_id}: showing every project."
                tagged(ui.label(notice).classes("text-warning text-sm"), "filter-notice")

    @property
    def project_id(self) -> int | None:
        return self.project.value or None

    def scope(self) -> Scope | None:
        """The scope the filters name, or None with the reason shown beside them."""
        try:
            scope = Scope(
                project_id=self.project_id,
                character_ids=tuple(sorted(self.characters.value or ())),
                since=_day("since", self.since.value),
                until=_day("until", self.until.value),
            )
            scope.check_range()
        except Invalid as exc:
            self.message.text = explain(exc)
            return None
        self.message.text = ""
        return scope

    def query(self) -> dict[str, str | list[str]]:
        """The filters as address parameters, so a reload or a shared link shows the same numbers."""
        found: dict[str, str | list[str]] = {}
        if self.project_id is not None:
            found["project"] = str(self.project_id)
        if self.characters.value:
            found["character"] = [str(c) for c in self.characters.value]
        for name, field in (("since", self.since), ("until", self.until)):
            if field.value:
                found[name] = field.value
        return found

    async def fill_characters(self, wanted: list[int]) -> None:
        """The project's characters to choose from (every project's, named with it), `wanted` chosen."""
        found = await self.studio.analytics.characters(self.project_id)
        if self.project_id is not None:
            options = {character.id: character.name for character in found}
        else:
            # Every project's characters, named with their project: a cross-project comparison starts from one.
            projects = {summary.project.id: summary.project.name for summary in self.summaries}
            options = {c.id: f"{c.name} · {projects.get(c.project_id, c.project_id)}" for c in found}
        self.characters.set_options(options, value=[c for c in wanted if c in options])

    async def _project_changed(self) -> None:
        # Clearing the characters is a change of its own (the page skips a scope it already shows).
        await self.fill_characters([])
        await self.on_change()

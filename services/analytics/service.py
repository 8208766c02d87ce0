"""Analytics: what worked, for whom, and how it got there, answered in SQL that runs the same on SQLite and
PostgreSQL. The reviewed-image reports live in `quality`, the production reports in `production`; this facade
checks the scope once and hands it on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from services.analytics import production, quality
from services.analytics.reports import (
    CharacterRef,
    CoOccurrence,
    CrossProject,
    Dimension,
    Drift,
    Health,
    ImageRef,
    Lineage,
    QualityTrend,
    Rankings,
    Rejections,
    ScreenTime,
)
from services.analytics.scope import Scope
from services.errors import Invalid, NotFound
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.models import Character, Project

if TYPE_CHECKING:  # learning builds on the analytics queries: imported at run time, it would be a cycle
    from services.autonomy.learning import Learning


class Analytics:
    def __init__(self, *, settings: Settings, db: Database, clock: Clock, learning: Learning) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._learning = learning

    async def check(self, scope: Scope) -> Scope:
        """The scope, validated: NotFound for a project or character that does not exist (or a character of
        another project than the one named), Invalid for an impossible range."""
        scope.check_range()
        async with self._db.session() as session:
            if scope.project_id is not None and await session.get(Project, scope.project_id) is None:
                raise NotFound(f"there is no project {scope.project_id}")
            if scope.character_ids:
                query = select(Character.id, Character.project_id).where(col(Character.id).in_(scope.character_ids))
                found = dict((await session.exec(query)).all())
                for character_id in scope.character_ids:
                    if character_id not in found:
                        raise NotFound(f"there is no character {character_id}")
                    if scope.project_id is not None and found[character_id] != scope.project_id:
                        raise Invalid("character_id", f"character {character_id} is not in project {scope.project_id}")
        return scope

    async def characters(self, project_id: int | None) -> list[CharacterRef]:
        """The characters the filters offer: the project's, or every project's when None."""
        return await quality.characters(self._db, Scope(project_id=project_id))

    # --- reviewed images ----------------------------------------------------------------------------------

    async def quality_trend(self, scope: Scope) -> QualityTrend:
        await self.check(scope)
        return await quality.quality_trend(self._db, scope, self._clock.now().date())

    async def rankings(self, scope: Scope, by: Dimension) -> Rankings:
        await self.check(scope)
        return await quality.rankings(self._db, scope, by)

    async def ranked_images(
        self, scope: Scope, by: Dimension, value: str, *, state: str = "rejected", limit: int = 60
    ) -> list[ImageRef]:
        """The images behind one ranked value (a checkpoint's rejected images), newest decision first."""
        await self.check(scope)
        return await quality.ranked_images(self._db, scope, by, value, state=state, limit=limit)

    async def rejections(self, scope: Scope) -> Rejections:
        await self.check(scope)
        return await quality.rejections(self._db, scope, self._clock.now().date())

    async def drift(self, scope: Scope) -> Drift:
        await self.check(scope)
        return await quality.drift(self._db, self._learning, scope, self._settings.drift_window)

    async def cross_project(self, scope: Scope) -> CrossProject:
        await self.check(scope)
        return await quality.cross_project(self._db, scope)

    # --- production ---------------------------------------------------------------------------------------

    async def lineage(self, image_id: int) -> Lineage:
        """NotFound: no such image."""
        return await production.lineage(self._db, image_id)

    async def co_occurrence(self, scope: Scope) -> CoOccurrence:
        await self.check(scope)
        return await production.co_occurrence(self._db, scope)

    async def screen_time(self, scope: Scope) -> ScreenTime:
        await self.check(scope)
        return await production.screen_time(self._db, scope)

    async def project_health(self, scope: Scope) -> Health:
        await self.check(scope)
        return await production.project_health(self._db, scope)

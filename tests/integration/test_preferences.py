"""Preferences saved at the same moment from several tabs: every save succeeds and the value is one of them."""

from __future__ import annotations

import asyncio

from studio.root import Studio


async def test_tabs_saving_a_new_preference_at_once_all_succeed(studio: Studio) -> None:
    # Pages remember the project they open; twenty tabs opened together all save the same new key.
    await asyncio.gather(*(studio.preferences.set("local", "current_project", n) for n in range(20)))
    assert await studio.preferences.get("local", "current_project") in range(20)

"""Preferences: saved at the same moment from several tabs, every save succeeds and the value is one of them; only a
change a person chose is audited."""

from __future__ import annotations

import asyncio

from studio.root import Studio


async def test_tabs_saving_a_new_preference_at_once_all_succeed(studio: Studio) -> None:
    # Pages remember the project they open; twenty tabs opened together all save the same new key.
    await asyncio.gather(*(studio.preferences.set("local", "current_project", n) for n in range(20)))
    assert await studio.preferences.get("local", "current_project") in range(20)


async def test_only_a_change_a_person_chose_is_audited(studio: Studio) -> None:
    await studio.preferences.set("local", "dark_mode", True)
    await studio.preferences.set("local", "dark_mode", True)  # the same again: nothing changed
    await studio.preferences.set("local", "current_project", 3, announce=False)  # remembered, not chosen
    assert await studio.preferences.get("local", "current_project") == 3
    audited = [row.summary for row in await studio.audit.recent(event_prefix="preference.")]
    assert audited == ["local set dark_mode to True"]

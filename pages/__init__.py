"""NiceGUI pages, one module per area. Each module's `register(studio, areas)` defines its routes."""

from __future__ import annotations

from components.shell import Area
from pages import (
    activity,
    analytics,
    autopilot,
    characters,
    create,
    datasets,
    episodes,
    home,
    ingest,
    jobs,
    kiosk,
    login,
    music,
    not_found,
    projects,
    scene_monitor,
    scenes,
    settings,
    status,
    story,
    training,
    voices,
)
from studio.root import Studio

# The navigation, in order. An area is added here when its page works end to end.
AREAS: tuple[Area, ...] = (
    Area("Home", "home", home.PATH),
    Area("Projects", "movie_filter", "/projects"),
    Area("Story & World", "auto_stories", "/story"),
    Area("Characters", "face", "/characters"),
    Area("Create", "brush", "/create"),
    Area("Datasets", "photo_library", "/datasets"),
    Area("Training", "model_training", training.PATH),
    Area("Voices", "record_voice_over", voices.PATH),
    Area("Autopilot", "smart_toy", autopilot.PATH),
    Area("Analytics", "insights", analytics.PATH),
    Area("Review station", "fullscreen", "/kiosk"),
    Area("Scenes", "movie", "/scenes"),
    Area("Music", "library_music", "/music"),
    Area("Episodes", "live_tv", "/episodes"),
    Area("Jobs", "work_history", "/jobs"),
    Area("Status", "monitor_heart", status.PATH),
    Area("Activity", "history", "/activity"),
    Area("Settings", "settings", "/settings"),
)


def register_pages(studio: Studio) -> None:
    login.register(studio)
    not_found.register()
    home.register(studio, AREAS)
    status.register(studio, AREAS)
    projects.register(studio, AREAS)
    story.register(studio, AREAS)
    characters.register(studio, AREAS)
    create.register(studio, AREAS)
    ingest.register(studio, AREAS)
    datasets.register(studio, AREAS)
    training.register(studio, AREAS)
    autopilot.register(studio, AREAS)
    analytics.register(studio, AREAS)
    voices.register(studio, AREAS)
    kiosk.register(studio, AREAS)
    scenes.register(studio, AREAS)
    scene_monitor.register(studio, AREAS)
    episodes.register(studio, AREAS)
    music.register(studio, AREAS)
    jobs.register(studio, AREAS)
    activity.register(studio, AREAS)
    settings.register(studio, AREAS)

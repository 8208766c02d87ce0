"""Episodes: scenes in order with transitions, assembled (smart or full render) and published to a library."""

from services.episodes.assembly import EPISODE_ASSEMBLY_JOB, EpisodeAssembly
from services.episodes.episodes import EpisodeEntry, Episodes, episode_label
from services.episodes.events import EpisodeChanged
from services.episodes.publishing import EPISODE_PUBLISH_JOB, EpisodePublishing
from services.episodes.schemas import EpisodeChanges, EpisodeDraft, EpisodeSceneEntry, EpisodeScenes

__all__ = [
    "EPISODE_ASSEMBLY_JOB",
    "EPISODE_PUBLISH_JOB",
    "EpisodeAssembly",
    "EpisodeChanged",
    "EpisodeChanges",
    "EpisodeDraft",
    "EpisodeEntry",
    "EpisodePublishing",
    "EpisodeSceneEntry",
    "EpisodeScenes",
    "Episodes",
    "episode_label",
]

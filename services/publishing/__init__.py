"""Publishing: an assembled episode into a media library in Jellyfin's TV layout, through one `Library`
interface backed by a plain folder (`FolderLibrary`) or a Jellyfin server's library folder (`JellyfinLibrary`)."""

from services.publishing.files import FileMode
from services.publishing.folder import FolderLibrary
from services.publishing.jellyfin import (
    JellyfinClient,
    JellyfinError,
    JellyfinLibrary,
    JellyfinRefused,
    JellyfinUnreachable,
)
from services.publishing.layout import EpisodeLayout, clean_name, episode_code, layout_for
from services.publishing.libraries import libraries
from services.publishing.nfo import episode_nfo, tvshow_nfo
from services.publishing.release import (
    CastMember,
    Library,
    LibraryPathError,
    Progress,
    Publication,
    PublishError,
    Release,
)

__all__ = [
    "CastMember",
    "EpisodeLayout",
    "FileMode",
    "FolderLibrary",
    "JellyfinClient",
    "JellyfinError",
    "JellyfinLibrary",
    "JellyfinRefused",
    "JellyfinUnreachable",
    "Library",
    "LibraryPathError",
    "Progress",
    "Publication",
    "PublishError",
    "Release",
    "clean_name",
    "episode_code",
    "episode_nfo",
    "layout_for",
    "libraries",
    "tvshow_nfo",
]

"""The creative bible of a production: projects, story, world, styles, characters and prompts."""

from services.bible.archive import BibleArchives, ImportReport
from services.bible.characters import CharacterCard, Characters
from services.bible.events import BibleChanged
from services.bible.projects import Projects, ProjectSummary
from services.bible.styles import GenerationStyles, PromptLibrary

__all__ = [
    "BibleArchives",
    "BibleChanged",
    "CharacterCard",
    "Characters",
    "GenerationStyles",
    "ImportReport",
    "ProjectSummary",
    "Projects",
    "PromptLibrary",
]

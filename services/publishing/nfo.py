"""Kodi/Jellyfin NFO documents for a release (pure): `tvshow.nfo` for the series, one `<episodedetails>` per
episode. Local NFOs always win over Jellyfin's remote providers, so these carry the studio's own metadata."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from services.publishing.release import Release

STUDIO_NAME = "Anime Studio"
UNIQUE_ID_TYPE = "anime-studio"
# XML 1.0 cannot carry most control characters, even escaped; ElementTree would write them anyway.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def runtime_minutes(seconds: float) -> int:
    """NFO runtime is whole minutes; a short episode still says 1."""
    return max(1, round(seconds / 60))


def tvshow_nfo(release: Release, actor_thumbs: Sequence[str | None]) -> bytes:
    """The series document. `actor_thumbs[i]` is the thumb path (relative to the series folder) of
    `release.cast[i]`, or None."""
    root = ET.Element("tvshow")
    _add(root, "title", release.series_title)
    _add(root, "plot", release.series_plot)
    _add(root, "year", str(release.year))
    seen: set[str] = set()
    for genre in release.genres:
        name = genre.strip()
        if name and name.lower() not in seen:
            seen.add(name.lower())
            _add(root, "genre", name)
    _add(root, "studio", STUDIO_NAME)
    _unique_id(root, release.series_id)
    for order, (member, thumb) in enumerate(zip(release.cast, actor_thumbs, strict=True)):
        actor = ET.SubElement(root, "actor")
        _add(actor, "name", member.name)
        _add(actor, "role", member.role)
        if thumb:
            _add(actor, "thumb", thumb)
        _add(actor, "order", str(order))
    return _document(root)


def episode_nfo(release: Release) -> bytes:
    """The episode document (root `<episodedetails>`) that sits beside the video."""
    root = ET.Element("episodedetails")
    _add(root, "title", release.title)
    _add(root, "showtitle", release.series_title)
    _add(root, "season", str(release.season))
    _add(root, "episode", str(release.episode))
    _add(root, "plot", release.plot)
    _add(root, "aired", release.aired.isoformat())
    _add(root, "runtime", str(runtime_minutes(release.runtime_seconds)))
    _add(root, "studio", STUDIO_NAME)
    _unique_id(root, release.episode_id)
    return _document(root)


def _add(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _NOT_XML.sub("", text)
    return element


def _unique_id(parent: ET.Element, value: str) -> None:
    element = _add(parent, "uniqueid", value)
    element.set("type", UNIQUE_ID_TYPE)
    element.set("default", "true")


def _document(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    # standalone="yes" is what Kodi writes; Jellyfin ignores it.
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{body}\n'.encode()

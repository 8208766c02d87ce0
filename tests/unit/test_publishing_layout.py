"""Publishing names, folder layout and NFO documents (pure: no files, no server)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from services.publishing import CastMember, Publication, Release, clean_name, episode_code, layout_for
from services.publishing.layout import MAX_NAME_BYTES, MAX_NAME_CHARS, episode_stem, series_folder_name
from services.publishing.nfo import episode_nfo, runtime_minutes, tvshow_nfo

RELEASE = Release(
    series_title="Moonlit Harbor",
    year=2026,
    series_plot="Two lighthouse keepers & a ghost <ship>.",
    genres=("Drama", "Fantasy", "drama", " "),
    cast=(
        CastMember(name="Aiko Tanaka", role="Keeper", thumb=Path("/portraits/aiko.png")),
        CastMember(name="Ren", role="", thumb=None),
    ),
    series_poster=None,
    season=1,
    episode=1,
    title="Pilot",
    plot='Storm & "fog" <rolls> in.',
    aired=date(2026, 3, 14),
    runtime_seconds=312.4,
    video=Path("/data/episodes/1/final.mp4"),
    thumbnail=Path("/data/episodes/1/thumb.jpg"),
    subtitles_srt="1\n00:00:00,000 --> 00:00:01,000\nHello\n",
    series_id="project-7",
    episode_id="5b7c2f0e-1111-4a4a-9c9c-0123456789ab",
)


def _release(**changes: object) -> Release:
    return Release(**{**RELEASE.__dict__, **changes})  # type: ignore[arg-type]


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Moonlit Harbor", "Moonlit Harbor"),
        ('What? <Who>: "A/B\\C" | *star*', "What Who ABC star"),
        ("Tabs\tand\nnew  lines\x00\x1f here", "Tabs and new lines here"),
        ("  trailing dots...  ", "trailing dots"),
        ("...hidden", "hidden"),
        ("", "Untitled"),
        ("   ", "Untitled"),
        (".", "Untitled"),
        ("..", "Untitled"),
        ('???:::"', "Untitled"),
        ("CON", "CON_"),
        ("月の港", "月の港"),
    ],
)
def test_clean_name(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


def test_clean_name_caps_characters_and_bytes() -> None:
    assert len(clean_name("a" * 500)) == MAX_NAME_CHARS
    wide = clean_name("港" * 500)  # three UTF-8 bytes each
    assert len(wide.encode()) <= MAX_NAME_BYTES
    assert wide == "港" * (MAX_NAME_BYTES // 3)
    # A cut that ends on a space or dot is trimmed again.
    assert not clean_name("word. " * 100).endswith((" ", "."))


@pytest.mark.parametrize(
    ("season", "episode", "code"), [(1, 1, "S01E01"), (0, 3, "S00E03"), (2, 12, "S02E12"), (1, 100, "S01E100")]
)
def test_episode_code(season: int, episode: int, code: str) -> None:
    assert episode_code(season, episode) == code


def test_layout_of_an_episode() -> None:
    layout = layout_for(RELEASE)
    assert layout.series_folder == "Moonlit Harbor (2026)"
    assert layout.season_folder == "Moonlit Harbor (2026)/Season 01"
    assert layout.video == "Moonlit Harbor (2026)/Season 01/Moonlit Harbor S01E01 - Pilot.mp4"
    assert layout.nfo == "Moonlit Harbor (2026)/Season 01/Moonlit Harbor S01E01 - Pilot.nfo"
    assert layout.thumb == "Moonlit Harbor (2026)/Season 01/Moonlit Harbor S01E01 - Pilot-thumb.jpg"
    assert layout.subtitles == "Moonlit Harbor (2026)/Season 01/Moonlit Harbor S01E01 - Pilot.en.srt"
    assert layout.tvshow_nfo == "Moonlit Harbor (2026)/tvshow.nfo"
    assert layout.poster == "Moonlit Harbor (2026)/poster.jpg"


def test_episode_without_title_has_no_dash() -> None:
    assert layout_for(_release(title="  ")).video == "Moonlit Harbor (2026)/Season 01/Moonlit Harbor S01E01.mp4"
    assert episode_stem("Show", 1, 2, "???") == "Show S01E02"


def test_forbidden_characters_never_reach_a_path() -> None:
    layout = layout_for(_release(series_title="../../etc: passwd?", title="a/b\\c <x> ..", episode=7))
    assert layout.video == "etc passwd (2026)/Season 01/etc passwd S01E07 - abc x.mp4"
    for part in layout.video.split("/"):
        assert part not in ("", ".", "..")
        assert not any(ch in part for ch in '<>:"\\|?*')


def test_long_names_are_capped_keeping_the_episode_code() -> None:
    layout = layout_for(_release(series_title="Harbor " * 40, title="A very long title " * 20))
    for part in layout.video.split("/"):
        assert len(part) <= MAX_NAME_CHARS + len(".mp4")
        assert len(part.encode()) <= MAX_NAME_BYTES + len(".mp4")
    stem = layout.stem
    assert " S01E01 - A very long title" in stem
    assert len(series_folder_name("Harbor " * 40, 2026)) <= MAX_NAME_CHARS
    assert series_folder_name("Harbor " * 40, 2026).endswith(" (2026)")


def test_mkv_keeps_its_suffix() -> None:
    assert layout_for(_release(video=Path("/x/final.MKV"))).video.endswith("Pilot.mkv")


def test_actor_thumbs_are_unique_kodi_names() -> None:
    layout = layout_for(RELEASE)
    assert layout.actor_thumbs(["Aiko Tanaka", "Ren", "Aiko Tanaka", "a/b"]) == [
        ".actors/Aiko_Tanaka.jpg",
        ".actors/Ren.jpg",
        ".actors/Aiko_Tanaka_2.jpg",
        ".actors/ab.jpg",
    ]


# --- NFO documents -------------------------------------------------------------------------------


def test_episode_nfo() -> None:
    data = episode_nfo(RELEASE)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"')
    root = ET.fromstring(data)
    assert root.tag == "episodedetails"
    assert root.findtext("title") == "Pilot"
    assert root.findtext("showtitle") == "Moonlit Harbor"
    assert root.findtext("season") == "1"
    assert root.findtext("episode") == "1"
    assert root.findtext("plot") == 'Storm & "fog" <rolls> in.'
    assert root.findtext("aired") == "2026-03-14"
    assert root.findtext("runtime") == "5"
    unique = root.find("uniqueid")
    assert unique is not None
    assert unique.attrib == {"type": "anime-studio", "default": "true"}
    assert unique.text == RELEASE.episode_id
    assert b"&amp;" in data and b"&lt;rolls&gt;" in data


def test_tvshow_nfo() -> None:
    root = ET.fromstring(tvshow_nfo(RELEASE, [".actors/Aiko_Tanaka.jpg", None]))
    assert root.tag == "tvshow"
    assert root.findtext("title") == "Moonlit Harbor"
    assert root.findtext("plot") == "Two lighthouse keepers & a ghost <ship>."
    assert root.findtext("year") == "2026"
    assert [g.text for g in root.findall("genre")] == ["Drama", "Fantasy"]
    assert root.findtext("studio") == "Anime Studio"
    unique = root.find("uniqueid")
    assert unique is not None and unique.text == "project-7" and unique.get("type") == "anime-studio"
    actors = root.findall("actor")
    assert [(a.findtext("name"), a.findtext("role"), a.findtext("thumb"), a.findtext("order")) for a in actors] == [
        ("Aiko Tanaka", "Keeper", ".actors/Aiko_Tanaka.jpg", "0"),
        ("Ren", "", None, "1"),
    ]


def test_nfo_drops_characters_xml_cannot_carry() -> None:
    root = ET.fromstring(episode_nfo(_release(plot="bell\x07 rings\x00")))
    assert root.findtext("plot") == "bell rings"


@pytest.mark.parametrize(("seconds", "minutes"), [(0.0, 1), (20.0, 1), (89.0, 1), (91.0, 2), (1500.0, 25)])
def test_runtime_is_whole_minutes_at_least_one(seconds: float, minutes: int) -> None:
    assert runtime_minutes(seconds) == minutes


def test_publication_round_trips_through_json() -> None:
    publication = Publication(
        library="folder",
        root="/lib",
        series_folder="S (2026)",
        episode_file="S (2026)/Season 01/S S01E01.mp4",
        files=("S (2026)/Season 01/S S01E01.mp4", "S (2026)/Season 01/S S01E01.nfo"),
        series_files=("S (2026)/tvshow.nfo",),
        verified=True,
        note="Published",
    )
    assert Publication.from_json(publication.to_json()) == publication

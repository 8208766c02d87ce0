"""The fifteen moods: a scene's free-text mood to one of them, and the caption ACE-Step is sent."""

from __future__ import annotations

import pytest

from services.errors import Invalid
from services.music import DEFAULT_GENRE, MOOD_CAPTIONS, MOODS, caption_for, mood_of

EARLIER_SYSTEM_MOODS = (
    "tense romantic seductive intimate action melancholy comedic threatening powerful desperate vulnerable "
    "peaceful dominant provocative ambient"
).split()


def test_all_fifteen_moods_of_the_earlier_system_have_an_instrumentation_caption() -> None:
    assert list(MOODS) == EARLIER_SYSTEM_MOODS
    assert set(MOOD_CAPTIONS) == set(EARLIER_SYSTEM_MOODS)
    for mood, caption in MOOD_CAPTIONS.items():
        assert len(caption.split(",")) >= 3, f"{mood}: say which instruments, not one word"
    assert MOOD_CAPTIONS["tense"].startswith("dark orchestral, low strings, minor key")
    assert len(set(MOOD_CAPTIONS.values())) == 15


@pytest.mark.parametrize(
    ("text", "mood"),
    [
        ("tense", "tense"),
        ("TENSE", "tense"),
        ("Quietly tense, then romantic", "tense"),
        ("romantic but tense", "romantic"),  # the first mood the text names
        ("a melancholy evening", "melancholy"),
        ("action-packed", "action"),  # a hyphen ends a word
        ("(threatening)", "threatening"),
        ("intense", "ambient"),  # "tense" inside another word is not the mood
        ("contense reactionary", "ambient"),
        ("powerfully", "ambient"),
        ("hopeful", "ambient"),
        ("", "ambient"),
        (None, "ambient"),
    ],
)
def test_a_scenes_mood_is_the_first_of_the_moods_it_names_as_a_whole_word(text: str | None, mood: str) -> None:
    assert mood_of(text) == mood


def test_every_mood_names_itself() -> None:
    for mood in MOODS:
        assert mood_of(f"The scene feels {mood.upper()}.") == mood


def test_the_caption_is_genre_style_then_instrumentation_then_tempo_and_key() -> None:
    tense = MOOD_CAPTIONS["tense"]
    assert caption_for("tense") == f"{DEFAULT_GENRE} style, {tense}"
    assert caption_for("tense") == f"orchestral anime soundtrack style, {tense}"
    assert caption_for("Tense", genre="synthwave", bpm=90) == f"synthwave style, {tense}, 90 bpm"
    assert caption_for("tense", key="D minor") == f"{DEFAULT_GENRE} style, {tense}, key of D minor"
    assert (
        caption_for("peaceful", "lo-fi", 70, "C major")
        == f"lo-fi style, {MOOD_CAPTIONS['peaceful']}, 70 bpm, key of C major"
    )


def test_an_unknown_mood_is_refused_naming_the_choices() -> None:
    with pytest.raises(Invalid) as refused:
        caption_for("hopeful")
    assert refused.value.field == "mood"
    assert "'hopeful' is not a mood" in refused.value.message and "tense" in refused.value.message

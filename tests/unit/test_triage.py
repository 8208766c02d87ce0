"""Local triage on synthetic pictures drawn with PIL: the bundled models really run and the thresholds bite."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageDraw, ImageFilter

from services.datasets.triage import NSFW_LIMITS, LocalTriage, TriageResult, TriageThresholds
from services.errors import Invalid

INK = (30, 30, 40)


@pytest.fixture(scope="module")
def triage() -> Iterator[LocalTriage]:
    yield LocalTriage()  # one instance, as the studio shares one; models load on first use


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def cel_drawing(width: int = 1024, height: int = 1024) -> Image.Image:
    """A flat-shaded anime-style scene: solid fills with dark outlines, no face."""
    image = Image.new("RGB", (width, height), (235, 240, 250))
    draw = ImageDraw.Draw(image)
    k = min(width, height) / 1024
    line = max(2, round(6 * k))

    def at(*values: float) -> list[int]:
        return [round(v * k) for v in values]

    draw.rectangle(at(0, 700, 1024, 1024), fill=(120, 180, 110), outline=INK, width=line)
    draw.ellipse(at(120, 80, 300, 260), fill=(250, 210, 90), outline=INK, width=line)
    draw.polygon(at(380, 560, 640, 560, 720, 900, 300, 900), fill=(200, 60, 80), outline=INK, width=line)
    draw.rectangle(at(700, 300, 950, 700), fill=(150, 110, 90), outline=INK, width=line)
    draw.polygon(at(680, 300, 825, 160, 970, 300), fill=(170, 60, 50), outline=INK, width=line)
    return image


def anime_face(size: int, hair: tuple[int, int, int] = (60, 90, 170), iris: tuple[int, int, int] = (40, 130, 90)):
    """A flat-shaded anime face: big eyes with highlights, fringe, small mouth."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)

    def at(*values: float) -> list[int]:
        return [round(v * size / 512) for v in values]

    draw.ellipse(at(136, 100, 376, 400), fill=(255, 226, 206), outline=(60, 40, 30), width=3)
    draw.chord(at(110, 40, 402, 300), 180, 360, fill=hair)
    draw.polygon(at(110, 170, 180, 170, 150, 250), fill=hair)
    draw.polygon(at(402, 170, 332, 170, 362, 250), fill=hair)
    for x in (190, 322):
        draw.ellipse(at(x - 35, 210, x + 35, 300), fill=(255, 255, 255), outline=(30, 20, 20), width=4)
        draw.ellipse(at(x - 25, 220, x + 25, 298), fill=iris)
        draw.ellipse(at(x - 12, 240, x + 12, 285), fill=(20, 10, 30))
        draw.ellipse(at(x - 15, 228, x - 3, 242), fill=(255, 255, 255))
        draw.arc(at(x - 40, 195, x + 40, 240), 200, 340, fill=(30, 20, 20), width=6)
    draw.line(at(250, 320, 256, 326), fill=(150, 90, 80), width=2)
    draw.arc(at(226, 340, 286, 365), 20, 160, fill=(150, 50, 50), width=3)
    return image


def assess(triage: LocalTriage, image: Image.Image, **thresholds: float) -> TriageResult:
    return triage.assess(png(image), TriageThresholds(**thresholds))  # type: ignore[arg-type]


def test_a_crisp_drawing_passes(triage: LocalTriage) -> None:
    result = assess(triage, cel_drawing())

    assert result.failures == ()
    assert result.passed
    assert result.values["sharpness"] > TriageThresholds().blur_min
    assert result.flags == ("no_face",)  # information, not a failure


def test_the_same_drawing_blurred_fails_as_blurry(triage: LocalTriage) -> None:
    result = assess(triage, cel_drawing().filter(ImageFilter.GaussianBlur(4)))

    assert result.flags[:1] == ("blurry",)
    assert len(result.failures) == 1
    sharpness = result.values["sharpness"]
    assert result.failures[0] == f"sharpness {sharpness:.2f} is below 30 (triage_blur_min)"


def test_a_tiny_image_fails_as_small(triage: LocalTriage) -> None:
    result = assess(triage, cel_drawing(200, 150))

    assert "small" in result.flags
    assert "shorter side 150 px is below 512 px (triage_min_side)" in result.failures
    assert (result.values["width"], result.values["height"]) == (200, 150)


def test_black_fails_as_dark_and_white_as_bright(triage: LocalTriage) -> None:
    dark = assess(triage, Image.new("RGB", (768, 768), (0, 0, 0)))
    bright = assess(triage, Image.new("RGB", (768, 768), (255, 255, 255)))

    assert "dark" in dark.flags and "bright" not in dark.flags
    assert dark.values["brightness"] == 0.0 and dark.values["clipped_dark"] == 1.0
    assert any(f.endswith("is below 0.08 (triage_dark_below)") for f in dark.failures)
    assert "bright" in bright.flags and "dark" not in bright.flags
    assert bright.values["brightness"] == 1.0 and bright.values["clipped_bright"] == 1.0
    assert any(f.endswith("is above 0.97 (triage_bright_above)") for f in bright.failures)


def test_transparent_areas_count_as_white(triage: LocalTriage) -> None:
    # Fully transparent pixels whose hidden colour is black: a viewer shows white, so must triage.
    clear = Image.new("RGBA", (768, 768), (0, 0, 0, 0))

    assert "bright" in assess(triage, clear).flags


def test_values_are_all_present(triage: LocalTriage) -> None:
    result = assess(triage, cel_drawing(900, 600))
    values = result.values

    assert set(values) == {
        "width",
        "height",
        "sharpness",
        "brightness",
        "clipped_dark",
        "clipped_bright",
        "faces",
        "nsfw",
    }
    assert (values["width"], values["height"]) == (900, 600)
    assert 0.5 < values["brightness"] < 0.9
    assert 0 <= values["clipped_dark"] <= 1 and 0 <= values["clipped_bright"] <= 1
    assert 0 <= values["nsfw"] <= 1
    assert values["faces"] == 0


def test_a_zero_nsfw_limit_flags_anything_so_the_model_really_scores(triage: LocalTriage) -> None:
    image = cel_drawing()
    relaxed = assess(triage, image, nsfw_limit=NSFW_LIMITS["G"])
    strict = assess(triage, image, nsfw_limit=0.0)

    assert "nsfw" not in relaxed.flags
    assert strict.values["nsfw"] > 0.0
    assert "nsfw" in strict.flags
    assert strict.failures[-1].endswith("is above 0 (nsfw_limits for the project's content rating)")


def test_nsfw_limits_cover_every_rating_and_nc17_allows_anything() -> None:
    assert list(NSFW_LIMITS) == ["G", "PG", "PG-13", "R", "NC-17"]
    assert list(NSFW_LIMITS.values()) == sorted(NSFW_LIMITS.values())
    assert NSFW_LIMITS["NC-17"] == 1.0


def test_one_drawn_face_is_found_and_means_solo(triage: LocalTriage) -> None:
    result = assess(triage, anime_face(1024))

    assert result.values["faces"] == 1
    assert result.solo is True
    assert result.failures == ()
    x, y, w, h = result.face_boxes[0]
    # the face outline spans 272..752 px across and 200..800 px down at this size
    assert 200 < x + w / 2 < 800 and 250 < y + h / 2 < 800 and 200 < w < 700


def test_three_faces_are_not_solo_and_no_face_is_unknown(triage: LocalTriage) -> None:
    group = Image.new("RGB", (1024, 1024), (250, 250, 250))
    for i, x in enumerate((40, 370, 700)):
        group.paste(anime_face(300, hair=((140, 80, 40), (60, 90, 170), (200, 60, 120))[i]), (x, 300))
    crowd = assess(triage, group)
    nobody = assess(triage, cel_drawing())

    assert crowd.values["faces"] == 3
    assert crowd.solo is False
    assert "multiple_faces" in crowd.flags and crowd.failures == ()
    assert nobody.solo is None and "no_face" in nobody.flags


def test_to_json_is_serialisable(triage: LocalTriage) -> None:
    result = assess(triage, anime_face(768))

    data = json.loads(json.dumps(result.to_json()))

    assert data["values"] == result.values
    assert data["flags"] == list(result.flags)
    assert data["failures"] == list(result.failures)
    assert data["face_boxes"] == [list(box) for box in result.face_boxes]
    assert data["solo"] is True


def test_concurrent_calls_from_threads_agree_with_one_at_a_time(triage: LocalTriage) -> None:
    images = [png(cel_drawing()), png(anime_face(768)), png(cel_drawing(900, 700).filter(ImageFilter.GaussianBlur(3)))]
    alone = [triage.assess(data, TriageThresholds()) for data in images]

    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda data: triage.assess(data, TriageThresholds()), images * 2))

    assert together == alone * 2


def test_undecodable_bytes_are_invalid(triage: LocalTriage) -> None:
    with pytest.raises(Invalid) as caught:
        triage.assess(b"\x89PNG\r\n\x1a\n not really", TriageThresholds())
    assert caught.value.field == "image"

"""Video engine rules: lengths, source images, frame counts, output sizes and which engine a shot gets."""

from __future__ import annotations

import pytest

from services.errors import Invalid
from services.scenes.video_engines import (
    ENGINE_LIMITS,
    FRAMEPACK_BUCKETS,
    available_engines,
    check_shot,
    frame_count,
    output_size,
    select_engine,
)
from workflows import FramePackRequest, LtxRequest, WanRequest

EVERYTHING = {"framepack", "framepack_f1", "ltx", "wan", "animatic"}

# --- limits --------------------------------------------------------------------------------------------------


def test_each_engine_has_its_rules() -> None:
    assert set(ENGINE_LIMITS) == EVERYTHING
    wan, ltx, framepack = ENGINE_LIMITS["wan"], ENGINE_LIMITS["ltx"], ENGINE_LIMITS["framepack"]
    assert (wan.fps, wan.min_seconds, wan.max_seconds, wan.takes_source, wan.needs_source) == (16, 1, 5, False, False)
    assert set(wan.sizes) == {(832, 480), (480, 832)}
    assert (ltx.fps, ltx.takes_source, ltx.needs_source, set(ltx.sizes)) == (24, True, False, {(512, 320), (320, 512)})
    assert (framepack.fps, framepack.needs_source, framepack.max_seconds) == (30, True, 10)
    assert ENGINE_LIMITS["framepack_f1"].sizes == framepack.sizes == FRAMEPACK_BUCKETS
    animatic = ENGINE_LIMITS["animatic"]
    assert (animatic.device, animatic.sizes, animatic.fps, animatic.min_seconds, animatic.max_seconds) == (
        "cpu",
        (),
        None,
        0.5,
        60,
    )
    assert {limits.device for name, limits in ENGINE_LIMITS.items() if name != "animatic"} == {"comfyui"}


def test_every_fixed_size_is_one_the_builders_accept() -> None:
    for width, height in FRAMEPACK_BUCKETS:
        FramePackRequest("start.png", "walks", width=width, height=height)
    for width, height in ENGINE_LIMITS["ltx"].sizes:
        LtxRequest("walks", width=width, height=height)
    for width, height in ENGINE_LIMITS["wan"].sizes:
        WanRequest("walks", width=width, height=height)


def test_the_framepack_buckets_are_framepacks_own() -> None:
    # lllyasviel/FramePack diffusers_helper/bucket_tools.py, resolution 640, as (width, height).
    assert len(FRAMEPACK_BUCKETS) == 14
    assert (544, 704) in FRAMEPACK_BUCKETS and (704, 544) in FRAMEPACK_BUCKETS
    assert FRAMEPACK_BUCKETS[0] == (960, 416) and FRAMEPACK_BUCKETS[-1] == (416, 960)
    assert all(width * height <= 640 * 640 for width, height in FRAMEPACK_BUCKETS)


# --- check_shot ----------------------------------------------------------------------------------------------


def test_framepack_without_a_source_image_names_the_fix() -> None:
    for engine in ("framepack", "framepack_f1"):
        with pytest.raises(Invalid) as caught:
            check_shot(engine, 3, has_source=False)
        assert caught.value.field == "source"
        assert "animates an image: give the shot a source image or choose Wan 2.1 for a shot without one" in str(
            caught.value
        )
        check_shot(engine, 3, has_source=True)


def test_wan_refuses_a_source_image_it_would_ignore() -> None:
    with pytest.raises(Invalid) as caught:
        check_shot("wan", 3, has_source=True)
    assert caught.value.field == "source"
    assert "Wan 2.1 renders from text only" in caught.value.message and "choose FramePack" in caught.value.message
    check_shot("wan", 3, has_source=False)


def test_a_too_long_shot_names_the_range_and_its_length() -> None:
    with pytest.raises(Invalid) as caught:
        check_shot("ltx", 14, has_source=False)
    assert caught.value.field == "seconds"
    assert "LTX-Video renders 1\N{EN DASH}10 s; this shot is 14 s" in caught.value.message
    assert "Animatic" in caught.value.message  # what could render it instead
    with pytest.raises(Invalid, match=r"Wan 2\.1 renders 1\N{EN DASH}5 s; this shot is 5\.5 s"):
        check_shot("wan", 5.5, has_source=False)
    with pytest.raises(Invalid, match=r"this shot is 0\.5 s"):
        check_shot("framepack", 0.5, has_source=True)
    with pytest.raises(Invalid, match=r"Animatic renders 0\.5\N{EN DASH}60 s"):
        check_shot("animatic", 61, has_source=False)


def test_lengths_at_the_limits_pass() -> None:
    check_shot("wan", 1, has_source=False)
    check_shot("wan", 5, has_source=False)
    check_shot("ltx", 10, has_source=True)
    check_shot("ltx", 10, has_source=False)
    check_shot("animatic", 0.5, has_source=False)
    check_shot("animatic", 60, has_source=True)


def test_an_unknown_engine_lists_the_known_ones() -> None:
    with pytest.raises(Invalid) as caught:
        check_shot("animatediff", 3, has_source=False)
    assert caught.value.field == "engine"
    assert "framepack, framepack_f1, ltx, wan, animatic" in caught.value.message


# --- frame counts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "seconds", "frames"),
    [
        ("wan", 5, 81),  # secs x 16 + 1
        ("wan", 1, 17),
        ("wan", 2.5, 41),
        ("wan", 0.3, 9),  # never below 9
        ("ltx", 10, 241),  # secs x 24 + 1
        ("ltx", 2, 49),
        ("ltx", 0.2, 9),
        ("framepack", 5, 145),  # 4 sections of 36 frames + the start frame
        ("framepack_f1", 1, 37),
        ("framepack", 10, 289),
    ],
)
def test_frame_counts(engine: str, seconds: float, frames: int) -> None:
    assert frame_count(engine, seconds) == frames


def test_frame_counts_fit_the_video_vaes() -> None:
    for tenths in range(10, 101):
        seconds = tenths / 10
        assert (frame_count("ltx", seconds) - 1) % 8 == 0
        assert abs(frame_count("ltx", seconds) - (seconds * 24 + 1)) <= 4
        if seconds <= 5:
            assert (frame_count("wan", seconds) - 1) % 4 == 0
            assert abs(frame_count("wan", seconds) - (seconds * 16 + 1)) <= 2


def test_the_animatic_counts_frames_at_the_project_rate() -> None:
    assert frame_count("animatic", 2.5, frame_rate=24) == 60
    assert frame_count("animatic", 2, frame_rate=30) == 60
    with pytest.raises(Invalid, match="project's frame rate"):
        frame_count("animatic", 2)


# --- output sizes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "size"),
    [
        ((544, 704), (544, 704)),  # a bucket itself
        ((832, 1216), (512, 768)),  # Pony XL portrait: nearest aspect, not the earlier forced 544x704
        ((1920, 1080), (832, 480)),
        ((1080, 1920), (480, 832)),
        ((1024, 1024), (608, 640)),  # a tie between 640x608 and 608x640: FramePack takes the later bucket
        ((3000, 1000), (960, 416)),
        ((768, 1024), (544, 704)),  # 3:4 portrait
    ],
)
def test_framepack_takes_the_bucket_nearest_the_source_aspect(source: tuple[int, int], size: tuple[int, int]) -> None:
    assert output_size("framepack", source, (1280, 720)) == size
    assert output_size("framepack_f1", source, (1280, 720)) == size


def test_ltx_and_wan_follow_the_orientation() -> None:
    assert output_size("ltx", (1280, 720), (1280, 720)) == (512, 320)
    assert output_size("ltx", (720, 1280), (1280, 720)) == (320, 512)  # the source decides over the frame
    assert output_size("ltx", None, (720, 1280)) == (320, 512)
    assert output_size("ltx", (800, 800), (1280, 720)) == (512, 320)  # square: landscape
    assert output_size("wan", None, (1280, 720)) == (832, 480)
    assert output_size("wan", None, (1080, 1920)) == (480, 832)
    # Wan ignores images, so a source never decides its size.
    assert output_size("wan", (1080, 1920), (1280, 720)) == (832, 480)


def test_the_animatic_renders_the_project_frame() -> None:
    assert output_size("animatic", (544, 704), (1280, 720)) == (1280, 720)
    assert output_size("animatic", None, (1920, 1080)) == (1920, 1080)


# --- the selector ----------------------------------------------------------------------------------------------


def _select(
    shot_type: str = "medium",
    *,
    characters: bool = True,
    source: bool = False,
    loras: list[str] | None = None,
    available: set[str] = EVERYTHING,
    seconds: float | None = None,
) -> tuple[str, str]:
    return select_engine(
        shot_type=shot_type,
        has_characters=characters,
        has_source=source,
        character_loras=loras or [],
        available=available,
        seconds=seconds,
    )


@pytest.mark.parametrize("shot_type", ["establishing", "wide_establishing", "aerial", "environment", "Establishing"])
def test_establishing_shots_without_an_image_go_to_wan(shot_type: str) -> None:
    engine, reason = _select(shot_type)
    assert engine == "wan"
    assert reason.startswith("Wan 2.1: ") and "rendered from text" in reason


def test_a_shot_without_characters_goes_to_wan() -> None:
    engine, reason = _select("medium", characters=False)
    assert (engine, reason) == ("wan", "Wan 2.1: a shot without characters or a source image is rendered from text")


def test_a_source_image_goes_to_framepack_whatever_the_shot_type() -> None:
    assert _select("close-up", source=True)[0] == "framepack"
    # The earlier selector sent these to Wan and dropped the image; Wan cannot take one.
    assert _select("establishing", source=True)[0] == "framepack"
    assert _select("medium", characters=False, source=True)[0] == "framepack"


def test_characters_without_an_image_go_to_wan() -> None:
    engine, reason = _select("close-up")
    assert engine == "wan" and "give it a source image" in reason


def test_a_character_lora_does_not_route_to_ltx() -> None:
    engine, reason = _select("close-up", loras=["koopa_lora.safetensors"])
    assert engine == "wan"
    assert "koopa_lora.safetensors is an SD image LoRA that no video engine can load" in reason
    assert _select("close-up", source=True, loras=["koopa_lora.safetensors"])[0] == "framepack"


def test_the_next_engine_that_fits_takes_over_when_one_is_not_ready() -> None:
    engine, reason = _select("close-up", source=True, available={"framepack_f1", "ltx", "animatic"})
    assert engine == "framepack_f1"
    assert (
        reason == "FramePack F1: the shot has a source image to animate, but no ComfyUI device is ready for FramePack"
    )
    assert _select("close-up", source=True, available={"ltx", "wan", "animatic"})[0] == "ltx"
    assert _select("establishing", available={"ltx", "framepack", "animatic"})[0] == "ltx"


def test_nothing_ready_falls_back_to_the_animatic_and_says_why() -> None:
    engine, reason = _select("close-up", source=True, available={"wan", "animatic"})
    assert engine == "animatic"
    assert reason.startswith("Animatic (camera moves, rendered on the CPU): the shot has a source image to animate")
    assert "no ComfyUI device is ready for FramePack, FramePack F1 or LTX-Video" in reason
    assert _select("establishing", available=set())[0] == "animatic"  # the animatic needs no device


def test_a_length_no_engine_renders_passes_them_over() -> None:
    engine, reason = _select("establishing", seconds=8)
    assert engine == "ltx" and "Wan 2.1 renders 1\N{EN DASH}5 s" in reason
    engine, reason = _select("close-up", source=True, seconds=20)
    assert engine == "animatic" and "FramePack renders 1\N{EN DASH}10 s" in reason


def test_the_selected_engine_accepts_the_shot() -> None:
    for shot_type in ("establishing", "medium", "close-up"):
        for characters in (True, False):
            for source in (True, False):
                for seconds in (1, 3, 5, 8, 12):
                    engine, _ = _select(shot_type, characters=characters, source=source, seconds=seconds)
                    check_shot(engine, seconds, source)


def test_available_engines_from_device_preflight_keys() -> None:
    assert available_engines([]) == {"animatic"}
    assert available_engines(["framepack", "wan_t2v", "sd15_image"]) == {"framepack", "wan", "animatic"}
    # LTX shots are text- or image-to-video, so both graphs must be runnable.
    assert "ltx" not in available_engines(["ltx_i2v"])
    assert "ltx" in available_engines(["ltx_i2v", "ltx_t2v"])

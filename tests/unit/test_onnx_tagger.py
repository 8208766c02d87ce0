"""The WD14 ONNX tagger with the tiny test model: preprocessing, categories, thresholds, and bad folders."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.errors import Invalid
from services.tags.prompt_tags import normalise_tag
from services.tags.taggers.onnx_wd14 import OnnxWd14Tagger, TaggerThresholds
from studio.models import TagCategory
from tests.tiny_tagger import BLUE_TAGS, RED_TAGS, SIZE, TAGS, build_model, expected_scores, tagger_folder, write_csv


def picture(colour: tuple[int, ...], size: tuple[int, int] = (64, 64), mode: str = "RGB", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, fmt)  # type: ignore[arg-type]
    return out.getvalue()


RED, BLUE = picture((255, 0, 0)), picture((0, 0, 255))


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory) -> OnnxWd14Tagger:
    return OnnxWd14Tagger.load(tagger_folder(tmp_path_factory.mktemp("tagger")))


def names(result: object) -> list[str]:
    assert isinstance(result, list), result
    return [tag.tag for tag in result]


def test_known_pictures_get_known_tags_with_categories_and_one_rating(tagger: OnnxWd14Tagger) -> None:
    red, blue = tagger.tag([RED, BLUE], TaggerThresholds())
    assert names(red) == RED_TAGS and names(blue) == BLUE_TAGS
    assert isinstance(red, list)
    by_name = {tag.tag: tag for tag in red}
    assert by_name["koopa (mario)"].category == TagCategory.CHARACTER
    assert by_name["sensitive"].category == TagCategory.RATING and "general" not in by_name  # the best rating only
    assert by_name["red theme"].category == TagCategory.GENERAL
    assert by_name["red theme"].confidence == pytest.approx(1 / (1 + np.exp(-6)), abs=1e-3)
    assert [tag.confidence for tag in red] == sorted((tag.confidence for tag in red), reverse=True)


def test_thresholds_per_category(tagger: OnnxWd14Tagger) -> None:
    (blue,) = tagger.tag([BLUE], TaggerThresholds(general=0.6, character=0.98))
    # "^_^" (0.5) is under the general threshold, "hatsune miku" (0.97) under the character one; ratings stay.
    assert names(blue) == ["blue theme", "general"]


def test_the_input_is_padded_white_resized_and_bgr(tagger: OnnxWd14Tagger) -> None:
    wide = picture((255, 0, 0), (200, 100))
    prepared = tagger.prepare(wide)
    assert prepared.shape == (SIZE, SIZE, 3) and prepared.dtype == np.float32
    assert prepared[0, SIZE // 2].tolist() == [255.0, 255.0, 255.0]  # the padding above the picture
    assert prepared[SIZE // 2, SIZE // 2].tolist() == [0.0, 0.0, 255.0]  # red, in BGR order
    transparent = tagger.prepare(picture((0, 0, 255, 0), mode="RGBA"))
    assert transparent[SIZE // 2, SIZE // 2].tolist() == [255.0, 255.0, 255.0]  # flattened on white
    # What the model answers is the tiny model's maths on exactly that input.
    (scores,) = tagger.scores([prepared])
    np.testing.assert_allclose(scores, expected_scores(prepared), rtol=1e-5)
    # Half of the square is white padding: the character tag falls below its threshold.
    (tags,) = tagger.tag([wide], TaggerThresholds())
    assert "koopa (mario)" not in names(tags)


def test_a_jpeg_and_a_palette_picture_are_read(tagger: OnnxWd14Tagger) -> None:
    jpeg, palette = picture((250, 5, 5), fmt="JPEG"), picture(3, mode="P")
    results = tagger.tag([jpeg, palette], TaggerThresholds())
    assert "red theme" in names(results[0]) and isinstance(results[1], list)


def test_an_unreadable_image_fails_alone(tagger: OnnxWd14Tagger) -> None:
    broken, red = tagger.tag([b"not an image", RED], TaggerThresholds())
    assert isinstance(broken, str) and "not a readable image" in broken
    assert names(red) == RED_TAGS


def test_a_fixed_batch_model_takes_any_number_of_images(tmp_path: Path) -> None:
    build_model(tmp_path / "model.onnx", input_shape=(1, SIZE, SIZE, 3))
    write_csv(tmp_path / "selected_tags.csv")
    tagger = OnnxWd14Tagger.load(tmp_path)
    assert tagger.batch == 1
    assert [names(r) for r in tagger.tag([RED, BLUE, RED], TaggerThresholds())] == [RED_TAGS, BLUE_TAGS, RED_TAGS]


def test_names_lose_underscores_but_emoticons_keep_them() -> None:
    assert [normalise_tag(n) for n in ("red_hair", "koopa_(mario)", "^_^", "o_o", ">_<", "1girl")] == [
        "red hair",
        "koopa (mario)",
        "^_^",
        "o_o",
        ">_<",
        "1girl",
    ]


# --- folders the studio must refuse before it reads any image ----------------------------------------


def refused(folder: Path | None) -> str:
    with pytest.raises(Invalid) as caught:
        OnnxWd14Tagger.load(folder)
    assert caught.value.field == "tagger_model_dir"
    return caught.value.message


def test_no_folder_set_says_where_to_get_a_model() -> None:
    message = refused(None)
    assert "no tagger folder is set" in message and "SmilingWolf/wd-v1-4-convnext-tagger-v2" in message


def test_missing_folder_model_or_csv_name_the_file(tmp_path: Path) -> None:
    assert f"{tmp_path / 'nowhere'} does not exist" in refused(tmp_path / "nowhere")
    write_csv(tmp_path / "selected_tags.csv")
    assert f"{tmp_path / 'model.onnx'} does not exist" in refused(tmp_path)
    build_model(tmp_path / "model.onnx")
    (tmp_path / "selected_tags.csv").unlink()
    assert f"{tmp_path / 'selected_tags.csv'} does not exist" in refused(tmp_path)


def test_a_csv_with_another_header_is_refused(tmp_path: Path) -> None:
    build_model(tmp_path / "model.onnx")
    write_csv(tmp_path / "selected_tags.csv", header=("id", "tag", "kind"))
    message = refused(tmp_path)
    assert f"{tmp_path / 'selected_tags.csv'} is not a WD14 tag list" in message
    assert "expected tag_id,name,category,count" in message


def test_a_model_that_takes_nchw_images_is_refused(tmp_path: Path) -> None:
    build_model(tmp_path / "model.onnx", input_shape=("N", 3, SIZE, SIZE))
    write_csv(tmp_path / "selected_tags.csv")
    message = refused(tmp_path)
    assert f"{tmp_path / 'model.onnx'} takes input ['N', 3, 448, 448]" in message and "[N, H, W, 3]" in message


def test_a_model_and_csv_of_different_sizes_are_refused(tmp_path: Path) -> None:
    build_model(tmp_path / "model.onnx")
    write_csv(tmp_path / "selected_tags.csv", rows=5)
    message = refused(tmp_path)
    assert f"gives {len(TAGS)} scores per image but {tmp_path / 'selected_tags.csv'} lists 5 tags" in message


def test_a_file_that_is_no_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"<html>404 Not Found</html>")
    write_csv(tmp_path / "selected_tags.csv")
    assert f"{tmp_path / 'model.onnx'} cannot be loaded by onnxruntime" in refused(tmp_path)

"""A tiny WD14-shaped tagger for tests: `model.onnx` + `selected_tags.csv` with the real files' shapes and format.

No wheel ships a WD14 model, so tests build one with `onnx.helper`: input [N, 448, 448, 3] float (BGR 0-255,
as the real models take) → ReduceMean over H and W → scale to 0-1 → MatMul → Add → Sigmoid into one score per
CSV row. The weights make colours mean tags, so a red picture is known to get "red theme", "koopa (mario)" and
the "sensitive" rating, a blue one "blue theme" and "hatsune miku"; `expected_scores` computes the same maths in
numpy, so a test can check the preprocessing (white padding, resizing, BGR order) against the model's answer.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 448
# (CSV name, category, weights for the mean B, G, R in 0-1, bias): score = sigmoid(w · mean + bias).
TAGS: tuple[tuple[str, int, tuple[float, float, float], float], ...] = (
    ("general", 9, (0.0, 0.0, 0.0), 1.0),
    ("sensitive", 9, (0.0, 0.0, 3.0), -1.0),
    ("red_theme", 0, (-4.0, -4.0, 8.0), -2.0),
    ("blue_theme", 0, (8.0, -4.0, -4.0), -2.0),
    ("white_background", 0, (4.0, 4.0, 4.0), -10.0),
    ("^_^", 0, (0.0, 0.0, 0.0), 0.0),  # always 0.5: kept at the default general threshold, underscore and all
    ("koopa_(mario)", 4, (-5.0, -5.0, 5.0), 0.0),
    ("hatsune_miku", 4, (3.0, -3.0, -3.0), 0.5),
)
# What each picture gets at the default thresholds (0.35 general, 0.85 character), most confident first.
RED_TAGS = ["red theme", "koopa (mario)", "sensitive", "^_^"]
BLUE_TAGS = ["blue theme", "hatsune miku", "general", "^_^"]


def _weights() -> tuple[np.ndarray, np.ndarray]:
    matrix = np.array([weights for _, _, weights, _ in TAGS], dtype=np.float32).T  # [3, K]
    bias = np.array([bias for _, _, _, bias in TAGS], dtype=np.float32)
    return matrix, bias


def build_model(
    path: Path, *, input_shape: tuple[int | str, ...] = ("N", SIZE, SIZE, 3), outputs: int | None = None
) -> Path:
    """Write the tiny tagger model. `input_shape` other than NHWC, or `outputs` other than len(TAGS), make the
    broken models the studio must refuse (the extra outputs get zero weights)."""
    matrix, bias = _weights()
    if outputs is not None and outputs != len(TAGS):
        matrix = np.resize(matrix, (3, outputs)).astype(np.float32)
        bias = np.resize(bias, outputs).astype(np.float32)
    nchw = len(input_shape) == 4 and input_shape[1] == 3
    axes = [2, 3] if nchw else [1, 2]
    count = matrix.shape[1]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input_1:0"], ["means"], axes=axes, keepdims=0),
            helper.make_node("Mul", ["means", "scale"], ["unit"]),
            helper.make_node("MatMul", ["unit", "weights"], ["logits"]),
            helper.make_node("Add", ["logits", "bias"], ["shifted"]),
            helper.make_node("Sigmoid", ["shifted"], ["predictions_sigmoid"]),
        ],
        "tiny_wd14_tagger",
        [helper.make_tensor_value_info("input_1:0", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, ["N", count])],
        [
            numpy_helper.from_array(np.array([1 / 255], dtype=np.float32), "scale"),
            numpy_helper.from_array(matrix, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="anime-studio-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_csv(
    path: Path, rows: int | None = None, header: tuple[str, ...] = ("tag_id", "name", "category", "count")
) -> Path:
    """Write selected_tags.csv for the tiny model (the first `rows` tags only, to make a mismatch)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for number, (name, category, _, _) in enumerate(TAGS[:rows]):
            writer.writerow([1000 + number, name, category, 5000 - number])
    return path


def tagger_folder(folder: Path) -> Path:
    """A complete, valid tagger folder (model.onnx + selected_tags.csv)."""
    build_model(folder / "model.onnx")
    write_csv(folder / "selected_tags.csv")
    return folder


def expected_scores(bgr: np.ndarray) -> np.ndarray:
    """The tiny model's scores for one prepared [H, W, 3] BGR 0-255 image, computed in numpy."""
    matrix, bias = _weights()
    means = bgr.reshape(-1, 3).mean(axis=0) / 255
    return 1 / (1 + np.exp(-(means @ matrix + bias)))


if __name__ == "__main__":  # `python -m tests.tiny_tagger DIR`: a folder to point tagger_model_dir at by hand
    import sys

    print(tagger_folder(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-tagger")))

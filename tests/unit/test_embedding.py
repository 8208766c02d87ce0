"""The numpy all-MiniLM-L6-v2 against the real bundled model: PyTorch's published figures, masking, meaning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from services.assistant import Embedder, EmbeddingModelMissing
from services.assistant.embedding import gelu_in_place


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.load()


def test_rows_are_unit_length_float32(embedder: Embedder) -> None:
    vectors = embedder.embed(["The harbour at dawn", "Koopa laughs", "A storm rolls in over the ferry"])
    assert vectors.shape == (3, Embedder.dimensions)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-6)


def test_no_texts_give_an_empty_matrix(embedder: Embedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, Embedder.dimensions)
    assert vectors.dtype == np.float32


def test_a_bare_string_is_refused_rather_than_embedded_letter_by_letter(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="wrap a single text in a list"):
        embedder.embed("Koopa")


def test_matches_sentence_transformers_on_the_model_cards_sentences(embedder: Embedder) -> None:
    """The first values sentence-transformers (PyTorch) prints for its usage example with this model."""
    vectors = embedder.embed(["This is an example sentence", "Each sentence is converted"])
    np.testing.assert_allclose(vectors[0, :5], [0.067657, 0.063496, 0.048713, 0.079305, 0.037448], atol=1e-5)
    np.testing.assert_allclose(vectors[1, :5], [0.086439, 0.102763, 0.005395, 0.002044, -0.009963], atol=1e-5)


def test_a_text_embeds_the_same_alone_and_padded_in_a_batch(embedder: Embedder) -> None:
    texts = [
        "Koopa",
        "The old ferry captain has sailed between the two islands every morning for forty years, rain or shine.",
        "A fox girl in a red scarf",
        " ".join(["The lighthouse keeper counts the ships as they pass."] * 12),
    ]
    together = embedder.embed(texts)
    for text, row in zip(texts, together, strict=True):
        np.testing.assert_allclose(embedder.embed([text])[0], row, atol=1e-5)


def test_nearer_meanings_score_higher(embedder: Embedder) -> None:
    cat, kitten, taxes = embedder.embed(
        ["The cat sits on the mat", "A kitten is resting on a rug", "Quarterly tax filing deadlines"]
    )
    assert cat @ kitten > 0.5
    assert cat @ kitten > cat @ taxes + 0.4


def test_a_long_text_is_cut_at_256_tokens(embedder: Embedder) -> None:
    opening = " ".join(["The ferry leaves the harbour at dawn with the captain at the wheel."] * 60)
    long, longer = embedder.embed([opening, opening + " Quarterly tax filing deadlines are approaching fast."])
    np.testing.assert_allclose(np.linalg.norm(long), 1, atol=1e-6)
    # The added sentence lies past the 256th token, so it changes nothing.
    np.testing.assert_allclose(long, longer, atol=1e-6)


def test_a_folder_without_the_model_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelMissing, match=r"model\.safetensors.*scripts/setup\.sh"):
        Embedder.load(tmp_path)


def test_gelu_is_the_exact_erf_form() -> None:
    x = np.linspace(-10, 10, 20_001, dtype=np.float32)
    exact = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)]
    result = gelu_in_place(x.copy())
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, exact, atol=1e-6)

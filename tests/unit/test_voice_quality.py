"""The pieces of the voice-finding chain that are plain arithmetic: the quality score, SNR against the noise
floor, the segment tidying after the VAD, speaker grouping, word-to-segment assignment, the mel features of the
speaker embedder (checked against librosa's numbers for a known case) and the Whisper model folder."""

from __future__ import annotations

import numpy as np
import pytest

from services.voice_samples import quality
from services.voice_samples.clustering import group_speakers
from services.voice_samples.embedding import Recipe, log_mel, padded_hamming, slaney_mel_filters
from services.voice_samples.transcribe import assign_words, batches, lay_end_to_end
from services.voice_samples.vad import MAX_SECONDS, Span, chunks, tidy


def test_snr_scores_follow_the_earlier_systems_steps() -> None:
    assert quality.snr_score(30) == 1.0
    assert quality.snr_score(25) == 1.0
    assert quality.snr_score(20) == pytest.approx(0.75)
    assert quality.snr_score(15) == pytest.approx(0.5)
    assert quality.snr_score(10) == pytest.approx(0.25)
    assert quality.snr_score(3) == 0.0


def test_duration_is_ideal_between_three_and_ten_seconds() -> None:
    assert quality.duration_score(3.0) == quality.duration_score(10.0) == 1.0
    assert quality.duration_score(2.0) == pytest.approx(0.5)
    assert quality.duration_score(1.0) == 0.0
    assert quality.duration_score(15.0) == pytest.approx(0.5)


def test_quality_weighs_snr_duration_and_confidence() -> None:
    assert quality.quality(40, 5, 1.0) == 1.0
    assert quality.quality(15, 5, 1.0) == pytest.approx(0.4 * 0.5 + 0.3 + 0.3)
    assert quality.quality(40, 5, 0.5) == pytest.approx(0.4 + 0.3 + 0.15)
    assert quality.quality(0, 1, 0.0) == 0.0


def test_snr_is_speech_level_over_the_noise_in_the_pauses() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 10 ** (-50 / 20), 16000)  # -50 dBFS
    tone = 10 ** (-20 / 20) * np.sqrt(2) * np.sin(np.arange(16000) * 2 * np.pi * 220 / 16000)  # -20 dBFS
    floor = quality.noise_floor(quality.frame_levels(noise.astype(np.float32), 16000))
    assert floor == pytest.approx(-50, abs=1.5)
    snr = quality.snr_db(quality.frame_levels((tone + noise).astype(np.float32), 16000), floor)
    assert snr == pytest.approx(30, abs=1.5)
    # Digital silence in the pauses: the SNR stays finite
    assert quality.noise_floor(quality.frame_levels(np.zeros(1600, np.int16), 16000)) == quality.SILENT_DB
    assert quality.snr_db(quality.frame_levels((tone * 32767).astype(np.int16), 16000), -200) == quality.MAX_SNR_DB


def test_tidy_splits_long_turns_drops_short_ones_and_joins_chunk_cuts() -> None:
    spans, dropped = tidy([Span(0.0, 0.6), Span(2.0, 5.0), Span(10.0, 40.0)])
    assert dropped == 1
    assert spans[0] == Span(2.0, 5.0)
    assert len(spans) == 3 and all(s.seconds <= MAX_SECONDS + 1e-9 for s in spans)
    assert spans[1:] == [Span(10.0, 25.0), Span(25.0, 40.0)]
    # A turn cut at a chunk boundary (300 s) is one segment again; a real pause elsewhere is kept
    spans, _ = tidy([Span(298.0, 299.95), Span(300.0, 302.0), Span(302.5, 304.0)], [300.0])
    assert spans == [Span(298.0, 302.0), Span(302.5, 304.0)]
    assert chunks(16000 * 700) == [(0, 4_800_000), (4_800_000, 9_600_000), (9_600_000, 11_200_000)]


def test_groups_are_numbered_by_first_appearance_with_confidences() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=256), rng.normal(size=256)

    def near(v: np.ndarray) -> np.ndarray:
        w = v + rng.normal(scale=0.2, size=256)
        return (w / np.linalg.norm(w)).astype(np.float32)

    grouping = group_speakers([near(b), near(a), near(b), near(a), near(b)], 0.75)
    assert grouping.labels == [0, 1, 0, 1, 0]
    assert len(grouping.centroids) == 2
    assert all(0.9 < c <= 1.0 for c in grouping.confidences)
    assert group_speakers([near(a)], 0.75).labels == [0]
    assert group_speakers([], 0.75).labels == []


def test_words_go_to_the_segment_their_middle_falls_in() -> None:
    starts, lengths = [0.0, 3.4, 6.0], [3.0, 2.2, 1.5]
    words = [(0.5, " Hello"), (2.9, " there."), (3.1, " Late"), (3.35, " early"), (4.0, " Next"), (7.0, " end")]
    assert assign_words(words, starts, lengths) == ["Hello there. Late", "early Next", "end"]


def test_segments_are_laid_end_to_end_with_pauses() -> None:
    audio = (np.arange(16000 * 10) % 1000).astype(np.int16)
    timeline, starts = lay_end_to_end(audio, [Span(1.0, 2.0), Span(5.0, 5.5)])
    assert starts == [0.0, 1.4]
    assert len(timeline) == int(16000 * (1.0 + 0.4 + 0.5 + 0.4))
    assert [len(b.spans) for b in batches([Span(i * 10, i * 10 + 5) for i in range(7)], 12)] == [2, 2, 2, 1]


def test_features_match_librosa() -> None:
    """Numbers librosa 0.11 gives for the embedder's recipe (librosa is not installed here: it pulls numba)."""
    mel = slaney_mel_filters(16000, 512, 40)
    assert mel.shape == (40, 257)
    # librosa.filters.mel(sr=16000, n_fft=512, n_mels=40)
    assert mel[0, 1:4] == pytest.approx([0.0057736, 0.0115472, 0.00986414], rel=1e-4)
    assert mel[20][mel[20] > 0][:4] == pytest.approx([0.00176932, 0.00359948, 0.00542963, 0.00725979], rel=1e-4)
    assert mel[39][mel[39] > 0][:3] == pytest.approx([4.3358864e-06, 1.0675282e-04, 2.0916974e-04], rel=1e-3)
    window = padded_hamming(400, 512)  # get_window("hamming", 400, fftbins=True), centred in 512
    assert window.shape == (512,) and window[:56].sum() == 0 and window[456:].sum() == 0
    assert window[56] == pytest.approx(0.08) and window[256] == pytest.approx(1.0)
    # log10(melspectrogram(center=False, window="hamming", power=2) + 1e-10) of a chirp
    t = np.arange(8000) / 16000
    chirp = (0.5 * np.sin(2 * np.pi * (200 + 1500 * t) * t)).astype(np.float32)
    recipe = Recipe(16000, 512, 400, 160, 40, 80, 40, "mel_window", "embedding")
    features = log_mel(chirp, recipe, mel, window)
    assert features.shape == (47, 40)
    assert features[[0, 10, 40], [3, 12, 30]] == pytest.approx([1.419614, -2.9332273, -4.495584], abs=1e-4)


def test_a_voice_split_by_the_linkage_cut_is_joined_again() -> None:
    """Two tight halves of one voice, pair by pair less alike than the threshold, but with alike centroids."""
    rng = np.random.default_rng(3)
    voice, other = rng.normal(size=256), rng.normal(size=256)
    tilt = rng.normal(size=256)

    def unit(v: np.ndarray) -> np.ndarray:
        return (v / np.linalg.norm(v)).astype(np.float32)

    low = [unit(voice + 0.25 * tilt + rng.normal(scale=0.45, size=256)) for _ in range(12)]
    high = [unit(voice - 0.25 * tilt + rng.normal(scale=0.45, size=256)) for _ in range(12)]
    others = [unit(other + rng.normal(scale=0.5, size=256)) for _ in range(6)]
    vectors = low + others + high
    pairwise = float(np.mean([a @ b for a in low for b in high]))
    assert pairwise < 0.75  # average linkage alone cuts the voice in two
    grouping = group_speakers(vectors, 0.75)
    assert grouping.labels == [0] * 12 + [1] * 6 + [0] * 12

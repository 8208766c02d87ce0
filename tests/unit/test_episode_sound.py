"""Splicing AAC frames encoded in stretches: which frames of each stretch make the one stream."""

from __future__ import annotations

import pytest

from services.episodes.sound import PREROLL, adts_frames, splice
from services.errors import StudioError


def _frame(tag: str) -> bytes:
    """An ADTS frame whose payload names it."""
    payload = tag.encode()
    length = 7 + len(payload)
    header = bytes([0xFF, 0xF1, 0x4C, 0x80 | (length >> 11), (length >> 3) & 0xFF, ((length & 7) << 5) | 0x1F, 0xFC])
    return header + payload


def _stretch(k: int, first: int, count: int) -> list[bytes]:
    """Stretch k as an encoder writes it: a priming frame, then one frame per AAC frame of sound from `first`."""
    return [_frame(f"{k}:priming")] + [_frame(f"{k}:{first + j}") for j in range(count)]


def test_each_frame_of_sound_comes_once_from_the_stretch_it_belongs_to() -> None:
    bounds = [0, 10, 20]  # three stretches of 10 frames of sound (30 in all)
    encoded = [
        _stretch(0, 0, 10 + PREROLL),  # with post-roll
        _stretch(1, 10 - PREROLL, 10 + 2 * PREROLL),  # pre- and post-roll
        _stretch(2, 20 - PREROLL, 10 + PREROLL + 1),  # pre-roll, and the encoder's last padded frame
    ]
    names = [frame[7:].decode() for frame in splice(encoded, bounds)]
    assert names == ["0:priming"] + [f"{min(k // 10, 2)}:{k}" for k in range(31)]


def test_a_stretch_with_too_few_frames_is_refused() -> None:
    with pytest.raises(StudioError, match="too few to splice"):
        splice([_stretch(0, 0, 5), _stretch(1, 6, 10)], [0, 10])


def test_adts_frames_are_read_by_their_headers_and_anything_else_is_refused() -> None:
    data = _frame("a") + _frame("bc")
    assert [f[7:] for f in adts_frames(data)] == [b"a", b"bc"]
    with pytest.raises(StudioError, match="other than ADTS"):
        adts_frames(b"RIFF" + data)
    with pytest.raises(StudioError, match="cut-off"):
        adts_frames(data[:-1])

"""Reading kohya sd-scripts' progress from its output as a pipe delivers it: tqdm redraws split on `\\r`, lines
cut anywhere between two reads, bars of other stages, and `epoch n/N` in plain and logged form."""

from __future__ import annotations

import pytest

from services.training.kohya_progress import (
    EpochStarted,
    OutputLines,
    StepProgress,
    describe,
    parse_line,
    tqdm_seconds,
)

# stderr of a short SD 1.5 run as sd-scripts writes it (tqdm 4.x, desc="steps", postfix avr_loss), preceded by
# the latent-caching bar, which has no description.
RECORDED_STDERR = (
    "\r  0%|          | 0/3 [00:00<?, ?it/s]\r100%|██████████| 3/3 [00:00<00:00, 15.21it/s]\n"
    "\rsteps:   0%|          | 0/6 [00:00<?, ?it/s]"
    "\rsteps:  17%|█▋        | 1/6 [00:00<00:00, 19.31it/s, avr_loss=0.123]"
    "\rsteps:  33%|███▎      | 2/6 [00:01<00:02, 1.90it/s, avr_loss=0.118]"
    "\rsteps:  50%|█████     | 3/6 [01:02<01:02, 3.42s/it, avr_loss=0.0912]"
    "\rsteps: 100%|██████████| 6/6 [1:02:03<00:00, 3.40s/it, avr_loss=nan]\n"
)
RECORDED_STDOUT = (
    "prepare tokenizer\n"
    "running training / 学習開始\n"
    "\nepoch 1/2\n\n"
    "2026-02-16 10:00:01 INFO     epoch 2/2                                  train_network.py:1402\n"
)


def _events(text: str, chunk: int) -> list[StepProgress | EpochStarted]:
    lines = OutputLines()
    found = []
    for start in range(0, len(text), chunk):
        for line in lines.feed(text[start : start + chunk]):
            if (parsed := parse_line(line)) is not None:
                found.append(parsed)
    found += [parsed for line in lines.flush() if (parsed := parse_line(line)) is not None]
    return found


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_the_steps_bar_is_read_whatever_the_reads_cut(chunk: int) -> None:
    steps = _events(RECORDED_STDERR, chunk)
    assert steps == [
        StepProgress(step=0, total=6, elapsed_seconds=0.0, eta_seconds=None, speed="", loss=None),
        StepProgress(step=1, total=6, elapsed_seconds=0.0, eta_seconds=0.0, speed="19.31 it/s", loss=0.123),
        StepProgress(step=2, total=6, elapsed_seconds=1.0, eta_seconds=2.0, speed="1.90 it/s", loss=0.118),
        StepProgress(step=3, total=6, elapsed_seconds=62.0, eta_seconds=62.0, speed="3.42 s/it", loss=0.0912),
        # A diverged run's nan is no loss point; hours in the elapsed time.
        StepProgress(step=6, total=6, elapsed_seconds=3723.0, eta_seconds=0.0, speed="3.40 s/it", loss=None),
    ]


def test_epochs_come_from_stdout_printed_or_logged() -> None:
    assert _events(RECORDED_STDOUT, 5) == [EpochStarted(1, 2), EpochStarted(2, 2)]


def test_a_bar_without_loss_and_a_bar_with_more_postfix() -> None:
    plain = parse_line("steps:  40%|████      | 40/100 [00:20<00:30, 2.00it/s]")
    assert plain == StepProgress(step=40, total=100, elapsed_seconds=20, eta_seconds=30, speed="2.00 it/s", loss=None)
    more = parse_line("steps:  40%|████      | 40/100 [00:20<00:30, 2.00it/s, avr_loss=1.5e-05, lr=0.0001]")
    assert isinstance(more, StepProgress) and more.loss == pytest.approx(1.5e-05)


@pytest.mark.parametrize(
    "line",
    [
        "100%|██████████| 3/3 [00:00<00:00, 15.21it/s]",  # caching latents: not a training step
        "validation steps:  50%|█████     | 1/2 [00:00<00:00, 3.10it/s, val_loss=0.2]",
        "epoch validation steps: 100%|██████████| 2/2 [00:00<00:00, 3.10it/s]",
        "  num epochs / epoch数: 10",
        "saving checkpoint: output/mei-000001.safetensors",
        "",
    ],
)
def test_other_lines_say_nothing_about_progress(line: str) -> None:
    assert parse_line(line) is None


def test_tqdm_intervals() -> None:
    assert [tqdm_seconds(t) for t in ("00:07", "12:30", "1:02:03", "?", "", "1:2:3:4", "ab:cd")] == [
        7,
        750,
        3723,
        None,
        None,
        None,
        None,
    ]


def test_lines_split_on_carriage_returns_and_newlines_keep_the_unfinished_tail() -> None:
    lines = OutputLines()
    assert lines.feed("steps: 1\rsteps: 2\r\nepo") == ["steps: 1", "steps: 2"]
    assert lines.feed("ch 1/2") == []
    assert lines.feed("\n\n") == ["epoch 1/2"]
    assert lines.feed("Traceback") == []
    assert lines.flush() == ["Traceback"]
    assert lines.flush() == []


def test_the_progress_message() -> None:
    assert (
        describe(epoch=3, epochs=10, step=120, steps=400, loss=0.0831, speed="1.9 it/s")
        == "epoch 3 of 10 · step 120 of 400 · loss 0.083 · 1.9 it/s"
    )
    assert describe(epoch=None, epochs=10, step=0, steps=400, loss=None, speed="") == "step 0 of 400"


def test_the_latest_redraw_is_readable_before_the_next_begins() -> None:
    lines = OutputLines()
    assert lines.feed("\rsteps:  50%|█████     | 3/6 [00:01<00:01, 2.00it/s, avr_loss=0.1") == []
    assert parse_line(lines.unfinished) is None  # cut inside the postfix: not a redraw yet
    assert lines.feed("2]") == []
    assert parse_line(lines.unfinished) == StepProgress(
        step=3, total=6, elapsed_seconds=1, eta_seconds=1, speed="2.00 it/s", loss=0.12
    )

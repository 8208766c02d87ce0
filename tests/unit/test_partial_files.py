"""The start-up sweep removes exactly what the studio had not finished writing."""

from __future__ import annotations

from pathlib import Path

from services.partial_files import TEMP_FOLDER, sweep_partial_files


def test_the_sweep_removes_temp_names_and_the_temp_folder_and_keeps_everything_else(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shots = data / "projects/1/scenes/a/shots"
    shots.mkdir(parents=True)
    kept = [
        shots / "shot.mp4",
        shots / "part.png",  # "part" in a visible name is an ordinary file
        shots / ".hidden-note",
        data / "studio.db",
        data / "studio.db-wal",
    ]
    partial = [
        shots / ".shot.mp4.1a2b3c4d.part",
        shots / ".shot.part.mp4",
        shots / ".frame.1a2b3c4d.part.png",
        data / "projects/1/.cover.jpg.5e6f7a8b.tmp",
        data / f"{TEMP_FOLDER}/.ses",
        data / f"{TEMP_FOLDER}/gradio/upload.bin",
    ]
    frames = data / "staging/x/.frames-k2j4.part"
    frames.mkdir(parents=True)
    (frames / "000001.png").write_bytes(b"png")
    for path in kept + partial:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    outside = tmp_path / ".elsewhere.part"
    outside.write_bytes(b"x")
    (data / ".link.part").symlink_to(outside)  # the link goes, not what it points to

    assert sweep_partial_files(data) == 8  # 4 temp names, the link, 2 in the temp folder, the frames folder
    assert all(path.exists() for path in kept) and outside.exists()
    assert not any(path.exists() for path in partial) and not frames.exists()
    assert (data / TEMP_FOLDER).is_dir()  # emptied, not removed: it is the studio's TMPDIR
    assert sweep_partial_files(data) == 0

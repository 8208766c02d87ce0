from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def studio_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """main.py builds the studio from the environment: give each UI test its own data folder."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data_dir))
    return data_dir

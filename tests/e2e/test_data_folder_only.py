"""A real studio process writes nothing outside its data folder while its in-process models run: not in the
home folder (onnxruntime's cache database), not in the system's temp folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dataset_helpers import drawing
from tests.fakes.echo_brain import FakeEchoBrain
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def echo() -> Iterator[FakeEchoBrain]:
    with FakeEchoBrain() as fake:
        yield fake


def test_triage_and_the_assistant_write_only_into_the_data_folder(tmp_path: Path, echo: FakeEchoBrain) -> None:
    home, temp = tmp_path / "home", tmp_path / "system-tmp"
    home.mkdir()
    temp.mkdir()
    outside = {"HOME": str(home), "TMPDIR": str(temp), "XDG_CACHE_HOME": str(home / ".cache")}
    studio = StudioProcess(tmp_path / "data", {**outside, "STUDIO_ECHO_BRAIN_URL": echo.url})
    with studio, httpx.Client(base_url=studio.url, timeout=60) as api:
        project = api.post("/api/projects", json={"name": "Harbour Lights"}).json()
        rin = api.post(f"/api/projects/{project['id']}/characters", json={"name": "Rin"}).json()
        files = [("files", (f"rin{i}.png", drawing(i), "image/png")) for i in range(2)]
        job = api.post("/api/ingest/images", data={"character_id": str(rin["id"])}, files=files).json()
        deadline = time.monotonic() + 60
        while (state := api.get(f"/api/jobs/{job['id']}").json()["state"]) in ("queued", "running"):
            assert time.monotonic() < deadline, "the ingest job did not finish"
            time.sleep(0.1)
        assert state == "succeeded"
        triaged = api.get("/api/images", params={"project_id": project["id"]}).json()["items"]
        assert len(triaged) == 2 and all("nsfw" in image["triage"]["values"] for image in triaged), triaged
        turn = api.post("/api/assistant/ask", json={"project_id": project["id"], "question": "Who is Rin?"})
        assert turn.status_code == 200 and turn.json()["answer"]["state"] == "done", turn.text
    assert sorted(home.rglob("*")) == [] and sorted(temp.rglob("*")) == []

"""Protocol-faithful fake backend servers on loopback, for integration tests."""

from tests.fakes.ace_step import FakeAceStep
from tests.fakes.base import FakeServer, RecordedRequest
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.echo_brain import FakeEchoBrain
from tests.fakes.jellyfin import FakeJellyfin
from tests.fakes.ollama import FakeOllama

__all__ = [
    "FakeAceStep",
    "FakeComfyUI",
    "FakeEchoBrain",
    "FakeJellyfin",
    "FakeOllama",
    "FakeServer",
    "RecordedRequest",
]

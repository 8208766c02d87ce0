"""Run the real studio (`python main.py`) as a separate process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StudioProcess:
    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A clean environment: pytest's and NiceGUI's own variables would switch NiceGUI into test mode.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "NICEGUI", "STUDIO_"))}
        self.env = {**base, "STUDIO_DATA_DIR": str(data_dir), "STUDIO_PORT": str(self.port), **(env or {})}
        self.log_path = data_dir.parent / f"studio-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None

    def start(self, timeout: float = 60.0) -> StudioProcess:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "main.py"], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the studio exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    self.started_in = time.monotonic() - began
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the studio did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> StudioProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

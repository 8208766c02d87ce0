"""A fake of FramePack's own Gradio app (lllyasviel/FramePack `demo_gradio.py` / `demo_gradio_f1.py`).

It is a real `gradio.Blocks` app with the same inputs, outputs and endpoint names (`/process`,
`/end_process`), served on loopback, so the studio's gradio_client code runs unchanged against the real
protocol (upload, queue, streamed generator outputs, file download, cancellation). `process` streams
progress the way FramePack does (latent preview, a description, an HTML progress bar) and ends with a tiny
30 fps MP4 made by ffmpeg at the requested length.

Knobs: `fail_next(message)` makes the next run raise a `gr.Error`; `hold()` / `release()` pause a run
after its first progress update; `calls` records each run's inputs; `ended` counts `/end_process` calls.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

import gradio as gr
import numpy as np

from tests.fakes.base import server_folder

_SECTION_FRAMES = 9 * 4  # latent_window_size 9, 4 frames per latent
# FramePack's diffusers_helper/gradio/progress_bar.py markup, with its *number* and *text* filled in.
_PROGRESS_HTML = """
<div class="loader-container">
  <div class="loader"></div>
  <div class="progress-container">
    <progress value="{number}" max="100"></progress>
  </div>
  <span>{text}</span>
</div>
"""


class FakeFramePackGradio:
    """Use as a context manager, or call start() / stop()."""

    def __init__(self, *, step_seconds: float = 0.02, f1: bool = False) -> None:
        self.step_seconds = step_seconds
        self.f1 = f1
        self.calls: list[dict[str, Any]] = []
        self.ended = 0
        self._fail: str | None = None
        self._released = threading.Event()
        self._released.set()
        self._stop = threading.Event()
        self._work = server_folder("fake-framepack-")
        self.port: int | None = None
        self.app = self._build()

    # --- knobs -----------------------------------------------------------------------------------

    def fail_next(self, message: str) -> None:
        self._fail = message

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the fake FramePack app was never started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.port = _free_port()
        self.app.launch(
            server_name="127.0.0.1",
            server_port=self.port,
            prevent_thread_lock=True,
            quiet=True,
            show_error=True,
        )
        return self.url

    def stop(self) -> None:
        self._stop.set()
        self._released.set()
        self.app.close()
        shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- the app ---------------------------------------------------------------------------------

    def _build(self) -> gr.Blocks:
        block = gr.Blocks(title="FramePack-F1" if self.f1 else "FramePack").queue()
        with block:
            gr.Markdown("# FramePack-F1" if self.f1 else "# FramePack")
            input_image = gr.Image(sources="upload", type="numpy", label="Image", height=320)
            prompt = gr.Textbox(label="Prompt", value="")
            start_button = gr.Button(value="Start Generation")
            end_button = gr.Button(value="End Generation", interactive=False)
            use_teacache = gr.Checkbox(label="Use TeaCache", value=True)
            n_prompt = gr.Textbox(label="Negative Prompt", value="", visible=False)
            seed = gr.Number(label="Seed", value=31337, precision=0)
            total_second_length = gr.Slider(label="Total Video Length (Seconds)", minimum=1, maximum=120, value=5)
            latent_window_size = gr.Slider(label="Latent Window Size", minimum=1, maximum=33, value=9, visible=False)
            steps = gr.Slider(label="Steps", minimum=1, maximum=100, value=25, step=1)
            cfg = gr.Slider(label="CFG Scale", minimum=1.0, maximum=32.0, value=1.0, visible=False)
            gs = gr.Slider(label="Distilled CFG Scale", minimum=1.0, maximum=32.0, value=10.0)
            rs = gr.Slider(label="CFG Re-Scale", minimum=0.0, maximum=1.0, value=0.0, visible=False)
            gpu_memory_preservation = gr.Slider(label="GPU Inference Preserved Memory (GB)", minimum=6, maximum=128)
            mp4_crf = gr.Slider(label="MP4 Compression", minimum=0, maximum=100, value=16, step=1)
            preview_image = gr.Image(label="Next Latents", height=200, visible=False)
            result_video = gr.Video(label="Finished Frames", autoplay=True, height=512, loop=True)
            progress_desc = gr.Markdown("")
            progress_bar = gr.HTML("")
            ips = [
                input_image,
                prompt,
                n_prompt,
                seed,
                total_second_length,
                latent_window_size,
                steps,
                cfg,
                gs,
                rs,
                gpu_memory_preservation,
                use_teacache,
                mp4_crf,
            ]
            outputs = [result_video, preview_image, progress_desc, progress_bar, start_button, end_button, seed]
            start_button.click(fn=self.process, inputs=ips, outputs=outputs)
            end_button.click(fn=self.end_process)
        return block

    def process(
        self,
        input_image: np.ndarray | None,
        prompt: str,
        n_prompt: str,
        seed: float,
        total_second_length: float,
        latent_window_size: float,
        steps: float,
        cfg: float,
        gs: float,
        rs: float,
        gpu_memory_preservation: float,
        use_teacache: bool,
        mp4_crf: float,
    ) -> Iterator[tuple[Any, ...]]:
        """FramePack's generator: a start, one progress update per sampling step and section, the video."""
        assert input_image is not None, "No input image!"
        call = {
            "image_shape": tuple(input_image.shape),
            "prompt": prompt,
            "n_prompt": n_prompt,
            "seed": seed,
            "total_second_length": total_second_length,
            "latent_window_size": latent_window_size,
            "steps": steps,
            "cfg": cfg,
            "gs": gs,
            "rs": rs,
            "gpu_memory_preservation": gpu_memory_preservation,
            "use_teacache": use_teacache,
            "mp4_crf": mp4_crf,
        }
        self.calls.append(call)
        self._stop.clear()
        ended_before = self.ended
        yield None, None, "", "", gr.update(interactive=False), gr.update(interactive=True), gr.skip()
        if self._fail is not None:
            message, self._fail = self._fail, None
            raise gr.Error(message)
        sections = max(1, round(total_second_length * 30 / (latent_window_size * 4)))
        steps_count = int(steps)
        preview = np.full((16, 16, 3), 128, dtype=np.uint8)
        generated_latents = 0
        for _section in range(sections):
            for step in range(1, steps_count + 1):
                if self.ended != ended_before or self._stop.is_set():
                    yield None, gr.update(visible=False), gr.update(), "", *_idle()
                    return
                percentage = int(100.0 * step / steps_count)
                frames = max(0, generated_latents * 4 - 3)
                desc = (
                    f"Total generated frames: {frames}, Video length: {frames / 30:.2f} seconds (FPS-30)."
                    " The video is being extended now ..."
                )
                html = _PROGRESS_HTML.format(number=percentage, text=f"Sampling {step}/{steps_count}")
                yield gr.update(), gr.update(visible=True, value=preview), desc, html, *_busy()
                while step == 1 and _section == 0 and not self._released.wait(0.05):
                    if self.ended != ended_before or self._stop.is_set():
                        break  # FramePack's worker checks for "end" between sampling steps
                time.sleep(self.step_seconds)
            generated_latents += int(latent_window_size)
        video = self._render(sections * _SECTION_FRAMES + 1, int(mp4_crf))
        yield video, gr.update(visible=False), gr.update(), "", *_idle()

    def end_process(self) -> None:
        self.ended += 1

    def _render(self, frames: int, crf: int) -> str:
        ffmpeg = shutil.which("ffmpeg")
        assert ffmpeg is not None, "ffmpeg is needed"
        out = self._work / f"{time.time_ns()}_{frames}.mp4"
        subprocess.run(
            [
                ffmpeg,
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x80:rate=30",
                "-frames:v",
                str(frames),
                "-c:v",
                "libx264",
                "-crf",
                str(crf),
                "-pix_fmt",
                "yuv420p",
                str(out),
            ],
            check=True,
        )
        return str(out)


def _busy() -> tuple[Any, Any, Any]:
    return gr.update(interactive=False), gr.update(interactive=True), gr.skip()


def _idle() -> tuple[Any, Any, Any]:
    return gr.update(interactive=True), gr.update(interactive=False), gr.skip()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

"""How the studio starts every child program (ffmpeg, ffprobe, espeak-ng, yt-dlp): one place, safe next to the
models that run inside the studio, and tied to the studio's life.

Safe next to the models. The assistant's embeddings (numpy, OpenBLAS), triage and Piper (onnxruntime) and
Whisper (CTranslate2, OpenMP) keep thread pools, and OpenBLAS registers a fork handler that joins its pool.
A child started with fork() runs those handlers in the forking thread: uvloop (libuv) forks from the event loop
while holding the GIL, and gdb shows it stuck in fork() -> OpenBLAS's blas_thread_shutdown_ -> pthread_join on
a pool thread that never ends, while the threads computing with numpy wait for the GIL: the whole studio hangs
for good (two threads of matrix products while uvloop spawns `true`: 4 hangs in 4 runs). CPython's subprocess
starts children with vfork (or posix_spawn), which runs no fork handlers at all, so it holds for every model,
present or future, whatever its library registers: 0 hangs in 14 runs of the same measurement. Hence
the studio serves on asyncio's own loop (`EVENT_LOOP`, passed to uvicorn by main.py) and `spawn` refuses any
other loop and never takes a preexec_fn (which would force a fork).

Tied to the studio's life. Each child runs under util-linux's `setpriv --pdeathsig KILL`, so the kernel kills
it when the studio dies, even by SIGKILL, instead of leaving an ffmpeg writing into the data folder. The signal
follows the thread that started the child: that is the event loop's thread, which lives as long as the studio.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import shutil
from typing import Any

from services.errors import StudioError

log = logging.getLogger(__name__)

# uvicorn's name for asyncio's own event loop (its default, "auto", picks uvloop when it is installed).
EVENT_LOOP = "asyncio"
SETPRIV_HINT = "install util-linux (`sudo apt-get install -y util-linux`)"


async def spawn(program: str, *args: str, **options: Any) -> asyncio.subprocess.Process:
    """Start `program` with `args` as an asyncio child process; `options` are create_subprocess_exec's.

    FileNotFoundError when the program is not installed; StudioError when called on an event loop that forks.
    """
    if "preexec_fn" in options:
        raise StudioError("a child of the studio cannot take a preexec_fn: it forces fork(), which can hang the studio")
    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.BaseEventLoop):
        raise StudioError(
            f"the studio starts programs only from asyncio's own event loop, not {type(loop).__module__}'s, whose "
            "fork() can hang next to the models running in process; start the studio with `python main.py`"
        )
    path = _resolve(program)
    guard = _death_guard()
    return await asyncio.create_subprocess_exec(*guard, path, *args, **options)


def _resolve(program: str) -> str:
    """The program's path; a missing one fails here as it would without the wrapper, not inside setpriv."""
    path = program if os.sep in program else shutil.which(program)
    if path is None or not os.access(path, os.X_OK):
        raise FileNotFoundError(errno.ENOENT, f"{program} is not installed", program)
    return path


@functools.cache
def _death_guard() -> tuple[str, ...]:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        log.warning("setpriv is missing: children of the studio may outlive it after a crash; %s", SETPRIV_HINT)
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--")

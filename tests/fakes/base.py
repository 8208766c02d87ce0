"""A real HTTP server on loopback for tests: a FastAPI app served by uvicorn in a background thread.

Fakes speak the real protocol over a real socket, so the code under test runs unchanged (real httpx,
real timeouts, real connection errors). Knobs shared by every fake:

* `latency`: seconds added before each response (to test timeouts);
* `fail_with`: an HTTP status every request is answered with (e.g. 500), or None;
* `down`: True closes the listening socket (connection refused), False listens again on the same port.

Subclasses set their own attributes, then call `super().__init__(...)`, and add routes by overriding
`register_routes(app)` (call `super().register_routes(app)` first when extending another fake).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

_START_TIMEOUT = 10.0
# The machine's temp folder as it was when the fakes were imported (at collection). A studio started by a test
# points the process's temp folder into its data folder and empties it while it starts; a real server keeps
# its files in its own folders, so a fake's folders must not live there.
_MACHINE_TEMP = Path(tempfile.gettempdir())


def server_folder(prefix: str) -> Path:
    """A new folder for a fake server's own files (its inputs, outputs, work)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_MACHINE_TEMP))


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names, as received


class FakeServer:
    """Base of all fakes. Use as a context manager, or call start() / stop()."""

    def __init__(self, *, latency: float = 0.0, fail_with: int | None = None) -> None:
        self.latency = latency
        self.fail_with = fail_with
        self.requests: list[RecordedRequest] = []
        self.app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        self.app.middleware("http")(self._knobs)
        self.register_routes(self.app)
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        # Set on stop (inside the server's loop): cuts `latency` waits short, so shutdown neither waits
        # for nor cancels them.
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- what subclasses provide -----------------------------------------------------------------

    def register_routes(self, app: FastAPI) -> None:
        """Add the service's routes to `app`. The base has none."""

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the fake server was never started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Listen (on a free port the first time, on the same port after that); returns the base URL."""
        if self._server is not None:
            return self.url
        sock = _listening_socket(self.port or 0)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            lifespan="off",
            log_level="warning",
            log_config=None,  # leave the test run's logging configuration alone
            access_log=False,
            timeout_graceful_shutdown=_START_TIMEOUT,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(server, sock)),
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"{type(self).__name__} did not start on port {self.port}")
            time.sleep(0.005)
        self._server, self._thread = server, thread
        return self.url

    def stop(self) -> None:
        """Stop listening and close connections; in-flight `latency` sleeps end early."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        if self._loop is not None and self._stopping is not None and thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)

    @property
    def down(self) -> bool:
        return self._server is None

    @down.setter
    def down(self, value: bool) -> None:
        if value:
            self.stop()
        else:
            self.start()

    def reset(self) -> None:
        """Back to a healthy, listening server with an empty request log (for fakes shared by tests)."""
        self.latency = 0.0
        self.fail_with = None
        self.requests.clear()
        self.down = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- shared behaviour ------------------------------------------------------------------------

    async def _knobs(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers={k.lower(): v for k, v in request.headers.items()},
            )
        )
        await self._delay()
        if self.fail_with is not None:
            return JSONResponse({"error": f"fake failure {self.fail_with}"}, status_code=self.fail_with)
        return await call_next(request)

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await server.serve(sockets=[sock])

    async def _delay(self) -> None:
        if self.latency <= 0 or self._stopping is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.latency)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests for one path, oldest first."""
        return [r for r in self.requests if r.path == path]


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # SO_REUSEADDR lets a fake that was set `down` listen again on its old port right away.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock

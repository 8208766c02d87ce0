"""HTTP side of the ComfyUI protocol (comfyui-protocol.md §2-§8), with every documented trap handled.

* Every prompt carries our `client_id` (without it the server sends us no execution events) and a
  canonical UUID `prompt_id` (newer servers reject anything else).
* A 200 whose `node_errors` is not empty means some outputs were silently dropped: that is a rejection.
* Inputs travel by `/upload/image` and outputs by `/view`: the studio never assumes a shared disk.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from services.comfyui.errors import ComfyUnavailable, PromptRejected, describe_node_errors
from services.comfyui.outcome import OutputFile, PromptOutcome, parse_history_entry


@dataclass(frozen=True)
class QueueSnapshot:
    running: tuple[str, ...]
    pending: tuple[str, ...]  # in execution order (the server's list is heap-ordered)
    graphs: Mapping[str, Any] = field(default_factory=dict)  # prompt id → the API graph it runs
    clients: Mapping[str, str] = field(default_factory=dict)  # prompt id → the client id that queued it

    def holds(self, prompt_id: str) -> bool:
        return prompt_id in self.running or prompt_id in self.pending


class ComfyClient:
    """One ComfyUI server. Methods raise ComfyUnavailable when it cannot be reached or errs."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id or uuid.uuid4().hex
        # trust_env=False: ComfyUI is a LAN service; a desktop's HTTP(S)_PROXY would misroute it.
        self._http = http or httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, trust_env=False, headers={"User-Agent": "anime-studio"}
        )
        self._owns_http = http is None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- prompts ---------------------------------------------------------------------------------

    async def submit(
        self,
        graph: dict[str, Any],
        *,
        prompt_id: str | None = None,
        extra_data: dict[str, Any] | None = None,
        front: bool = False,
    ) -> str:
        """Queue an API-format graph; returns its prompt id. PromptRejected: the server refused it."""
        prompt_id = prompt_id or str(uuid.uuid4())
        body: dict[str, Any] = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id}
        if extra_data:
            body["extra_data"] = extra_data
        if front:
            body["front"] = True
        response = await self._request("POST", "/prompt", json=body, accept=(200, 400))
        answer = _json(response)
        node_errors = answer.get("node_errors") or {}
        if response.status_code == 400:
            error = answer.get("error") or {}
            error_type = str(error.get("type") or "rejected") if isinstance(error, dict) else "rejected"
            message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
            details = str(error.get("details") or "") if isinstance(error, dict) else ""
            problems = describe_node_errors(node_errors)
            if not problems and details:
                problems = [f"{message}: {details}" if message else details]
            raise PromptRejected(self.base_url, error_type, message, problems)
        if node_errors:
            # Queued anyway with the failing outputs dropped: the job would come back incomplete.
            await self.delete_queued([str(answer.get("prompt_id") or prompt_id)])
            raise PromptRejected(
                self.base_url, "outputs_dropped", "some outputs failed validation", describe_node_errors(node_errors)
            )
        return str(answer.get("prompt_id") or prompt_id)

    async def history(self, prompt_id: str) -> PromptOutcome | None:
        """The finished prompt, or None while it is queued, running or unknown to the server."""
        answer = _json(await self._request("GET", f"/history/{prompt_id}"))
        entry = answer.get(prompt_id)
        return parse_history_entry(prompt_id, entry) if isinstance(entry, dict) else None

    async def recent(self, max_items: int = 1000) -> list[PromptOutcome]:
        """The newest finished prompts the server still remembers (its history is in memory only)."""
        answer = _json(await self._request("GET", "/history", params={"max_items": max_items}))
        return [parse_history_entry(pid, entry) for pid, entry in answer.items() if isinstance(entry, dict)]

    async def queue(self) -> QueueSnapshot:
        answer = _json(await self._request("GET", "/queue"))
        graphs: dict[str, Any] = {}
        clients: dict[str, str] = {}

        def ids(items: Any) -> list[tuple[float, str]]:
            out = []
            for item in items or []:
                if isinstance(item, list) and len(item) >= 2:
                    try:
                        out.append((float(item[0]), str(item[1])))
                    except (TypeError, ValueError):
                        continue
                    if len(item) >= 3:
                        graphs[str(item[1])] = item[2]
                    if len(item) >= 4 and isinstance(item[3], dict) and item[3].get("client_id") is not None:
                        clients[str(item[1])] = str(item[3]["client_id"])
            return sorted(out)

        return QueueSnapshot(
            running=tuple(pid for _, pid in ids(answer.get("queue_running"))),
            pending=tuple(pid for _, pid in ids(answer.get("queue_pending"))),
            graphs=graphs,
            clients=clients,
        )

    async def delete_queued(self, prompt_ids: list[str]) -> None:
        """Remove prompts that have not started yet (a running one needs `interrupt`)."""
        await self._request("POST", "/queue", json={"delete": prompt_ids})

    async def interrupt(self, prompt_id: str) -> None:
        """Stop `prompt_id` if it is the running prompt; a no-op otherwise (never a global interrupt)."""
        await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    async def free(self, *, unload_models: bool = True, free_memory: bool = False) -> None:
        """Ask the server to unload models after its current prompt (it only sets flags)."""
        await self._request("POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory})

    # --- files -----------------------------------------------------------------------------------

    async def upload_image(self, data: bytes, name: str, *, subfolder: str = "", overwrite: bool = True) -> str:
        """Put an input image on the server; returns the `LoadImage.image` value ("subfolder/name")."""
        files = {"image": (name, data, "application/octet-stream")}
        form = {"type": "input", "subfolder": subfolder, "overwrite": "true" if overwrite else "false"}
        answer = _json(await self._request("POST", "/upload/image", files=files, data=form))
        stored, folder = str(answer.get("name") or name), str(answer.get("subfolder") or "")
        return f"{folder}/{stored}" if folder else stored

    async def download(self, file: OutputFile) -> bytes:
        params = {"filename": file.filename, "subfolder": file.subfolder, "type": file.type}
        return (await self._request("GET", "/view", params=params)).content

    # --- catalogue -------------------------------------------------------------------------------

    async def object_info(self) -> dict[str, Any]:
        return _json(await self._request("GET", "/object_info"))

    async def node_info(self, class_type: str) -> dict[str, Any] | None:
        """One node class's `/object_info` entry, or None when the server lacks it (its pack is not installed)."""
        answer = _json(await self._request("GET", f"/object_info/{quote(class_type, safe='')}"))
        info = answer.get(class_type)
        return info if isinstance(info, dict) else None

    async def model_folders(self) -> list[str]:
        answer = (await self._request("GET", "/models")).json()
        return [str(name) for name in answer] if isinstance(answer, list) else []

    async def models(self, folder: str) -> list[str]:
        """Files in one model folder; empty when the server does not know the folder."""
        response = await self._request("GET", f"/models/{folder}", accept=(200, 404))
        if response.status_code == 404:
            return []
        answer = response.json()
        return [str(name) for name in answer] if isinstance(answer, list) else []

    async def system_stats(self) -> dict[str, Any]:
        return _json(await self._request("GET", "/system_stats"))

    # --- transport -------------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, accept: tuple[int, ...] = (200,), **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ComfyUnavailable(f"ComfyUI at {self.base_url} did not answer {method} {path} in time") from exc
        except httpx.HTTPError as exc:
            raise ComfyUnavailable(f"ComfyUI at {self.base_url} is unreachable ({exc.__class__.__name__})") from exc
        if response.status_code not in accept:
            snippet = response.text[:200].strip()
            raise ComfyUnavailable(
                f"ComfyUI at {self.base_url} answered {method} {path} with HTTP {response.status_code}"
                + (f": {snippet}" if snippet else "")
            )
        return response


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except json.JSONDecodeError as exc:
        raise ComfyUnavailable(f"ComfyUI answered {response.request.url.path} with non-JSON text") from exc
    return answer if isinstance(answer, dict) else {}

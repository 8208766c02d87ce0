"""A finished prompt as ComfyUI's history tells it: status, output files, failure and timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

OutcomeStatus = Literal["success", "error", "interrupted"]


@dataclass(frozen=True)
class OutputFile:
    """One file an output node wrote; fetch it with `ComfyClient.download`."""

    node_id: str
    key: str  # "images", "gifs", "videos", "latents", ... (never assume "images")
    filename: str
    subfolder: str
    type: str  # output | temp | input
    format: str | None = None  # VHS reports a mime-like "video/h264-mp4"
    animated: bool = False

    @property
    def is_video(self) -> bool:
        lowered = self.filename.lower()
        return lowered.endswith((".mp4", ".webm", ".mov", ".mkv", ".gif")) or (self.format or "").startswith("video/")

    @property
    def is_image(self) -> bool:
        return not self.is_video and self.filename.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))


@dataclass(frozen=True)
class ExecutionFailure:
    node_id: str | None
    node_type: str | None
    exception_type: str
    message: str

    def describe(self) -> str:
        where = f" in node {self.node_id} ({self.node_type})" if self.node_id else ""
        return f"{self.exception_type}{where}: {self.message}".strip()


@dataclass(frozen=True)
class PromptOutcome:
    prompt_id: str
    status: OutcomeStatus
    outputs: tuple[OutputFile, ...]
    failure: ExecutionFailure | None
    started_ms: int | None
    finished_ms: int | None

    @property
    def seconds(self) -> float | None:
        """Execution wall time on the server (what the GPU spent on it), from history timestamps."""
        if self.started_ms is None or self.finished_ms is None:
            return None
        return max(0.0, (self.finished_ms - self.started_ms) / 1000)


def parse_history_entry(prompt_id: str, entry: dict[str, Any]) -> PromptOutcome:
    """Read one `/history/{id}` entry (protocol §4); tolerant of keys newer servers add."""
    status = entry.get("status") or {}
    messages = [m for m in status.get("messages") or [] if isinstance(m, list | tuple) and len(m) == 2]
    by_type = {kind: data for kind, data in messages if isinstance(data, dict)}
    started = by_type.get("execution_start", {}).get("timestamp")
    finished_event = next(
        (kind for kind in ("execution_success", "execution_error", "execution_interrupted") if kind in by_type), None
    )
    finished = by_type.get(finished_event, {}).get("timestamp") if finished_event else None
    failure: ExecutionFailure | None = None
    outcome: OutcomeStatus
    if "execution_interrupted" in by_type:
        outcome = "interrupted"
    elif status.get("status_str") == "success" or (status.get("completed") and "execution_error" not in by_type):
        outcome = "success"
    else:
        outcome = "error"
        data = by_type.get("execution_error", {})
        failure = ExecutionFailure(
            node_id=_text(data.get("node_id")),
            node_type=_text(data.get("node_type")),
            exception_type=str(data.get("exception_type") or "error"),
            message=str(data.get("exception_message") or status.get("status_str") or "execution failed").strip(),
        )
    return PromptOutcome(
        prompt_id=prompt_id,
        status=outcome,
        outputs=tuple(_outputs(entry.get("outputs") or {})),
        failure=failure,
        started_ms=_int(started),
        finished_ms=_int(finished),
    )


def _outputs(outputs: dict[str, Any]) -> list[OutputFile]:
    files: list[OutputFile] = []
    for node_id, node_output in outputs.items():
        if not isinstance(node_output, dict):
            continue
        animated = any(bool(flag) for flag in node_output.get("animated") or [])
        for key, items in node_output.items():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    files.append(
                        OutputFile(
                            node_id=str(node_id),
                            key=key,
                            filename=item["filename"],
                            subfolder=str(item.get("subfolder") or ""),
                            type=str(item.get("type") or "output"),
                            format=item.get("format"),
                            animated=animated,
                        )
                    )
    return files


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

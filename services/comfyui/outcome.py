"""A finished prompt as ComfyUI's history tells it: status, output files, failure and timing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

OutcomeStatus = Literal["success", "error", "interrupted"]

# What a run-time failure is usually about: a file the node loads (a model, a LoRA, an image, a video).
_FILE_SUFFIXES = (
    ".safetensors",
    ".ckpt",
    ".pt",
    ".pth",
    ".bin",
    ".gguf",
    ".sft",
    ".onnx",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".gif",
    ".mp4",
    ".webm",
    ".mov",
    ".mkv",
    ".latent",
)


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
    node_title: str | None = None  # the node's `_meta.title` in the graph we submitted
    inputs: tuple[tuple[str, str], ...] = ()  # the inputs it most likely failed on, e.g. ("lora_name", "x.safetensors")

    def describe(self) -> str:
        """E.g. "RuntimeError in Load LoRA (node 4, LoraLoader) with lora_name=broken.safetensors: …"."""
        where = ""
        if self.node_id:
            title = self.node_title if self.node_title and self.node_title != self.node_type else None
            where = (
                f" in {title} (node {self.node_id}, {self.node_type})"
                if title
                else f" in node {self.node_id} ({self.node_type})"
            )
        with_inputs = " with " + ", ".join(f"{name}={value}" for name, value in self.inputs) if self.inputs else ""
        return f"{self.exception_type}{where}{with_inputs}: {self.message}".strip()


def failure_from_event(data: Mapping[str, Any], graph: Any = None) -> ExecutionFailure:
    """An `execution_error` event (or history message) as a failure; `graph` (the prompt) gives node titles."""
    node_id = _text(data.get("node_id"))
    message = str(data.get("exception_message") or "execution failed").strip()
    return ExecutionFailure(
        node_id=node_id,
        node_type=_text(data.get("node_type")),
        exception_type=str(data.get("exception_type") or "error"),
        message=message,
        node_title=node_titles(graph).get(node_id) if node_id else None,
        inputs=failed_inputs(data.get("current_inputs"), message),
    )


def node_titles(graph: Any) -> dict[str, str]:
    """Node id → what a person calls the node: its `_meta.title` in an API-format graph, else its class."""
    if not isinstance(graph, Mapping):
        return {}
    titles: dict[str, str] = {}
    for node_id, node in graph.items():
        if isinstance(node, Mapping):
            meta = node.get("_meta")
            title = meta.get("title") if isinstance(meta, Mapping) else None
            name = title or node.get("class_type")
            if isinstance(name, str) and name:
                titles[str(node_id)] = name
    return titles


def failed_inputs(current_inputs: Any, message: str) -> tuple[tuple[str, str], ...]:
    """The literal inputs a run-time error is most likely about: those its message quotes, else the file names.

    `current_inputs` is the event's `{name: [value, ...]}`; linked inputs arrive as "<MODEL object at 0x…>".
    """
    if not isinstance(current_inputs, Mapping):
        return ()
    texts: list[tuple[str, str]] = []
    for name, values in current_inputs.items():
        first = values[0] if isinstance(values, list) and values else values
        if isinstance(first, str) and first and not (first.startswith("<") and " object at 0x" in first):
            texts.append((str(name), first))
    quoted = tuple((name, value) for name, value in texts if len(value) >= 3 and value in message)
    return quoted or tuple((name, value) for name, value in texts if value.lower().endswith(_FILE_SUFFIXES))


@dataclass(frozen=True)
class PromptOutcome:
    prompt_id: str
    status: OutcomeStatus
    outputs: tuple[OutputFile, ...]
    failure: ExecutionFailure | None
    started_ms: int | None
    finished_ms: int | None
    # Text an output node reported instead of files, by node id and key: WD14Tagger's {"tags": ["a, b"]}.
    texts: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def started_at(self) -> datetime | None:
        """When the server began executing the prompt (its `execution_start`)."""
        return None if self.started_ms is None else datetime.fromtimestamp(self.started_ms / 1000, UTC)

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
        prompt = entry.get("prompt")
        graph = prompt[2] if isinstance(prompt, list) and len(prompt) > 2 else None
        failure = failure_from_event(by_type.get("execution_error", {}), graph)
    return PromptOutcome(
        prompt_id=prompt_id,
        status=outcome,
        outputs=tuple(_outputs(entry.get("outputs") or {})),
        failure=failure,
        started_ms=_int(started),
        finished_ms=_int(finished),
        texts=_texts(entry.get("outputs") or {}),
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


def _texts(outputs: dict[str, Any]) -> dict[str, dict[str, tuple[str, ...]]]:
    texts: dict[str, dict[str, tuple[str, ...]]] = {}
    for node_id, node_output in outputs.items():
        if not isinstance(node_output, dict):
            continue
        for key, items in node_output.items():
            if isinstance(items, list) and items and all(isinstance(item, str) for item in items):
                texts.setdefault(str(node_id), {})[key] = tuple(items)
    return texts


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

"""What can go wrong talking to ComfyUI, in sentences a user can act on."""

from __future__ import annotations

from typing import Any


class ComfyError(Exception):
    """Base of ComfyUI failures; the message names the server and, where possible, the fix."""


class ComfyUnavailable(ComfyError):
    """The server could not be reached or answered with a server error; the job may be retried later."""


class PromptRejected(ComfyError):
    """ComfyUI refused the graph (a 400, or a 200 whose `node_errors` dropped some outputs).

    `problems` lists one readable line per failing input, e.g.
    "node 3 (KSampler) sampler_name: Value not in list: sampler_name: 'x' not in (list of length 42)".
    """

    def __init__(self, base_url: str, error_type: str, message: str, problems: list[str]) -> None:
        self.error_type = error_type
        self.problems = problems
        detail = "; ".join(problems) if problems else message
        super().__init__(f"ComfyUI at {base_url} rejected the workflow ({error_type}): {detail}")


def describe_node_errors(node_errors: dict[str, Any]) -> list[str]:
    """One line per input error of a `node_errors` object (protocol §2)."""
    lines: list[str] = []
    for node_id, entry in sorted(node_errors.items(), key=lambda item: str(item[0])):
        class_type = entry.get("class_type", "?") if isinstance(entry, dict) else "?"
        errors = entry.get("errors", []) if isinstance(entry, dict) else []
        for error in errors or [{"message": "failed validation"}]:
            info = error.get("extra_info") or {}
            name = info.get("input_name")
            where = f"node {node_id} ({class_type})" + (f" {name}" if name else "")
            details = error.get("details") or ""
            text = error.get("message", "invalid")
            lines.append(f"{where}: {text}" + (f": {details}" if details and details != name else ""))
    return lines

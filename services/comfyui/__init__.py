"""ComfyUI: the HTTP client, the event socket, prompt outcomes, and preflight of what a server can run."""

from services.comfyui.client import ComfyClient, QueueSnapshot
from services.comfyui.errors import ComfyError, ComfyUnavailable, PromptRejected
from services.comfyui.outcome import ExecutionFailure, OutputFile, PromptOutcome, node_titles
from services.comfyui.preflight import (
    CheckpointReadiness,
    DeviceCapabilities,
    DevicePreflight,
    EngineReadiness,
    MissingModel,
    MissingNode,
    ServerInventory,
    StyleCheckpoint,
    check_device,
)
from services.comfyui.socket import (
    ComfySocket,
    Connected,
    Disconnected,
    NodeStarted,
    Preview,
    Progress,
    PromptFailed,
    PromptFinished,
    PromptInterrupted,
    PromptStarted,
    SocketMessage,
)

__all__ = [
    "CheckpointReadiness",
    "ComfyClient",
    "ComfyError",
    "ComfySocket",
    "ComfyUnavailable",
    "Connected",
    "DeviceCapabilities",
    "DevicePreflight",
    "Disconnected",
    "EngineReadiness",
    "ExecutionFailure",
    "MissingModel",
    "MissingNode",
    "NodeStarted",
    "OutputFile",
    "Preview",
    "Progress",
    "PromptFailed",
    "PromptFinished",
    "PromptInterrupted",
    "PromptOutcome",
    "PromptRejected",
    "PromptStarted",
    "QueueSnapshot",
    "ServerInventory",
    "SocketMessage",
    "StyleCheckpoint",
    "check_device",
    "node_titles",
]

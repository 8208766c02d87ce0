"""Why a connection failed, read from the exception chain (httpx hides errno behind two wrappers)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Unreachable:
    kind: Literal["refused", "unknown_host", "other"]
    reason: str  # the innermost cause, for the "other" kind


def why_unreachable(exc: BaseException) -> Unreachable:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(cause, ConnectionRefusedError) for cause in chain):
        return Unreachable("refused", "connection refused")
    if any(isinstance(cause, socket.gaierror) for cause in chain):
        return Unreachable("unknown_host", "unknown host name")
    return Unreachable("other", str(chain[-1]) or type(chain[-1]).__name__)

"""Live reachability, version and GPU memory of every configured backend service.

`BackendMonitor(settings, secrets, events)` plans one row per backend (`configured()`, instant) and
probes them all concurrently (`await probe_all()`), emitting `BackendReachabilityChanged` on changes.
"""

from services.backends.monitor import BackendMonitor
from services.backends.probes import NO_PREVIEWS
from services.backends.status import BackendKind, BackendState, BackendStatus, GpuMemory

__all__ = ["NO_PREVIEWS", "BackendKind", "BackendMonitor", "BackendState", "BackendStatus", "GpuMemory"]

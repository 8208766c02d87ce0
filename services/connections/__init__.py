"""GPU devices and services added, tested and removed in the app (Settings → Connections)."""

from services.connections.events import ConnectionChanged
from services.connections.service import SERVICES, Connections, DeviceView, ServiceSpec, ServiceView

__all__ = ["SERVICES", "ConnectionChanged", "Connections", "DeviceView", "ServiceSpec", "ServiceView"]

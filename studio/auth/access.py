"""Who is asking: the real client address, and whether it may skip the login.

The TCP peer is the only fact; forwarded headers are believed only when that peer is a configured
trusted proxy. The earlier system trusted X-Real-IP from anyone, so any client could claim to be
127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str | None) -> IpAddress | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `local` is the login-free identity of trusted networks."""

    name: str
    via: Literal["network", "token", "session"]

    @property
    def is_local(self) -> bool:
        return self.via == "network"


LOCAL = "local"


@dataclass(frozen=True)
class AccessPolicy:
    trusted_networks: tuple[IpNetwork, ...] = ()
    trusted_proxies: tuple[IpNetwork, ...] = ()

    @classmethod
    def of(cls, networks: Iterable[IpNetwork], proxies: Iterable[IpNetwork]) -> AccessPolicy:
        return cls(tuple(networks), tuple(proxies))

    def _is_proxy(self, address: IpAddress | None) -> bool:
        return address is not None and any(address in net for net in self.trusted_proxies)

    def client_address(self, peer: str | None, forwarded_for: str | None, real_ip: str | None) -> IpAddress | None:
        """The client behind the connection, walking proxy headers only from trusted proxies."""
        address = parse_address(peer)
        if not self._is_proxy(address):
            return address
        if forwarded_for:
            # Right to left: each hop was appended by the proxy before it; the first hop that is not
            # one of our proxies is the client. Anything further left was written by the client.
            hops = [parse_address(h) for h in forwarded_for.split(",")]
            for hop in reversed(hops):
                if hop is None:
                    return None
                if not self._is_proxy(hop):
                    return hop
            return hops[0]
        if real_ip:
            return parse_address(real_ip)
        # A proxy that forwards nothing hides its client: treat it as unknown, never as the proxy's
        # own (often loopback) address, or a local reverse proxy would open the studio to the world.
        return None

    def is_trusted(self, address: IpAddress | None) -> bool:
        """Loopback always; otherwise only the configured trusted networks."""
        if address is None:
            return False
        return address.is_loopback or any(address in net for net in self.trusted_networks)

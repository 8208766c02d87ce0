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
    # The account's access generation its token or page session carries (None for `local`): an
    # open socket is checked against it again on every page event.
    access_generation: int | None = None

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
        """The client behind the connection; None when it cannot be known (such a client must log in).

        Headers count only from a trusted proxy, and the studio cannot know which of them that proxy
        overwrites (nginx often sets X-Real-IP and passes the client's own X-Forwarded-For on; Caddy
        sets only X-Forwarded-For and passes a client's X-Real-IP on). So: X-Real-IP is the client;
        of X-Forwarded-For only the right-most hop that is not a trusted proxy is; when both headers
        are there they must name the same client, or one of them was written by the client.
        """
        address = parse_address(peer)
        if not self._is_proxy(address):
            return address
        if forwarded_for is None and real_ip is None:
            # A proxy that forwards nothing hides its client: never take the proxy's own (often
            # loopback) address for the client's, or a local reverse proxy would open the studio.
            return None
        named = [self._last_hop(forwarded_for)] if forwarded_for is not None else []
        if real_ip is not None:
            named.append(parse_address(real_ip))
        if None in named or len(set(named)) != 1:
            return None
        return named[0]

    def _last_hop(self, forwarded_for: str) -> IpAddress | None:
        # Right to left: each hop was appended by the proxy before it; the first hop that is not one
        # of our proxies is the client, anything further left the client wrote itself. A hop we
        # cannot read, or a chain of proxies only, names no client.
        for text in reversed(forwarded_for.split(",")):
            hop = parse_address(text)
            if not self._is_proxy(hop):
                return hop
        return None

    def is_trusted(self, address: IpAddress | None) -> bool:
        """Loopback always; otherwise only the configured trusted networks."""
        if address is None:
            return False
        return address.is_loopback or any(address in net for net in self.trusted_networks)

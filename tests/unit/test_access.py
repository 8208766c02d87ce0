import ipaddress

import pytest

from studio.auth import AccessPolicy, parse_address

LAN = ipaddress.ip_network("192.168.50.0/24")
PROXY = ipaddress.ip_network("10.0.0.5/32")


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_loopback_is_trusted_and_others_are_not() -> None:
    policy = AccessPolicy()
    assert policy.is_trusted(ip("127.0.0.1"))
    assert policy.is_trusted(ip("::1"))
    assert not policy.is_trusted(ip("192.168.50.7"))
    assert not policy.is_trusted(None)


def test_trusted_networks_skip_the_login() -> None:
    policy = AccessPolicy.of([LAN], [])
    assert policy.is_trusted(ip("192.168.50.7"))
    assert not policy.is_trusted(ip("192.168.51.7"))


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    policy = AccessPolicy.of([LAN], [])
    client = policy.client_address("203.0.113.9", "127.0.0.1", "127.0.0.1")
    assert client == ip("203.0.113.9")
    assert not policy.is_trusted(client)


def test_a_trusted_proxy_reports_the_real_client() -> None:
    policy = AccessPolicy.of([LAN], [PROXY])
    assert policy.client_address("10.0.0.5", "192.168.50.7", None) == ip("192.168.50.7")
    assert policy.client_address("10.0.0.5", None, "203.0.113.9") == ip("203.0.113.9")


def test_a_client_cannot_smuggle_a_trusted_address_through_the_proxy() -> None:
    # The client sent "X-Forwarded-For: 127.0.0.1"; the proxy appended the real address.
    policy = AccessPolicy.of([], [PROXY])
    client = policy.client_address("10.0.0.5", "127.0.0.1, 203.0.113.9", None)
    assert client == ip("203.0.113.9")
    assert not policy.is_trusted(client)


def test_from_a_local_nginx_a_spoofed_forwarded_for_is_not_believed() -> None:
    # nginx sets X-Real-IP only and passes the client's own "X-Forwarded-For: 127.0.0.1" through.
    policy = AccessPolicy.of([], [ipaddress.ip_network("127.0.0.1/32")])
    assert policy.client_address("127.0.0.1", "127.0.0.1", "203.0.113.9") is None
    assert policy.client_address("127.0.0.1", "127.0.0.1", None) is None  # a chain of proxies names no client
    assert policy.client_address("127.0.0.1", None, "203.0.113.9") == ip("203.0.113.9")


@pytest.mark.parametrize(
    ("forwarded_for", "real_ip", "expected"),
    [
        ("203.0.113.9", "192.168.50.7", None),  # Caddy passes the client's own X-Real-IP on
        ("192.168.50.7", "203.0.113.9", None),  # nginx passes the client's own X-Forwarded-For on
        ("192.168.50.7, 203.0.113.9", "203.0.113.9", "203.0.113.9"),  # both set by the proxy: they agree
        ("203.0.113.9, 10.0.0.5", "203.0.113.9", "203.0.113.9"),  # our own proxies are skipped
        ("192.168.50.7, bogus, 203.0.113.9", None, "203.0.113.9"),  # left of the client: never read
        ("192.168.50.7, bogus", None, None),  # an unreadable hop where the client should be
        (None, "bogus", None),
        (None, "192.168.50.7,203.0.113.9", None),  # X-Real-IP sent twice
    ],
)
def test_both_forwarding_headers_must_name_the_same_client(
    forwarded_for: str | None, real_ip: str | None, expected: str | None
) -> None:
    policy = AccessPolicy.of([LAN], [PROXY])
    client = policy.client_address("10.0.0.5", forwarded_for, real_ip)
    assert (str(client) if client else None) == expected


def test_a_proxy_that_forwards_nothing_is_not_a_trusted_client() -> None:
    policy = AccessPolicy.of([], [ipaddress.ip_network("127.0.0.1/32")])
    assert policy.client_address("127.0.0.1", None, None) is None
    assert not policy.is_trusted(None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:192.168.1.2", "192.168.1.2"),
        ("[::1]:80", "::1"),
        ("testclient", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_address(text: str | None, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == expected

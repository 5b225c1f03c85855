"""Who may read /metrics: a client whose address is in METRICS_ALLOW (comma-separated networks,
loopback only by default), or any client presenting `Authorization: Bearer <METRICS_TOKEN>` when
that setting is set. The address is the one the app already judges by: `request.remote_addr`,
which behind TRUSTED_PROXIES reverse proxies is the client's (werkzeug's ProxyFix,
services/web/__init__.py), never a header a client could write itself."""

from __future__ import annotations

import hmac
import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(spec: str) -> tuple[Network, ...]:
    """The networks of a METRICS_ALLOW value ("" allows none); a ValueError naming the setting for
    an entry that is not a network, so that a typo stops the app at start rather than opening it."""
    found = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"METRICS_ALLOW: {entry!r} is not an address or network ({exc})") from None
    return tuple(found)


def address_allowed(address: str | None, allow: tuple[Network, ...]) -> bool:
    """Whether `address` lies in one of `allow` (an IPv4 address seen as IPv6, ::ffff:a.b.c.d,
    is judged as the IPv4 address)."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return False  # a unix socket, or no address at all
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in allow)


def token_matches(presented: str | None, expected: str | None) -> bool:
    """Whether the request's bearer token is METRICS_TOKEN (compared in constant time; never
    when the setting is unset)."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def may_read(address: str | None, presented: str | None, allow: tuple[Network, ...], expected: str | None) -> bool:
    """The rule: the right token from anywhere, or any request from an allowed network."""
    return token_matches(presented, expected) or address_allowed(address, allow)

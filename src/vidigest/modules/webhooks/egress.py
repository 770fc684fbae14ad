"""Where webhooks may be sent: the address policy of URL registration (public addresses only,
`modules/videos/sources.py`) plus the networks an operator lists for receivers on private
networks (`VIDIGEST_WEBHOOK_ALLOWED_NETWORKS`). Checked when an endpoint is registered and
again, on the resolved address, before every attempt (DNS may have changed)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import httpx

from vidigest.modules.videos.sources import (
    AddressPolicy,
    IPAddress,
    check_url,
    parse_url,
    public_address,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def receiver_policy(allowed_networks: Sequence[Network]) -> AddressPolicy:
    networks = list(allowed_networks)

    def allowed(ip: IPAddress) -> bool:
        return public_address(ip) or any(ip in network for network in networks)

    return allowed


def check_receiver(
    url: str, allowed_networks: Sequence[Network], timeout: float = 10.0
) -> tuple[httpx.URL, IPAddress]:
    """The parsed URL and the address to connect to; ApiError (400 bad URL, 403 address not
    allowed) otherwise."""
    parsed = parse_url(url)
    return parsed, check_url(parsed, receiver_policy(allowed_networks), timeout)
